import Foundation
import NumberAPI
import NumberServer
import Testing

/// `numbers list` and `numbers show` with a number whose release is in doubt (`NUMBER_STATUS_RELEASING`): shown as
/// `releasing`, with no next billing date (it is never billed again) and the time its release was asked for;
/// `--status releasing` lists only such numbers. The built `numbers` runs as a process against a stub server.
@Suite("numbers list and show: a releasing number")
struct ReleasingListTests {
    static let asked = Date(timeIntervalSince1970: 1_767_000_000)  // 2025-12-29T09:20:00Z

    static func number(_ id: String, _ status: NumberStatus) -> PhoneNumber {
        PhoneNumber(
            id: id, phoneNumber: id == "NUM_1" ? "+14155550100" : "+14155550101", status: status,
            pricing: Pricing(monthlyFee: 133, currency: "USD"), billingCycle: .monthly,
            nextBillingDate: Date(timeIntervalSince1970: 1_767_225_600),
            releaseRequestedAt: status == .releasing ? asked : nil)
    }

    static func router(_ lists: Recorded<ListNumbersRequest>) -> RPCRouter {
        var router = RPCRouter()
        router.register(NumbersMethods.listNumbers) { request, _ in
            lists.append(request)
            let numbers = [number("NUM_1", .releasing), number("NUM_2", .active)].filter {
                request.status == .unspecified || $0.status == request.status
            }
            return ListNumbersResponse(
                numbers: numbers, total: Int32(numbers.count),
                monthlyCost: numbers.filter { $0.status == .active }.reduce(0) { $0 + $1.pricing.monthlyFee },
                currency: "USD")
        }
        router.register(NumbersMethods.getNumber) { request, _ in
            GetNumberResponse(number: number(request.numberId, .releasing))
        }
        return router
    }

    @Test("list shows releasing without a next billing date, and says it is not billed; --status releasing is sent")
    func listShowsReleasing() async throws {
        let lists = Recorded<ListNumbersRequest>()
        try await withStubServer(router: Self.router(lists)) { server in
            let connection = UnknownOutcomeTests.connection(server)
            let run = try await runNumbers(["list"] + connection)
            #expect(run.status == 0, "\(run)")
            let rows = run.stdout.split(separator: "\n").map(String.init)
            let releasing = try #require(rows.first { $0.hasPrefix("NUM_1") }, "\(run.stdout)")
            #expect(releasing.contains(" releasing ") && releasing.hasSuffix(" -"), "\(releasing)")
            let active = try #require(rows.first { $0.hasPrefix("NUM_2") }, "\(run.stdout)")
            #expect(active.contains(" active ") && active.hasSuffix("2026-01-01T00:00:00Z"), "\(active)")
            #expect(run.stdout.contains("2 numbers, 1.33 USD per month"), "\(run.stdout)")
            // A past-due number's grace release refunds nothing: the line promises no refund, only any of paid days.
            #expect(
                run.stdout.contains(
                    "1 releasing on this page: not billed; any refund (of paid days) is credited when Twilio confirms"),
                "\(run.stdout)")
            let filtered = try await runNumbers(["list", "--status", "releasing"] + connection)
            #expect(filtered.status == 0, "\(filtered)")
            #expect(filtered.stdout.contains("1 number, 0.00 USD per month"), "\(filtered.stdout)")
        }
        #expect(lists.all.map(\.status) == [.unspecified, .releasing])
    }

    @Test("show prints releasing, no next billing date, and when the release was asked for")
    func showShowsReleasing() async throws {
        try await withStubServer(router: Self.router(Recorded())) { server in
            let run = try await runNumbers(["show", "NUM_1"] + UnknownOutcomeTests.connection(server))
            #expect(run.status == 0, "\(run)")
            #expect(run.stdout.contains("status        releasing"), "\(run.stdout)")
            #expect(run.stdout.contains("next billing  -\n"), "\(run.stdout)")
            #expect(run.stdout.contains("release asked 2025-12-29T09:20:00Z"), "\(run.stdout)")
            #expect(run.stdout.contains("released      -"), "\(run.stdout)")
        }
    }

    /// A trunk change whose outcome is not recorded (a crash or a lost answer left it for reconciliation) is shown
    /// under the trunk still recorded; none shows `-`.
    @Test("show prints a pending trunk change: the trunk asked for (or off its trunk) and when; none shows -")
    func showShowsPendingTrunkChange() async throws {
        var router = RPCRouter()
        router.register(NumbersMethods.getNumber) { request, _ in
            var number = Self.number(request.numberId, .active)
            number.trunkId = "TRK_A"
            if request.numberId == "NUM_1" {
                number.pendingTrunkChange = PendingTrunkChange(trunkId: "TRK_B", requestedAt: Self.asked)
            } else if request.numberId == "NUM_3" {
                number.pendingTrunkChange = PendingTrunkChange(requestedAt: Self.asked)
            } else if request.numberId == "NUM_4" {
                number.pendingTrunkChange = PendingTrunkChange(trunkId: "TRK_A", requestedAt: Self.asked)
            }
            return GetNumberResponse(number: number)
        }
        try await withStubServer(router: router) { server in
            let connection = UnknownOutcomeTests.connection(server)
            let moving = try await runNumbers(["show", "NUM_1"] + connection)
            #expect(moving.status == 0, "\(moving)")
            #expect(moving.stdout.contains("trunk         TRK_A\n"), "\(moving.stdout)")
            #expect(
                moving.stdout.contains(
                    "trunk change  to TRK_B, asked 2025-12-29T09:20:00Z; outcome not recorded yet (reconciliation "
                        + "settles it)"), "\(moving.stdout)")
            let off = try await runNumbers(["show", "NUM_3"] + connection)
            #expect(off.stdout.contains("trunk change  off its trunk, asked 2025-12-29T09:20:00Z"), "\(off.stdout)")
            let recorded = try await runNumbers(["show", "NUM_4"] + connection)
            #expect(
                recorded.stdout.contains(
                    "trunk change  to TRK_A, asked 2025-12-29T09:20:00Z; recorded, but a change sent without an answer may still land"
                ),
                "\(recorded.stdout)")
            let none = try await runNumbers(["show", "NUM_2"] + connection)
            #expect(none.stdout.contains("trunk change  -\n"), "\(none.stdout)")
        }
    }

    /// A server whose one number is on trunk TRK_1, named "-" (free text: what "no trunk" looks like), and whose list
    /// always has a next page; it records the list requests.
    static func onTrunk(_ lists: Recorded<ListNumbersRequest>) -> RPCRouter {
        var router = RPCRouter()
        router.register(NumbersMethods.listNumbers) { request, _ in
            lists.append(request)
            var listed = number("NUM_2", .active)
            listed.trunkId = "TRK_1"
            listed.trunkName = "-"
            return ListNumbersResponse(
                numbers: [listed], total: 2, monthlyCost: 266, currency: "USD", nextPageToken: "next")
        }
        return router
    }

    @Test("list shows a number's trunk by its id, the name beside it: a trunk named - is not read as none")
    func trunkById() async throws {
        try await withStubServer(router: Self.onTrunk(Recorded())) { server in
            let run = try await runNumbers(["list"] + UnknownOutcomeTests.connection(server))
            #expect(run.status == 0, "\(run)")
            let row = try #require(run.stdout.split(separator: "\n").first { $0.hasPrefix("NUM_2") }, "\(run.stdout)")
            #expect(row.contains(" TRK_1 (-) "), "\(row)")
        }
    }

    /// numberd's page token is bound to the filters it was made for: a next page asked without them is refused.
    @Test("the next page's hint repeats --status, --trunk and --account as given, quoted for a shell")
    func moreKeepsFilters() async throws {
        let lists = Recorded<ListNumbersRequest>()
        try await withStubServer(router: Self.onTrunk(lists)) { server in
            let connection = UnknownOutcomeTests.connection(server)
            let filtered = try await runNumbers(["list", "--status", "active", "--trunk", "TRK_1"] + connection)
            #expect(filtered.status == 0, "\(filtered)")
            #expect(
                filtered.stdout.contains("more: --page-token next --status active --trunk TRK_1 --account ACC_1\n"),
                "\(filtered.stdout)")
            let past = try await runNumbers(["list", "--status", "past-due"] + connection)
            #expect(
                past.stdout.contains("more: --page-token next --status past-due --account ACC_1\n"), "\(past.stdout)")
            let all = try await runNumbers(["list"] + connection)
            #expect(all.stdout.contains("more: --page-token next --account ACC_1\n"), "\(all.stdout)")
            // A value a shell would split or expand is quoted, so the line can be pasted as it is.
            let odd = try await runNumbers(["list", "--trunk", "TRK 1's"] + connection)
            #expect(
                odd.stdout.contains("more: --page-token next --trunk 'TRK 1'\\''s' --account ACC_1\n"), "\(odd.stdout)")
        }
        #expect(lists.all.map(\.status) == [.active, .pastDue, .unspecified, .unspecified])
        #expect(lists.all.map(\.trunkId) == ["TRK_1", nil, nil, "TRK 1's"])
    }
}
