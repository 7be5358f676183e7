/// A message type with generated protobuf code (`proto/tools/generate_swift.py`): `ProtoEncoder` and
/// `ProtoDecoder` call these two members directly instead of going through the type's `Codable` conformance.
///
/// The generated code is built on the same readers and writers as the Codable path, field by field, so both give
/// the same bytes and the same values (the tests compare them on every message and on fuzzed input; one difference:
/// the generated code checks the bytes of a message without fields, which a synthesized `init(from:)` never reads,
/// so it rejects malformed input there as protobuf requires). What it saves
/// is Codable's own machinery: keyed containers boxed per message, a dynamic cast per field, coding paths. The
/// Codable conformance stays the contract: a message nested in a hand-written `Codable` type goes through it, and so
/// does every message when `usesGeneratedCode` is off or `userInfo` is set (a value may read `userInfo`; generated
/// code does not).
public protocol ProtoMessage: Codable {
    /// Writes every field of the message (not its tag or length) as its `Codable` conformance would.
    func encodeProtoFields(to writer: ProtoFieldWriter) throws
    /// Reads the message from its indexed fields as its `Codable` conformance would.
    init(protoFields reader: ProtoFieldReader) throws
}

extension ProtoMessage {
    /// Opens a value known (by its metatype) to be `Self` without boxing it in an existential.
    static func encodeOpened<T>(_ value: T, to writer: ProtoFieldWriter) throws {
        try (value as! Self).encodeProtoFields(to: writer)
    }

    /// Decodes `Self` and hands it back as `T` (which is `Self`), without an existential in between.
    static func decodeOpened<T>(_: T.Type, from reader: ProtoFieldReader) throws -> T {
        try Self(protoFields: reader) as! T
    }
}
