/// One misbehaviour the simulator can inject into a request.
public enum FaultKind: Sendable, Equatable {
    /// Wait this long before handling the request normally.
    case latency(milliseconds: Int)
    /// Answer with this Twilio error without acting.
    case error(TwilioError)
    /// Answer 429/20429 with `Retry-After` (seconds) without acting; Twilio says such requests were not processed.
    case tooManyRequests(retryAfterSeconds: Int)
    /// Answer this 5xx error without acting.
    case serverErrorBeforeActing(TwilioError)
    /// Act (e.g. really buy the number), then answer this 5xx error instead of the real response.
    case serverErrorAfterActing(TwilioError)
    /// Close the connection without a response, without acting.
    case connectionReset
    /// Hold the connection without answering for this long (past the client's timeout), then close; no action.
    case stall(milliseconds: Int)
    /// Act, then close the connection without a response: the request succeeded but the answer was lost.
    case responseLost

    /// True for a latency, which delays the request but lets it (and later rules) proceed.
    public var isDelayOnly: Bool {
        if case .latency = self { return true }
        return false
    }
}
