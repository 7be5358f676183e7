import NIOHTTP1

extension MetricsEndpoint {
    /// What the endpoint answers one request with. Pure, so each path is tested without a channel.
    struct Answer: Sendable, Hashable {
        var status: HTTPResponseStatus
        var contentType: String
        var body: [UInt8]

        init(_ status: HTTPResponseStatus, _ text: String, contentType: String = "text/plain; charset=utf-8") {
            self.init(status, Array(text.utf8), contentType: contentType)
        }

        init(_ status: HTTPResponseStatus, _ body: [UInt8], contentType: String) {
            self.status = status
            self.contentType = contentType
            self.body = body
        }
    }

    /// `GET /metrics`: the registry in Prometheus's text format. `GET /healthz` (liveness): 200 `ok` while the process
    /// answers and `liveness` finds nothing wrong, else 503 with its one-line reason (restart numberd). `GET /readyz`
    /// (readiness): 200 `ready`, or 503 with `readiness`'s one-line reason. Anything else: 404. A query string is
    /// ignored; `metrics`, `readiness` and `liveness` are only asked on their own path.
    static func answer(
        method: HTTPMethod, uri: String, metrics: () -> [UInt8], readiness: () -> String?,
        liveness: () -> String? = { nil }
    ) -> Answer {
        let path = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        guard method == .GET else { return notFound }
        switch path {
        case "/metrics":
            return Answer(.ok, metrics(), contentType: "text/plain; version=0.0.4")
        case "/healthz":
            guard let problem = liveness() else { return Answer(.ok, "ok\n") }
            return Answer(.serviceUnavailable, "not alive: \(problem)\n")
        case "/readyz":
            guard let problem = readiness() else { return Answer(.ok, "ready\n") }
            return Answer(.serviceUnavailable, "not ready: \(problem)\n")
        default:
            return notFound
        }
    }

    private static let notFound = Answer(
        .notFound, "not found: GET /metrics, /healthz or /readyz\n", contentType: "text/plain; version=0.0.4")
}
