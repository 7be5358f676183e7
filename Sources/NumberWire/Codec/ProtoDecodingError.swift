/// A malformed or unacceptable protobuf input, with where it was found.
///
/// The decoder surfaces it as the `underlyingError` of a `DecodingError.dataCorrupted`, so callers that only
/// know Codable still get a `DecodingError`; callers that care read `kind`, `fieldNumber` and `offset`.
public struct ProtoDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What was wrong with the input. Extensible: new kinds may be added.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        /// A stable, machine-readable code.
        public let code: String

        /// A varint ended with the input (its last byte had the continuation bit set).
        public static let truncatedVarint = Kind(code: "TRUNCATED_VARINT")
        /// A varint ran over ten bytes.
        public static let varintTooLong = Kind(code: "VARINT_TOO_LONG")
        /// A fixed32 or fixed64 value ended with the input.
        public static let truncatedFixed = Kind(code: "TRUNCATED_FIXED")
        /// A length prefix points past the end of the enclosing message.
        public static let lengthPastEnd = Kind(code: "LENGTH_PAST_END")
        /// An element of a repeated field decoded through `Codable` arrived with a wire type its Swift type cannot
        /// be read from, or a packed run met a value that is not a scalar. (A singular field's mistyped occurrence,
        /// and any on the generated path, is an unknown field instead, as in Google's runtimes.)
        public static let wrongWireType = Kind(code: "WRONG_WIRE_TYPE")
        /// A tag with field number 0 or above 2^29-1.
        public static let invalidFieldNumber = Kind(code: "INVALID_FIELD_NUMBER")
        /// A group (wire types 3 and 4) that does not close: an end-group tag without its start, of another field,
        /// or missing. Well-formed groups are unknown fields, skipped.
        public static let malformedGroup = Kind(code: "MALFORMED_GROUP")
        /// Wire type 6 or 7, which protobuf does not define.
        public static let invalidWireType = Kind(code: "INVALID_WIRE_TYPE")
        /// Messages nested deeper than `ProtoDecoder.Limits.nestingDepthMax`.
        public static let nestingTooDeep = Kind(code: "NESTING_TOO_DEEP")
        /// The input is longer than `ProtoDecoder.Limits.inputLengthMax`.
        public static let inputTooLong = Kind(code: "INPUT_TOO_LONG")
        /// The input has more field occurrences than `ProtoDecoder.Limits.fieldsMax`.
        public static let tooManyFields = Kind(code: "TOO_MANY_FIELDS")
        /// A string field that is not valid UTF-8.
        public static let invalidUTF8 = Kind(code: "INVALID_UTF8")
        /// A value that does not fit its Swift type (e.g. 300 for a `UInt8`).
        public static let valueOutOfRange = Kind(code: "VALUE_OUT_OF_RANGE")
        /// A `google.protobuf.Timestamp` outside 0001-01-01...9999-12-31 or with nanos outside 0...999,999,999.
        public static let invalidTimestamp = Kind(code: "INVALID_TIMESTAMP")
        /// A CodingKey without an integer field number in 1...2^29-1 (a programming error in the message type).
        public static let invalidFieldKey = Kind(code: "INVALID_FIELD_KEY")
        /// A map whose key type protobuf does not allow (only integers, `Bool` and `String`).
        public static let unsupportedMapKey = Kind(code: "UNSUPPORTED_MAP_KEY")
        /// A shape the codec cannot map to protobuf (e.g. a nested unkeyed container).
        public static let unsupportedShape = Kind(code: "UNSUPPORTED_SHAPE")

        /// The code.
        public var description: String { code }
    }

    /// What was wrong.
    public var kind: Kind
    /// The field number involved, when known.
    public var fieldNumber: Int?
    /// The byte offset in the input where the problem was found.
    public var offset: Int
    /// A human-readable explanation.
    public var message: String

    /// Creates an error.
    public init(kind: Kind, fieldNumber: Int? = nil, offset: Int, message: String) {
        self.kind = kind
        self.fieldNumber = fieldNumber
        self.offset = offset
        self.message = message
    }

    /// `KIND at offset N (field F): message`.
    public var description: String {
        let field = fieldNumber.map { " (field \($0))" } ?? ""
        return "\(kind) at offset \(offset)\(field): \(message)"
    }
}
