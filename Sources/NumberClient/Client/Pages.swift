import NumberAPI

/// A listing request that goes on from a page token (ListNumbers, ListTransactions, ListAccounts, ListApiKeys).
public protocol PagedRequest: Codable, Sendable {
    /// Where the page starts: empty for the first, else the previous page's ``PagedResponse/nextPageToken``.
    var pageToken: String { get set }
}

/// A page of a listing, which says where the next one starts.
public protocol PagedResponse: Codable, Sendable {
    /// Where the next page starts; empty on the last page.
    var nextPageToken: String { get }
}

extension ListNumbersRequest: PagedRequest {}
extension ListNumbersResponse: PagedResponse {}
extension ListTransactionsRequest: PagedRequest {}
extension ListTransactionsResponse: PagedResponse {}
extension ListAccountsRequest: PagedRequest {}
extension ListAccountsResponse: PagedResponse {}
extension ListApiKeysRequest: PagedRequest {}
extension ListApiKeysResponse: PagedResponse {}

extension NumbersClient {
    /// The most pages ``pages(_:_:options:pagesMax:)`` asks for unless told otherwise: 100 000 (50 million entries
    /// at the largest page size; a filtered ListNumbers page reads at most 4 × its page size, at least 1 000, of the
    /// account's numbers).
    public static let pagesMaxDefault = 100_000

    /// Every page of a listing, from `request`'s page on: each asked for with the token the one before it gave, until
    /// a page comes without one. A page may be short, even empty, and still have a next one — a filtered ListNumbers
    /// reads a bounded stretch of the account's numbers per page — so a loop that stops at an empty page misses
    /// entries; this one does not. Each page is one call with `options` (its own timeout, retried as any read). It
    /// throws the call's error; `RESOURCE_EXHAUSTED` / `PAGE_LIMIT` once `pagesMax` (at least 1) pages were listed and
    /// the last has a next one; `INTERNAL` / `PAGE_TOKEN_REPEATED` after a page whose next token is one already asked
    /// with (a loop that would never end: that page is given, then the error).
    ///
    /// ```swift
    /// for try await page in client.pages(NumbersMethods.listNumbers, ListNumbersRequest(status: .pastDue)) {
    ///     for number in page.numbers { print(number.phoneNumber, number.graceEndsAt as Any) }
    /// }
    /// ```
    public func pages<Request: PagedRequest, Response: PagedResponse>(
        _ method: MethodDescriptor<Request, Response>, _ request: Request, options: CallOptions = CallOptions(),
        pagesMax: Int = NumbersClient.pagesMaxDefault
    ) -> Pages<Request, Response> {
        precondition(pagesMax >= 1, "pagesMax must be at least 1")
        return Pages(client: self, method: method, request: request, options: options, pagesMax: pagesMax)
    }
}

/// The pages of a listing (``NumbersClient/pages(_:_:options:pagesMax:)``), asked for one at a time as they are
/// iterated.
public struct Pages<Request: PagedRequest, Response: PagedResponse>: AsyncSequence, Sendable {
    public typealias Element = Response

    let client: NumbersClient
    let method: MethodDescriptor<Request, Response>
    let request: Request
    let options: CallOptions
    let pagesMax: Int

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(pages: self, next: request) }

    /// Asks for the next page when iterated.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let pages: Pages
        /// The next page's request; nil once the last page was given (or a call failed).
        var next: Request?
        /// Pages given so far.
        var listed = 0
        /// The tokens asked with so far.
        var asked: Set<String> = []
        /// Thrown at the next step: the page given last named a token already asked with.
        var repeated: RPCError?

        public mutating func next() async throws -> Response? {
            if let repeated {
                self.repeated = nil
                throw repeated
            }
            guard var request = next else { return nil }
            next = nil
            guard listed < pages.pagesMax else {
                throw RPCError(
                    code: .resourceExhausted,
                    message: "\(pages.method.method) listed \(listed) pages (pagesMax) and has more: list less at a "
                        + "time (a filter), or raise pagesMax",
                    reason: "PAGE_LIMIT", details: ["limit": "\(pages.pagesMax)"])
            }
            let page = try await pages.client.call(pages.method, request, options: pages.options)
            listed += 1
            asked.insert(request.pageToken)
            if page.nextPageToken.isEmpty {
                // The last page.
            } else if asked.contains(page.nextPageToken) {
                repeated = RPCError(
                    code: .internal,
                    message: "\(pages.method.method) answered page token \"\(request.pageToken)\" with "
                        + "\"\(page.nextPageToken)\", asked with before: listing on would never end",
                    reason: "PAGE_TOKEN_REPEATED")
            } else {
                request.pageToken = page.nextPageToken
                next = request
            }
            return page
        }
    }
}
