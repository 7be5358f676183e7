import NIOCore
import NIOPosix
import NumberTLS

/// A TLS echo server on loopback: every byte received is written back, flushed once per read burst.
///
/// Reusable as the transport ceiling: the RPC layer's throughput is reported against this server's.
/// ```swift
/// let server = try await TLSEchoServer.start(group: group, context: serverContext)
/// print(server.port)
/// try await server.close()
/// ```
public final class TLSEchoServer: Sendable {
    /// The listening channel.
    public let channel: any Channel

    /// The bound port.
    public var port: Int {
        channel.localAddress?.port ?? 0
    }

    private init(channel: any Channel) {
        self.channel = channel
    }

    /// Binds on `host`:`port` (0 = ephemeral) and serves TLS with `context`.
    public static func start(
        group: any EventLoopGroup, context: TLSContext, host: String = "127.0.0.1", port: Int = 0
    ) async throws -> TLSEchoServer {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addTLSServerHandler(context: context)
                    try channel.pipeline.syncOperations.addHandler(EchoHandler())
                }
            }
            .bind(host: host, port: port).get()
        return TLSEchoServer(channel: channel)
    }

    /// Stops listening (open connections end with their clients).
    public func close() async throws {
        try await channel.close()
    }
}

/// Writes back what it reads; closes on any error (TLS errors included).
public final class EchoHandler: ChannelInboundHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// Creates a handler.
    public init() {}

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.write(data, promise: nil)
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
