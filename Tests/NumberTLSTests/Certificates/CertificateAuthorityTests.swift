import Foundation
import NumberTLS
import TestSupport
import Testing

@Suite("Certificate tooling")
struct CertificateAuthorityTests {
    @Test("written PEM files: keys at mode 0600 (even over an existing file), certificates 0644, and they load back")
    func writeModes() throws {
        let files = try PKIFiles(TestPKI.shared)
        defer { files.remove() }
        let keyPath = files.directory + "/ca.key"
        #expect(try mode(of: keyPath) == 0o600)
        #expect(try mode(of: files.serverKey) == 0o600)
        #expect(try mode(of: files.caCertificate) == 0o644)
        // Rewriting over a world-readable file still yields 0600.
        try FileManager.default.setAttributes([.posixPermissions: 0o666], ofItemAtPath: files.serverKey)
        try TestPKI.shared.server.write(certificateTo: files.serverCertificate, privateKeyTo: files.serverKey)
        #expect(try mode(of: files.serverKey) == 0o600)

        var configuration = TLSConfiguration.server(
            certificateChain: .file(files.serverCertificate), privateKey: .file(files.serverKey))
        configuration.trustRoots = .file(files.caCertificate)
        configuration.clientAuthentication = .required
        _ = try TLSContext(configuration: configuration)
        let loaded = try CertificateAuthority(
            certificatePEM: String(contentsOfFile: files.caCertificate, encoding: .utf8),
            privateKeyPEM: String(contentsOfFile: keyPath, encoding: .utf8))
        #expect(loaded == TestPKI.shared.authority)
    }

    @Test("a server certificate covers localhost, 127.0.0.1, ::1 and the configured names")
    func serverNames() throws {
        let certificate = try TestPKI.shared.authority.issueServerCertificate(
            commonName: "numbers", dnsNames: ["api.numbers.test", "*.edge.test"], ipAddresses: ["10.0.0.7"])
        #expect(certificate.certificatePEM.hasPrefix("-----BEGIN CERTIFICATE-----"))
        #expect(certificate.privateKeyPEM.hasPrefix("-----BEGIN PRIVATE KEY-----"))
        let files = try PKIFiles(TestPKI.shared)
        defer { files.remove() }
        let path = files.directory + "/extra.pem"
        try certificate.write(certificateTo: path, privateKeyTo: files.directory + "/extra.key")
        let text = try opensslText(path)
        #expect(text.contains("DNS:localhost"))
        #expect(text.contains("DNS:api.numbers.test"))
        #expect(text.contains("DNS:*.edge.test"))
        #expect(text.contains("IP Address:127.0.0.1"))
        #expect(text.contains("IP Address:0:0:0:0:0:0:0:1"))
        #expect(text.contains("IP Address:10.0.0.7"))
        #expect(text.contains("ASN1 OID: prime256v1"))
        #expect(text.contains("TLS Web Server Authentication"))
        #expect(text.contains("CA:FALSE"))
    }

    @Test(
        "invalid names are refused before they reach OpenSSL's config syntax",
        arguments: ["", "a,DNS:evil.test", "has space.test", "a:b", String(repeating: "a", count: 64) + ".test"])
    func invalidDNSName(name: String) throws {
        #expect {
            try TestPKI.shared.authority.issueServerCertificate(dnsNames: [name])
        } throws: { ($0 as? TLSError)?.code == .certificateTooling }
    }

    @Test(
        "invalid IP addresses and common names are refused",
        arguments: ["999.1.1.1", "localhost", "1.2.3.4,IP:5.6.7.8"])
    func invalidIP(address: String) throws {
        #expect(throws: TLSError.self) {
            try TestPKI.shared.authority.issueServerCertificate(ipAddresses: [address])
        }
        #expect(throws: TLSError.self) {
            try CertificateAuthority.generate(commonName: String(repeating: "x", count: 65))
        }
    }

    @Test("a CA whose key does not match its certificate is refused")
    func mismatchedAuthority() throws {
        #expect(throws: TLSError.self) {
            try CertificateAuthority(
                certificatePEM: TestPKI.shared.authority.certificatePEM,
                privateKeyPEM: TestPKI.shared.otherAuthority.privateKeyPEM)
        }
        #expect(throws: TLSError.self) {
            try CertificateAuthority(certificatePEM: "not pem", privateKeyPEM: "not pem")
        }
    }

    private func mode(of path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return (attributes[.posixPermissions] as? Int ?? -1) & 0o777
    }

    /// `openssl x509 -text` of a certificate file: an independent parser checks what we generated.
    private func opensslText(_ path: String) throws -> String {
        let process = SpawnedProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["x509", "-in", path, "-noout", "-text"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        ChildExit.waitBlocking(process, timeout: .seconds(30))
        return String(decoding: data, as: UTF8.self)
    }
}
