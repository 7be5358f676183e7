/// A violation of the nrpc/1 framing rules. Each one is a connection error: the receiver sends GOAWAY with
/// `goAwayCode` and closes.
public struct FramingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What was wrong.
    public enum Kind: Hashable, Sendable {
        /// The first 8 bytes were not the preface.
        case badPreface
        /// The preface named a version this side does not speak.
        case unsupportedVersion
        /// A payload length over the receiver's limit for the frame type.
        case frameTooLarge
        /// A type byte that FRAMING.md does not define.
        case unknownFrameType
        /// A flag not allowed for the frame type.
        case invalidFlags
        /// Non-zero reserved bits.
        case reservedBitsSet
        /// A connection frame on a call stream or the other way round.
        case invalidStream
        /// A payload of the wrong size or shape for its type.
        case invalidPayload
    }

    /// What was wrong.
    public var kind: Kind
    /// A sentence for logs and the GOAWAY debug message.
    public var message: String
    /// The call stream of the frame refused, when its header was read and named one (a frame over its limit): the
    /// receiver may answer that call before it closes.
    public var streamID: UInt32?

    /// Creates an error.
    public init(_ kind: Kind, _ message: String, streamID: UInt32? = nil) {
        self.kind = kind
        self.message = message
        self.streamID = streamID
    }

    /// The GOAWAY code the receiver closes the connection with.
    public var goAwayCode: GoAway.Code {
        switch kind {
        case .frameTooLarge: return .frameTooLarge
        case .unsupportedVersion: return .versionUnsupported
        default: return .protocolError
        }
    }

    /// The message.
    public var description: String { message }
}
