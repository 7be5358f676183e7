import NIOCore

/// Bounds how long one request may take to arrive (`SimulatorConfiguration.Limits.requestDeadlineMilliseconds`): from
/// the first byte of its head until it is whole. It sits in front of the HTTP codec, so it sees that first byte
/// itself; ``SimulatorHTTPHandler`` tells it when the request is whole (the clock stops: answering it, latency faults
/// included, does not count) and when it was answered (the next byte starts the clock again). A request not whole at
/// its deadline is answered 408 with a Twilio error body and its connection closed. The answer is written here as
/// bytes, below the codec: the request's head may not even be whole yet, and the codec's pipelining handler refuses
/// a response to a request it has not seen.
final class RequestDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Phase {
        /// Between requests: the next byte starts a request.
        case idle
        /// Bytes of a request arrived, and it is not whole yet: the clock runs.
        case receiving
        /// The request is whole and not answered yet.
        case answering
    }

    private let deadline: TimeAmount
    private var phase = Phase.idle
    /// Bytes arrived while a request was being answered: the next (pipelined) request started meanwhile, and its
    /// clock starts when the current one is answered.
    private var nextStarted = false
    private var timer: Scheduled<Void>?
    private var context: ChannelHandlerContext?
    /// Set once the 408 is on its way: nothing more is read.
    private var expired = false

    /// A handler that answers 408 `deadline` after a request's first byte unless the request is whole by then.
    init(deadline: TimeAmount) {
        self.deadline = deadline
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stopClock()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !expired else { return }
        switch phase {
        case .idle: startClock(context: context)
        case .receiving: break
        case .answering: nextStarted = true
        }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        stopClock()
        context.fireChannelInactive()
    }

    /// A request's head reached the HTTP handler. Its clock normally runs from its first byte already; but when those
    /// bytes came in the same read as the end of the request before it, nothing started one (the connection was
    /// still receiving that request), and the head is handed over only once that request is answered: the clock
    /// starts now, or such a request, never completed, would hold its connection for good.
    func requestHeadArrived() {
        guard phase == .idle, !expired, let context else { return }
        nextStarted = false
        startClock(context: context)
    }

    /// The request's end was read: its clock stops.
    func requestWhole() {
        stopClock()
        phase = .answering
    }

    /// The request is being answered (called before the answer is written, since writing it may hand the next
    /// pipelined request to the HTTP handler at once); the connection stays open for the next one.
    func requestAnswered() {
        guard phase == .answering else { return }
        phase = .idle
        if nextStarted, let context {
            nextStarted = false
            startClock(context: context)
        }
    }

    private func startClock(context: ChannelHandlerContext) {
        phase = .receiving
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: deadline) { [self] in
            timer = nil
            expire(context: context)
        }
    }

    private func stopClock() {
        timer?.cancel()
        timer = nil
    }

    /// The deadline passed with the request not whole: 408, then close.
    private func expire(context: ChannelHandlerContext) {
        guard phase == .receiving, !expired, context.channel.isActive else { return }
        expired = true
        let milliseconds = deadline.nanoseconds / 1_000_000
        let error = TwilioError(
            status: 408, code: 20001, message: "Request not received whole within \(milliseconds) ms")
        let body = error.body.serialized()
        var bytes = context.channel.allocator.buffer(capacity: 256 + body.utf8.count)
        bytes.writeString(
            "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json; charset=utf-8\r\n"
                + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)")
        context.writeAndFlush(wrapOutboundOut(bytes)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}

/// Closes a connection accepted over `SimulatorConfiguration.Limits.connectionsMax` as soon as it is active, before
/// anything is read from it (under TLS, before the handshake).
final class RefusedConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { context.close(promise: nil) }
    }

    func channelActive(context: ChannelHandlerContext) {
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}
