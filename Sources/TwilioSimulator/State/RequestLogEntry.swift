/// One request the simulator received, as tests inspect it.
public struct RequestLogEntry: Sendable, Equatable {
    /// Upper-case method.
    public var method: String
    /// Path without query, at the Twilio host it was sent to (without the simulator's API prefix).
    public var path: String
    /// Raw query string.
    public var query: String
    /// The decoded form body parameters, in order.
    public var form: [String: String]
    /// The operation recognised.
    public var endpoint: Endpoint
    /// The HTTP status sent, or nil when no response was sent (reset, stall, lost response).
    public var status: Int?
    /// The fault injected, if any.
    public var fault: FaultKind?
    /// True when the request changed state (e.g. a number was bought) whatever the client saw.
    public var acted: Bool
    /// The Twilio host it was sent to (by the simulator's path prefix; `.any` in memory).
    public var host: TwilioHost = .any
    /// The credential it authenticated with (never the secret); nil when it did not authenticate or was not routed
    /// (a fault answered it).
    public var credential: RequestCredential? = nil
}
