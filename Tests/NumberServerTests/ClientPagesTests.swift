import NumberAPI
import NumberClient
import NumberServer
import Synchronization
import Testing

/// `NumbersClient.pages`: every page of a listing, each asked for with the token the one before gave. A client review:
/// with no such helper, the natural loop (`while !page.numbers.isEmpty`) stopped at a filtered ListNumbers page that
/// came back empty with a next page, and missed the numbers after it. Against a real server whose ListNumbers answers
/// by the token it is sent.
@Suite("Client: pages of a listing")
struct ClientPagesTests {
    let tls: TestTLS

    init() throws { tls = try TestTLS() }

    static func number(_ id: String) -> PhoneNumber { PhoneNumber(id: id, status: .pastDue) }

    /// The requests the server read, in order.
    final class Asked: Sendable {
        private let requests = Mutex<[ListNumbersRequest]>([])
        func append(_ request: ListNumbersRequest) { requests.withLock { $0.append(request) } }
        var all: [ListNumbersRequest] { requests.withLock { $0 } }
    }

    /// A server whose ListNumbers answers token `t` with `pages[t]` (records the requests), and the client's run.
    func withPages(
        _ pages: [String: ListNumbersResponse], _ body: (NumbersClient, Asked) async throws -> Void
    ) async throws {
        let asked = Asked()
        var router = RPCRouter()
        router.registerSynchronous(NumbersMethods.listNumbers) { request, _ in
            asked.append(request)
            guard let page = pages[request.pageToken] else {
                throw RPCError(code: .invalidArgument, message: "no such page", reason: "INVALID_PAGE_TOKEN")
            }
            return page
        }
        try await withTestServer(router: router, tls: tls) { _, port in
            try await withNumbersClient(tls.clientConfiguration(port: port)) { try await body($0, asked) }
        }
    }

    @Test("an empty page with a next one does not end the listing; the request's filter goes with every page")
    func emptyPageInTheMiddle() async throws {
        let pages = [
            "": ListNumbersResponse(numbers: [Self.number("NUM_1"), Self.number("NUM_2")], nextPageToken: "t1"),
            "t1": ListNumbersResponse(numbers: [], nextPageToken: "t2"),
            "t2": ListNumbersResponse(numbers: [Self.number("NUM_3")]),
        ]
        try await withPages(pages) { client, asked in
            var ids: [String] = []
            for try await page in client.pages(
                NumbersMethods.listNumbers, ListNumbersRequest(accountId: "ACC_1", status: .pastDue, pageSize: 2))
            {
                ids += page.numbers.map(\.id)
            }
            #expect(ids == ["NUM_1", "NUM_2", "NUM_3"])
            let requests = asked.all
            #expect(requests.map(\.pageToken) == ["", "t1", "t2"])
            #expect(requests.allSatisfy { $0.accountId == "ACC_1" && $0.status == .pastDue && $0.pageSize == 2 })
        }
    }

    @Test(
        "a server answering a token with one asked with already: the page, then PAGE_TOKEN_REPEATED, not a loop for ever",
        arguments: [["t1"], ["t1", "t2"]])
    func repeatedToken(cycle: [String]) async throws {
        // "" → t1 → … → the last of `cycle`, whose next token is t1 again.
        var pages = ["": ListNumbersResponse(numbers: [Self.number("NUM_0")], nextPageToken: cycle[0])]
        for (index, token) in cycle.enumerated() {
            pages[token] = ListNumbersResponse(
                numbers: [Self.number("NUM_\(index + 1)")],
                nextPageToken: index + 1 < cycle.count ? cycle[index + 1] : cycle[0])
        }
        try await withPages(pages) { client, asked in
            var ids: [String] = []
            let error = await #expect(throws: RPCError.self) {
                for try await page in client.pages(NumbersMethods.listNumbers, ListNumbersRequest()) {
                    ids += page.numbers.map(\.id)
                }
            }
            #expect(error?.code == .internal && error?.reason == "PAGE_TOKEN_REPEATED", "\(String(describing: error))")
            #expect(ids == (0...cycle.count).map { "NUM_\($0)" }, "every page read is given, the last one too")
            #expect(asked.all.count == cycle.count + 1, "no page asked for twice")
        }
    }

    @Test("pagesMax pages listed and more to come: PAGE_LIMIT, no page past it asked for; exactly pagesMax: none")
    func pagesMax() async throws {
        let pages = [
            "": ListNumbersResponse(numbers: [Self.number("NUM_1")], nextPageToken: "t1"),
            "t1": ListNumbersResponse(numbers: [Self.number("NUM_2")], nextPageToken: "t2"),
            "t2": ListNumbersResponse(numbers: [Self.number("NUM_3")]),
        ]
        try await withPages(pages) { client, asked in
            var listed = 0
            let error = await #expect(throws: RPCError.self) {
                for try await _ in client.pages(NumbersMethods.listNumbers, ListNumbersRequest(), pagesMax: 2) {
                    listed += 1
                }
            }
            #expect(error?.code == .resourceExhausted && error?.reason == "PAGE_LIMIT", "\(String(describing: error))")
            #expect(error?.details["limit"] == "2" && listed == 2)
            #expect(asked.all.count == 2)
            // Three pages, three allowed: the last has no next one, so nothing is over the limit.
            var all = 0
            for try await _ in client.pages(NumbersMethods.listNumbers, ListNumbersRequest(), pagesMax: 3) { all += 1 }
            #expect(all == 3)
        }
    }
}
