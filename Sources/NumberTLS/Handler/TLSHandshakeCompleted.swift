/// The user inbound event a ``TLSHandler`` fires once the handshake has finished and the peer is verified.
///
/// Handlers above TLS wait for it before trusting the connection, and read the peer identity from it to authorize.
public struct TLSHandshakeCompleted: Sendable, Hashable {
    /// The ALPN protocol both sides agreed on (`nrpc/1`, `http/1.1`), or `nil` without ALPN.
    public var applicationProtocol: String?
    /// The negotiated protocol version, e.g. `TLSv1.3`.
    public var protocolVersion: String
    /// The negotiated cipher suite, e.g. `TLS_AES_128_GCM_SHA256`.
    public var cipherSuite: String
    /// The verified peer certificate's identity: the server's on a client, the client's under mutual TLS.
    public var peer: TLSPeerIdentity?
    /// Whether an earlier session was resumed (no full handshake).
    public var sessionReused: Bool
    /// The server name (SNI) the client asked for; on a client, the name it sent. `nil` when none was sent
    /// (clients connecting by IP address send none).
    public var serverName: String?

    /// Creates an event.
    public init(
        applicationProtocol: String?, protocolVersion: String, cipherSuite: String, peer: TLSPeerIdentity?,
        sessionReused: Bool, serverName: String? = nil
    ) {
        self.applicationProtocol = applicationProtocol
        self.protocolVersion = protocolVersion
        self.cipherSuite = cipherSuite
        self.peer = peer
        self.sessionReused = sessionReused
        self.serverName = serverName
    }
}

/// Who the peer is, per its verified certificate: what authorization decisions are made on.
public struct TLSPeerIdentity: Sendable, Hashable {
    /// The subject common name, if any.
    public var commonName: String?
    /// The subject as OpenSSL prints it on one line (`/CN=.../O=...`).
    public var subject: String
    /// DNS names of the subjectAltName extension.
    public var dnsNames: [String]
    /// IP addresses of the subjectAltName extension, in text form.
    public var ipAddresses: [String]
    /// SHA-256 of the certificate's DER encoding, lowercase hex: a stable pin for one certificate.
    public var sha256Fingerprint: String

    /// Creates an identity.
    public init(
        commonName: String?, subject: String, dnsNames: [String], ipAddresses: [String], sha256Fingerprint: String
    ) {
        self.commonName = commonName
        self.subject = subject
        self.dnsNames = dnsNames
        self.ipAddresses = ipAddresses
        self.sha256Fingerprint = sha256Fingerprint
    }
}
