/// The flags byte of an nrpc/1 frame. The same bit means `ACK` on SETTINGS/PING and `END_STREAM` on
/// HEADERS/MESSAGE; which one applies depends on the frame type.
public struct FrameFlags: OptionSet, Sendable, Hashable {
    /// The raw byte.
    public let rawValue: UInt8

    /// Wraps a raw byte.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// SETTINGS/PING: this frame acknowledges the peer's.
    public static let ack = FrameFlags(rawValue: 0x1)
    /// HEADERS/MESSAGE: the client sends nothing more on this stream.
    public static let endStream = FrameFlags(rawValue: 0x1)
}
