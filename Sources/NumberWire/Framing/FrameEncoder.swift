import NIOCore

/// Writes frames to bytes, refusing one whose payload is over the PEER's advertised limit (a bug on this side,
/// reported as an error rather than sent).
public struct FrameEncoder: MessageToByteEncoder, Sendable {
    /// Frames to write.
    public typealias OutboundIn = Frame

    /// The peer's limits (from its SETTINGS; the defaults until they arrive).
    public var peerLimits: FrameLimits

    /// Creates an encoder.
    public init(peerLimits: FrameLimits = .defaults) {
        self.peerLimits = peerLimits
    }

    /// Appends the frame's header and payload to `out`.
    public func encode(data frame: Frame, out: inout ByteBuffer) throws {
        let max = peerLimits.payloadMax(for: frame.type)
        guard frame.payload.readableBytes <= max else {
            throw FramingError(
                .frameTooLarge,
                "\(frame.type) payload of \(frame.payload.readableBytes) bytes exceeds the peer's limit of \(max)")
        }
        out.writeFrame(frame)
    }
}
