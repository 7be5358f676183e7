/// A TLS failure: what went wrong (``Code``), a readable message, and OpenSSL's own error strings.
///
/// Every failure path of the handler and the certificate tooling ends in one of these: the OpenSSL error queue is
/// drained into ``openSSLErrors`` so the reason ("certificate verify failed", "wrong version number") reaches logs.
public struct TLSError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure; extensible like gRPC's codes.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        /// A printable name of the code.
        public var description: String { name }

        /// The configuration cannot be compiled (missing key, unreadable file, bad cipher list, empty hostname).
        public static let invalidConfiguration = Code("invalidConfiguration")
        /// The handshake failed (protocol version, cipher, ALPN, alert from the peer, garbage bytes).
        public static let handshakeFailed = Code("handshakeFailed")
        /// The peer's certificate did not verify (untrusted CA, expired, not yet valid, wrong hostname).
        public static let certificateVerificationFailed = Code("certificateVerificationFailed")
        /// The handshake did not finish within the configured time.
        public static let handshakeTimeout = Code("handshakeTimeout")
        /// The connection ended without a `close_notify` alert: the data may be truncated.
        public static let uncleanShutdown = Code("uncleanShutdown")
        /// A record or alert after the handshake was invalid.
        public static let protocolError = Code("protocolError")
        /// Data written before the handshake completed exceeded `pendingWriteBytesMax`.
        public static let pendingWriteLimitExceeded = Code("pendingWriteLimitExceeded")
        /// A write was attempted after the TLS connection was closed or failed.
        public static let connectionClosed = Code("connectionClosed")
        /// Key or certificate generation, parsing or writing failed.
        public static let certificateTooling = Code("certificateTooling")
    }

    /// The kind of failure.
    public var code: Code
    /// What happened, in words.
    public var message: String
    /// OpenSSL's error queue at the time of the failure, oldest first (may be empty).
    public var openSSLErrors: [String]

    /// Creates an error.
    public init(code: Code, message: String, openSSLErrors: [String] = []) {
        self.code = code
        self.message = message
        self.openSSLErrors = openSSLErrors
    }

    /// The message and OpenSSL's errors, `message [error; error]`: the failure in words, for a user (no type name).
    public var detail: String {
        openSSLErrors.isEmpty ? message : "\(message) [\(openSSLErrors.joined(separator: "; "))]"
    }

    /// `TLSError.code: message [openssl errors]`.
    public var description: String { "TLSError.\(code): \(detail)" }
}
