import NumberTLS

/// Certificates shared by the tests: generated once per process (a P-256 key takes well under a millisecond).
struct TestPKI: Sendable {
    let authority: CertificateAuthority
    let server: IssuedCertificate
    let client: IssuedCertificate
    let otherAuthority: CertificateAuthority
    let otherClient: IssuedCertificate

    static let shared: TestPKI = {
        let authority = try! CertificateAuthority.generate(commonName: "numberd test CA")
        let other = try! CertificateAuthority.generate(commonName: "someone else's CA")
        return TestPKI(
            authority: authority,
            server: try! authority.issueServerCertificate(dnsNames: ["numbers.test"]),
            client: try! authority.issueClientCertificate(
                commonName: "billing-service", dnsNames: ["billing.internal"]),
            otherAuthority: other,
            otherClient: try! other.issueClientCertificate(commonName: "intruder"))
    }()

    /// A server configuration presenting `certificate` (default: the shared server certificate).
    func serverConfiguration(
        _ certificate: IssuedCertificate? = nil, alpn: [String] = ["nrpc/1"]
    ) -> TLSConfiguration {
        let certificate = certificate ?? server
        var configuration = TLSConfiguration.server(
            certificateChain: certificate.certificateChain, privateKey: certificate.privateKey)
        configuration.applicationProtocols = alpn
        return configuration
    }

    /// A client configuration trusting `authority` (default: the shared CA).
    func clientConfiguration(
        trusting authority: CertificateAuthority? = nil, alpn: [String] = ["nrpc/1"]
    )
        -> TLSConfiguration
    {
        var configuration = TLSConfiguration.client(trustRoots: (authority ?? self.authority).trustRoots)
        configuration.applicationProtocols = alpn
        return configuration
    }
}
