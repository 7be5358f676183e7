/// Why a request produced no response. An HTTP error status is not one of these: it is a response.
public struct HTTPClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What failed.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        enum Value: String, Sendable, Hashable {
            case invalidRequest, queueFull, queueTimeout, shutDown, cancelled, dnsResolution, connect, tlsVerification,
                tlsHandshake, tlsConfiguration, timeout, responseTooLarge, connectionLost, protocolError, internalError
        }
        let value: Value

        /// The request is malformed (bad URL, header with a line break, body over the limit): fix the caller.
        public static let invalidRequest = Code(value: .invalidRequest)
        /// `queuedRequestsMax` requests are already waiting: back off.
        public static let queueFull = Code(value: .queueFull)
        /// The request waited `queueWaitMilliseconds` for a transfer slot and was not sent: back off.
        public static let queueTimeout = Code(value: .queueTimeout)
        /// The client was shut down before the request finished.
        public static let shutDown = Code(value: .shutDown)
        /// The calling task was cancelled; the transfer was removed.
        public static let cancelled = Code(value: .cancelled)
        /// The host name did not resolve.
        public static let dnsResolution = Code(value: .dnsResolution)
        /// The TCP connection could not be made (refused, unreachable), or the proxy refused to open a tunnel to the
        /// server (its HTTP status, e.g. 407 for missing proxy credentials, is in the message).
        public static let connect = Code(value: .connect)
        /// The server's certificate failed verification (unknown CA, wrong host name, expired).
        public static let tlsVerification = Code(value: .tlsVerification)
        /// The TLS handshake failed for another reason: cut short (a reset in the middle of it), or a protocol or
        /// alert error. Nothing was sent on the connection.
        public static let tlsHandshake = Code(value: .tlsHandshake)
        /// The client's own TLS setup could not be used: a CA file, client certificate or CRL file missing or
        /// unreadable, a cipher list refused. Nothing was sent; another attempt fails the same way.
        public static let tlsConfiguration = Code(value: .tlsConfiguration)
        /// The connect or total timeout expired.
        public static let timeout = Code(value: .timeout)
        /// The response body or headers exceeded the configured limit.
        public static let responseTooLarge = Code(value: .responseTooLarge)
        /// The connection broke while sending or receiving.
        public static let connectionLost = Code(value: .connectionLost)
        /// The server answered something that is not valid HTTP.
        public static let protocolError = Code(value: .protocolError)
        /// libcurl failed in a way not listed above (out of memory, internal error).
        public static let internalError = Code(value: .internalError)

        /// The code's name, e.g. `timeout`.
        public var description: String { value.rawValue }
    }

    /// What failed.
    public var code: Code
    /// A message for people saying what failed and where.
    public var message: String
    /// Whether some of the request may have reached the server, so a non-idempotent request may have taken
    /// effect. `false` only when the failure certainly happened before libcurl was about to send the request (DNS,
    /// connect, a proxy's tunnel, TLS, queue, invalid request).
    public var requestMayHaveBeenSent: Bool
    /// The libcurl error number, when libcurl reported the failure.
    public var curlCode: Int?

    /// Creates an error.
    public init(code: Code, message: String, requestMayHaveBeenSent: Bool, curlCode: Int? = nil) {
        self.code = code
        self.message = message
        self.requestMayHaveBeenSent = requestMayHaveBeenSent
        self.curlCode = curlCode
    }

    /// `code: message`.
    public var description: String {
        "HTTPClientError(\(code): \(message)\(curlCode.map { ", curl error \($0)" } ?? ""))"
    }
}
