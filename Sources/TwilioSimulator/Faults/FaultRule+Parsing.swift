/// Parsing of fault rules from text, for the `twilio-sim --fault` flag.
extension FaultRule {
    /// Why a fault specification was refused.
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        /// The specification as given.
        public var spec: String
        /// What is wrong with it.
        public var reason: String

        public var description: String { "invalid fault '\(spec)': \(reason)" }
    }

    /// The specification grammar, for help texts.
    public static let specGrammar = """
        ENDPOINT:KIND[:ARG][:PROBABILITY][:TIMES]  ENDPOINT = an Endpoint name (buyNumber, searchNumbers, ...) or any; \
        KIND = latency:MS | error:CODE:STATUS | 429 (no Retry-After, as Twilio) | 429-after:RETRY_AFTER_S | 500-before | 503-before | 500-after | 503-after \
        | 503-retry-after:RETRY_AFTER_S | reset | stall:MS | lost | stall-after:MS | garbled | oversized:BYTES \
        | lag:MS (a number bought is missing from lists and fetches, and its DELETE is 404, for MS) \
        | taken (another account buys the number first: 400/21422, and it is gone from searches); \
        PROBABILITY 0...1 (default 1), TIMES = max firings (default unlimited)
        """

    /// Parses `ENDPOINT:KIND[:ARG...][:PROBABILITY][:TIMES]`, e.g. `buyNumber:lost::1:1`, `any:latency:200:0.5`,
    /// `searchNumbers:error:20500:500:0.1`, `buyNumber:429:1:3` (a burst of three 429s, no `Retry-After`),
    /// `buyNumber:429-after:2:1:3` (the same with `Retry-After: 2`), `buyNumber:lag:2000` (every number bought is
    /// invisible to lists, fetches and deletes for 2 s).
    public static func parse(_ spec: String) throws(ParseError) -> FaultRule {
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        func fail(_ reason: String) -> ParseError { ParseError(spec: spec, reason: reason) }
        guard parts.count >= 2 else { throw fail("expected ENDPOINT:KIND") }
        let endpoint: Endpoint?
        if parts[0] == "any" {
            endpoint = nil
        } else if let named = Endpoint(rawValue: parts[0]) {
            endpoint = named
        } else {
            throw fail("unknown endpoint '\(parts[0])'")
        }
        var rest = Array(parts.dropFirst(2))
        func argument(_ name: String) throws(ParseError) -> Int {
            guard !rest.isEmpty, let value = Int(rest.removeFirst()), value >= 0 else {
                throw fail("\(name) must be a number")
            }
            return value
        }
        let kind: FaultKind
        switch parts[1] {
        case "latency": kind = .latency(milliseconds: try argument("MS"))
        case "stall": kind = .stall(milliseconds: try argument("MS"))
        case "429": kind = .tooManyRequests(retryAfterSeconds: nil)
        case "429-after": kind = .tooManyRequests(retryAfterSeconds: try argument("RETRY_AFTER_S"))
        case "error":
            let code = try argument("CODE")
            let status = try argument("STATUS")
            guard (400...599).contains(status) else { throw fail("STATUS must be 400...599") }
            kind = .error(TwilioError(status: status, code: code, message: "Injected error \(code)"))
        case "500-before": kind = .serverErrorBeforeActing(.internalError)
        case "503-before": kind = .serverErrorBeforeActing(.serviceUnavailable)
        case "503-retry-after": kind = .unavailableRetryAfter(seconds: try argument("RETRY_AFTER_S"))
        case "500-after": kind = .serverErrorAfterActing(.internalError)
        case "503-after": kind = .serverErrorAfterActing(.serviceUnavailable)
        case "reset": kind = .connectionReset
        case "lost": kind = .responseLost
        case "stall-after": kind = .stallAfterActing(milliseconds: try argument("MS"))
        case "garbled": kind = .malformedBodyAfterActing
        case "oversized": kind = .oversizedBodyAfterActing(bytes: try argument("BYTES"))
        case "lag": kind = .listLag(milliseconds: try argument("MS"))
        case "taken": kind = .soldElsewhere
        default: throw fail("unknown kind '\(parts[1])'")
        }
        if rest.first == "" { rest.removeFirst() }
        var probability = 1.0
        if !rest.isEmpty {
            guard let p = Double(rest.removeFirst()), (0...1).contains(p) else {
                throw fail("PROBABILITY must be 0...1")
            }
            probability = p
        }
        var times: Int?
        if !rest.isEmpty {
            guard let t = Int(rest.removeFirst()), t > 0 else { throw fail("TIMES must be a positive number") }
            times = t
        }
        guard rest.isEmpty else { throw fail("unexpected trailing fields") }
        return FaultRule(endpoint: endpoint, kind: kind, probability: probability, times: times)
    }
}
