import NIOCore

/// Splits a byte stream into nrpc/1 frames, checking every header rule of FRAMING.md §3–4 before the payload is
/// buffered: a frame over its limit is refused as soon as its 12 header bytes are in.
///
/// On the server side (`expectsPreface: true`) the first 8 bytes must be the client preface. Use it with
/// `ByteToMessageHandler(FrameDecoder(...))`, or drive it with `NIOSingleStepByteToMessageProcessor`.
public struct FrameDecoder: NIOSingleStepByteToMessageDecoder, Sendable {
    /// Decoded frames.
    public typealias InboundOut = Frame

    /// The payload limits this side enforces (what it advertised in SETTINGS).
    public let limits: FrameLimits
    /// Whether the preface is still to come.
    public private(set) var expectsPreface: Bool

    /// Creates a decoder.
    public init(limits: FrameLimits = .defaults, expectsPreface: Bool) {
        self.limits = limits
        self.expectsPreface = expectsPreface
    }

    /// Decodes one frame if a whole one is buffered.
    public mutating func decode(buffer: inout ByteBuffer) throws -> Frame? {
        if expectsPreface {
            guard try Preface.read(from: &buffer) != nil else { return nil }
            expectsPreface = false
        }
        guard let header = try FrameHeader(peekingAt: buffer, limits: limits) else { return nil }
        guard buffer.readableBytes >= Frame.headerLength + header.payloadLength else { return nil }
        buffer.moveReaderIndex(forwardBy: Frame.headerLength)
        let payload = buffer.readSlice(length: header.payloadLength)!
        return Frame(type: header.type, flags: header.flags, streamID: header.streamID, payload: payload)
    }

    /// Decodes what is left at the end of the stream; a partial frame at EOF is dropped (the peer closed mid-frame).
    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> Frame? {
        try decode(buffer: &buffer)
    }
}

/// A validated frame header.
struct FrameHeader: Hashable {
    var payloadLength: Int
    var type: FrameType
    var flags: FrameFlags
    var streamID: UInt32

    /// Reads and validates the header at the buffer's reader index without consuming it; nil if under 12 bytes.
    init?(peekingAt buffer: ByteBuffer, limits: FrameLimits) throws(FramingError) {
        let start = buffer.readerIndex
        guard buffer.readableBytes >= Frame.headerLength,
            let length: UInt32 = buffer.getInteger(at: start),
            let typeByte: UInt8 = buffer.getInteger(at: start + 4),
            let flagsByte: UInt8 = buffer.getInteger(at: start + 5),
            let reserved: UInt16 = buffer.getInteger(at: start + 6),
            let streamID: UInt32 = buffer.getInteger(at: start + 8)
        else { return nil }
        guard let type = FrameType(rawValue: typeByte) else {
            throw FramingError(.unknownFrameType, "unknown frame type 0x\(String(typeByte, radix: 16))")
        }
        let flags = FrameFlags(rawValue: flagsByte)
        guard type.allowedFlags.isSuperset(of: flags) else {
            throw FramingError(.invalidFlags, "flags 0x\(String(flagsByte, radix: 16)) not allowed on \(type)")
        }
        guard reserved == 0 else {
            throw FramingError(.reservedBitsSet, "reserved header bits set on \(type)")
        }
        guard type.isConnectionLevel == (streamID == 0) else {
            throw FramingError(
                .invalidStream,
                "\(type) on stream \(streamID): " + (streamID == 0 ? "needs a call stream" : "must use stream 0"))
        }
        try Self.checkShape(type: type, flags: flags, length: UInt64(length))
        let max = limits.payloadMax(for: type)
        guard UInt64(length) <= UInt64(max) else {
            throw FramingError(
                .frameTooLarge, "\(type) payload of \(length) bytes exceeds the limit of \(max)",
                streamID: streamID == 0 ? nil : streamID)
        }
        self.payloadLength = Int(length)
        self.type = type
        self.flags = flags
        self.streamID = streamID
    }

    /// Fixed-size payload rules that can be checked from the header alone.
    private static func checkShape(type: FrameType, flags: FrameFlags, length: UInt64) throws(FramingError) {
        switch type {
        case .cancel where length != 0:
            throw FramingError(.invalidPayload, "CANCEL payload must be empty, not \(length) bytes")
        case .ping where length != FrameLimits.pingPayloadLength:
            throw FramingError(.invalidPayload, "PING payload must be 8 bytes, not \(length)")
        case .settings where flags.contains(.ack) && length != 0:
            throw FramingError(.invalidPayload, "SETTINGS ACK must be empty")
        case .settings where length % 6 != 0:
            throw FramingError(.invalidPayload, "SETTINGS payload of \(length) bytes is not whole entries")
        case .goAway where length < 8:
            throw FramingError(.invalidPayload, "GOAWAY payload of \(length) bytes is under 8")
        default:
            return
        }
    }
}
