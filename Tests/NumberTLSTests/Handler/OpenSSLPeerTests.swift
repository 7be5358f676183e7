import Foundation
import NIOCore
import NIOPosix
import NumberTLS
import Testing

@Suite("Real peers: openssl s_client against our server, our client against openssl s_server")
struct OpenSSLPeerTests {
    let pki = TestPKI.shared

    @Test("openssl s_client connects with ALPN and exchanges data both ways", arguments: ["-tls1_3", "-tls1_2"])
    func sClient(version: String) async throws {
        let files = try PKIFiles(pki)
        defer { files.remove() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await LoopbackEchoServer(
            group: group, context: TLSContext(configuration: pki.serverConfiguration()))
        let peer = try OpenSSLCommandProcess(arguments: [
            "s_client", "-connect", "127.0.0.1:\(server.port)", "-servername", "localhost", version,
            "-alpn", "nrpc/1", "-CAfile", files.caCertificate, "-verify_return_error", "-verify_hostname",
            "localhost", "-brief",
        ])
        defer { peer.terminate() }
        #expect(await peer.waitForOutput(containing: "CONNECTION ESTABLISHED"))
        peer.send("ping from s_client\n")
        // s_client prints only what it receives, so the line in its output is our echo.
        #expect(await peer.waitForOutput(containing: "ping from s_client"), "\(peer.text)")
        peer.closeInput()
        #expect(await peer.waitForExit() == 0)
        let observed = server.observations.snapshot
        #expect(String(decoding: observed.received, as: UTF8.self) == "ping from s_client\n")
        let handshake = try #require(observed.handshakes.first)
        #expect(handshake.applicationProtocol == "nrpc/1")
        #expect(handshake.protocolVersion == (version == "-tls1_3" ? "TLSv1.3" : "TLSv1.2"))
        // s_client sent close_notify on EOF of its input: a clean end, so no error on our side.
        try await Task.sleep(for: .milliseconds(100))
        #expect(server.observations.snapshot.errors.isEmpty, "\(server.observations.snapshot.errors)")
        try await server.close()
        try await group.shutdownGracefully()
    }

    @Test(
        "mutual TLS with openssl s_client: its certificate is verified and its identity exposed",
        arguments: [true, false])
    func sClientMutualTLS(presentsCertificate: Bool) async throws {
        let files = try PKIFiles(pki)
        defer { files.remove() }
        var configuration = pki.serverConfiguration()
        configuration.clientAuthentication = .required
        configuration.trustRoots = .file(files.caCertificate)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await LoopbackEchoServer(group: group, context: TLSContext(configuration: configuration))
        var arguments = [
            "s_client", "-connect", "127.0.0.1:\(server.port)", "-servername", "localhost", "-alpn", "nrpc/1",
            "-CAfile", files.caCertificate, "-verify_return_error", "-brief",
        ]
        if presentsCertificate {
            arguments += ["-cert", files.clientCertificate, "-key", files.clientKey]
        }
        let peer = try OpenSSLCommandProcess(arguments: arguments)
        defer { peer.terminate() }
        if presentsCertificate {
            #expect(await peer.waitForOutput(containing: "CONNECTION ESTABLISHED"))
            peer.send("mtls ping\n")
            #expect(await peer.waitForOutput(containing: "mtls ping"), "\(peer.text)")
            peer.closeInput()
            #expect(await peer.waitForExit() == 0)
            let peerIdentity = server.observations.snapshot.handshakes.first?.peer
            #expect(peerIdentity?.commonName == "billing-service")
            #expect(peerIdentity?.dnsNames == ["billing.internal"])
        } else {
            // TLS 1.3: s_client learns of the refusal on its first read; send a line to provoke it.
            peer.send("no certificate\n")
            let status = await peer.waitForExit()
            #expect(status != nil && status != 0, "\(peer.text)")
            let observed = try await waitForServerError(server)
            #expect(observed.handshakes.isEmpty)
            #expect(observed.received.isEmpty)
            let error = try #require(observed.errors.first)
            #expect(error.openSSLErrors.joined().contains("peer did not return a certificate"), "\(error)")
        }
        try await server.close()
        try await group.shutdownGracefully()
    }

    @Test("openssl s_client offering only TLS 1.1 is refused; the server keeps serving")
    func tls11Refused() async throws {
        let files = try PKIFiles(pki)
        defer { files.remove() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await LoopbackEchoServer(
            group: group, context: TLSContext(configuration: pki.serverConfiguration()))
        let peer = try OpenSSLCommandProcess(arguments: [
            "s_client", "-connect", "127.0.0.1:\(server.port)", "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0",
            "-CAfile", files.caCertificate, "-brief",
        ])
        defer { peer.terminate() }
        let status = await peer.waitForExit()
        #expect(status != nil && status != 0)
        let observed = try await waitForServerError(server)
        #expect(observed.handshakes.isEmpty)
        let error = try #require(observed.errors.first)
        #expect(error.code == .handshakeFailed)
        #expect(error.openSSLErrors.joined().contains("unsupported protocol"), "\(error)")
        try await expectServerStillServes(server, group: group)
    }

    @Test("our client talks to openssl s_server (TLS 1.3, ALPN) and exchanges data both ways")
    func sServer() async throws {
        let files = try PKIFiles(pki)
        defer { files.remove() }
        // Port 0: s_server binds a free port itself and prints it (no window for another test to take it).
        let peer = try OpenSSLCommandProcess(arguments: [
            "s_server", "-accept", "127.0.0.1:0", "-cert", files.serverCertificate, "-key", files.serverKey,
            "-alpn", "nrpc/1", "-naccept", "1", "-rev",
        ])
        defer { peer.terminate() }
        let port = try #require(await peer.acceptingPort(), "s_server did not listen: \(peer.text)")
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let client = try await LoopbackClient.connect(
            group: group, port: port, context: TLSContext(configuration: pki.clientConfiguration()),
            expectedBytes: 6)
        let handshake = try await client.handshake.within()
        #expect(handshake.applicationProtocol == "nrpc/1")
        #expect(handshake.protocolVersion == "TLSv1.3")
        #expect(handshake.peer?.commonName == "localhost")
        try await client.channel.writeAndFlush(ByteBuffer(string: "hello\n"))
        // s_server -rev answers each line reversed.
        #expect(String(decoding: try await client.received.within(), as: UTF8.self) == "olleh\n")
        try await client.channel.close()
        #expect(try await client.closed.within().isEmpty)
        try await group.shutdownGracefully()
    }

    @Test("our client refuses openssl s_server that ignores ALPN (a TLS service that is not numberd)")
    func sServerWithoutALPN() async throws {
        let errors = try await refusedByPlainSServer(hostname: "localhost")
        #expect(errors.first?.code == .handshakeFailed)
        #expect(errors.first?.message.contains("chose no application protocol") == true, "\(errors)")
    }

    @Test("our client refuses openssl s_server presenting a certificate for another name")
    func sServerWrongName() async throws {
        let errors = try await refusedByPlainSServer(hostname: "billing.example")
        #expect(errors.first?.code == .certificateVerificationFailed)
    }

    /// Our client's errors connecting to `hostname` at an `openssl s_server` with the shared server certificate and no
    /// ALPN, whose handshake must fail.
    func refusedByPlainSServer(hostname: String) async throws -> [TLSError] {
        let files = try PKIFiles(pki)
        defer { files.remove() }
        // Port 0: s_server binds a free port itself and prints it (no window for another test to take it).
        let peer = try OpenSSLCommandProcess(arguments: [
            "s_server", "-accept", "127.0.0.1:0", "-cert", files.serverCertificate, "-key", files.serverKey,
            "-naccept", "1",
        ])
        defer { peer.terminate() }
        let port = try #require(await peer.acceptingPort(), "s_server did not listen: \(peer.text)")
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let client = try await LoopbackClient.connect(
            group: group, port: port, context: TLSContext(configuration: pki.clientConfiguration()),
            hostname: hostname)
        await #expect(throws: TLSError.self) { try await client.handshake.within() }
        let errors = try await client.closed.within()
        try await group.shutdownGracefully()
        return errors
    }

    /// The server's observations once it has recorded an error (polled up to 120 s: the peer process may exit before
    /// our event loop has processed the refusal, especially on a loaded machine).
    func waitForServerError(_ server: LoopbackEchoServer) async throws -> Observations.State {
        let deadline = ContinuousClock.now + .seconds(120)
        while server.observations.snapshot.errors.isEmpty, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        return server.observations.snapshot
    }

    /// A fresh well-behaved client still completes a handshake and an echo.
    func expectServerStillServes(_ server: LoopbackEchoServer, group: any EventLoopGroup) async throws {
        let client = try await LoopbackClient.connect(
            group: group, port: server.port, context: TLSContext(configuration: pki.clientConfiguration()),
            expectedBytes: 4)
        _ = try await client.handshake.within()
        try await client.channel.writeAndFlush(ByteBuffer(string: "next"))
        #expect(try await client.received.within() == Array("next".utf8))
        try await client.channel.close()
        try await server.close()
        try await group.shutdownGracefully()
    }
}
