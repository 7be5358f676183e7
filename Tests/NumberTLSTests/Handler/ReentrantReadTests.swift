import NIOCore
import NIOEmbedded
import NumberTLS
import Testing

/// The handler feeds a large socket read to OpenSSL a slice at a time and hands plaintext up between slices. What it
/// hands up can make NIO read the socket again before the call returns (a flush whose write fails makes
/// `BaseSocketChannel.flushNow` read what is left), re-entering the handler's `channelRead` with later ciphertext.
/// That ciphertext must reach OpenSSL after the slices of the first read still waiting, or records interleave and fail
/// their MAC check.
@Suite("A read re-entering the TLS handler keeps the ciphertext in order")
struct ReentrantReadTests {
    let pki = TestPKI.shared

    /// Above TLS: on the first plaintext it sees, fires `injected` into the pipeline from its head, as a socket read
    /// made during a flush would.
    final class ReentrantInjector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias InboundOut = ByteBuffer

        var injected: ByteBuffer?
        var plaintextReadsBeforeInjection = 0

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if let buffer = injected {
                injected = nil
                plaintextReadsBeforeInjection += 1
                context.pipeline.syncOperations.fireChannelRead(NIOAny(buffer))
            }
            context.fireChannelRead(data)
        }
    }

    static func pattern(_ count: Int, offset: Int = 0) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeBytes((offset..<offset + count).lazy.map { UInt8(truncatingIfNeeded: $0 % 251) })
        return buffer
    }

    static func ciphertext(from channel: EmbeddedChannel) throws -> ByteBuffer {
        var ciphertext = ByteBuffer()
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
            ciphertext.writeBuffer(&buffer)
        }
        return ciphertext
    }

    @Test(
        "40 KiB in one read, more ciphertext re-entering during the first plaintext: all delivered in order, no error",
        arguments: [TLSVersion.v1_3, .v1_2])
    func reentrantReadDuringSlicedRead(version: TLSVersion) throws {
        var server = pki.serverConfiguration()
        server.maximumVersion = version
        let pair = try InMemoryPair(client: pki.clientConfiguration(), server: server)
        let injector = ReentrantInjector()
        try pair.server.pipeline.syncOperations.addHandler(
            injector, position: .after(try pair.server.pipeline.syncOperations.handler(type: TLSHandler.self)))
        try pair.connect()

        let first = Self.pattern(40 * 1024)
        try pair.client.writeAndFlush(first).wait()
        let firstCiphertext = try Self.ciphertext(from: pair.client)
        // More than two slices: the first record ends in the second slice, so plaintext goes up with a third waiting.
        #expect(firstCiphertext.readableBytes > 2 * 16 * 1024)
        let second = Self.pattern(3000, offset: first.readableBytes)
        try pair.client.writeAndFlush(second).wait()
        injector.injected = try Self.ciphertext(from: pair.client)

        try pair.server.writeInbound(firstCiphertext)

        #expect(injector.plaintextReadsBeforeInjection == 1)
        #expect(pair.serverEvents.errors.isEmpty, "\(pair.serverEvents.errors)")
        var expected = first
        var secondCopy = second
        expected.writeBuffer(&secondCopy)
        #expect(pair.serverEvents.received == expected)
        #expect(pair.server.isActive)
        // Still a working connection: a reply reaches the client.
        try pair.sendFromServer("still here")
        #expect(pair.clientEvents.receivedString == "still here")
        #expect(pair.clientEvents.errors.isEmpty)
    }
}
