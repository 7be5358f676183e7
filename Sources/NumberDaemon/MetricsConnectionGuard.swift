import NIOCore

/// Keeps one metrics connection within ``MetricsEndpoint/Limits``, in front of the HTTP codec: it counts the bytes
/// the client sends and closes the connection at its deadline, answering with a plain HTTP status when the request
/// was not answered yet. A refused connection (over the cap, every admitted one being answered) is answered 503 at
/// once.
final class MetricsConnectionGuard: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let limits: MetricsEndpoint.Limits
    private let refusing: Bool
    private var received = 0
    /// Whether an answer (the endpoint's, or one of this guard's) has started: nothing else is written after it.
    private var answered = false
    private var deadline: Scheduled<Void>?
    /// Told once, when the answer starts (``OpenConnections/answering(_:)``).
    private let onAnswering: () -> Void

    /// Guards an admitted connection; `answering` is told when its answer starts.
    init(limits: MetricsEndpoint.Limits, answering: @escaping () -> Void = {}) {
        self.limits = limits
        self.refusing = false
        self.onAnswering = answering
    }

    /// Answers a connection over the cap with 503 and closes it.
    init(refusing limits: MetricsEndpoint.Limits) {
        self.limits = limits
        self.refusing = true
        self.onAnswering = {}
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    private func start(context: ChannelHandlerContext) {
        guard deadline == nil, !answered else { return }
        if refusing {
            answer(
                "503 Service Unavailable", "more than \(limits.connectionsMax) metrics connections open\n",
                context: context)
            return
        }
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: limits.connectionTimeout) { [self] in
            answer(
                "408 Request Timeout",
                "no whole request within \(limits.connectionTimeout.nanoseconds / 1_000_000) ms\n",
                context: context)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refusing else { return }
        let bytes = unwrapInboundIn(data)
        received += bytes.readableBytes
        guard received <= limits.requestBytesMax else {
            answer(
                "431 Request Header Fields Too Large", "a request is at most \(limits.requestBytesMax) bytes\n",
                context: context)
            return
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if !answered { onAnswering() }
        answered = true
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        context.fireChannelInactive()
    }

    /// Writes `status` with `text` (unless an answer has started) and closes the connection.
    private func answer(_ status: String, _ text: String, context: ChannelHandlerContext) {
        deadline?.cancel()
        guard !answered else {
            context.close(promise: nil)
            return
        }
        onAnswering()
        answered = true
        var bytes = ByteBuffer()
        bytes.writeString(
            "HTTP/1.1 \(status)\r\ncontent-type: text/plain\r\ncontent-length: \(text.utf8.count)\r\n"
                + "connection: close\r\n\r\n\(text)")
        context.writeAndFlush(wrapOutboundOut(bytes)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}
