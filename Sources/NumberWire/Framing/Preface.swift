import NIOCore

/// The 8 bytes a client sends first: `NRPC`, the protocol version (u16), and two reserved zero bytes.
public enum Preface {
    /// The preface's length in bytes.
    public static let length = 8
    /// `NRPC` in ASCII.
    public static let magic: UInt32 = 0x4E52_5043
    /// The protocol version this implementation speaks.
    public static let version: UInt16 = 1

    /// Writes the preface for `version`.
    @discardableResult
    public static func write(to buffer: inout ByteBuffer, version: UInt16 = Preface.version) -> Int {
        buffer.writeInteger(magic) + buffer.writeInteger(version) + buffer.writeInteger(UInt16(0))
    }

    /// Reads and checks a preface; nil if fewer than 8 bytes are readable (nothing consumed then).
    public static func read(from buffer: inout ByteBuffer) throws(FramingError) -> UInt16? {
        guard buffer.readableBytes >= length,
            let magic: UInt32 = buffer.getInteger(at: buffer.readerIndex),
            let version: UInt16 = buffer.getInteger(at: buffer.readerIndex + 4),
            let reserved: UInt16 = buffer.getInteger(at: buffer.readerIndex + 6)
        else { return nil }
        guard magic == Self.magic, reserved == 0 else {
            throw FramingError(.badPreface, "the connection did not start with the nrpc/1 preface")
        }
        guard version == Self.version else {
            throw FramingError(.unsupportedVersion, "nrpc protocol version \(version) is not supported (speaks 1)")
        }
        buffer.moveReaderIndex(forwardBy: length)
        return version
    }
}
