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

    /// The specification grammar, for help texts: each kind says whether the request still acts (buys the number,
    /// makes the change), which is what a client that retries or looks the outcome up must expect.
    public static let specGrammar = """
        ENDPOINT:KIND[:ARG][:PROBABILITY][:TIMES]  ENDPOINT = an Endpoint name (buyNumber, searchNumbers, ...) or any; \
        KIND, marked [acts] when the request still buys or changes what it asks, [no action] when it does not = \
        latency:MS [acts, after MS: a latency longer than the client's timeout still acts, later (a purchase that \
        lands after the client gave up)] | error:CODE:STATUS [no action; STATUS 400...599] \
        | error-after:CODE:STATUS [acts, then answers that error; STATUS 500...599: a gateway's 502 or 504 after the \
        purchase] | 429 [no action; no Retry-After, as Twilio] | 429-after:RETRY_AFTER_S [no action; a 429 with \
        Retry-After: RETRY_AFTER_S, never a delay] | 500-before | 503-before [no action] \
        | 500-after | 503-after [acts, then answers 500 or 503] | 503-retry-after:RETRY_AFTER_S [no action; a 503 with \
        Retry-After: RETRY_AFTER_S] | reset [no action] | stall:MS [no action; no answer, closed after MS] \
        | lost [acts; closed without an answer] | stall-after:MS [acts; no answer, closed after MS] \
        | garbled [acts; a body that is not JSON] | oversized:BYTES [acts; a body of BYTES] \
        | lag:MS [acts; a number bought is missing from lists and fetches, and its DELETE is 404, for MS] \
        | taken [no action: another account buys the number first, 400/21422, and it is gone from searches]; \
        PROBABILITY 0...1 (default 1), TIMES = max firings (default unlimited). A request without the account's \
        credentials meets no fault: it is answered 401/20003 and uses up no TIMES.
        """

    /// Parses `ENDPOINT:KIND[:ARG...][:PROBABILITY][:TIMES]`, e.g. `buyNumber:lost::1:1`, `any:latency:200:0.5`,
    /// `searchNumbers:error:20500:500:0.1`, `buyNumber:error-after:0:504` (a gateway's 504 after the purchase),
    /// `buyNumber:429:1:3` (a burst of three 429s, no `Retry-After`),
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
        /// `CODE:STATUS` as the Twilio error to answer.
        func injectedError(statuses: ClosedRange<Int>) throws(ParseError) -> TwilioError {
            let code = try argument("CODE")
            let status = try argument("STATUS")
            guard statuses.contains(status) else {
                throw fail("STATUS must be \(statuses.lowerBound)...\(statuses.upperBound)")
            }
            return TwilioError(status: status, code: code, message: "Injected error \(code)")
        }
        let kind: FaultKind
        switch parts[1] {
        case "latency": kind = .latency(milliseconds: try argument("MS"))
        case "stall": kind = .stall(milliseconds: try argument("MS"))
        case "429": kind = .tooManyRequests(retryAfterSeconds: nil)
        case "429-after": kind = .tooManyRequests(retryAfterSeconds: try argument("RETRY_AFTER_S"))
        case "error": kind = .error(try injectedError(statuses: 400...599))
        case "error-after": kind = .serverErrorAfterActing(try injectedError(statuses: 500...599))
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
