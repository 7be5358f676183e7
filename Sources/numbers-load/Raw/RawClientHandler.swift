import NIOCore
import NumberTLS

/// Client side of the raw baseline: announces its TLS handshake (`handshaken`), then, on the run's ``Start`` (fired
/// once every connection's handshake is done, so that no connecting is in the measured time, as on the RPC side),
/// keeps `depth` requests in flight until the start's `end`, recording each response's latency from its send. The
/// connection closing before the start or with requests unanswered, or answers still missing `timeout` after `end`,
/// fails the run (its figures would be too low, with no error to say so).
struct RawConnectionFailure: Error, CustomStringConvertible {
    var description: String
}

final class RawClientHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The user event that starts the requests: they go out until `end`, recorded into `recorder`.
    struct Start: Sendable {
        var end: NIODeadline
        var recorder: LatencyRecorder
    }

    private let request: ByteBuffer
    private let responseLength: Int
    private let depth: Int
    private let timeout: TimeAmount
    private let stripe: Int
    private let done: EventLoopPromise<Void>
    /// Succeeded when the TLS handshake completed, failed if the connection ended or failed before.
    private let handshaken: EventLoopPromise<Void>
    /// Whether the handshake completed (nil while it runs).
    private var handshake: Bool?
    /// The run, once started.
    private var run: Start?
    private var sent = CircularBuffer<NIODeadline>()
    private var received = 0
    private var running = false

    init(
        requestBytes: Int, responseBytes: Int, depth: Int, timeout: TimeAmount, stripe: Int,
        done: EventLoopPromise<Void>, handshaken: EventLoopPromise<Void>
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
        self.timeout = timeout
        self.stripe = stripe
        self.done = done
        self.handshaken = handshaken
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is TLSHandshakeCompleted {
            settleHandshake(nil)
        } else if let start = event as? Start {
            begin(start, context: context)
        }
    }

    /// Puts `depth` requests in flight, once, after the handshake.
    private func begin(_ start: Start, context: ChannelHandlerContext) {
        guard handshake == true, run == nil else { return }
        run = start
        running = true
        for _ in 0..<depth { send(context: context) }
        context.flush()
        let bound = NIOLoopBound((handler: self, channel: context.channel), eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(deadline: start.end + timeout) {
            let (handler, channel) = bound.value
            guard handler.running, !handler.sent.isEmpty else { return }
            handler.settle(
                RawConnectionFailure(
                    description: "\(handler.sent.count) raw requests unanswered \(handler.timeout) after the end"))
            channel.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let run else { return }  // nothing was asked yet
        received += unwrapInboundIn(data).readableBytes
        let now = NIODeadline.now()
        while received >= responseLength, let start = sent.popFirst() {
            received -= responseLength
            run.recorder.record(
                stripe: stripe, operation: .raw, intended: start, end: now, outcome: "OK",
                wireBytes: (request.readableBytes, responseLength))
            if now < run.end { send(context: context) }
        }
        if sent.isEmpty, now >= run.end { finish(context: context) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        settleHandshake(RawConnectionFailure(description: "the raw connection closed before its TLS handshake ended"))
        guard run != nil else {
            return settle(RawConnectionFailure(description: "the raw connection closed before the run started"))
        }
        guard running, !sent.isEmpty else { return settle(nil) }
        settle(RawConnectionFailure(description: "the raw connection closed with \(sent.count) requests unanswered"))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        settleHandshake(error)
        settle(error)
        context.close(promise: nil)
    }

    private func settleHandshake(_ error: (any Error)?) {
        guard handshake == nil else { return }
        handshake = error == nil
        if let error { handshaken.fail(error) } else { handshaken.succeed(()) }
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
