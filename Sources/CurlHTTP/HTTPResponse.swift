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
    /// The HTTP version of the response, as libcurl saw it (the client asks for HTTP/1.1 only, so never HTTP/2).
    public var httpVersion: HTTPVersion

    /// Creates a response.
    public init(
        status: Int, headers: [HTTPHeader], body: [UInt8], metrics: TransferMetrics,
        httpVersion: HTTPVersion = .http1_1
    ) {
        self.status = status
        self.headers = headers
        self.body = body
        self.metrics = metrics
        self.httpVersion = httpVersion
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

/// The HTTP version a response came in.
public enum HTTPVersion: String, Sendable, Hashable, CustomStringConvertible {
    /// HTTP/1.0 (a server answering in it).
    case http1_0 = "HTTP/1.0"
    /// HTTP/1.1.
    case http1_1 = "HTTP/1.1"
    /// HTTP/2.
    case http2 = "HTTP/2"
    /// HTTP/3.
    case http3 = "HTTP/3"
    /// libcurl did not say (none of the above).
    case unknown

    /// `HTTP/1.1`, …
    public var description: String { rawValue }
}
