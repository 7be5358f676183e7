/// The type byte of an nrpc/1 frame (FRAMING.md §4).
public enum FrameType: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Connection settings (stream 0).
    case settings = 0x0
    /// Opens a call: method, timeout, metadata (client → server).
    case headers = 0x1
    /// One protobuf message.
    case message = 0x2
    /// Ends a call with its status (server → client).
    case trailers = 0x3
    /// The client abandons a call.
    case cancel = 0x4
    /// Liveness check (stream 0).
    case ping = 0x5
    /// The sender stops accepting calls (stream 0).
    case goAway = 0x6

    /// Whether frames of this type travel on stream 0 (the connection) rather than on a call's stream.
    public var isConnectionLevel: Bool {
        switch self {
        case .settings, .ping, .goAway: return true
        case .headers, .message, .trailers, .cancel: return false
        }
    }

    /// The flags a frame of this type may carry; any other bit is a protocol error.
    public var allowedFlags: FrameFlags {
        switch self {
        case .settings, .ping: return .ack
        case .headers, .message: return .endStream
        case .trailers, .cancel, .goAway: return []
        }
    }

    /// The upper-case name used in FRAMING.md.
    public var description: String {
        switch self {
        case .settings: return "SETTINGS"
        case .headers: return "HEADERS"
        case .message: return "MESSAGE"
        case .trailers: return "TRAILERS"
        case .cancel: return "CANCEL"
        case .ping: return "PING"
        case .goAway: return "GOAWAY"
        }
    }
}
