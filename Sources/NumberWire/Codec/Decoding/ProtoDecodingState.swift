/// One field occurrence found while indexing a message: where its value lies in the input.
struct FieldEntry {
    var field: UInt32
    var wireType: UInt8
    /// Offset of the value (after the tag and, for length-delimited fields, the length).
    var start: UInt32
    /// Offset one past the value.
    var end: UInt32
}

/// Thrown by a repeated field's element probe when a scalar element (an enum) meets a packed run; the
/// repeated-field reader catches it and decodes the run value by value. Never escapes the decoder.
struct PackedElementSignal: Error {
    let entryIndex: Int
    let wireType: WireType
}

/// The shared state of one `ProtoDecoder.decode` call: the input and an append-only index of the fields of
/// every message decoded so far. A message is indexed once, when its keyed container is created, so each
/// field lookup is a scan over a few entries rather than over bytes.
final class ProtoDecodingState {
    let input: UnsafeRawBufferPointer
    // One state belongs to one decode call on one thread and no access to these overlaps another, so the runtime's
    // exclusivity checks (paid on every field look-up) are turned off.
    /// Entry 0 stands for the whole input as the (length-delimited) top-level message, field number 0.
    @exclusivity(unchecked) var entries: [FieldEntry]
    /// Keys leading to the value being decoded (index = message depth), for error messages. Only the Codable path
    /// uses it, so it gets no capacity up front (generated code would pay an allocation per decode for nothing).
    @exclusivity(unchecked) var codingPath: [any CodingKey] = []
    let limits: ProtoDecoder.Limits
    // Kept as given: converting to [CodingUserInfoKey: Any] allocates, and few values ever read it.
    let userInfo: [CodingUserInfoKey: any Sendable]

    init(input: UnsafeRawBufferPointer, limits: ProtoDecoder.Limits, userInfo: [CodingUserInfoKey: any Sendable]) {
        self.input = input
        self.limits = limits
        self.userInfo = userInfo
        // Bounded by the input (a field takes at least two bytes), never by a count read from it. At most 60 entries
        // (960 bytes): glibc serves blocks up to 1,032 bytes from its per-thread cache, and 64 took a slow path.
        entries = []
        entries.reserveCapacity(min(60, input.count / 2 + 1))
        entries.append(FieldEntry(field: 0, wireType: 2, start: 0, end: UInt32(input.count)))
    }

    func fail(
        _ kind: ProtoDecodingError.Kind, _ message: String, field: UInt32?, offset: Int
    )
        -> ProtoDecodingError
    {
        ProtoDecodingError(kind: kind, fieldNumber: field.map { Int($0) }, offset: offset, message: message)
    }

    /// Records the key leading into a message at `depth`, dropping keys of finished siblings.
    @inline(__always)
    func enter(_ key: some CodingKey, depth: Int) {
        if codingPath.count > depth { codingPath.removeSubrange(depth...) }
        codingPath.append(key)
    }

    // MARK: Reading values

    /// Reads a varint at `offset`, which must end before `end`.
    @inline(__always)
    func readVarint(at offset: inout Int, end: Int, field: UInt32?) throws -> UInt64 {
        if offset < end {
            let first = input[offset]
            if first < 0x80 {
                offset += 1
                return UInt64(first)
            }
        }
        return try readLongVarint(at: &offset, end: end, field: field)
    }

    private func readLongVarint(at offset: inout Int, end: Int, field: UInt32?) throws -> UInt64 {
        let start = offset
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < end else {
                throw fail(.truncatedVarint, "varint runs past the end of its message", field: field, offset: start)
            }
            guard offset - start < Wire.varintLengthMax else {
                throw fail(.varintTooLong, "varint longer than ten bytes", field: field, offset: start)
            }
            let byte = input[offset]
            offset += 1
            result |= UInt64(byte & 0x7f) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
    }

    /// Reads one value of `S` at `offset` (unpacked or inside a packed run ending at `end`).
    @inline(__always)
    func readScalar<S: ProtoScalar>(_: S.Type, at offset: inout Int, end: Int, field: UInt32) throws -> S {
        let start = offset
        let bits: UInt64
        switch S.wireType {
        case .fixed32:
            guard end - offset >= 4 else {
                throw fail(.truncatedFixed, "fixed32 runs past the end of its message", field: field, offset: start)
            }
            bits = UInt64(UInt32(littleEndian: input.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
            offset += 4
        case .fixed64:
            guard end - offset >= 8 else {
                throw fail(.truncatedFixed, "fixed64 runs past the end of its message", field: field, offset: start)
            }
            bits = UInt64(littleEndian: input.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            offset += 8
        default:
            bits = try readVarint(at: &offset, end: end, field: field)
        }
        guard let value = S(wireBits: bits) else {
            throw fail(.valueOutOfRange, "value \(bits) does not fit \(S.self)", field: field, offset: start)
        }
        return value
    }

    /// Reads the scalar held by entry `index`, checking its wire type.
    @inline(__always)
    func readScalar<S: ProtoScalar>(_: S.Type, entry index: Int) throws -> S {
        let entry = entries[index]
        guard entry.wireType == S.wireType.rawValue else {
            throw wrongWireType(entry, expected: S.wireType, type: S.self)
        }
        var offset = Int(entry.start)
        return try readScalar(S.self, at: &offset, end: Int(entry.end), field: entry.field)
    }

    func wrongWireType(_ entry: FieldEntry, expected: WireType, type: Any.Type) -> ProtoDecodingError {
        fail(
            .wrongWireType,
            "wire type \(entry.wireType) where \(type) needs wire type \(expected.rawValue)",
            field: entry.field, offset: Int(entry.start))
    }

    /// The payload of a length-delimited entry.
    @inline(__always)
    func payload(_ entry: FieldEntry) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: input[Int(entry.start)..<Int(entry.end)])
    }

    // MARK: Finding entries

    /// The index of the last entry for `field` in `lo..<hi` (protobuf: the last value wins).
    @inline(__always)
    func lastEntry(field: UInt32, lo: Int, hi: Int) -> Int? {
        var index = hi
        while index > lo {
            index -= 1
            if entries[index].field == field { return index }
        }
        return nil
    }

    /// The index of the last entry for `field` with `wireType` in `lo..<hi`. An occurrence with another wire type
    /// is an unknown field (the schema changed the field's type, or a peer sent garbage that parses): Google's
    /// runtimes keep such an occurrence aside and read the rest, and so does this codec, so a value never depends
    /// on whether a mistyped occurrence came before or after the good one.
    @inline(__always)
    func lastEntry(field: UInt32, wireType: WireType, lo: Int, hi: Int) -> Int? {
        var index = hi
        while index > lo {
            index -= 1
            if entries[index].field == field && entries[index].wireType == wireType.rawValue { return index }
        }
        return nil
    }

    /// Whether `field` occurs in `lo..<hi` — and only with `wireType`. For a field whose presence means something
    /// (a proto3 `optional` field, a map entry: a price limit, a trunk to assign, a metadata key) an occurrence that
    /// cannot be read is refused rather than dropped: dropping it would silently read as "not set" (a purchase
    /// without its price limit, a keyed call without its key). Google's runtimes drop it; numberd fails closed.
    func presence(field: UInt32, wireType: WireType, lo: Int, hi: Int) throws -> Bool {
        var present = false
        for index in lo..<hi where entries[index].field == field {
            guard entries[index].wireType == wireType.rawValue else {
                throw fail(
                    .wrongWireType,
                    "wire type \(entries[index].wireType) where a field whose presence counts needs wire type "
                        + "\(wireType.rawValue)", field: field, offset: Int(entries[index].start))
            }
            present = true
        }
        return present
    }

    /// The wire type an occurrence of a `T` must have to be read as one: a scalar's own; none for enums (their raw
    /// value decides) and arrays (repeated: packed or not, or bytes); length-delimited for the rest (strings, `Data`,
    /// Timestamps, messages, maps). Another wire type is an unknown field.
    static func occurrenceWireType<T>(_: T.Type) -> WireType? {
        if let scalar = T.self as? any ProtoScalar.Type { return scalar.wireType }
        if T.self is any RawRepresentable.Type || T.self is any ExpressibleByArrayLiteral.Type { return nil }
        return .lengthDelimited
    }

    /// Decodes any value: the codec's own types directly, anything else through Codable.
    @inline(__always)
    func decodeValue<T: Decodable>(_ type: T.Type, from decoder: ProtoFieldDecoder) throws -> T {
        if let special = T.self as? any ProtoFieldDecodable.Type {
            return try special.decodeProtoField(decoder) as! T
        }
        return try T(from: decoder)
    }
}
