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
        var text = Substring(message)
        while text.utf8.count > FrameLimits.goAwayPayloadMax - 8 { text = text.dropLast() }
        var buffer = allocator.buffer(capacity: 8 + text.utf8.count)
        buffer.writeInteger(lastStreamID)
        buffer.writeInteger(code.rawValue)
        buffer.writeBytes(text.utf8)
        return buffer
    }

    /// Parses a GOAWAY payload.
    public init(payload: ByteBuffer) throws(FramingError) {
        var payload = payload
        guard let last: UInt32 = payload.readInteger(), let code: UInt32 = payload.readInteger() else {
            throw FramingError(.invalidPayload, "GOAWAY payload of \(payload.readableBytes) bytes is under 8")
        }
        guard let bytes = payload.readBytes(length: payload.readableBytes),
            let message = String(validating: bytes, as: UTF8.self)
        else {
            throw FramingError(.invalidPayload, "GOAWAY debug message is not UTF-8")
        }
        self.init(lastStreamID: last, code: Code(rawValue: code), message: message)
    }
}
