/// The two list envelopes: the 2010 API's `*_page_uri` fields and the v1 APIs' `meta` object.
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
}
