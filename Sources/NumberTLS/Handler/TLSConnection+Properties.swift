import COpenSSL

extension TLSConnection {
    /// The ALPN protocol selected in the handshake, if any.
    var applicationProtocol: String? {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else {
            return nil
        }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    /// `TLSv1.3`, `TLSv1.2`.
    var protocolVersion: String {
        String(cString: SSL_get_version(ssl))
    }

    /// The negotiated cipher suite's standard-ish OpenSSL name.
    var cipherSuite: String {
        guard let cipher = SSL_get_current_cipher(ssl), let name = SSL_CIPHER_get_name(cipher) else {
            return ""
        }
        return String(cString: name)
    }

    /// The SNI host name of this connection, if one was sent.
    var serverName: String? {
        guard let name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) else {
            return nil
        }
        return String(cString: name)
    }

    /// Whether the handshake resumed a stored session.
    var sessionReused: Bool {
        SSL_session_reused(ssl) == 1
    }

    /// The peer's certificate identity, only when it was presented and verified.
    var peerIdentity: TLSPeerIdentity? {
        guard SSL_get_verify_result(ssl) == X509_V_OK, let certificate = SSL_get1_peer_certificate(ssl) else {
            return nil
        }
        defer { X509_free(certificate) }
        return X509Inspection.identity(certificate)
    }
}
