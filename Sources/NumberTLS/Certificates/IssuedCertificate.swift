/// A certificate and its private key, issued by a ``CertificateAuthority``.
public struct IssuedCertificate: Sendable, Hashable {
    /// The leaf certificate, PEM.
    public let certificatePEM: String
    /// Its private key, PKCS#8 PEM. Secret.
    public let privateKeyPEM: String
    /// The issuing CA's certificate, PEM.
    public let authorityPEM: String

    /// Creates a value from PEM text.
    public init(certificatePEM: String, privateKeyPEM: String, authorityPEM: String) {
        self.certificatePEM = certificatePEM
        self.privateKeyPEM = privateKeyPEM
        self.authorityPEM = authorityPEM
    }

    /// The chain to present (leaf only: the CA is the trust root, not sent).
    public var certificateChain: TLSCertificateSource {
        .pem(certificatePEM)
    }

    /// The private key as a configuration source.
    public var privateKey: TLSPrivateKeySource {
        .pem(privateKeyPEM)
    }

    /// Writes the certificate (mode 0644) and private key (mode 0600): both written and synced before either replaces
    /// its file (the key first), so a write that fails (a full disk) leaves the old pair, never a mismatched one.
    public func write(certificateTo certificatePath: String, privateKeyTo privateKeyPath: String) throws {
        try PEMFile.write(
            PEMFile.pair(
                certificatePEM: certificatePEM, to: certificatePath, privateKeyPEM: privateKeyPEM, to: privateKeyPath))
    }
}
