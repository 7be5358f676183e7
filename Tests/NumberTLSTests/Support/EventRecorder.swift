import NIOCore
import NumberTLS

/// The last handler of a test pipeline: records what TLS delivers upward.
final class EventRecorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    var received = ByteBuffer()
    var readSizes: [Int] = []
    /// The storage capacity of each buffer read: what it keeps alive while a slice of it is held.
    var readCapacities: [Int] = []
    var handshake: TLSHandshakeCompleted?
    var errors: [any Error] = []
    var inactive = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        readSizes.append(buffer.readableBytes)
        readCapacities.append(buffer.capacity)
        received.writeBuffer(&buffer)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSHandshakeCompleted {
            handshake = event
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        errors.append(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        inactive = true
    }

    /// The first recorded error as a `TLSError`, if it is one.
    var tlsError: TLSError? {
        errors.first as? TLSError
    }

    var receivedString: String {
        String(buffer: received)
    }
}
