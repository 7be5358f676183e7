import Foundation
import NumberTLS
import Testing

@Suite("TLSContext compilation: bad configuration is a typed error")
struct TLSContextTests {
    let pki = TestPKI.shared

    func expectInvalid(_ configuration: TLSConfiguration, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(sourceLocation: sourceLocation) {
            try TLSContext(configuration: configuration)
        } throws: { ($0 as? TLSError)?.code == .invalidConfiguration }
    }

    @Test("a server needs a certificate and a matching key")
    func serverIdentity() {
        expectInvalid(TLSConfiguration(role: .server))
        var noKey = TLSConfiguration(role: .server)
        noKey.certificateChain = pki.server.certificateChain
        expectInvalid(noKey)
        let otherKey = try! pki.authority.issueServerCertificate()
        expectInvalid(.server(certificateChain: pki.server.certificateChain, privateKey: otherKey.privateKey))
        expectInvalid(.server(certificateChain: .pem("garbage"), privateKey: pki.server.privateKey))
        expectInvalid(.server(certificateChain: .file("/nonexistent/cert.pem"), privateKey: pki.server.privateKey))
    }

    @Test("bad cipher lists, versions, groups, ALPN names and limits are refused")
    func protocolSettings() {
        var configuration = pki.serverConfiguration()
        configuration.cipherList = "NOT-A-CIPHER"
        expectInvalid(configuration)
        configuration = pki.serverConfiguration()
        configuration.groups = "no-such-group"
        expectInvalid(configuration)
        configuration = pki.serverConfiguration()
        configuration.minimumVersion = .v1_3
        configuration.maximumVersion = .v1_2
        expectInvalid(configuration)
        configuration = pki.serverConfiguration(alpn: [""])
        expectInvalid(configuration)
        configuration = pki.serverConfiguration(alpn: [String(repeating: "a", count: 256)])
        expectInvalid(configuration)
        configuration = pki.serverConfiguration()
        configuration.readChunkBytes = 0
        expectInvalid(configuration)
    }

    @Test("trust roots: the system store loads; a missing CA file is refused")
    func trustRoots() throws {
        _ = try TLSContext(configuration: .clientDefaults)
        expectInvalid(.client(trustRoots: .file("/nonexistent/ca.pem")))
        expectInvalid(.client(trustRoots: .pem("")))
    }

    /// A damaged block after a good one (a corrupt intermediate, a second CA cut in half) must not be dropped
    /// silently: the context would start without it and fail only at the first handshake that needs it.
    @Test(
        "a chain or CA file whose second PEM block is damaged is refused, naming the file",
        arguments: ["chain", "trust roots"])
    func damagedSecondBlock(use: String) throws {
        let damaged = "-----BEGIN CERTIFICATE-----\n!!not base64!!\n-----END CERTIFICATE-----\n"
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-pem-\(UUID()).pem").path
        let first = use == "chain" ? pki.server.certificatePEM : pki.authority.certificatePEM
        try (first + damaged).write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        var configuration = pki.serverConfiguration()
        if use == "chain" {
            configuration.certificateChain = .file(path)
        } else {
            configuration = .client(trustRoots: .file(path))
        }
        #expect {
            try TLSContext(configuration: configuration)
        } throws: {
            guard let error = $0 as? TLSError else { return false }
            return error.code == .invalidConfiguration && error.message.contains(path)
        }
        // The good block alone, and followed by other text or another kind of block, still loads.
        try (first + "trailing text\n" + pki.server.privateKeyPEM).write(
            toFile: path, atomically: true, encoding: .utf8)
        _ = try TLSContext(configuration: configuration)
    }

    @Test("a CA file of 1,024 certificates loads; one more is refused, naming it, rather than cut silently")
    func certificatesAtTheLimit() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-pem-\(UUID()).pem").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let authority = pki.authority.certificatePEM
        try String(repeating: authority, count: 1_024).write(toFile: path, atomically: true, encoding: .utf8)
        _ = try TLSContext(configuration: .client(trustRoots: .file(path)))
        try String(repeating: authority, count: 1_025).write(toFile: path, atomically: true, encoding: .utf8)
        #expect {
            try TLSContext(configuration: .client(trustRoots: .file(path)))
        } throws: {
            guard let error = $0 as? TLSError else { return false }
            return error.code == .invalidConfiguration && error.message.contains(path)
                && error.message.contains("more than 1024")
        }
        // Text read by the caller is named by the path it came from.
        #expect {
            try TLSContext(configuration: .client(trustRoots: .read(path: "/etc/ca.pem", text: "no PEM here")))
        } throws: { ($0 as? TLSError)?.message.contains("/etc/ca.pem") == true }
    }

    @Test("defaults: TLS 1.2 minimum, 1.3 maximum, 10 s handshake timeout, resumption on")
    func defaults() {
        let configuration = TLSConfiguration.clientDefaults
        #expect(configuration.minimumVersion == .v1_2)
        #expect(configuration.maximumVersion == .v1_3)
        #expect(configuration.handshakeTimeout == .seconds(10))
        #expect(configuration.sessionResumption)
        #expect(!configuration.cipherList.contains("CBC") && !configuration.cipherList.contains("RSA-AES128-SHA"))
    }
}
