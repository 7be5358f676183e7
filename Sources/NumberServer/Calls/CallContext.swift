import Logging
import NIOCore

/// What a call's handler knows about the call besides its request message.
public struct CallContext: Sendable {
    /// The method path, `/numbers.v1.Numbers/PurchaseNumbers`.
    public let method: String
    /// Request metadata from the HEADERS frame (keys lowercase). Never log `authorization`.
    public let metadata: [String: String]
    /// When the caller stops waiting; nil = no deadline.
    public let deadline: NIODeadline?
    /// The caller's request id, or one the server made.
    public let requestID: String
    /// Who is on the other end of the connection.
    public let peer: PeerInfo
    /// A logger carrying the request id and method.
    public let logger: Logger

    /// Creates a context.
    public init(
        method: String, metadata: [String: String], deadline: NIODeadline?, requestID: String, peer: PeerInfo,
        logger: Logger
    ) {
        self.method = method
        self.metadata = metadata
        self.deadline = deadline
        self.requestID = requestID
        self.peer = peer
        self.logger = logger
    }

    /// The time left before the deadline, nil if none.
    public var timeRemaining: TimeAmount? {
        deadline.map { $0 - .now() }
    }
}

/// The connection's remote end.
public struct PeerInfo: Sendable, Hashable {
    /// `ip:port` of the client.
    public var address: String
    /// The verified client certificate's identities (subject CN and SANs) when mutual TLS is on; empty otherwise.
    public var certificateIdentities: [String]

    /// Creates peer info.
    public init(address: String, certificateIdentities: [String] = []) {
        self.address = address
        self.certificateIdentities = certificateIdentities
    }
}
