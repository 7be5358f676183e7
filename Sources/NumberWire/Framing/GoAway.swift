import NIOCore

/// The payload of a GOAWAY frame: the last stream the sender will process, why, and a debug message.
public struct GoAway: Sendable, Hashable {
    /// Why the sender is going away (FRAMING.md §8).
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The wire value.
        public let rawValue: UInt32
        /// Wraps a wire value.
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        /// Graceful: draining or idle.
        public static let noError = Code(rawValue: 0)
        /// The peer broke the framing rules.
        public static let protocolError = Code(rawValue: 1)
        /// The sender failed.
        public static let internalError = Code(rawValue: 2)
        /// A frame over the advertised limit.
        public static let frameTooLarge = Code(rawValue: 3)
        /// Abuse: PING floods, cancel floods.
        public static let enhanceYourCalm = Code(rawValue: 4)
        /// The preface named an unknown version.
        public static let versionUnsupported = Code(rawValue: 5)
        /// The peer's SETTINGS did not arrive in time.
        public static let settingsTimeout = Code(rawValue: 6)

        /// The name in FRAMING.md.
        public var description: String {
            switch rawValue {
            case 0: return "NO_ERROR"
            case 1: return "PROTOCOL_ERROR"
            case 2: return "INTERNAL_ERROR"
            case 3: return "FRAME_TOO_LARGE"
            case 4: return "ENHANCE_YOUR_CALM"
            case 5: return "VERSION_UNSUPPORTED"
            case 6: return "SETTINGS_TIMEOUT"
            default: return "GOAWAY_\(rawValue)"
            }
        }
    }

    /// The highest stream id the sender processes; calls above it were not started.
    public var lastStreamID: UInt32
    /// Why.
    public var code: Code
    /// A short UTF-8 explanation, at most 1024 bytes (longer is cut at a character boundary).
    public var message: String

    /// Creates a GOAWAY payload.
    public init(lastStreamID: UInt32, code: Code, message: String = "") {
        self.lastStreamID = lastStreamID
        self.code = code
        self.message = message
    }

    /// The payload bytes.
    public func payload(allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        let text = Self.cut(message)
        var buffer = allocator.buffer(capacity: 8 + text.utf8.count)
        buffer.writeInteger(lastStreamID)
        buffer.writeInteger(code.rawValue)
        buffer.writeBytes(text.utf8)
        return buffer
    }

    /// Parses a GOAWAY payload; throws only when it is under 8 bytes. The debug message is read leniently (bytes that
    /// are not UTF-8 become U+FFFD; cut to 1024 bytes, as when sent): it is for humans, while the last stream id
    /// before it tells the receiver which of its calls the sender may have run, and must not be lost to a bad byte in
    /// the text.
    public init(payload: ByteBuffer) throws(FramingError) {
        var payload = payload
        let length = payload.readableBytes
        guard let last: UInt32 = payload.readInteger(), let code: UInt32 = payload.readInteger() else {
            throw FramingError(.invalidPayload, "GOAWAY payload of \(length) bytes is under 8")
        }
        let message = String(decoding: payload.readableBytesView, as: UTF8.self)
        self.init(lastStreamID: last, code: Code(rawValue: code), message: String(Self.cut(message)))
    }

    /// `message` cut at a character boundary to the 1024 bytes a GOAWAY carries.
    private static func cut(_ message: String) -> Substring {
        var text = Substring(message)
        while text.utf8.count > FrameLimits.goAwayPayloadMax - 8 { text = text.dropLast() }
        return text
    }
}
