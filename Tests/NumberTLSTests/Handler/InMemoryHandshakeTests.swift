import NIOCore
import NIOEmbedded
import NumberTLS
import Testing

@Suite("In-memory handshakes between two EmbeddedChannels")
struct InMemoryHandshakeTests {
    let pki = TestPKI.shared

    @Test("TLS 1.3 handshake negotiates ALPN, reports the server identity and carries data both ways")
    func handshakeAndData() throws {
        let pair = try InMemoryPair(client: pki.clientConfiguration(), server: pki.serverConfiguration())
        try pair.connect()
        let client = try #require(pair.clientEvents.handshake)
        let server = try #require(pair.serverEvents.handshake)
        #expect(client.applicationProtocol == "nrpc/1")
        #expect(server.applicationProtocol == "nrpc/1")
        #expect(client.protocolVersion == "TLSv1.3")
        #expect(client.cipherSuite.hasPrefix("TLS_"))
        #expect(client.peer?.commonName == "localhost")
        #expect(client.peer?.dnsNames == ["localhost", "numbers.test"])
        #expect(client.peer?.ipAddresses == ["127.0.0.1", "::1"])
        #expect(client.peer?.sha256Fingerprint.count == 64)
        #expect(server.peer == nil)
        #expect(!client.sessionReused)
        #expect(server.serverName == "localhost")
        #expect(client.serverName == "localhost")

        try pair.sendFromClient("hello server")
        try pair.sendFromServer("hello client")
        #expect(pair.serverEvents.receivedString == "hello server")
        #expect(pair.clientEvents.receivedString == "hello client")
        #expect(pair.clientEvents.errors.isEmpty && pair.serverEvents.errors.isEmpty)
    }

    @Test("TLS 1.2 is negotiated when the server allows nothing newer, with an ECDHE AEAD cipher")
    func tls12() throws {
        var server = pki.serverConfiguration()
        server.maximumVersion = .v1_2
        let pair = try InMemoryPair(client: pki.clientConfiguration(), server: server)
        try pair.connect()
        let event = try #require(pair.clientEvents.handshake)
        #expect(event.protocolVersion == "TLSv1.2")
        #expect(event.cipherSuite.hasPrefix("ECDHE-ECDSA-"))
        try pair.sendFromClient("over 1.2")
        #expect(pair.serverEvents.receivedString == "over 1.2")
    }

    @Test("writes made before the handshake completes are delivered after it, in order")
    func writesBeforeHandshake() throws {
        let pair = try InMemoryPair(client: pki.clientConfiguration(), server: pki.serverConfiguration())
        try pair.server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try pair.client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
        let first = pair.client.write(ByteBuffer(string: "one,"))
        let second = pair.client.writeAndFlush(ByteBuffer(string: "two"))
        try pair.interactInMemory()
        try first.wait()
        try second.wait()
        #expect(pair.serverEvents.receivedString == "one,two")
    }

    @Test("a write before the handshake beyond pendingWriteBytesMax fails the connection, never leaves a gap")
    func pendingWriteLimit() throws {
        var client = pki.clientConfiguration()
        client.pendingWriteBytesMax = 10
        let pair = try InMemoryPair(client: client, server: pki.serverConfiguration())
        try pair.client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
        let fits = pair.client.write(ByteBuffer(string: "0123456789"))
        let tooMuch = pair.client.write(ByteBuffer(string: "x"))
        #expect { try tooMuch.wait() } throws: { ($0 as? TLSError)?.code == .pendingWriteLimitExceeded }
        #expect { try fits.wait() } throws: { ($0 as? TLSError)?.code == .pendingWriteLimitExceeded }
        #expect(pair.clientEvents.tlsError?.code == .pendingWriteLimitExceeded)
        #expect(!pair.client.isActive)
    }

    @Test("exactly pendingWriteBytesMax bytes before the handshake are accepted and delivered")
    func pendingWriteLimitEdge() throws {
        var client = pki.clientConfiguration()
        client.pendingWriteBytesMax = 10
        let pair = try InMemoryPair(client: client, server: pki.serverConfiguration())
        try pair.client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
        let fits = pair.client.writeAndFlush(ByteBuffer(string: "0123456789"))
        try pair.server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try pair.interactInMemory()
        try fits.wait()
        #expect(pair.serverEvents.receivedString == "0123456789")
    }

    @Test("many small writes in one flush are coalesced into one socket write")
    func coalescing() throws {
        let pair = try InMemoryPair(client: pki.clientConfiguration(), server: pki.serverConfiguration())
        try pair.connect()
        var futures: [EventLoopFuture<Void>] = []
        for index in 0..<100 {
            futures.append(pair.client.write(ByteBuffer(string: "message \(index);")))
        }
        pair.client.flush()
        var socketWrites: [ByteBuffer] = []
        while let buffer = try pair.client.readOutbound(as: ByteBuffer.self) {
            socketWrites.append(buffer)
        }
        #expect(socketWrites.count == 1)
        // 100 messages of ~12 bytes fit one record: header 5 + payload + type 1 + tag 16.
        let plaintext = (0..<100).map { "message \($0);" }.joined()
        #expect(socketWrites[0].readableBytes == plaintext.utf8.count + 22)
        for write in socketWrites {
            try pair.server.writeInbound(write)
        }
        for future in futures {
            try future.wait()
        }
        #expect(pair.serverEvents.receivedString == plaintext)
    }

    @Test("close sends close_notify; the peer answers and both close cleanly without errors")
    func closeNotify() throws {
        let pair = try InMemoryPair(client: pki.clientConfiguration(), server: pki.serverConfiguration())
        try pair.connect()
        let closed = pair.client.close()
        try pair.interactInMemory()
        pair.client.embeddedEventLoop.run()
        try closed.wait()
        #expect(pair.serverEvents.inactive)
        #expect(pair.clientEvents.inactive)
        #expect(pair.clientEvents.errors.isEmpty)
        #expect(pair.serverEvents.errors.isEmpty)
    }

    @Test("a server closing sends close_notify too; the client sees a clean end")
    func serverCloseNotify() throws {
        let pair = try InMemoryPair(client: pki.clientConfiguration(), server: pki.serverConfiguration())
        try pair.connect()
        try pair.sendFromServer("bye")
        let closed = pair.server.close()
        try pair.interactInMemory()
        try closed.wait()
        #expect(pair.clientEvents.receivedString == "bye")
        #expect(pair.clientEvents.inactive)
        #expect(pair.clientEvents.errors.isEmpty)
    }

    @Test("a peer that closes without close_notify is reported as an unclean shutdown, on either side")
    func uncleanShutdown() throws {
        let pair = try InMemoryPair(client: pki.clientConfiguration(), server: pki.serverConfiguration())
        try pair.connect()
        pair.server.pipeline.fireChannelInactive()
        #expect(pair.serverEvents.tlsError?.code == .uncleanShutdown)
        pair.client.pipeline.fireChannelInactive()
        #expect(pair.clientEvents.tlsError?.code == .uncleanShutdown)
    }

    @Test("a client connecting by IP address sends no SNI")
    func noSNIForIPAddress() throws {
        let pair = try InMemoryPair(
            client: pki.clientConfiguration(), server: pki.serverConfiguration(), hostname: "127.0.0.1")
        try pair.connect()
        #expect(pair.serverEvents.handshake != nil)
        #expect(pair.serverEvents.handshake?.serverName == nil)
    }

    @Test("close gives up waiting for close_notify to be written after closeNotifyTimeout")
    func closeNotifyTimeout() throws {
        var client = pki.clientConfiguration()
        client.closeNotifyTimeout = .milliseconds(500)
        let pair = try InMemoryPair(client: client, server: pki.serverConfiguration())
        try pair.connect()
        // Below TLS, a socket that never finishes writing (a peer that stopped reading).
        try pair.client.pipeline.syncOperations.addHandler(StalledWrites(), position: .first)
        let closed = pair.client.close()
        pair.client.embeddedEventLoop.advanceTime(by: .milliseconds(499))
        #expect(pair.client.isActive)
        pair.client.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!pair.client.isActive)
        try closed.wait()
    }

    @Test("a session stored by the cache is resumed on the next connection")
    func sessionResumption() throws {
        let cache = TLSSessionCache()
        let first = try InMemoryPair(
            client: pki.clientConfiguration(), server: pki.serverConfiguration(), sessionCache: cache)
        try first.connect()
        try first.sendFromServer("ticket flushed")
        #expect(cache.count == 1)
        #expect(first.clientEvents.handshake?.sessionReused == false)
        // The second pair needs the same server context (the ticket key lives in it).
        let serverContext = try TLSContext(configuration: pki.serverConfiguration())
        let clientContext = try TLSContext(configuration: pki.clientConfiguration())
        let cache2 = TLSSessionCache()
        for round in 0..<2 {
            let client = EmbeddedChannel()
            let server = EmbeddedChannel()
            let clientEvents = EventRecorder()
            try client.pipeline.syncOperations.addTLSClientHandler(
                context: clientContext, serverHostname: "localhost", sessionCache: cache2)
            try client.pipeline.syncOperations.addHandler(clientEvents)
            try server.pipeline.syncOperations.addTLSServerHandler(context: serverContext)
            try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
            try exchange(client, server)
            try server.writeAndFlush(ByteBuffer(string: "x")).wait()
            try exchange(client, server)
            #expect(clientEvents.handshake?.sessionReused == (round == 1))
        }
    }

    /// A TLS review: a cache shared by two client contexts (or a key naming no host) handed one context's session
    /// to the other, which resumed it without checking the certificate itself — a context trusting another CA got
    /// in. A session now resumes only under the context, and for the server name, that verified it.
    @Test(
        "a stored session resumes only for the context and server name that verified it",
        arguments: [TLSVersion.v1_3, .v1_2])
    func sessionsStayWithTheirContext(version: TLSVersion) throws {
        var serverConfiguration = pki.serverConfiguration()
        serverConfiguration.maximumVersion = version
        let serverContext = try TLSContext(configuration: serverConfiguration)
        let trusting = try TLSContext(configuration: pki.clientConfiguration())
        let otherCA = try TLSContext(configuration: pki.clientConfiguration(trusting: pki.otherAuthority))
        let cache = TLSSessionCache()
        /// One connection under the shared key: its handshake (nil: refused, `refusal` says how).
        var refusal: TLSError?
        func connect(_ context: TLSContext, _ hostname: String) throws -> TLSHandshakeCompleted? {
            let client = EmbeddedChannel()
            let server = EmbeddedChannel()
            let clientEvents = EventRecorder()
            try client.pipeline.syncOperations.addTLSClientHandler(
                context: context, serverHostname: hostname, sessionCache: cache, sessionKey: "numbers:443")
            try client.pipeline.syncOperations.addHandler(clientEvents)
            try server.pipeline.syncOperations.addTLSServerHandler(context: serverContext)
            try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
            do {
                try exchange(client, server)
            } catch {
                // The server's channel rethrows the alert it received.
                refusal = clientEvents.tlsError
                return nil
            }
            try server.writeAndFlush(ByteBuffer(string: "x")).wait()
            try exchange(client, server)
            return clientEvents.handshake
        }
        #expect(try connect(trusting, "localhost")?.sessionReused == false)
        #expect(cache.count == 1)
        // Another context trusting another CA: no resumption, its own check refuses the server.
        #expect(try connect(otherCA, "localhost") == nil)
        #expect(refusal?.code == .certificateVerificationFailed, "\(String(describing: refusal))")
        // The same context checking another name the certificate covers: a full handshake.
        #expect(try connect(trusting, "127.0.0.1")?.sessionReused == false)
        #expect(try connect(trusting, "127.0.0.1")?.sessionReused == true)
    }

    @Test("ticketless TLS 1.2 clients that close cleanly leave no session in the server context's memory")
    func noInternalSessionStore() throws {
        var serverConfiguration = pki.serverConfiguration()
        serverConfiguration.maximumVersion = .v1_2
        let serverContext = try TLSContext(configuration: serverConfiguration)
        var clientConfiguration = pki.clientConfiguration()
        clientConfiguration.sessionResumption = false  // no ticket extension: the server gives a session id
        let clientContext = try TLSContext(configuration: clientConfiguration)
        for _ in 0..<20 {
            let client = EmbeddedChannel()
            let server = EmbeddedChannel()
            try client.pipeline.syncOperations.addTLSClientHandler(context: clientContext, serverHostname: "localhost")
            try server.pipeline.syncOperations.addTLSServerHandler(context: serverContext)
            try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
            try exchange(client, server)
            let closed = client.close()
            try exchange(client, server)  // close_notify both ways: OpenSSL caches a session only then
            client.embeddedEventLoop.run()
            _ = try? closed.wait()
            _ = try? server.finish(acceptAlreadyClosed: true)
        }
        #expect(serverContext.internallyCachedSessions == 0)
    }

    private func exchange(_ a: EmbeddedChannel, _ b: EmbeddedChannel) throws {
        for _ in 0..<100 {
            var moved = false
            while let buffer = try a.readOutbound(as: ByteBuffer.self) {
                try b.writeInbound(buffer)
                moved = true
            }
            while let buffer = try b.readOutbound(as: ByteBuffer.self) {
                try a.writeInbound(buffer)
                moved = true
            }
            if !moved { return }
        }
    }
}

/// Holds every write forever: the socket of a peer that stopped reading.
private final class StalledWrites: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    private var held: [EventLoopPromise<Void>?] = []

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        held.append(promise)
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        let held = self.held
        self.held = []
        held.forEach { $0?.fail(ChannelError.ioOnClosedChannel) }
        context.close(mode: mode, promise: promise)
    }
}
