import NIOCore

/// Decodes `Decodable` message types from protobuf wire format.
///
/// The mirror of `ProtoEncoder`: field numbers come from `enum CodingKeys: Int, CodingKey`; unknown fields
/// are skipped; an absent non-optional field is its proto3 default (a sub-message decodes from no bytes); a
/// field seen twice keeps the last value (sub-messages merge, repeated fields append); repeated scalars are
/// accepted packed and unpacked. Malformed input throws `DecodingError.dataCorrupted` whose
/// `underlyingError` is a `ProtoDecodingError` (kind, field number, byte offset); it never traps and never
/// allocates from a length or count it has not checked against the input.
///
/// ```swift
/// let money = try ProtoDecoder().decode(Money.self, from: bytes)
/// ```
public struct ProtoDecoder: Sendable {
    /// Bounds on what the decoder accepts.
    public struct Limits: Sendable {
        /// Deepest message nesting accepted: the top-level message is depth 0, each sub-message (including
        /// timestamps and map entries) adds one. Deeper input is `ProtoDecodingError.Kind.nestingTooDeep`.
        public var nestingDepthMax: Int
        /// Longest input accepted, in bytes (default 64 MiB; at most 4 GiB - 1).
        public var inputLengthMax: Int
        /// Most field occurrences indexed in one decode, the top-level message's and its sub-messages' together
        /// (default 65,536). Each costs 16 bytes of index, unknown fields included, and a field can take two bytes of
        /// input: without a bound a 4 MiB request of `08 00` repeated held 32 MiB of index (more while it grew)
        /// before any handler could refuse it. The largest message numberd sends (a ListNumbers page of 500) has
        /// under 20,000. More is `ProtoDecodingError.Kind.tooManyFields`.
        public var fieldsMax: Int

        /// Creates limits.
        public init(nestingDepthMax: Int = 64, inputLengthMax: Int = 64 << 20, fieldsMax: Int = 65_536) {
            self.nestingDepthMax = nestingDepthMax
            self.inputLengthMax = inputLengthMax
            self.fieldsMax = fieldsMax
        }

        /// Depth 64, 64 MiB, 65,536 fields.
        public static let defaults = Limits()
    }

    /// The limits.
    public var limits: Limits
    /// Passed to the values being decoded as `Decoder.userInfo`.
    public var userInfo: [CodingUserInfoKey: any Sendable] = [:]
    /// Whether a `ProtoMessage` is read by its generated code (default) rather than its `Codable` conformance; both
    /// give the same values and errors. A non-empty `userInfo` always takes the Codable path (a value may read it).
    public var usesGeneratedCode = true

    /// Creates a decoder.
    public init(limits: Limits = .defaults) {
        self.limits = limits
    }

    /// Decodes a message from bytes.
    public func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try bytes.withUnsafeBytes { try decode(type, fromRaw: $0) }
    }

    /// Decodes a message from the readable bytes of `buffer` (which it does not move).
    public func decode<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer) throws -> T {
        try buffer.withUnsafeReadableBytes { try decode(type, fromRaw: $0) }
    }

    /// Decodes a message from any collection of bytes (`Data`, `ArraySlice<UInt8>`, ...).
    public func decode<T: Decodable, Bytes: Collection<UInt8>>(_ type: T.Type, from bytes: Bytes) throws -> T {
        if let value = try bytes.withContiguousStorageIfAvailable({
            try decode(type, fromRaw: UnsafeRawBufferPointer($0))
        }) {
            return value
        }
        return try decode(type, from: Array(bytes))
    }

    private func decode<T: Decodable>(_ type: T.Type, fromRaw input: UnsafeRawBufferPointer) throws -> T {
        let lengthMax = min(limits.inputLengthMax, Int(UInt32.max))
        guard input.count <= lengthMax else {
            throw Self.wrap(
                ProtoDecodingError(
                    kind: .inputTooLong, offset: lengthMax,
                    message: "input of \(input.count) bytes is longer than inputLengthMax (\(lengthMax))"),
                codingPath: [])
        }
        let state = ProtoDecodingState(input: input, limits: limits, userInfo: userInfo)
        do {
            if usesGeneratedCode, userInfo.isEmpty, let message = T.self as? any ProtoMessage.Type {
                let entries = try state.indexMessage(field: 0, lo: 0, hi: 1, depth: 0)
                return try message.decodeOpened(
                    T.self, from: ProtoFieldReader(state: state, entries: entries, depth: 0))
            }
            return try T(from: ProtoFieldDecoder(state: state, lo: 0, hi: 1, field: 0, depth: 0))
        } catch let error as ProtoDecodingError {
            throw Self.wrap(error, codingPath: state.codingPath)
        } catch let signal as PackedElementSignal {
            // Only reachable when a value swallowed the signal's first throw; report it as what it is.
            let entry = state.entries[signal.entryIndex]
            throw Self.wrap(
                state.wrongWireType(entry, expected: signal.wireType, type: Any.self), codingPath: state.codingPath)
        }
    }

    private static func wrap(_ error: ProtoDecodingError, codingPath: [any CodingKey]) -> DecodingError {
        DecodingError.dataCorrupted(
            DecodingError.Context(codingPath: codingPath, debugDescription: error.description, underlyingError: error))
    }
}
