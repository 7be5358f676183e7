/// The largest payloads a receiver accepts, per frame type (FRAMING.md §7). Checked on the 12-byte header, before
/// any payload byte is buffered.
public struct FrameLimits: Sendable, Hashable {
    /// MESSAGE payload limit (SETTINGS `MAX_MESSAGE_PAYLOAD`). Default 4 MiB.
    public var messagePayloadMax: Int
    /// HEADERS and TRAILERS payload limit (SETTINGS `MAX_HEADERS_PAYLOAD`). Default 16 KiB.
    public var headersPayloadMax: Int

    /// SETTINGS payload limit: 64 entries of 6 bytes.
    public static let settingsPayloadMax = 64 * 6
    /// GOAWAY payload limit: 8 bytes of ids and codes plus a 1024-byte debug message.
    public static let goAwayPayloadMax = 8 + 1024
    /// PING payload: exactly 8 bytes.
    public static let pingPayloadLength = 8

    /// Creates limits.
    public init(messagePayloadMax: Int = 4 * 1024 * 1024, headersPayloadMax: Int = 16 * 1024) {
        self.messagePayloadMax = messagePayloadMax
        self.headersPayloadMax = headersPayloadMax
    }

    /// The defaults of FRAMING.md.
    public static let defaults = FrameLimits()

    /// The limits a receiver advertised in its SETTINGS.
    public init(_ settings: ConnectionSettings) {
        self.init(
            messagePayloadMax: Int(settings.maxMessagePayload), headersPayloadMax: Int(settings.maxHeadersPayload))
    }

    /// The largest payload accepted for a frame of `type`.
    public func payloadMax(for type: FrameType) -> Int {
        switch type {
        case .message: return messagePayloadMax
        case .headers, .trailers: return headersPayloadMax
        case .settings: return Self.settingsPayloadMax
        case .ping: return Self.pingPayloadLength
        case .goAway: return Self.goAwayPayloadMax
        case .cancel: return 0
        }
    }
}
