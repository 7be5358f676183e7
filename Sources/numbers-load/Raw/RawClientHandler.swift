import NIOCore
import NumberTLS

/// Client side of the raw baseline: keeps `depth` requests in flight on one TLS connection until `end`, recording
/// each response's latency from its send. The connection closing with requests unanswered, or answers still missing
/// `timeout` after `end`, fails the run (its figures would be too low, with no error to say so).
struct RawConnectionFailure: Error, CustomStringConvertible {
    var description: String
}

final class RawClientHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let request: ByteBuffer
    private let responseLength: Int
    private let depth: Int
    private let end: NIODeadline
    private let timeout: TimeAmount
    private let recorder: LatencyRecorder
    private let stripe: Int
    private let done: EventLoopPromise<Void>
    private var sent = CircularBuffer<NIODeadline>()
    private var received = 0
    private var running = false

    init(
        requestBytes: Int, responseBytes: Int, depth: Int, end: NIODeadline, timeout: TimeAmount,
        recorder: LatencyRecorder, stripe: Int, done: EventLoopPromise<Void>
    ) {
        let payload = max(0, requestBytes - RawProtocol.requestHeaderLength)
        var request = ByteBuffer()
        request.writeInteger(UInt32(payload))
        request.writeInteger(UInt32(max(0, responseBytes - RawProtocol.responseHeaderLength)))
        request.writeRepeatingByte(0x5A, count: payload)
        self.request = request
        self.responseLength =
            RawProtocol.responseHeaderLength + max(0, responseBytes - RawProtocol.responseHeaderLength)
        self.depth = depth
        self.end = end
        self.timeout = timeout
        self.recorder = recorder
        self.stripe = stripe
        self.done = done
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is TLSHandshakeCompleted, !running else { return }
        running = true
        for _ in 0..<depth { send(context: context) }
        context.flush()
        let bound = NIOLoopBound((handler: self, channel: context.channel), eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(deadline: end + timeout) {
            let (handler, channel) = bound.value
            guard handler.running, !handler.sent.isEmpty else { return }
            handler.settle(
                RawConnectionFailure(
                    description: "\(handler.sent.count) raw requests unanswered \(handler.timeout) after the end"))
            channel.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received += unwrapInboundIn(data).readableBytes
        let now = NIODeadline.now()
        while received >= responseLength, let start = sent.popFirst() {
            received -= responseLength
            recorder.record(
                stripe: stripe, operation: .raw, intended: start, end: now, outcome: "OK",
                wireBytes: (request.readableBytes, responseLength))
            if now < end { send(context: context) }
        }
        if sent.isEmpty, now >= end { finish(context: context) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        guard running, !sent.isEmpty else { return settle(nil) }
        settle(RawConnectionFailure(description: "the raw connection closed with \(sent.count) requests unanswered"))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        settle(error)
        context.close(promise: nil)
    }

    private var settled = false

    private func settle(_ error: (any Error)?) {
        guard !settled else { return }
        settled = true
        if let error { done.fail(error) } else { done.succeed(()) }
    }

    private func send(context: ChannelHandlerContext) {
        sent.append(.now())
        context.write(wrapOutboundOut(request), promise: nil)
    }

    private func finish(context: ChannelHandlerContext) {
        guard running else { return }
        running = false
        context.close(promise: nil)
    }
}
