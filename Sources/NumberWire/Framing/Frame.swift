import NIOCore

/// One nrpc/1 frame: a 12-byte header (`length u32 | type u8 | flags u8 | reserved u16 | stream u32`) and its payload.
public struct Frame: Sendable, Hashable {
    /// The size of the fixed header in bytes.
    public static let headerLength = 12

    /// The frame type.
    public var type: FrameType
    /// The flags; only those in `type.allowedFlags` may be set.
    public var flags: FrameFlags
    /// 0 for the connection, the call's id otherwise.
    public var streamID: UInt32
    /// The payload bytes.
    public var payload: ByteBuffer

    /// Creates a frame.
    public init(type: FrameType, flags: FrameFlags = [], streamID: UInt32, payload: ByteBuffer = ByteBuffer()) {
        self.type = type
        self.flags = flags
        self.streamID = streamID
        self.payload = payload
    }
}

extension ByteBuffer {
    /// Writes a frame header; the payload of `payloadLength` bytes must follow.
    @inlinable
    @discardableResult
    public mutating func writeFrameHeader(
        payloadLength: Int, type: FrameType, flags: FrameFlags = [], streamID: UInt32
    ) -> Int {
        precondition(payloadLength >= 0 && payloadLength <= Int(UInt32.max), "frame payload length out of range")
        var written = self.writeInteger(UInt32(truncatingIfNeeded: payloadLength))
        written += self.writeInteger(type.rawValue)
        written += self.writeInteger(flags.rawValue)
        written += self.writeInteger(UInt16(0))
        written += self.writeInteger(streamID)
        return written
    }

    /// Writes a whole frame (header and payload).
    @discardableResult
    public mutating func writeFrame(_ frame: Frame) -> Int {
        var payload = frame.payload
        let written = self.writeFrameHeader(
            payloadLength: payload.readableBytes, type: frame.type, flags: frame.flags, streamID: frame.streamID)
        return written + self.writeBuffer(&payload)
    }
}
