/// One page of a list: which items, and the cursors to its neighbours (Twilio's `PA`/`PB` page tokens).
struct PageWindow<Item> {
    var items: [Item]
    var page: Int
    var pageSize: Int
    /// Index of the first item in the whole filtered list.
    var start: Int
    var nextToken: String?
    var previousToken: String?

    /// Slices `all` (in creation order) by `PageSize`, `Page` and `PageToken`; `sequence` maps a SID to its
    /// creation order (also for deleted SIDs, so a token stays valid after its item is gone).
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

extension Router {
    /// The filter parameters a list request gave, in order (paging parameters removed).
    static func listFilters(_ params: FormParameters, allowed: [String]) -> [(String, String)] {
        params.pairs.filter { allowed.contains($0.0) }
    }

    /// The 2010 API list envelope with relative `*_page_uri` fields.
    static func envelope2010<Item>(
        path: String, filters: [(String, String)], key: String, window: PageWindow<Item>, items: [JSONValue],
        request: SimulatorRequest
    ) -> JSONValue {
        let end = items.isEmpty ? window.start : window.start + items.count - 1
        return .object([
            ("first_page_uri", .string(path + "?" + window.query(filters, page: 0, token: nil))),
            ("end", .int(end)),
            (
                "previous_page_uri",
                .optional(
                    window.previousToken.map {
                        path + "?" + window.query(filters, page: max(0, window.page - 1), token: $0)
                    })
            ),
            (key, .array(items)),
            (
                "uri",
                .string(
                    path + "?" + window.query(filters, page: window.page, token: request.queryParameters["PageToken"]))
            ),
            ("page_size", .int(window.pageSize)),
            ("start", .int(window.start)),
            (
                "next_page_uri",
                .optional(window.nextToken.map { path + "?" + window.query(filters, page: window.page + 1, token: $0) })
            ),
            ("page", .int(window.page)),
        ])
    }

    /// The v1 list envelope: the array plus `meta` with absolute URLs.
    static func envelopeV1<Item>(
        url: String, filters: [(String, String)], key: String, window: PageWindow<Item>, items: [JSONValue],
        request: SimulatorRequest
    ) -> JSONValue {
        .object([
            (key, .array(items)),
            (
                "meta",
                .object([
                    ("page", .int(window.page)),
                    ("page_size", .int(window.pageSize)),
                    ("first_page_url", .string(url + "?" + window.query(filters, page: 0, token: nil))),
                    (
                        "previous_page_url",
                        .optional(
                            window.previousToken.map {
                                url + "?" + window.query(filters, page: max(0, window.page - 1), token: $0)
                            })
                    ),
                    (
                        "url",
                        .string(
                            url + "?"
                                + window.query(filters, page: window.page, token: request.queryParameters["PageToken"]))
                    ),
                    (
                        "next_page_url",
                        .optional(
                            window.nextToken.map { url + "?" + window.query(filters, page: window.page + 1, token: $0) }
                        )
                    ),
                    ("key", .string(key)),
                ])
            ),
        ])
    }

    static func listIncoming(
        _ request: SimulatorRequest, type: NumberType?, state: SimulatorState, context: RouterContext
    ) throws(TwilioError) -> SimulatorResponse {
        let params = request.queryParameters
        let includeBeta = try Parameters.bool(params, "Beta") ?? true
        let origin = try Parameters.oneOf(params, "Origin", ["twilio", "hosted"])
        let pattern = params["PhoneNumber"].map(PhoneNumberPattern.init)
        let friendlyName = params["FriendlyName"]
        let matching = state.ownedInOrder.filter { record in
            (type == nil || record.number.type == type) && (includeBeta || !record.number.beta)
                && origin != "hosted" && (pattern?.matches(record.number.phoneNumber) ?? true)
                && (friendlyName == nil || record.friendlyName == friendlyName)
        }
        let window = try PageWindow(
            matching, sid: \.sid, sequence: { state.numberSequence[$0] }, params: params,
            limits: context.configuration.limits)
        let account = context.configuration.credentials.accountSid
        let body = envelope2010(
            path: request.path,
            filters: listFilters(params, allowed: ["PhoneNumber", "FriendlyName", "Beta", "Origin"]),
            key: "incoming_phone_numbers", window: window,
            items: window.items.map { incomingJSON($0, account: account, typed: type != nil) }, request: request)
        return .json(200, body)
    }
}

/// The `PhoneNumber` filter of an IncomingPhoneNumbers list: partial numbers, `*` for any one digit.
struct PhoneNumberPattern {
    let characters: [Character]

    init(_ text: String) {
        characters = Array(text)
    }

    /// True when the pattern occurs anywhere in `number` (`*` matching any one character).
    func matches(_ number: String) -> Bool {
        let target = Array(number)
        guard characters.count <= target.count else { return false }
        return (0...(target.count - characters.count)).contains { offset in
            characters.indices.allSatisfy { characters[$0] == "*" || characters[$0] == target[offset + $0] }
        }
    }
}
