import NIOCore
import NIOPosix
import NumberTLS
import Testing

@Suite("Loopback connections over real sockets (NIOPosix)")
struct LoopbackTests {
    let pki = TestPKI.shared

    /// Under TLS 1.2 OpenSSL calls the new-session callback only after a full handshake: each resumed connection must
    /// put its session back itself, or only every other connection resumes.
    @Test(
        "echo over TLS, then every reconnect resumes the session (SSL_session_reused), under TLS 1.3 and 1.2",
        arguments: [TLSVersion.v1_3, .v1_2])
    func echoAndResumption(clientVersionMax: TLSVersion) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let server = try await LoopbackEchoServer(
            group: group, context: TLSContext(configuration: pki.serverConfiguration()))
        var clientConfiguration = pki.clientConfiguration()
        clientConfiguration.maximumVersion = clientVersionMax
        let clientContext = try TLSContext(configuration: clientConfiguration)
        let cache = TLSSessionCache()
        for attempt in 0..<3 {
            let client = try await LoopbackClient.connect(
                group: group, port: server.port, context: clientContext, sessionCache: cache, expectedBytes: 5)
            let handshake = try await client.handshake.within()
            #expect(handshake.sessionReused == (attempt > 0))
            #expect(handshake.protocolVersion == (clientVersionMax == .v1_3 ? "TLSv1.3" : "TLSv1.2"))
            #expect(handshake.applicationProtocol == "nrpc/1")
            try await client.channel.writeAndFlush(ByteBuffer(string: "ping\(attempt)"))
            #expect(try await client.received.within() == Array("ping\(attempt)".utf8))
            try await client.channel.close()
            #expect(try await client.closed.within().isEmpty)
        }
        #expect(server.observations.snapshot.handshakes.map(\.sessionReused) == [false, true, true])
        try await server.close()
        try await group.shutdownGracefully()
    }

    /// What numberd's session ticket key rotation rests on (`ServerCertificates.ticketKeyLifetimeSeconds`): a context
    /// made again from the same configuration has ticket keys of its own, so it refuses the old context's tickets (a
    /// full handshake), while the old context still resumes them.
    @Test("a new server context from the same files does not resume the old one's tickets")
    func newContextHasNewTicketKeys() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let old = try TLSContext(configuration: pki.serverConfiguration())
        let fresh = try TLSContext(configuration: pki.serverConfiguration())
        let clientContext = try TLSContext(configuration: pki.clientConfiguration())
        func handshake(_ server: LoopbackEchoServer, _ cache: TLSSessionCache) async throws -> Bool {
            let client = try await LoopbackClient.connect(
                group: group, port: server.port, context: clientContext, sessionCache: cache, expectedBytes: 1)
            let reused = try await client.handshake.within().sessionReused
            // Read one echo, so the ticket the server sends after its handshake reaches the cache.
            try await client.channel.writeAndFlush(ByteBuffer(string: "x"))
            _ = try await client.received.within()
            try await client.channel.close()
            return reused
        }
        let oldServer = try await LoopbackEchoServer(group: group, context: old)
        let freshServer = try await LoopbackEchoServer(group: group, context: fresh)
        let cache = TLSSessionCache()
        #expect(try await handshake(oldServer, cache) == false)
        #expect(try await handshake(oldServer, cache) == true)
        #expect(try await handshake(freshServer, cache) == false)
        #expect(try await handshake(freshServer, cache) == true)
        try await oldServer.close()
        try await freshServer.close()
        try await group.shutdownGracefully()
    }

    @Test("megabytes both ways in many small writes arrive complete and in order")
    func largeTransfer() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let server = try await LoopbackEchoServer(
            group: group, context: TLSContext(configuration: pki.serverConfiguration()))
        let messageCount = 4096
        let messageBytes = 1000
        var payload: [UInt8] = []
        payload.reserveCapacity(messageCount * messageBytes)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<(messageCount * messageBytes / 8) {
            withUnsafeBytes(of: generator.next() as UInt64) { payload.append(contentsOf: $0) }
        }
        let client = try await LoopbackClient.connect(
            group: group, port: server.port, context: TLSContext(configuration: pki.clientConfiguration()),
            expectedBytes: payload.count)
        _ = try await client.handshake.within()
        let channel = client.channel
        let chunks = payload.chunks(of: messageBytes)
        try await channel.eventLoop.submit {
            for (index, chunk) in chunks.enumerated() {
                channel.write(ByteBuffer(bytes: chunk), promise: nil)
                if index % 37 == 0 {
                    channel.flush()
                }
            }
            channel.flush()
        }.get()
        let echoed = try await client.received.within()
        #expect(echoed.count == payload.count)
        #expect(echoed == payload)
        #expect(server.observations.snapshot.received == payload)
        try await channel.close()
        try await server.close()
        try await group.shutdownGracefully()
    }
}

extension Array {
    /// Consecutive slices of at most `size` elements.
    func chunks(of size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}
