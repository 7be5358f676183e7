/// One page of a list: which items, and the cursors to its neighbours (Twilio's `PA`/`PB` page tokens).
struct PageWindow<Item> {
    var items: [Item]
    var page: Int
    var pageSize: Int
    /// Index of the first item in the whole filtered list.
    var start: Int
    var nextToken: String?
    var previousToken: String?
    /// Entries of the owned numbers' creation order looked at to cut the page (`init(ownedIn:where:params:limits:)`;
    /// 0 for a page cut from an array): what a page cost, which tests check.
    var visited = 0

    /// Slices `all` (in creation order) by `PageSize`, `Page` and `PageToken`; `sequence` maps a SID to its
    /// creation order (also for deleted SIDs the state still keeps, so a token stays valid after its item is gone).
    init(
        _ all: [Item], sid: (Item) -> String, sequence: (String) -> Int?, params: FormParameters,
        limits: SimulatorConfiguration.Limits
    ) throws(TwilioError) {
        pageSize = try Parameters.pageSize(params, limits: limits)
        page = try Parameters.int(params, "Page") ?? 0
        let first: Int
        if let token = params["PageToken"] {
            let invalid = TwilioError(status: 400, code: 21481, message: "Invalid PageToken")
            guard token.count > 2, let anchor = sequence(String(token.dropFirst(2))) else { throw invalid }
            if token.hasPrefix("PA") {
                first = all.firstIndex(where: { (sequence(sid($0)) ?? 0) > anchor }) ?? all.count
            } else if token.hasPrefix("PB") {
                let end = all.firstIndex(where: { (sequence(sid($0)) ?? 0) >= anchor }) ?? all.count
                first = max(0, end - pageSize)
            } else {
                throw invalid
            }
        } else {
            let (product, overflow) = page.multipliedReportingOverflow(by: pageSize)
            first = overflow ? all.count : min(product, all.count)
        }
        let end = min(all.count, first + pageSize)
        items = Array(all[first..<end])
        start = page * pageSize
        nextToken = end < all.count ? items.last.map { "PA" + sid($0) } : nil
        previousToken = first > 0 ? items.first.map { "PB" + sid($0) } : nil
    }

    /// `filters&PageSize=N&Page=p[&PageToken=t]`, Twilio's query order.
    func query(_ filters: [(String, String)], page: Int, token: String?) -> String {
        var pairs = filters + [("PageSize", String(pageSize)), ("Page", String(page))]
        if let token { pairs.append(("PageToken", token)) }
        return FormParameters(pairs: pairs).encoded()
    }
}
