import NIOCore
import NIOPosix
import NumberTLS

/// Keeps `depth` messages in flight on one TLS connection to an echo server for a fixed time.
final class EchoLoadHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let message: ByteBuffer
    private let depth: Int
    private let duration: TimeAmount
    private let result: EventLoopPromise<Int>
    private var bytesReceived = 0
    private var messagesAnswered = 0
    private var running = false

    init(messageBytes: Int, depth: Int, duration: TimeAmount, result: EventLoopPromise<Int>) {
        self.message = ByteBuffer(repeating: 0x5A, count: messageBytes)
        self.depth = depth
        self.duration = duration
        self.result = result
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is TLSHandshakeCompleted else {
            return
        }
        running = true
        for _ in 0..<depth {
            context.write(wrapOutboundOut(message), promise: nil)
        }
        context.flush()
        context.eventLoop.assumeIsolated().scheduleTask(in: duration) { [self] in
            running = false
            result.succeed(bytesReceived)
            context.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard running else {
            return
        }
        bytesReceived += unwrapInboundIn(data).readableBytes
        let answered = bytesReceived / message.readableBytes
        for _ in messagesAnswered..<answered {
            context.write(wrapOutboundOut(message), promise: nil)
        }
        messagesAnswered = answered
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        result.fail(error)
        context.close(promise: nil)
    }
}

/// Echo throughput: messages/s and MB/s (each byte goes to the server and back).
struct EchoLoad {
    var messageBytes: Int
    var depth: Int
    var connections: Int
    var durationSeconds: Double

    struct Result {
        var messagesPerSecond: Double
        var megabytesPerSecond: Double
    }

    func run(group: any EventLoopGroup, port: Int, context: TLSContext) async throws -> Result {
        let duration = TimeAmount.nanoseconds(Int64(durationSeconds * 1e9))
        var futures: [EventLoopFuture<Int>] = []
        for _ in 0..<connections {
            let eventLoop = group.next()
            let result = eventLoop.makePromise(of: Int.self)
            let (bytes, depth) = (messageBytes, depth)
            _ = try await ClientBootstrap(group: eventLoop)
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addTLSClientHandler(
                            context: context, serverHostname: "localhost")
                        try channel.pipeline.syncOperations.addHandler(
                            EchoLoadHandler(messageBytes: bytes, depth: depth, duration: duration, result: result))
                    }
                }
                .connect(host: "127.0.0.1", port: port).get()
            futures.append(result.futureResult)
        }
        var total = 0
        for future in futures {
            total += try await future.get()
        }
        let seconds = durationSeconds
        return Result(
            messagesPerSecond: Double(total / messageBytes) / seconds,
            megabytesPerSecond: Double(total) / seconds / 1e6)
    }
}
