import COpenSSL
import Synchronization

/// A compiled ``TLSConfiguration``: an OpenSSL `SSL_CTX` built once and shared by every connection.
///
/// Thread safety: OpenSSL allows one configured `SSL_CTX` to create `SSL` objects on many threads at once; this
/// class never mutates the context after `init`, and its callbacks only read immutable data it owns.
public final class TLSContext: @unchecked Sendable {
    /// The policy this context was compiled from.
    public let configuration: TLSConfiguration
    /// The OpenSSL context (`SSL_CTX *`).
    let pointer: OpaquePointer
    /// ALPN names in wire format (length-prefixed), kept alive for the server's selection callback.
    private let alpnWire: ALPNWireList
    /// The certificate this context presents (the chain's leaf), nil when it has none (a client without mTLS).
    public private(set) var certificate: CertificateSummary?
    /// This context among every one made in the process (never reused, as an address would be): a session stored
    /// in a ``TLSSessionCache`` is resumed only by connections of the context that verified it.
    let identity: UInt64 = TLSContext.identities.add(1, ordering: .relaxed).newValue
    private static let identities = Atomic<UInt64>(0)

    /// Compiles `configuration`; throws ``TLSError/Code/invalidConfiguration`` with OpenSSL's reason on failure.
    public init(configuration: TLSConfiguration) throws {
        // Before SSL_CTX_new: a throw before every stored property is set skips deinit, which would leak the context.
        let alpnWire = try ALPNWireList(configuration.applicationProtocols)
        OpenSSLProcess.initialize()
        OpenSSLErrorQueue.clear()
        guard let context = SSL_CTX_new(TLS_method()) else {
            throw OpenSSLErrorQueue.error(.invalidConfiguration, "SSL_CTX_new failed")
        }
        self.configuration = configuration
        self.pointer = context
        self.alpnWire = alpnWire
        try configureProtocol()
        try configureIdentity()
        certificate = try SSL_CTX_get0_certificate(context).map { try CertificateSummary($0) }
        try configureVerification()
        try configureALPN()
        configureSessions()
    }

    deinit {
        SSL_CTX_free(pointer)
    }

    /// Versions, ciphers, groups, hardening options.
    private func configureProtocol() throws {
        let configuration = configuration
        guard configuration.minimumVersion <= configuration.maximumVersion else {
            throw TLSError(code: .invalidConfiguration, message: "minimumVersion is above maximumVersion")
        }
        try check(
            numberd_SSL_CTX_set_min_proto_version(pointer, configuration.minimumVersion.openSSLValue),
            "cannot set the minimum TLS version")
        try check(
            numberd_SSL_CTX_set_max_proto_version(pointer, configuration.maximumVersion.openSSLValue),
            "cannot set the maximum TLS version")
        try check(SSL_CTX_set_cipher_list(pointer, configuration.cipherList), "invalid cipherList")
        try check(SSL_CTX_set_ciphersuites(pointer, configuration.cipherSuites), "invalid cipherSuites")
        try check(numberd_SSL_CTX_set1_groups_list(pointer, configuration.groups), "invalid groups")
        SSL_CTX_set_options(pointer, numberd_ssl_options_hardened())
        _ = numberd_SSL_CTX_set_mode(pointer, numberd_ssl_mode_release_buffers())
        // No 0-RTT: early data is replayable, and nothing here is safe to replay.
        SSL_CTX_set_max_early_data(pointer, 0)
        guard configuration.pendingWriteBytesMax > 0, configuration.writeCoalesceBytesMax > 0,
            configuration.readChunkBytes > 0
        else {
            throw TLSError(code: .invalidConfiguration, message: "buffer limits must be positive")
        }
    }

    /// Our certificate chain and key (mandatory for servers).
    private func configureIdentity() throws {
        guard let chainSource = configuration.certificateChain else {
            if configuration.role == .server {
                throw TLSError(code: .invalidConfiguration, message: "a server needs a certificate chain")
            }
            return
        }
        guard let keySource = configuration.privateKey else {
            throw TLSError(code: .invalidConfiguration, message: "a certificate chain needs a private key")
        }
        let chain = try PEM.certificates(chainSource)
        defer { chain.forEach { X509_free($0) } }
        try check(SSL_CTX_use_certificate(pointer, chain[0]), "cannot use the leaf certificate")
        for intermediate in chain.dropFirst() {
            try check(numberd_SSL_CTX_add1_chain_cert(pointer, intermediate), "cannot add a chain certificate")
        }
        let key = try PEM.privateKey(keySource)
        defer { EVP_PKEY_free(key) }
        try check(SSL_CTX_use_PrivateKey(pointer, key), "cannot use the private key")
        try check(SSL_CTX_check_private_key(pointer), "the private key does not match the certificate")
    }

    /// Trust roots and who gets verified: clients always verify servers; servers verify clients under mTLS.
    private func configureVerification() throws {
        switch configuration.role {
        case .client:
            SSL_CTX_set_verify(pointer, SSL_VERIFY_PEER, nil)
        case .server:
            guard configuration.clientAuthentication == .required else {
                // No client certificates are asked for, so no trust roots are needed (nor loaded).
                SSL_CTX_set_verify(pointer, SSL_VERIFY_NONE, nil)
                return
            }
            SSL_CTX_set_verify(pointer, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
        }
        switch configuration.trustRoots {
        case .system:
            try check(SSL_CTX_set_default_verify_paths(pointer), "cannot load the system trust store")
        case .file(let path):
            try addTrusted(PEM.certificates(.file(path)))
        case .pem(let text):
            try addTrusted(PEM.certificates(.pem(text)))
        case .read(let path, let text):
            try addTrusted(PEM.certificates(.read(path: path, text: text)))
        }
    }

    private func addTrusted(_ certificates: [OpaquePointer]) throws {
        defer { certificates.forEach { X509_free($0) } }
        let store = SSL_CTX_get_cert_store(pointer)
        for certificate in certificates {
            try check(X509_STORE_add_cert(store, certificate), "cannot add a trusted certificate")
        }
    }

    /// Client: offer our names. Server: pick from the client's offer by our preference.
    private func configureALPN() throws {
        guard !alpnWire.bytes.isEmpty else {
            return
        }
        switch configuration.role {
        case .client:
            // SSL_CTX_set_alpn_protos returns 0 on success, unlike almost everything else.
            let status = alpnWire.bytes.withUnsafeBufferPointer {
                SSL_CTX_set_alpn_protos(pointer, $0.baseAddress, UInt32($0.count))
            }
            guard status == 0 else {
                throw OpenSSLErrorQueue.error(.invalidConfiguration, "cannot set ALPN protocols")
            }
        case .server:
            SSL_CTX_set_alpn_select_cb(
                pointer, ALPNWireList.selectCallback, Unmanaged.passUnretained(alpnWire).toOpaque())
        }
    }

    /// Sessions held in this context's own cache (none: the server resumes from tickets, the client keeps its
    /// sessions in ``TLSSessionCache``), for tests of that bound.
    package var internallyCachedSessions: Int { numberd_SSL_CTX_sess_number(pointer) }

    /// Tickets on the server, an external per-server cache on the client (see ``TLSSessionCache``).
    private func configureSessions() {
        let configuration = configuration
        guard configuration.sessionResumption else {
            SSL_CTX_set_options(pointer, numberd_ssl_option_no_ticket())
            _ = numberd_SSL_CTX_set_session_cache_mode(pointer, numberd_ssl_sess_cache_off())
            return
        }
        _ = SSL_CTX_set_timeout(pointer, configuration.sessionLifetimeSeconds)
        switch configuration.role {
        case .server:
            // Required for resumption when client certificates are verified; names our sessions.
            let id = Array("numberd".utf8)
            _ = SSL_CTX_set_session_id_context(pointer, id, UInt32(id.count))
            _ = SSL_CTX_set_num_tickets(pointer, 1)
            _ = numberd_SSL_CTX_set_session_cache_mode(pointer, numberd_ssl_sess_cache_server())
        case .client:
            _ = numberd_SSL_CTX_set_session_cache_mode(pointer, numberd_ssl_sess_cache_client_external())
            SSL_CTX_sess_set_new_cb(pointer, TLSSessionCache.newSessionCallback)
        }
    }

    /// Throws the drained error queue unless `status` is 1 (OpenSSL's success).
    private func check(_ status: Int32, _ message: String) throws {
        guard status == 1 else {
            throw OpenSSLErrorQueue.error(.invalidConfiguration, message)
        }
    }
}
