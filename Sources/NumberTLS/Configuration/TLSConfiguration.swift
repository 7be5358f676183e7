/// TLS policy for one side of a connection: certificates, trust, versions, ciphers, ALPN, limits.
///
/// A plain value; compile it once into a ``TLSContext`` and share that context by every connection.
///
/// ```swift
/// var server = TLSConfiguration.server(
///     certificateChain: .file("/etc/numberd/server.pem"), privateKey: .file("/etc/numberd/server.key"))
/// server.applicationProtocols = ["nrpc/1"]
/// let context = try TLSContext(configuration: server)
/// ```
public struct TLSConfiguration: Sendable {
    /// Which side of the handshake a context serves.
    public enum Role: Sendable, Hashable {
        /// Accepts connections and presents a certificate.
        case server
        /// Opens connections and verifies the server's name.
        case client
    }

    /// Whether the server asks for and verifies client certificates (mutual TLS).
    public enum ClientAuthentication: Sendable, Hashable {
        /// No client certificate is requested.
        case none
        /// A client certificate signed by ``TLSConfiguration/trustRoots`` is required; connections without fail.
        case required
    }

    /// The side this configuration is for.
    public var role: Role
    /// Our certificate chain, leaf first (required for servers and for clients doing mutual TLS).
    public var certificateChain: TLSCertificateSource?
    /// The private key matching the leaf of ``certificateChain``.
    public var privateKey: TLSPrivateKeySource?
    /// The CAs that peers' certificates must chain to (the server's for clients, clients' for mutual TLS).
    public var trustRoots: TLSTrustRoots
    /// Mutual TLS on the server side.
    public var clientAuthentication: ClientAuthentication
    /// The oldest protocol accepted. Default TLS 1.2; never below it.
    public var minimumVersion: TLSVersion
    /// The newest protocol offered. Default TLS 1.3.
    public var maximumVersion: TLSVersion
    /// TLS 1.2 cipher list in OpenSSL syntax. Default: Mozilla "intermediate".
    public var cipherList: String
    /// TLS 1.3 cipher suites in OpenSSL syntax.
    public var cipherSuites: String
    /// Key exchange groups, most preferred first. Default `X25519:P-256:P-384` (Mozilla's order): a client sends its
    /// key share for the first, and X25519 made full handshakes 12–20 % faster than P-256 first (BENCHMARKS.md).
    public var groups: String
    /// ALPN protocol names, most preferred first (e.g. `["nrpc/1"]`, `["http/1.1"]`); empty means no ALPN.
    /// A server with a list refuses clients that offer ALPN with no name in common; a client with a list refuses a
    /// server that chooses none (one that ignores ALPN is not the service expected).
    public var applicationProtocols: [String]
    /// Session resumption: tickets issued by the server, a ``TLSSessionCache`` used by the client.
    public var sessionResumption: Bool
    /// How long a session may be resumed, in seconds. Default 2 hours.
    public var sessionLifetimeSeconds: Int
    /// How long a connection may take to finish its handshake before it is closed. Default 10 s.
    public var handshakeTimeout: Duration
    /// How long closing waits for our `close_notify` to be written before closing the socket anyway. Default 5 s.
    public var closeNotifyTimeout: Duration
    /// Bytes of application data a handler buffers while the handshake is in progress. Default 4 MiB.
    public var pendingWriteBytesMax: Int
    /// Plaintext bytes gathered into one `SSL_write` (one to a few TLS records). Default 16 KiB, the record size.
    public var writeCoalesceBytesMax: Int
    /// Size of the buffer each `SSL_read` decrypts into. Default 16 KiB.
    public var readChunkBytes: Int

    /// Mozilla "intermediate" TLS 1.2 ciphers (forward secret AEADs only).
    public static let mozillaIntermediateCipherList =
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
        + "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
        + "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"

    /// The TLS 1.3 suites OpenSSL enables by default.
    public static let tls13CipherSuites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

    /// Creates a configuration with the hardened defaults for `role`.
    public init(role: Role, trustRoots: TLSTrustRoots = .system) {
        self.role = role
        self.certificateChain = nil
        self.privateKey = nil
        self.trustRoots = trustRoots
        self.clientAuthentication = .none
        self.minimumVersion = .v1_2
        self.maximumVersion = .v1_3
        self.cipherList = Self.mozillaIntermediateCipherList
        self.cipherSuites = Self.tls13CipherSuites
        self.groups = "X25519:P-256:P-384"
        self.applicationProtocols = []
        self.sessionResumption = true
        self.sessionLifetimeSeconds = 7200
        self.handshakeTimeout = .seconds(10)
        self.closeNotifyTimeout = .seconds(5)
        self.pendingWriteBytesMax = 4 * 1024 * 1024
        self.writeCoalesceBytesMax = 16 * 1024
        self.readChunkBytes = 16 * 1024
    }

    /// A client that trusts the system's CA store.
    public static let clientDefaults = TLSConfiguration(role: .client)

    /// A client that trusts `trustRoots`.
    public static func client(trustRoots: TLSTrustRoots) -> TLSConfiguration {
        TLSConfiguration(role: .client, trustRoots: trustRoots)
    }

    /// A server presenting `certificateChain` with `privateKey`.
    public static func server(
        certificateChain: TLSCertificateSource, privateKey: TLSPrivateKeySource
    ) -> TLSConfiguration {
        var configuration = TLSConfiguration(role: .server)
        configuration.certificateChain = certificateChain
        configuration.privateKey = privateKey
        return configuration
    }
}
