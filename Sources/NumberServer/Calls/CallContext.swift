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
    /// Shared by the calls of one connection (a fresh one per call when the context is made outside a connection).
    public let connection: ConnectionMemo
    /// Set by ``markAuthenticated()``.
    let authentication: CallAuthentication
    /// The server's budgets of log lines (``RPCError/mapping(_:context:)`` takes its warnings from them); one set
    /// shared by every context made outside a server.
    let logBudgets: ServerLogBudgets
    /// A logger carrying the request id and method.
    public var logger: Logger {
        guard decorateLogger else { return baseLogger }
        var logger = baseLogger
        logger[metadataKey: "request-id"] = "\(requestID)"
        logger[metadataKey: "method"] = "\(method)"
        return logger
    }

    private let baseLogger: Logger
    /// Whether `logger` still needs the call's metadata: added on first use, since most calls never log and
    /// copying the metadata dictionary on every call costs allocations.
    private let decorateLogger: Bool

    /// Creates a context.
    public init(
        method: String, metadata: [String: String], deadline: NIODeadline?, requestID: String, peer: PeerInfo,
        logger: Logger, connection: ConnectionMemo = ConnectionMemo()
    ) {
        self.method = method
        self.metadata = metadata
        self.deadline = deadline
        self.requestID = requestID
        self.peer = peer
        self.connection = connection
        self.authentication = CallAuthentication()
        self.logBudgets = .outsideServers
        self.baseLogger = logger
        self.decorateLogger = false
    }

    /// A context whose logger is the connection's, with the request id and method added when first used.
    init(
        method: String, metadata: [String: String], deadline: NIODeadline?, requestID: String, peer: PeerInfo,
        connectionLogger: Logger, connection: ConnectionMemo, authentication: CallAuthentication,
        logBudgets: ServerLogBudgets
    ) {
        self.method = method
        self.metadata = metadata
        self.deadline = deadline
        self.requestID = requestID
        self.peer = peer
        self.connection = connection
        self.authentication = authentication
        self.logBudgets = logBudgets
        self.baseLogger = connectionLogger
        self.decorateLogger = true
    }

    /// Records that the caller proved who it is (a valid API key); call it as soon as the key is verified, before
    /// any later check that may refuse the call. On a connection only such calls renew the PING, SETTINGS and CANCEL
    /// budgets (FRAMING.md §7), and one resets the count of failed authentications: a call any client can make
    /// without a key (HealthCheck, a malformed request, one refused UNAUTHENTICATED) must not buy a flood more room.
    public func markAuthenticated() {
        authentication.mark()
    }

    /// Whether ``markAuthenticated()`` was called for this call.
    public var isAuthenticated: Bool { authentication.isProved }

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
