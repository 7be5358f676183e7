import COpenSSL

/// A local certificate authority (EC P-256) that issues server and client certificates, built on OpenSSL's API.
///
/// ```swift
/// let ca = try CertificateAuthority.generate(commonName: "numberd dev CA")
/// let server = try ca.issueServerCertificate(dnsNames: ["numbers.local"])
/// try ca.write(certificateTo: "ca.pem", privateKeyTo: "ca.key")      // key written with mode 0600
/// try server.write(certificateTo: "server.pem", privateKeyTo: "server.key")
/// ```
public struct CertificateAuthority: Sendable, Hashable {
    /// The CA certificate, PEM: what clients (and mTLS servers) trust.
    public let certificatePEM: String
    /// The CA's private key, PKCS#8 PEM. Secret.
    public let privateKeyPEM: String

    /// Loads an existing CA; throws when the PEM does not parse or the key does not match.
    public init(certificatePEM: String, privateKeyPEM: String) throws {
        let certificate = try X509Builder.parseCertificate(certificatePEM)
        defer { X509_free(certificate) }
        let key = try PEM.privateKey(.pem(privateKeyPEM))
        defer { EVP_PKEY_free(key) }
        guard X509_check_private_key(certificate, key) == 1 else {
            throw OpenSSLErrorQueue.error(.certificateTooling, "the CA key does not match the CA certificate")
        }
        self.certificatePEM = certificatePEM
        self.privateKeyPEM = privateKeyPEM
    }

    /// The name constraints of a loopback-only CA: `localhost`, `127.0.0.0/8` and `::1`, the names of every
    /// certificate numberd generates (``issueServerCertificate(commonName:dnsNames:ipAddresses:validity:)``'s own).
    static let loopbackNameConstraints =
        "critical,permitted;DNS:localhost,permitted;IP:127.0.0.0/255.0.0.0,"
        + "permitted;IP:::1/ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"

    /// Generates a fresh self-signed CA with an EC P-256 key. `loopbackOnly`: the CA carries critical name
    /// constraints (``loopbackNameConstraints``), so a certificate it issues for any other name fails verification —
    /// a `ca.pem` added to a system's trust store, its key then stolen, vouches for no one else's server.
    public static func generate(
        commonName: String = "numberd local CA", validity: CertificateValidity = .authorityDefaults,
        loopbackOnly: Bool = false
    ) throws -> CertificateAuthority {
        let key = try X509Builder.generateKey()
        defer { EVP_PKEY_free(key) }
        let builder = try X509Builder(commonName: commonName, publicKey: key, validity: validity)
        try builder.addExtension(NID_basic_constraints, "critical,CA:TRUE,pathlen:0", issuer: nil)
        try builder.addExtension(NID_key_usage, "critical,keyCertSign,cRLSign", issuer: nil)
        if loopbackOnly { try builder.addExtension(NID_name_constraints, loopbackNameConstraints, issuer: nil) }
        try builder.addExtension(NID_subject_key_identifier, "hash", issuer: nil)
        try builder.addExtension(NID_authority_key_identifier, "keyid:always", issuer: nil)
        try builder.sign(issuer: nil, issuerKey: key)
        return try CertificateAuthority(
            certificatePEM: PEM.certificateText(builder.certificate), privateKeyPEM: PEM.privateKeyText(key))
    }

    /// Issues a server certificate. Its subjectAltName always covers `localhost`, `127.0.0.1` and `::1`,
    /// plus `dnsNames` and `ipAddresses`.
    public func issueServerCertificate(
        commonName: String = "localhost", dnsNames: [String] = [], ipAddresses: [String] = [],
        validity: CertificateValidity = .leafDefaults
    ) throws -> IssuedCertificate {
        let names = SubjectAlternativeNames(
            dnsNames: ["localhost"] + dnsNames, ipAddresses: ["127.0.0.1", "::1"] + ipAddresses)
        return try issue(commonName: commonName, names: names, extendedKeyUsage: "serverAuth", validity: validity)
    }

    /// Issues a client certificate for mutual TLS; the peer identity above TLS sees `commonName` and `dnsNames`.
    public func issueClientCertificate(
        commonName: String, dnsNames: [String] = [], validity: CertificateValidity = .leafDefaults
    ) throws -> IssuedCertificate {
        let names = SubjectAlternativeNames(dnsNames: dnsNames, ipAddresses: [])
        return try issue(commonName: commonName, names: names, extendedKeyUsage: "clientAuth", validity: validity)
    }

    /// Writes the CA certificate (mode 0644) and private key (mode 0600): both written and synced before either
    /// replaces its file (the key first), so a write that fails (a full disk) leaves the old pair, never a mismatched
    /// one.
    public func write(certificateTo certificatePath: String, privateKeyTo privateKeyPath: String) throws {
        try PEMFile.write(
            PEMFile.pair(
                certificatePEM: certificatePEM, to: certificatePath, privateKeyPEM: privateKeyPEM, to: privateKeyPath))
    }

    /// Checks that `certificatePEM` (a leaf, first in the PEM) was issued by this CA — its issuer name and key
    /// identifier name this CA and its signature verifies with this CA's key — and that `privateKeyPEM` is its key.
    /// Validity dates are not checked here (see ``CertificateSummary``). Throws ``TLSError/Code/certificateTooling``
    /// saying which check failed.
    public func checkIssued(certificatePEM: String, privateKeyPEM: String) throws {
        try Self.checkIssued(certificatePEM: certificatePEM, privateKeyPEM: privateKeyPEM, by: self.certificatePEM)
    }

    /// ``checkIssued(certificatePEM:privateKeyPEM:)`` by the CA certificate `authorityPEM` alone: the CA's private
    /// key is not needed to check what it issued (a CA whose key was moved offline).
    public static func checkIssued(certificatePEM: String, privateKeyPEM: String, by authorityPEM: String) throws {
        let issuer = try X509Builder.parseCertificate(authorityPEM)
        defer { X509_free(issuer) }
        let leaf = try X509Builder.parseCertificate(certificatePEM)
        defer { X509_free(leaf) }
        OpenSSLErrorQueue.clear()
        guard X509_check_issued(issuer, leaf) == X509_V_OK else {
            throw OpenSSLErrorQueue.error(.certificateTooling, "the certificate was not issued by this CA")
        }
        guard X509_verify(leaf, X509_get0_pubkey(issuer)) == 1 else {
            throw OpenSSLErrorQueue.error(
                .certificateTooling, "the certificate's signature does not verify with the CA")
        }
        let key = try PEM.privateKey(.pem(privateKeyPEM))
        defer { EVP_PKEY_free(key) }
        guard X509_check_private_key(leaf, key) == 1 else {
            throw OpenSSLErrorQueue.error(.certificateTooling, "the private key does not match the certificate")
        }
    }

    /// Trust roots holding only this CA.
    public var trustRoots: TLSTrustRoots {
        .pem(certificatePEM)
    }

    private func issue(
        commonName: String, names: SubjectAlternativeNames, extendedKeyUsage: String, validity: CertificateValidity
    ) throws -> IssuedCertificate {
        let issuer = try X509Builder.parseCertificate(certificatePEM)
        defer { X509_free(issuer) }
        let issuerKey = try PEM.privateKey(.pem(privateKeyPEM))
        defer { EVP_PKEY_free(issuerKey) }
        let key = try X509Builder.generateKey()
        defer { EVP_PKEY_free(key) }
        let builder = try X509Builder(commonName: commonName, publicKey: key, validity: validity)
        try builder.addExtension(NID_basic_constraints, "critical,CA:FALSE", issuer: issuer)
        try builder.addExtension(NID_key_usage, "critical,digitalSignature", issuer: issuer)
        try builder.addExtension(NID_ext_key_usage, extendedKeyUsage, issuer: issuer)
        try builder.addExtension(NID_subject_key_identifier, "hash", issuer: issuer)
        try builder.addExtension(NID_authority_key_identifier, "keyid:always", issuer: issuer)
        if let value = try names.extensionValue() {
            try builder.addExtension(NID_subject_alt_name, value, issuer: issuer)
        }
        try builder.sign(issuer: issuer, issuerKey: issuerKey)
        return IssuedCertificate(
            certificatePEM: try PEM.certificateText(builder.certificate), privateKeyPEM: try PEM.privateKeyText(key),
            authorityPEM: certificatePEM)
    }
}
