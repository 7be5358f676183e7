/// A value the protobuf encoder cannot write, carried as the `underlyingError` of an `EncodingError.invalidValue`.
public struct ProtoEncodingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What was wrong. Extensible: new kinds may be added.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        /// A stable, machine-readable code.
        public let code: String

        /// A CodingKey without an integer field number in 1...2^29-1.
        public static let invalidFieldKey = Kind(code: "INVALID_FIELD_KEY")
        /// Messages nested deeper than `ProtoEncoder.Options.nestingDepthMax`.
        public static let nestingTooDeep = Kind(code: "NESTING_TOO_DEEP")
        /// The top-level value is not a message (it did not ask for a keyed container).
        public static let notAMessage = Kind(code: "NOT_A_MESSAGE")
        /// A `Date` outside the range of `google.protobuf.Timestamp` (years 1...9999) or not finite.
        public static let timestampOutOfRange = Kind(code: "TIMESTAMP_OUT_OF_RANGE")
        /// A map whose key type protobuf does not allow (only integers, `Bool` and `String`).
        public static let unsupportedMapKey = Kind(code: "UNSUPPORTED_MAP_KEY")
        /// A shape the codec cannot map to protobuf (e.g. a nested unkeyed container).
        public static let unsupportedShape = Kind(code: "UNSUPPORTED_SHAPE")

        /// The code.
        public var description: String { code }
    }

    /// What was wrong.
    public var kind: Kind
    /// A human-readable explanation.
    public var message: String

    /// Creates an error.
    public init(kind: Kind, message: String) {
        self.kind = kind
        self.message = message
    }

    /// `KIND: message`.
    public var description: String { "\(kind): \(message)" }
}
