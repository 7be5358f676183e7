/// A complete response. Any HTTP status, 4xx and 5xx included, is a response, never an error.
public struct HTTPResponse: Sendable, Hashable {
    /// The status code, e.g. 200.
    public var status: Int
    /// The headers of the final response, in order (names as the server sent them).
    public var headers: [HTTPHeader]
    /// The body (already decoded if the server used a content encoding).
    public var body: [UInt8]
    /// How the transfer went.
    public var metrics: TransferMetrics

    /// Creates a response.
    public init(status: Int, headers: [HTTPHeader], body: [UInt8], metrics: TransferMetrics) {
        self.status = status
        self.headers = headers
        self.body = body
        self.metrics = metrics
    }

    /// The value of the first header named `name` (compared case-insensitively), or `nil`.
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }
}

/// Figures about one transfer.
public struct TransferMetrics: Sendable, Hashable {
    /// Time from the start of the transfer to its end, in microseconds.
    public var totalMicroseconds: Int64
    /// Connections libcurl opened for this transfer (0 when it reused a cached connection).
    public var newConnections: Int

    /// Creates metrics.
    public init(totalMicroseconds: Int64, newConnections: Int) {
        self.totalMicroseconds = totalMicroseconds
        self.newConnections = newConnections
    }

    /// Whether the transfer ran over a connection that was already open.
    public var reusedConnection: Bool { newConnections == 0 }
}
