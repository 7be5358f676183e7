/// One misbehaviour the simulator can inject into a request.
public enum FaultKind: Sendable, Equatable {
    /// Wait this long before handling the request normally: it still acts, so one longer than the client's timeout
    /// lands after the client gave up (a purchase the client believes failed).
    case latency(milliseconds: Int)
    /// Answer with this Twilio error without acting.
    case error(TwilioError)
    /// Answer 429/20429 without acting (Twilio says such requests were not processed), with `Retry-After` (seconds)
    /// or, nil, without one — as Twilio's REST API answers: it documents no `Retry-After` on these endpoints.
    case tooManyRequests(retryAfterSeconds: Int?)
    /// Answer this 5xx error without acting.
    case serverErrorBeforeActing(TwilioError)
    /// Answer 503/20503 without acting, with `Retry-After` (seconds): a load balancer in front shedding load (Twilio's
    /// REST API documents no `Retry-After` of its own).
    case unavailableRetryAfter(seconds: Int)
    /// Act (e.g. really buy the number), then answer this 5xx error instead of the real response: Twilio's 500 or 503,
    /// or a gateway's 502 or 504 in front of it (`error-after:CODE:STATUS`).
    case serverErrorAfterActing(TwilioError)
    /// Close the connection without a response, without acting.
    case connectionReset
    /// Hold the connection without answering for this long (past the client's timeout), then close; no action.
    case stall(milliseconds: Int)
    /// Act, then close the connection without a response: the request succeeded but the answer was lost.
    case responseLost
    /// Act, then hold the connection without answering for this long (past the client's timeout), then close:
    /// a timeout after the request succeeded.
    case stallAfterActing(milliseconds: Int)
    /// Act, then answer the real status with a body that is not JSON (a garbled or truncated answer).
    case malformedBodyAfterActing
    /// Act, then answer the real status with a body of this many bytes (past the client's response limit).
    case oversizedBodyAfterActing(bytes: Int)
    /// Act normally, and keep a number the request creates (a purchase) out of sight for this long after its
    /// creation: lists and fetches do not show it and a DELETE of it answers 404/20404 — what Twilio is reported to
    /// answer right after a purchase (twilio-api.md §8.6). Like a latency it lets the request, and later rules, go
    /// on; on requests that create no number it does nothing.
    case listLag(milliseconds: Int)
    /// Another Twilio account buys the number the purchase asks for (its `PhoneNumber`) just before it: the purchase
    /// answers 400/21422 and the number is gone from searches for good (``SimulatorState/sellElsewhere(_:)``) — the
    /// race between a search and a purchase that Twilio warns of (twilio-api.md §8.1). On other requests it does
    /// nothing but route them.
    case soldElsewhere

    /// True for a latency, which delays the request but lets it (and later rules) proceed.
    public var isDelayOnly: Bool {
        if case .latency = self { return true }
        return false
    }
}
