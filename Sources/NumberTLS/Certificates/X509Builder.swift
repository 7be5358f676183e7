import COpenSSL

/// Assembles one X.509 v3 certificate with OpenSSL's API (no CLI). Owns its `X509 *`.
final class X509Builder {
    let certificate: OpaquePointer
    /// Longest subject common name X.509 allows (`ub-common-name`).
    static let commonNameBytesMax = 64

    init(commonName: String, publicKey: OpaquePointer, validity: CertificateValidity) throws {
        guard !commonName.isEmpty, commonName.utf8.count <= Self.commonNameBytesMax else {
            throw TLSError(code: .certificateTooling, message: "common name must be 1...64 bytes")
        }
        OpenSSLErrorQueue.clear()
        guard let certificate = X509_new() else {
            throw OpenSSLErrorQueue.error(.certificateTooling, "X509_new failed")
        }
        self.certificate = certificate
        try check(X509_set_version(certificate, 2), "cannot set version 3")
        try setSerial()
        try check(
            X509_gmtime_adj(X509_getm_notBefore(certificate), Int(validity.notBeforeOffsetSeconds)) != nil ? 1 : 0,
            "cannot set notBefore")
        try check(
            X509_gmtime_adj(X509_getm_notAfter(certificate), Int(validity.notAfterOffsetSeconds)) != nil ? 1 : 0,
            "cannot set notAfter")
        try check(X509_set_pubkey(certificate, publicKey), "cannot set the public key")
        let name = X509_get_subject_name(certificate)
        let added = X509_NAME_add_entry_by_txt(name, "CN", numberd_mbstring_utf8(), commonName, -1, -1, 0)
        try check(added, "cannot set the common name")
    }

    deinit {
        X509_free(certificate)
    }

    /// 128 random bits, positive: unique serials without a counter.
    private func setSerial() throws {
        var bytes = [UInt8](repeating: 0, count: 16)
        try check(RAND_bytes(&bytes, Int32(bytes.count)), "RAND_bytes failed")
        bytes[0] &= 0x7f
        guard let number = BN_bin2bn(bytes, Int32(bytes.count), nil) else {
            throw OpenSSLErrorQueue.error(.certificateTooling, "BN_bin2bn failed")
        }
        defer { BN_free(number) }
        try check(BN_to_ASN1_INTEGER(number, X509_get_serialNumber(certificate)) != nil ? 1 : 0, "cannot set serial")
    }

    /// Adds an extension in OpenSSL config syntax; `issuer` nil means self-signed.
    func addExtension(_ nid: Int32, _ value: String, issuer: OpaquePointer?) throws {
        try check(
            numberd_X509_add_extension(certificate, issuer ?? certificate, nid, value), "cannot add extension \(value)")
    }

    /// Sets the issuer name and signs with SHA-256.
    func sign(issuer: OpaquePointer?, issuerKey: OpaquePointer) throws {
        let issuerName = X509_get_subject_name(issuer ?? certificate)
        try check(X509_set_issuer_name(certificate, issuerName), "cannot set the issuer")
        guard X509_sign(certificate, issuerKey, EVP_sha256()) > 0 else {
            throw OpenSSLErrorQueue.error(.certificateTooling, "cannot sign the certificate")
        }
    }

    private func check(_ status: Int32, _ message: String) throws {
        guard status == 1 else {
            throw OpenSSLErrorQueue.error(.certificateTooling, message)
        }
    }

    /// A fresh EC P-256 key pair (caller frees).
    static func generateKey() throws -> OpaquePointer {
        OpenSSLErrorQueue.clear()
        guard let context = EVP_PKEY_CTX_new_from_name(nil, "EC", nil) else {
            throw OpenSSLErrorQueue.error(.certificateTooling, "EC key generation is unavailable")
        }
        defer { EVP_PKEY_CTX_free(context) }
        var key: OpaquePointer?
        guard EVP_PKEY_keygen_init(context) == 1, EVP_PKEY_CTX_set_group_name(context, "P-256") == 1,
            EVP_PKEY_generate(context, &key) == 1, let key
        else {
            throw OpenSSLErrorQueue.error(.certificateTooling, "EC P-256 key generation failed")
        }
        return key
    }

    /// Parses exactly one certificate (caller frees).
    static func parseCertificate(_ pem: String) throws -> OpaquePointer {
        let certificates = try PEM.certificates(.pem(pem))
        certificates.dropFirst().forEach { X509_free($0) }
        return certificates[0]
    }
}
