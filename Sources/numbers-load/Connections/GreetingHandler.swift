import NIOCore
import NumberTLS
import NumberWire

/// Opens an nrpc/1 connection and nothing more: after the TLS handshake it sends the preface and SETTINGS, and the
/// connection counts as established when the server's SETTINGS arrives. Then it stays idle.
final class GreetingHandler: ChannelInboundHandler {
    typealias InboundIn = Frame
    typealias OutboundOut = ByteBuffer

    private let established: EventLoopPromise<Void>
    private var settled = false

    init(established: EventLoopPromise<Void>) {
        self.established = established
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is TLSHandshakeCompleted else { return }
        var buffer = context.channel.allocator.buffer(capacity: 64)
        Preface.write(to: &buffer)
        buffer.writeFrame(Frame(type: .settings, streamID: 0, payload: ConnectionSettings.defaults.payload()))
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if frame.type == .settings, !frame.flags.contains(.ack) {
            // Acknowledge as a real client does, so the server sees a well-behaved peer.
            var buffer = context.channel.allocator.buffer(capacity: Frame.headerLength)
            buffer.writeFrame(Frame(type: .settings, flags: .ack, streamID: 0))
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
            settle(nil)
        } else if frame.type == .goAway {
            settle(GreetingError(message: "the server sent GOAWAY"))
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        settle(GreetingError(message: "the connection closed before the server's SETTINGS"))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        settle(error)
        context.close(promise: nil)
    }

    private func settle(_ error: (any Error)?) {
        guard !settled else { return }
        settled = true
        if let error { established.fail(error) } else { established.succeed(()) }
    }
}

/// A connection that did not get established.
struct GreetingError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
