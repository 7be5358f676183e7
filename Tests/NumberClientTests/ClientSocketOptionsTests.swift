import NIOCore
import NIOPosix
import Testing

@testable import NumberClient

#if canImport(Glibc)
import Glibc
#endif

/// The options of the client's sockets, read back from a connection made as the client makes them.
@Suite("Client socket options")
struct ClientSocketOptionsTests {
    /// The value of a socket option on `channel`.
    private static func option(
        _ channel: any Channel, level: NIOBSDSocket.OptionLevel, _ name: Int32
    ) async throws -> SocketOptionValue {
        try await channel.getOption(
            ChannelOptions.Types.SocketOption(level: level, name: NIOBSDSocket.Option(rawValue: name))
        ).get()
    }

    /// A connection to `server` made as the client makes them, with `liveness`.
    private static func connect(
        _ server: FakeNumbersServer, liveness: NumbersClientConfiguration.LivenessPolicy = .defaults
    ) async throws -> ClientConnection {
        try await ClientConnection.connect(
            host: "127.0.0.1", port: server.port, tls: nil, serverHostname: "127.0.0.1", sessionCache: nil,
            // The SETTINGS wait past a loaded run's stall (5 s ran out once).
            settings: .defaults, connectTimeout: .seconds(120), liveness: liveness,
            group: MultiThreadedEventLoopGroup.singleton
        ).get()
    }

    #if os(Linux)
    @Test("TCP_NODELAY is set at the TCP level, and SO_DEBUG is not set")
    func noDelayNotDebug() async throws {
        let server = try await FakeNumbersServer.start { _, _ in .never }
        let connection = try await Self.connect(server)
        #expect(try await Self.option(connection.channel, level: .tcp, TCP_NODELAY) == 1)
        // `.socketOption(.tcp_nodelay)` set option 1 at SOL_SOCKET, which is SO_DEBUG: only CAP_NET_ADMIN may set
        // it, so for any other user every connect failed (EACCES), and the client could not reach numberd at all.
        #expect(try await Self.option(connection.channel, level: .socket, SO_DEBUG) == 0)
        await connection.close()
        await server.stop()
    }
    #endif

    #if os(Linux)
    @Test("client sockets get TCP keepalive and a user timeout by default; rounded up to the kernel's units; or none")
    func keepalive() async throws {
        let server = try await FakeNumbersServer.start { _, _ in .never }
        let connection = try await Self.connect(server)
        let channel = connection.channel
        #expect(try await Self.option(channel, level: .socket, SO_KEEPALIVE) == 1)
        #expect(try await Self.option(channel, level: .tcp, TCP_KEEPIDLE) == 30)
        #expect(try await Self.option(channel, level: .tcp, TCP_KEEPINTVL) == 10)
        #expect(try await Self.option(channel, level: .tcp, TCP_USER_TIMEOUT) == 30_000)
        await connection.close()

        let rounded = NumbersClientConfiguration.LivenessPolicy(
            tcpKeepaliveIdle: .milliseconds(1), tcpKeepaliveInterval: .milliseconds(1500),
            tcpUserTimeout: .microseconds(1))
        let edge = try await Self.connect(server, liveness: rounded)
        #expect(try await Self.option(edge.channel, level: .tcp, TCP_KEEPIDLE) == 1, "at least 1 s")
        #expect(try await Self.option(edge.channel, level: .tcp, TCP_KEEPINTVL) == 2, "rounded up")
        #expect(try await Self.option(edge.channel, level: .tcp, TCP_USER_TIMEOUT) == 1, "at least 1 ms")
        await edge.close()

        let off = NumbersClientConfiguration.LivenessPolicy(tcpKeepaliveIdle: nil, tcpUserTimeout: nil)
        let plain = try await Self.connect(server, liveness: off)
        #expect(try await Self.option(plain.channel, level: .socket, SO_KEEPALIVE) == 0)
        #expect(try await Self.option(plain.channel, level: .tcp, TCP_USER_TIMEOUT) == 0)
        await plain.close()
        await server.stop()
    }
    #endif
}
