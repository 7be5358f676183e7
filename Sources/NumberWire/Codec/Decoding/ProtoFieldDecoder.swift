#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The `Decoder` handed to a value: it stands for one field of an indexed message (its entries in `lo..<hi`
/// with number `field`), for one element of a repeated field, or for one value inside a packed run.
/// Three words, so passing it as `any Decoder` never allocates a box.
struct ProtoFieldDecoder: Decoder {
    enum Mode: UInt8 {
        /// Every entry numbered `field` in entries `lo..<hi`.
        case field
        /// One element of a repeated field (entries `lo..<lo+1`): a scalar meeting a packed run signals it.
        case element
        /// One scalar at byte offset `lo` inside a packed run ending at byte `hi`.
        case packed
        /// The message whose entries are `lo..<hi` itself (`superDecoder()`).
        case sameMessage
    }

    let state: ProtoDecodingState
    let lo: UInt32
    let hi: UInt32
    let field: UInt32
    /// The depth a message decoded from here has (the top-level message is 0).
    let depth: UInt16
    let mode: Mode

    init(state: ProtoDecodingState, lo: Int, hi: Int, field: UInt32, depth: Int, mode: Mode = .field) {
        self.state = state
        self.lo = UInt32(truncatingIfNeeded: lo)
        self.hi = UInt32(truncatingIfNeeded: hi)
        self.field = field
        self.depth = UInt16(truncatingIfNeeded: min(depth, Int(UInt16.max)))
        self.mode = mode
    }

    var codingPath: [any CodingKey] { state.codingPath }
    var userInfo: [CodingUserInfoKey: Any] {
        var userInfo: [CodingUserInfoKey: Any] = [:]
        for (key, value) in state.userInfo { userInfo[key] = value }
        return userInfo
    }
    var level: Int { Int(depth) }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        let range = try messageEntries()
        return KeyedDecodingContainer(ProtoKeyedDecodingContainer<Key>(state: state, entries: range, depth: level))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard mode == .field || mode == .element else { throw shapeError("a repeated field") }
        return ProtoUnkeyedDecodingContainer(decoder: self)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        ProtoSingleValueDecodingContainer(decoder: self)
    }

    /// Indexes the message this decoder stands for (empty when the field is absent).
    func messageEntries() throws -> Range<Int> {
        switch mode {
        case .sameMessage: return Int(lo)..<Int(hi)
        case .packed: throw shapeError("a message")
        case .field: return try state.indexMessage(field: field, lo: Int(lo), hi: Int(hi), depth: level)
        case .element:
            // One element of a repeated field through Codable, whose element type the decoder does not know until
            // here: a mistyped element is an error rather than a default element (generated code skips it).
            let entry = state.entries[Int(lo)]
            guard entry.wireType == WireType.lengthDelimited.rawValue else {
                throw state.wrongWireType(entry, expected: .lengthDelimited, type: Any.self)
            }
            return try state.indexMessage(field: field, lo: Int(lo), hi: Int(hi), depth: level)
        }
    }

    /// A decoder for field `field` of the message whose entries are `entries`.
    func child(field: UInt32, in entries: Range<Int>) -> ProtoFieldDecoder {
        ProtoFieldDecoder(state: state, lo: entries.lowerBound, hi: entries.upperBound, field: field, depth: level + 1)
    }

    func error(_ kind: ProtoDecodingError.Kind, _ message: String) -> ProtoDecodingError {
        state.fail(kind, message, field: field == 0 ? nil : field, offset: offsetForErrors)
    }

    private func shapeError(_ what: String) -> ProtoDecodingError {
        error(.wrongWireType, "expected \(what) but found a scalar in a packed run")
    }

    private var offsetForErrors: Int {
        switch mode {
        case .packed: return Int(lo)
        case .field, .element, .sameMessage:
            let index = Int(lo) < state.entries.count ? Int(lo) : 0
            return Int(state.entries[index].start)
        }
    }

    /// The last entry for this field, or nil when it is absent.
    @inline(__always)
    private func lastEntry() -> Int? {
        state.lastEntry(field: field, lo: Int(lo), hi: Int(hi))
    }
}

extension ProtoFieldDecoder {
    /// Reads a scalar: the last occurrence wins; an absent field is the default.
    @inline(__always)
    func decodeScalar<S: ProtoScalar>(_: S.Type) throws -> S {
        if mode == .packed {
            var offset = Int(lo)
            return try state.readScalar(S.self, at: &offset, end: Int(hi), field: field)
        }
        guard mode != .sameMessage else { throw error(.wrongWireType, "expected \(S.self) but found a message") }
        if mode == .element {
            // One element of a repeated field: a length-delimited one is a packed run.
            guard let index = lastEntry() else { return S.protoDefault }
            if state.entries[index].wireType == WireType.lengthDelimited.rawValue {
                throw PackedElementSignal(entryIndex: index, wireType: S.wireType)
            }
            return try state.readScalar(S.self, entry: index)
        }
        // A bool's false is a value too (a release that is no dry run, no billing guard): an occurrence of another
        // wire type is refused, not dropped to read as false (``ProtoDecodingState/presence``).
        if S.self == Bool.self { _ = try state.presence(field: field, wireType: .varint, lo: Int(lo), hi: Int(hi)) }
        guard let index = state.lastEntry(field: field, wireType: S.wireType, lo: Int(lo), hi: Int(hi)) else {
            return S.protoDefault
        }
        return try state.readScalar(S.self, entry: index)
    }

    /// The payload of the last occurrence of a length-delimited field (empty when absent).
    func decodeBytes() throws -> UnsafeRawBufferPointer {
        guard mode == .field || mode == .element else {
            throw error(.wrongWireType, "expected a length-delimited field")
        }
        if mode == .element {
            guard let index = lastEntry() else { return UnsafeRawBufferPointer(start: nil, count: 0) }
            let entry = state.entries[index]
            guard entry.wireType == WireType.lengthDelimited.rawValue else {
                throw state.wrongWireType(entry, expected: .lengthDelimited, type: [UInt8].self)
            }
            return state.payload(entry)
        }
        guard let index = state.lastEntry(field: field, wireType: .lengthDelimited, lo: Int(lo), hi: Int(hi)) else {
            return UnsafeRawBufferPointer(start: nil, count: 0)
        }
        return state.payload(state.entries[index])
    }

    /// Reads a string, rejecting invalid UTF-8 in any occurrence: the last one wins, but Google's runtimes refuse a
    /// message with a string that is not UTF-8 anywhere, so one they refuse must not mean something here.
    func decodeString() throws -> String {
        guard mode == .field else { return try string(decodeBytes(), entry: nil) }
        guard let last = state.lastEntry(field: field, wireType: .lengthDelimited, lo: Int(lo), hi: Int(hi)) else {
            return ""
        }
        for index in Int(lo)..<last {
            let entry = state.entries[index]
            guard entry.field == field, entry.wireType == WireType.lengthDelimited.rawValue else { continue }
            _ = try string(state.payload(entry), entry: index)
        }
        return try string(state.payload(state.entries[last]), entry: last)
    }

    /// `bytes` as a string, or the `invalidUTF8` error at the occurrence they are the payload of (`entry`, nil: this
    /// decoder's own).
    private func string(_ bytes: UnsafeRawBufferPointer, entry: Int?) throws -> String {
        if bytes.isEmpty { return "" }
        // Most fields are ASCII, which is valid UTF-8: a word-at-a-time check is much cheaper than the generic
        // validating initialiser, and `String(decoding:)` then has nothing to repair.
        if Self.isASCII(bytes) { return String(decoding: bytes, as: UTF8.self) }
        guard let string = String(validating: bytes, as: UTF8.self) else {
            let message = "string field is not valid UTF-8"
            guard let entry else { throw error(.invalidUTF8, message) }
            throw state.fail(.invalidUTF8, message, field: field, offset: Int(state.entries[entry].start))
        }
        return string
    }

    /// Whether every byte is below 0x80.
    @inline(__always)
    static func isASCII(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var index = 0
        let count = bytes.count
        while index + 8 <= count {
            if bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self) & 0x8080_8080_8080_8080 != 0 { return false }
            index += 8
        }
        while index < count {
            if bytes[index] >= 0x80 { return false }
            index += 1
        }
        return true
    }

    /// Reads every value of a repeated scalar field, packed or not (protobuf parsers must accept both).
    func decodeRepeatedScalars<S: ProtoScalar>(_: S.Type) throws -> [S] {
        var values: [S] = []
        for index in Int(lo)..<Int(hi) where state.entries[index].field == field {
            let entry = state.entries[index]
            // Packed or not; another wire type is an unknown field.
            guard entry.wireType == WireType.lengthDelimited.rawValue || entry.wireType == S.wireType.rawValue else {
                continue
            }
            if entry.wireType == WireType.lengthDelimited.rawValue {
                var offset = Int(entry.start)
                while offset < Int(entry.end) {
                    values.append(try state.readScalar(S.self, at: &offset, end: Int(entry.end), field: field))
                }
            } else {
                values.append(try state.readScalar(S.self, entry: index))
            }
        }
        return values
    }

    /// Reads every element of a repeated field of strings, bytes, messages or enums.
    func decodeRepeated<Element: Decodable>(_: Element.Type) throws -> [Element] {
        var values: [Element] = []
        // Strings and messages: an occurrence of another wire type is an unknown field, skipped.
        let lengthDelimitedOnly = ProtoDecodingState.occurrenceWireType(Element.self) == .lengthDelimited
        for index in Int(lo)..<Int(hi) where state.entries[index].field == field {
            if lengthDelimitedOnly && state.entries[index].wireType != WireType.lengthDelimited.rawValue { continue }
            let element = ProtoFieldDecoder(
                state: state, lo: index, hi: index + 1, field: field, depth: level, mode: .element)
            do {
                values.append(try state.decodeValue(Element.self, from: element))
            } catch let signal as PackedElementSignal {
                try decodePackedRun(signal, into: &values)
            }
        }
        return values
    }

    /// Decodes each value of a packed run of enums (or other single-scalar types) one by one.
    private func decodePackedRun<Element: Decodable>(
        _ signal: PackedElementSignal, into values: inout [Element]
    )
        throws
    {
        let entry = state.entries[signal.entryIndex]
        var offset = Int(entry.start)
        let end = Int(entry.end)
        while offset < end {
            let element = ProtoFieldDecoder(
                state: state, lo: offset, hi: end, field: field, depth: level, mode: .packed)
            values.append(try state.decodeValue(Element.self, from: element))
            offset = try skipPacked(signal.wireType, at: offset, end: end)
        }
    }

    /// The offset after one packed value of `wireType` at `offset`.
    func skipPacked(_ wireType: WireType, at offset: Int, end: Int) throws -> Int {
        var offset = offset
        switch wireType {
        case .fixed32: _ = try state.readScalar(UInt32.self, at: &offset, end: end, field: field)
        case .fixed64: _ = try state.readScalar(UInt64.self, at: &offset, end: end, field: field)
        default: _ = try state.readVarint(at: &offset, end: end, field: field)
        }
        return offset
    }

    /// Calls `body` with a decoder for each entry message of a map field (key = field 1, value = field 2).
    func forEachMapEntry(_ body: (_ entry: MapEntryDecoder) throws -> Void) throws {
        guard mode == .field || mode == .element else { throw shapeError("a map") }
        // A map entry of another wire type is refused, not dropped: a dropped metadata entry would read as a key
        // never sent (``ProtoDecodingState/presence``).
        _ = try state.presence(field: field, wireType: .lengthDelimited, lo: Int(lo), hi: Int(hi))
        for index in Int(lo)..<Int(hi) where state.entries[index].field == field {
            let entries = try state.indexMessage(field: field, lo: index, hi: index + 1, depth: level)
            try body(MapEntryDecoder(decoder: self, entries: entries))
        }
    }

    /// Reads a `google.protobuf.Timestamp` sub-message as a `Date` (an absent field is the Unix epoch).
    func decodeTimestamp() throws -> Date {
        let entries = try messageEntries()
        let seconds = try child(field: 1, in: entries).decodeScalar(Int64.self)
        let nanos = try child(field: 2, in: entries).decodeScalar(Int32.self)
        guard let date = Timestamp.date(seconds: seconds, nanos: nanos) else {
            throw error(.invalidTimestamp, "Timestamp \(seconds)s \(nanos)ns is outside years 1...9999")
        }
        return date
    }
}

/// One indexed map entry message.
struct MapEntryDecoder {
    let decoder: ProtoFieldDecoder
    let entries: Range<Int>

    var state: ProtoDecodingState { decoder.state }

    /// The decoder for the key (field 1) or the value (field 2).
    func child(field: UInt32) -> ProtoFieldDecoder {
        decoder.child(field: field, in: entries)
    }
}
