/// One request the simulator received, as tests inspect it.
public struct RequestLogEntry: Sendable, Equatable {
    /// Upper-case method.
    public var method: String
    /// Path without query.
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
}
