import NIOCore
import NIOTestUtils
import Testing

@testable import NumberWire

@Suite("Frame decoder")
struct FrameDecoderTests {
    private func bytes(_ hex: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        let digits = hex.filter { !$0.isWhitespace }
        var index = digits.startIndex
        while index < digits.endIndex {
            let next = digits.index(index, offsetBy: 2)
            buffer.writeInteger(UInt8(digits[index..<next], radix: 16)!)
            index = next
        }
        return buffer
    }

    private func decodeAll(_ buffer: ByteBuffer, decoder: FrameDecoder) throws -> [Frame] {
        let processor = NIOSingleStepByteToMessageProcessor(decoder)
        var frames: [Frame] = []
        try processor.process(buffer: buffer) { frames.append($0) }
        return frames
    }

    @Test("golden bytes of every frame type")
    func goldenBytes() throws {
        var out = ByteBuffer()
        Preface.write(to: &out)
        out.writeFrame(Frame(type: .settings, streamID: 0))
        out.writeFrame(Frame(type: .headers, streamID: 1, payload: ByteBuffer(bytes: [0x0A, 0x01, 0x41])))
        out.writeFrame(Frame(type: .message, flags: .endStream, streamID: 1, payload: ByteBuffer(bytes: [0x08, 0x01])))
        out.writeFrame(Frame(type: .trailers, streamID: 1))
        out.writeFrame(Frame(type: .cancel, streamID: 3))
        out.writeFrame(
            Frame(type: .ping, flags: .ack, streamID: 0, payload: ByteBuffer(bytes: [1, 2, 3, 4, 5, 6, 7, 8])))
        out.writeFrame(Frame(type: .goAway, streamID: 0, payload: GoAway(lastStreamID: 5, code: .noError).payload()))
        let expected = bytes(
            """
            4E525043 0001 0000
            00000000 00 00 0000 00000000
            00000003 01 00 0000 00000001 0A0141
            00000002 02 01 0000 00000001 0801
            00000000 03 00 0000 00000001
            00000000 04 00 0000 00000003
            00000008 05 01 0000 00000000 0102030405060708
            00000008 06 00 0000 00000000 00000005 00000000
            """)
        #expect(out == expected)

        let frames = try decodeAll(out, decoder: FrameDecoder(expectsPreface: true))
        #expect(frames.map(\.type) == [.settings, .headers, .message, .trailers, .cancel, .ping, .goAway])
        #expect(frames[2].flags == .endStream)
        #expect(frames[2].payload == ByteBuffer(bytes: [0x08, 0x01]))
        #expect(frames[4].streamID == 3)
        #expect(try GoAway(payload: frames[6].payload) == GoAway(lastStreamID: 5, code: .noError))
    }

    @Test("byte-by-byte and coalesced delivery decode the same frames")
    func verifier() throws {
        let frames: [Frame] = [
            Frame(type: .settings, streamID: 0, payload: ConnectionSettings.defaults.payload()),
            Frame(type: .settings, flags: .ack, streamID: 0),
            Frame(type: .headers, streamID: 1, payload: ByteBuffer(string: "headers")),
            Frame(type: .message, flags: .endStream, streamID: 1, payload: ByteBuffer(repeating: 7, count: 1000)),
            Frame(type: .message, streamID: 3),
            Frame(type: .trailers, streamID: 1, payload: ByteBuffer(string: "status")),
            Frame(type: .ping, streamID: 0, payload: ByteBuffer(repeating: 9, count: 8)),
        ]
        let inputs: [(ByteBuffer, [Frame])] = frames.map { frame in
            var buffer = ByteBuffer()
            buffer.writeFrame(frame)
            return (buffer, [frame])
        }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: inputs) {
            FrameDecoder(expectsPreface: false)
        }
    }

    @Test("a frame over the limit is refused from its header alone, before the payload arrives")
    func oversizeRefusedBeforePayload() {
        let limits = FrameLimits(messagePayloadMax: 16 * 1024, headersPayloadMax: 1024)
        // Only the header of a 2^31-byte MESSAGE: the decoder must not wait for (or allocate) its payload.
        let header = bytes("80000000 02 00 0000 00000001")
        // It names the call's stream, so the receiver can answer that call (as too large) before it closes.
        #expect(
            throws: FramingError(
                .frameTooLarge, "MESSAGE payload of 2147483648 bytes exceeds the limit of 16384", streamID: 1)
        ) {
            _ = try decodeAll(header, decoder: FrameDecoder(limits: limits, expectsPreface: false))
        }
        // At the edge: exactly the limit is accepted, one more byte is not.
        var atLimit = ByteBuffer()
        atLimit.writeFrame(Frame(type: .message, streamID: 1, payload: ByteBuffer(repeating: 1, count: 16 * 1024)))
        #expect(throws: Never.self) {
            try decodeAll(atLimit, decoder: FrameDecoder(limits: limits, expectsPreface: false))
        }
        var overLimit = ByteBuffer()
        overLimit.writeFrame(
            Frame(type: .message, streamID: 1, payload: ByteBuffer(repeating: 1, count: 16 * 1024 + 1)))
        #expect(throws: FramingError.self) {
            try decodeAll(overLimit, decoder: FrameDecoder(limits: limits, expectsPreface: false))
        }
        var headersOver = ByteBuffer()
        headersOver.writeFrame(Frame(type: .headers, streamID: 1, payload: ByteBuffer(repeating: 1, count: 1025)))
        #expect(throws: FramingError.self) {
            try decodeAll(headersOver, decoder: FrameDecoder(limits: limits, expectsPreface: false))
        }
    }

    @Test("SETTINGS of 64 entries and GOAWAY of a 1024-byte message are taken; one entry or byte more is refused")
    func connectionFrameLimits() throws {
        func frame(_ type: FrameType, _ length: Int) -> ByteBuffer {
            var buffer = ByteBuffer()
            buffer.writeFrame(Frame(type: type, streamID: 0, payload: ByteBuffer(repeating: 0, count: length)))
            return buffer
        }
        #expect(FrameLimits.settingsPayloadMax == 384 && FrameLimits.goAwayPayloadMax == 1032)
        for (type, max, step) in [(FrameType.settings, 384, 6), (.goAway, 1032, 1)] {
            let taken = try decodeAll(frame(type, max), decoder: FrameDecoder(expectsPreface: false))
            #expect(taken.map(\.payload.readableBytes) == [max], "\(type)")
            do {
                _ = try decodeAll(frame(type, max + step), decoder: FrameDecoder(expectsPreface: false))
                Issue.record("\(type) of \(max + step) bytes was accepted")
            } catch let error as FramingError {
                #expect(error.kind == .frameTooLarge, "\(type): \(error)")
                #expect(error.message.contains("limit of \(max)"), "\(error)")
            }
        }
    }

    @Test(
        "malformed headers are connection errors",
        arguments: [
            ("00000000 07 00 0000 00000001", FramingError.Kind.unknownFrameType),
            ("00000000 02 02 0000 00000001", .invalidFlags),
            ("00000000 03 01 0000 00000001", .invalidFlags),
            ("00000000 02 00 0001 00000001", .reservedBitsSet),
            ("00000000 02 00 0000 00000000", .invalidStream),
            ("00000000 00 00 0000 00000001", .invalidStream),
            ("00000000 05 00 0000 00000000", .invalidPayload),
            ("00000009 05 00 0000 00000000", .invalidPayload),
            ("00000001 04 00 0000 00000001", .invalidPayload),
            ("00000006 00 01 0000 00000000", .invalidPayload),
            ("00000005 00 00 0000 00000000", .invalidPayload),
            ("00000004 06 00 0000 00000000", .invalidPayload),
            ("00000481 00 00 0000 00000000", .invalidPayload),
            ("00000409 06 00 0000 00000000", .frameTooLarge),
        ])
    func malformed(hex: String, kind: FramingError.Kind) {
        do {
            _ = try decodeAll(bytes(hex), decoder: FrameDecoder(expectsPreface: false))
            Issue.record("\(hex) was accepted")
        } catch let error as FramingError {
            #expect(error.kind == kind, "\(hex): \(error)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test(
        "the preface is checked before any frame",
        arguments: [
            ("474554202F20485454", FramingError.Kind.badPreface),  // "GET / HTT": plaintext HTTP
            ("4E525043 0001 0001", .badPreface),
            ("4E525043 0002 0000", .unsupportedVersion),
            ("16030100 2F 010000", .badPreface),  // a TLS ClientHello sent to the framing layer
        ])
    func preface(hex: String, kind: FramingError.Kind) {
        do {
            _ = try decodeAll(bytes(hex), decoder: FrameDecoder(expectsPreface: true))
            Issue.record("\(hex) was accepted")
        } catch let error as FramingError {
            #expect(error.kind == kind)
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test("an incomplete preface or header waits for more bytes")
    func waitsForMore() throws {
        #expect(try decodeAll(bytes("4E5250"), decoder: FrameDecoder(expectsPreface: true)).isEmpty)
        #expect(try decodeAll(bytes("4E525043 0001 0000 000000"), decoder: FrameDecoder(expectsPreface: true)).isEmpty)
        #expect(
            try decodeAll(bytes("00000004 02 00 0000 00000001 AABB"), decoder: FrameDecoder(expectsPreface: false))
                .isEmpty)
    }

    @Test("the encoder refuses a payload over the peer's limit")
    func encoderLimit() throws {
        let encoder = FrameEncoder(peerLimits: FrameLimits(messagePayloadMax: 16 * 1024, headersPayloadMax: 1024))
        var out = ByteBuffer()
        try encoder.encode(
            data: Frame(type: .headers, streamID: 1, payload: ByteBuffer(repeating: 0, count: 1024)), out: &out)
        #expect(out.readableBytes == 12 + 1024)
        #expect(throws: FramingError.self) {
            try encoder.encode(
                data: Frame(type: .headers, streamID: 1, payload: ByteBuffer(repeating: 0, count: 1025)), out: &out)
        }
    }
}
