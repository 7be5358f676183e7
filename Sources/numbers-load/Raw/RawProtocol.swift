import NIOCore

/// The raw request/response protocol of the transport baseline: no RPC layer, just TLS and a length prefix, so the
/// same bytes cross the wire as in an RPC call. Request: `payloadLength u32 | responseLength u32 | payload`;
/// response: `length u32 | bytes`.
enum RawProtocol {
    static let requestHeaderLength = 8
    static let responseHeaderLength = 4
    /// Largest payload either way (the RPC's default message limit).
    static let payloadMax = 4 * 1024 * 1024
}

/// Server side: decodes requests and answers each with the asked number of bytes, flushed once per read burst.
final class RawServerHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var pending = ByteBuffer()
    private var responses: [Int: ByteBuffer] = [:]

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        pending.writeBuffer(&incoming)
        while pending.readableBytes >= RawProtocol.requestHeaderLength {
            let start = pending.readerIndex
            guard let length = pending.getInteger(at: start, as: UInt32.self),
                let responseLength = pending.getInteger(at: start + 4, as: UInt32.self),
                Int(length) <= RawProtocol.payloadMax, Int(responseLength) <= RawProtocol.payloadMax
            else {
                context.close(promise: nil)
                return
            }
            guard pending.readableBytes >= RawProtocol.requestHeaderLength + Int(length) else { break }
            pending.moveReaderIndex(forwardBy: RawProtocol.requestHeaderLength + Int(length))
            context.write(
                wrapOutboundOut(response(Int(responseLength), allocator: context.channel.allocator)), promise: nil)
        }
        pending.discardReadBytes()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// The response of `length` bytes (cached per size: the server's cost is the transport's, not allocation).
    private func response(_ length: Int, allocator: ByteBufferAllocator) -> ByteBuffer {
        if let cached = responses[length] { return cached }
        var buffer = allocator.buffer(capacity: RawProtocol.responseHeaderLength + length)
        buffer.writeInteger(UInt32(length))
        buffer.writeRepeatingByte(0x5A, count: length)
        if responses.count < 16 { responses[length] = buffer }
        return buffer
    }
}
