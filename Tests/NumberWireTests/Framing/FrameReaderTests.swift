import NIOCore
import Testing

@testable import NumberWire

@Suite("Frame reader: frames decoded inside the connection handler")
struct FrameReaderTests {
    static let frames = [
        Frame(type: .headers, streamID: 1, payload: ByteBuffer(string: "headers")),
        Frame(type: .message, flags: .endStream, streamID: 1, payload: ByteBuffer(repeating: 7, count: 300)),
        Frame(type: .ping, streamID: 0, payload: ByteBuffer(integer: UInt64(42))),
    ]

    @Test("frames split across reads at every byte arrive whole and in order", arguments: [1, 5, 12, 13, 100, 10_000])
    func splitReads(chunk: Int) {
        var stream = ByteBuffer()
        for frame in Self.frames { stream.writeFrame(frame) }
        let reader = FrameReader(FrameDecoder(expectsPreface: false))
        var received: [Frame] = []
        while stream.readableBytes > 0 {
            let piece = stream.readSlice(length: min(chunk, stream.readableBytes))!
            #expect(reader.read(piece) { received.append($0) } == nil)
        }
        #expect(received == Self.frames)
    }

    /// NIO's processor keeps the last bytes it read until the next read comes: after a large frame gathered from
    /// many reads, the whole frame's storage, for as long as the connection then idles.
    @Test("once every frame read is handed out, the reader holds none of its bytes (a 1 MiB frame in 64 KiB reads)")
    func holdsNothingOnceRead() throws {
        var stream = ByteBuffer()
        stream.writeFrame(Frame(type: .message, streamID: 1, payload: ByteBuffer(repeating: 7, count: 1 << 20)))
        let reader = FrameReader(FrameDecoder(expectsPreface: false))
        var received: [Frame] = []
        while stream.readableBytes > 0 {
            let piece = stream.readSlice(length: min(64 * 1024, stream.readableBytes))!
            #expect(reader.read(piece) { received.append($0) } == nil)
        }
        #expect(received.count == 1)
        var payload = received.removeFirst().payload
        // A write copies the storage only if someone else still holds it.
        let before = payload.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        payload.setInteger(UInt8(8), at: payload.readerIndex)
        let after = payload.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        #expect(before == after, "the reader still holds the frame's bytes")
    }

    /// NIO's processor grew its buffer to gather a large frame and never shrank it: a read that ended one byte into
    /// the next frame kept the whole storage (2 MiB for a 1 MiB frame) for that byte, for as long as each later read
    /// also ended part-way into a frame, while the server's budget of partially received frames counted one byte.
    @Test("a partial frame left after a large one is kept in storage of about its own size, not the grown buffer")
    func compactsWhatIsLeftAfterALargeFrame() {
        let large = Frame(type: .message, streamID: 1, payload: ByteBuffer(repeating: 7, count: 1 << 20))
        let ping = Self.frames[2]
        var stream = ByteBuffer()
        stream.writeFrame(large)
        stream.writeFrame(ping)
        // `length` bytes of the stream in a buffer of their own, as a socket read brings them.
        func socketRead(_ length: Int) -> ByteBuffer {
            var piece = ByteBufferAllocator().buffer(capacity: length)
            piece.writeImmutableBuffer(stream.readSlice(length: length)!)
            return piece
        }
        let reader = FrameReader(FrameDecoder(expectsPreface: false))
        var received: [Frame] = []
        let frameBytes = Frame.headerLength + (1 << 20)
        let first = socketRead(frameBytes / 2)
        let second = socketRead(frameBytes - frameBytes / 2 + 1)  // the frame's rest and the next one's first byte
        let rest = socketRead(stream.readableBytes)
        #expect(reader.read(first) { received.append($0) } == nil)
        #expect(reader.read(second) { received.append($0) } == nil)
        #expect(received == [large])
        #expect(reader.partialFrameBytes == 1)
        #expect(reader.storageCapacity <= 64 * 1024, "the reader keeps \(reader.storageCapacity) bytes for one")
        // What is kept still reads as the start of the next frame.
        #expect(reader.read(rest) { received.append($0) } == nil)
        #expect(received == [large, ping])
        #expect(reader.partialFrameBytes == 0)
    }

    @Test("a framing error is returned once, after the frames before it; nothing is read afterwards")
    func stopsAfterAnError() throws {
        var stream = ByteBuffer()
        stream.writeFrame(Self.frames[2])
        stream.writeBytes([0, 0, 0, 0, 0xEE, 0, 0, 0, 0, 0, 0, 1])  // unknown frame type 0xEE
        let reader = FrameReader(FrameDecoder(expectsPreface: false))
        var received: [Frame] = []
        let failure = reader.read(stream) { received.append($0) }
        #expect((failure as? FramingError)?.kind == .unknownFrameType)
        #expect(received == [Self.frames[2]])
        var more = ByteBuffer()
        more.writeFrame(Self.frames[0])
        #expect(reader.read(more) { received.append($0) } == nil)
        #expect(received == [Self.frames[2]])
    }

    @Test("the server side wants the preface first: anything else is refused")
    func preface() {
        var stream = ByteBuffer()
        stream.writeFrame(Self.frames[2])
        let reader = FrameReader(FrameDecoder(expectsPreface: true))
        #expect(reader.read(stream) { _ in Issue.record("a frame before the preface") } is FramingError)
    }
}
