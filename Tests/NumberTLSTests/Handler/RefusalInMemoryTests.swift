import Foundation
import NIOCore
import NIOEmbedded
import NumberTLS
import TestSupport
import Testing

@Suite("Refusals in memory: every bad peer gets a typed error")
struct RefusalInMemoryTests {
    let pki = TestPKI.shared

    @Test("a hostname not in the certificate is refused", arguments: ["wrong.example", "10.9.8.7", "localhost.evil"])
    func wrongHostname(hostname: String) throws {
        let pair = try InMemoryPair(
            client: pki.clientConfiguration(), server: pki.serverConfiguration(), hostname: hostname)
        try pair.connect()
        #expect(pair.clientEvents.handshake == nil)
        #expect(pair.serverEvents.handshake == nil)
        let error = try #require(pair.clientEvents.tlsError)
        #expect(error.code == .certificateVerificationFailed)
        #expect(error.message.contains("mismatch"))
    }

    @Test(
        "names in the certificate are accepted", arguments: ["localhost", "numbers.test", "127.0.0.1", "::1", "[::1]"])
    func rightHostname(hostname: String) throws {
        let pair = try InMemoryPair(
            client: pki.clientConfiguration(), server: pki.serverConfiguration(), hostname: hostname)
        try pair.connect()
        #expect(pair.clientEvents.handshake != nil)
    }

    /// A TLS review: OpenSSL matches a hostname against the subject's CN when the certificate has no DNS name, so a
    /// SAN-less certificate a private CA issued to another service under the name authenticated as numberd.
    @Test("a certificate naming the host only in its CN (no subjectAltName) is refused")
    func commonNameIsNoName() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cn-only-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try pki.authority.certificatePEM.write(
            to: directory.appendingPathComponent("ca.pem"), atomically: true, encoding: .utf8)
        try pki.authority.privateKeyPEM.write(
            to: directory.appendingPathComponent("ca.key"), atomically: true, encoding: .utf8)
        try "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n".write(
            to: directory.appendingPathComponent("leaf.ext"), atomically: true, encoding: .utf8)
        let path = { (name: String) in directory.appendingPathComponent(name).path }
        for arguments in [
            [
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                path("leaf.key"),
                "-out", path("leaf.csr"), "-subj", "/CN=numbers.local",
            ],
            [
                "x509", "-req", "-in", path("leaf.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"),
                "-CAcreateserial", "-out", path("leaf.pem"), "-days", "2", "-extfile", path("leaf.ext"),
            ],
        ] {
            let openssl = try await ChildProcess.run("/usr/bin/openssl", arguments, timeout: .seconds(60))
            try #require(openssl.ending == .exited(0), "openssl \(arguments[0]): \(openssl.text)")
        }
        let leaf = IssuedCertificate(
            certificatePEM: try String(contentsOf: directory.appendingPathComponent("leaf.pem"), encoding: .utf8),
            privateKeyPEM: try String(contentsOf: directory.appendingPathComponent("leaf.key"), encoding: .utf8),
            authorityPEM: pki.authority.certificatePEM)
        let pair = try InMemoryPair(
            client: pki.clientConfiguration(), server: pki.serverConfiguration(leaf), hostname: "numbers.local")
        try pair.connect()
        #expect(pair.clientEvents.handshake == nil)
        let error = try #require(pair.clientEvents.tlsError)
        #expect(error.code == .certificateVerificationFailed, "\(error)")
    }

    /// numberd's generated CA is loopback only (name constraints): a `ca.pem` someone added to a system's trust store
    /// vouches, even with its key stolen, for no server but a local one.
    @Test(
        "a loopback-only CA's certificates verify for localhost and loopback addresses, for no other name",
        arguments: [
            ("localhost", [String](), true), ("127.0.0.1", [], true), ("::1", [], true),
            ("billing.example", ["billing.example"], false), ("localhost", ["billing.example"], false),
        ])
    func loopbackOnlyAuthority(hostname: String, extraNames: [String], verifies: Bool) throws {
        let authority = try CertificateAuthority.generate(loopbackOnly: true)
        let leaf = try authority.issueServerCertificate(dnsNames: extraNames)
        var client = TLSConfiguration.client(trustRoots: authority.trustRoots)
        client.applicationProtocols = ["nrpc/1"]
        var server = TLSConfiguration.server(certificateChain: leaf.certificateChain, privateKey: leaf.privateKey)
        server.applicationProtocols = ["nrpc/1"]
        let pair = try InMemoryPair(client: client, server: server, hostname: hostname)
        try pair.connect()
        #expect((pair.clientEvents.handshake != nil) == verifies, "\(String(describing: pair.clientEvents.tlsError))")
        if !verifies {
            let error = try #require(pair.clientEvents.tlsError)
            #expect(error.code == .certificateVerificationFailed, "\(error)")
            #expect("\(error)".contains("subtree violation"), "\(error)")
        }
    }

    @Test("an empty hostname is a configuration error, never a silent skip", arguments: ["", "[]"])
    func emptyHostname(hostname: String) throws {
        let context = try TLSContext(configuration: pki.clientConfiguration())
        #expect {
            try TLSHandler(clientContext: context, serverHostname: hostname)
        } throws: { ($0 as? TLSError)?.code == .invalidConfiguration }
    }

    @Test("a server certificate from an untrusted CA is refused")
    func untrustedAuthority() throws {
        let pair = try InMemoryPair(
            client: pki.clientConfiguration(trusting: pki.otherAuthority), server: pki.serverConfiguration())
        try pair.connect()
        let error = try #require(pair.clientEvents.tlsError)
        #expect(error.code == .certificateVerificationFailed)
        #expect(pair.serverEvents.tlsError?.code == .handshakeFailed)
    }

    @Test("expired and not-yet-valid server certificates are refused", arguments: [true, false])
    func validity(expired: Bool) throws {
        let certificate = try pki.authority.issueServerCertificate(validity: expired ? .expired : .notYetValid)
        let pair = try InMemoryPair(client: pki.clientConfiguration(), server: pki.serverConfiguration(certificate))
        try pair.connect()
        let error = try #require(pair.clientEvents.tlsError)
        #expect(error.code == .certificateVerificationFailed)
        #expect(error.message.contains(expired ? "expired" : "not yet valid"))
    }

    @Test("plaintext bytes sent to the server fail the handshake with OpenSSL's reason")
    func plaintextToServer() throws {
        let context = try TLSContext(configuration: pki.serverConfiguration())
        let server = EmbeddedChannel()
        let events = EventRecorder()
        try server.pipeline.syncOperations.addTLSServerHandler(context: context)
        try server.pipeline.syncOperations.addHandler(events)
        try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try server.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
        let error = try #require(events.tlsError)
        #expect(error.code == .handshakeFailed)
        #expect(error.openSSLErrors.joined().contains("http request"))
        #expect(!server.isActive)
    }

    @Test("a handshake that stops halfway is closed after handshakeTimeout")
    func handshakeTimeout() throws {
        var configuration = pki.serverConfiguration()
        configuration.handshakeTimeout = .milliseconds(200)
        let context = try TLSContext(configuration: configuration)
        let server = EmbeddedChannel()
        let events = EventRecorder()
        try server.pipeline.syncOperations.addTLSServerHandler(context: context)
        try server.pipeline.syncOperations.addHandler(events)
        try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        server.embeddedEventLoop.advanceTime(by: .milliseconds(199))
        #expect(server.isActive)
        server.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(events.tlsError?.code == .handshakeTimeout)
        #expect(!server.isActive)
    }

    @Test("ALPN with no protocol in common is refused")
    func alpnMismatch() throws {
        let pair = try InMemoryPair(
            client: pki.clientConfiguration(alpn: ["h2"]), server: pki.serverConfiguration(alpn: ["nrpc/1"]))
        try pair.connect()
        #expect(pair.clientEvents.tlsError?.code == .handshakeFailed)
        #expect(pair.serverEvents.tlsError?.code == .handshakeFailed)
    }

    @Test("a client without ALPN still connects to an ALPN server (no protocol reported)")
    func noALPN() throws {
        let pair = try InMemoryPair(client: pki.clientConfiguration(alpn: []), server: pki.serverConfiguration())
        try pair.connect()
        #expect(pair.clientEvents.handshake != nil)
        #expect(pair.serverEvents.handshake?.applicationProtocol == nil)
    }

    @Test("a client offering ALPN refuses a server that chooses none (another TLS service on the address)")
    func serverIgnoringALPN() throws {
        let pair = try InMemoryPair(client: pki.clientConfiguration(), server: pki.serverConfiguration(alpn: []))
        try pair.connect()
        #expect(pair.clientEvents.handshake == nil)
        let error = try #require(pair.clientEvents.tlsError)
        #expect(error.code == .handshakeFailed)
        #expect(error.message.contains("chose no application protocol (offered: nrpc/1)"), "\(error)")
    }
}
