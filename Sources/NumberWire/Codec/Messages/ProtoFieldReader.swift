#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Reads the fields of one indexed message for generated `ProtoMessage` code, through the same lookups as the
/// Codable path: the last occurrence of a scalar wins, an absent field is its default, occurrences of a
/// sub-message merge, repeated fields collect every occurrence, and every error names its field and offset.
public struct ProtoFieldReader {
    let state: ProtoDecodingState
    /// This message's entries in `state.entries`.
    let entries: Range<Int>
    /// This message's depth (the top-level message is 0).
    let depth: Int

    init(state: ProtoDecodingState, entries: Range<Int>, depth: Int) {
        self.state = state
        self.entries = entries
        self.depth = depth
    }

    /// The decoder of field `field`, as a keyed container hands it out.
    @inline(__always)
    private func child(_ field: UInt32) -> ProtoFieldDecoder {
        ProtoFieldDecoder(
            state: state, lo: entries.lowerBound, hi: entries.upperBound, field: field, depth: depth + 1)
    }

    /// Whether the message holds field `field` (a proto3 `optional` field is set). An occurrence with another wire
    /// type than its kind's is refused (`WRONG_WIRE_TYPE`), not dropped: "not set" is a value for such a field (no
    /// price limit, no trunk), so an unreadable one must not read as it (``ProtoDecodingState/presence``).
    public func contains(_ field: UInt32, _ kind: ProtoFieldKind) throws -> Bool {
        try state.presence(field: field, wireType: kind.wireType, lo: entries.lowerBound, hi: entries.upperBound)
    }

    /// Reads an `int64` field.
    public func int64(_ field: UInt32) throws -> Int64 { try child(field).decodeScalar(Int64.self) }
    /// Reads an `int32` (or enum) field.
    public func int32(_ field: UInt32) throws -> Int32 { try child(field).decodeScalar(Int32.self) }
    /// Reads a `uint64` field.
    public func uint64(_ field: UInt32) throws -> UInt64 { try child(field).decodeScalar(UInt64.self) }
    /// Reads a `uint32` field.
    public func uint32(_ field: UInt32) throws -> UInt32 { try child(field).decodeScalar(UInt32.self) }
    /// Reads a `bool` field.
    public func bool(_ field: UInt32) throws -> Bool { try child(field).decodeScalar(Bool.self) }
    /// Reads a `double` field.
    public func double(_ field: UInt32) throws -> Double { try child(field).decodeScalar(Double.self) }
    /// Reads a `float` field.
    public func float(_ field: UInt32) throws -> Float { try child(field).decodeScalar(Float.self) }
    /// Reads a `string` field (invalid UTF-8 is an error).
    public func string(_ field: UInt32) throws -> String { try child(field).decodeString() }
    /// Reads a `bytes` field.
    public func bytes(_ field: UInt32) throws -> [UInt8] { Array(try child(field).decodeBytes()) }
    /// Reads a `google.protobuf.Timestamp` field (absent: the Unix epoch).
    public func date(_ field: UInt32) throws -> Date { try child(field).decodeTimestamp() }

    /// Reads a sub-message field, merging every occurrence (absent: the message's defaults).
    public func message<M: ProtoMessage>(_ field: UInt32, as _: M.Type = M.self) throws -> M {
        try M(protoFields: messageReader(field))
    }

    /// The reader of sub-message field `field`, every occurrence merged (absent: no fields). Not generic, so
    /// generated code calling it from another module costs no generic metadata look-ups (a generic function of this
    /// module cannot be specialised there).
    public func messageReader(_ field: UInt32) throws -> ProtoFieldReader {
        let child = child(field)
        return ProtoFieldReader(state: state, entries: try child.messageEntries(), depth: child.level)
    }

    /// Reads a `repeated` sub-message field: one message per occurrence.
    public func messages<M: ProtoMessage>(_ field: UInt32, as _: M.Type = M.self) throws -> [M] {
        try messageReaders(field).map { try M(protoFields: $0) }
    }

    /// The readers of each occurrence of `repeated` sub-message field `field`, in order (not generic either).
    public func messageReaders(_ field: UInt32) throws -> [ProtoFieldReader] {
        var readers: [ProtoFieldReader] = []
        for index in entries where isLengthDelimited(index, field) {
            let element = try state.indexMessage(field: field, lo: index, hi: index + 1, depth: depth + 1)
            readers.append(ProtoFieldReader(state: state, entries: element, depth: depth + 1))
        }
        return readers
    }

    /// Reads a `repeated string` field.
    public func strings(_ field: UInt32) throws -> [String] {
        var values: [String] = []
        for index in entries where isLengthDelimited(index, field) {
            let element = ProtoFieldDecoder(
                state: state, lo: index, hi: index + 1, field: field, depth: depth + 1, mode: .element)
            values.append(try element.decodeString())
        }
        return values
    }

    /// Reads a `map<string, string>` field; a later entry for a key wins.
    public func stringMap(_ field: UInt32) throws -> [String: String] {
        var result: [String: String] = [:]
        try child(field).forEachMapEntry { entry in
            result[try entry.child(field: 1).decodeString()] = try entry.child(field: 2).decodeString()
        }
        return result
    }

    /// Whether entry `index` is an occurrence of `field` with wire type 2 (another wire type is an unknown field).
    @inline(__always)
    private func isLengthDelimited(_ index: Int, _ field: UInt32) -> Bool {
        state.entries[index].field == field && state.entries[index].wireType == WireType.lengthDelimited.rawValue
    }
}

/// What a field holds, as far as presence is concerned: the wire type its occurrences must have.
public enum ProtoFieldKind: Sendable {
    /// int32, int64, uint32, uint64, bool, enum.
    case varint
    /// double, fixed64.
    case fixed64
    /// float, fixed32.
    case fixed32
    /// string, bytes, sub-messages, Timestamps, maps, packed repeated scalars.
    case lengthDelimited

    var wireType: WireType {
        switch self {
        case .varint: .varint
        case .fixed64: .fixed64
        case .fixed32: .fixed32
        case .lengthDelimited: .lengthDelimited
        }
    }
}
