import Foundation

/// A streaming JSON encoder for journal records: writes the JSON of an `Encodable` value straight into one byte
/// array, with no intermediate tree, no key sorting and no `Data` round trip. Foundation's `JSONEncoder` was about a
/// fifth of the CPU of a durable purchase (CoreBenchmark profile at 64 purchasers).
///
/// The output is what `JSONDecoder` (default strategies) reads back as the same value: keys in the order the value
/// encodes them (declaration order for synthesized `Codable`, so equal values give equal bytes as long as the value
/// holds no dictionary — journal events hold none; snapshots, which do, are encoded with `sortingDictionaries`:
/// the members of every `[String: Value]` are written in key order, so equal states give equal bytes), dates
/// as `Date`'s own encoding (seconds since 2001 as a number, what `JSONDecoder`'s default `.deferredToDate` reads),
/// strings escaped as JSON requires (quote, backslash, control characters; `/` and non-ASCII left as they are).
/// `Data`, `URL` and `Decimal` would encode through their own `Encodable` conformances, not `JSONEncoder`'s special
/// forms, so they are refused rather than written in a form `JSONDecoder` would read differently.
///
/// Coding paths are not extended per field (that allocated an array per field); an error names the type and value.
///
/// Containers are closed lazily, as in the protobuf encoder: each open object or array is a level on a stack, and any
/// write at a shallower level first closes the deeper ones. Synthesized `Codable` uses containers in stack order,
/// which is all this needs.
package enum JSONLineEncoder {
    /// The JSON of `value`; with `sortingDictionaries`, the members of every `[String: Value]` dictionary in
    /// ascending key order (for snapshots: deterministic bytes), otherwise in the dictionary's own order.
    ///
    /// Values that write their own JSON (``JSONLineWritable``: the journal's records) do so unless
    /// `writingDirectly` is false; the bytes are the same either way (the tests and the journal fuzzer compare them).
    ///
    /// The JSON is written after `prefix` (a snapshot's head: one buffer for the whole file, no copy of gigabytes to
    /// add it) in a buffer of at least `capacity` bytes (a large one grown by doubling copies it, and faults in fresh
    /// pages, several times over).
    package static func encode<Value: Encodable>(
        _ value: Value, sortingDictionaries: Bool = false, writingDirectly: Bool = true, after prefix: [UInt8] = [],
        capacity: Int = 0
    ) throws -> [UInt8] {
        let state = JSONLineState(sortingDictionaries: sortingDictionaries, writingDirectly: writingDirectly)
        if capacity > 0 { state.bytes.reserveCapacity(capacity) }
        state.bytes.append(contentsOf: prefix)
        try state.encodeValue(value, depth: 0, codingPath: [])
        state.close(downTo: 0)
        return state.bytes
    }
}

final class JSONLineState {
    @exclusivity(unchecked) var bytes: [UInt8] = []
    /// Open containers, outermost first: whether each is an object, and whether it has an element yet.
    @exclusivity(unchecked) var open: [(isObject: Bool, hasElement: Bool)] = []

    /// Whether `[String: Value]` members are written in key order.
    let sortingDictionaries: Bool
    /// Whether ``JSONLineWritable`` values write themselves (else everything goes through `Codable`).
    let writingDirectly: Bool

    init(sortingDictionaries: Bool = false, writingDirectly: Bool = true) {
        self.sortingDictionaries = sortingDictionaries
        self.writingDirectly = writingDirectly
        bytes.reserveCapacity(1_024)
        open.reserveCapacity(8)
    }

    /// Closes every container deeper than `depth`.
    @inline(__always)
    func close(downTo depth: Int) {
        while open.count > depth {
            bytes.append(open.removeLast().isObject ? UInt8(ascii: "}") : UInt8(ascii: "]"))
        }
    }

    /// Opens an object or array as the value at `depth`.
    func openContainer(isObject: Bool, depth: Int) {
        close(downTo: depth)
        bytes.append(isObject ? UInt8(ascii: "{") : UInt8(ascii: "["))
        open.append((isObject, false))
    }

    /// Starts the next element of the container at `depth - 1`: closes deeper containers and writes the comma.
    @inline(__always)
    func beginElement(depth: Int) {
        close(downTo: depth)
        if open[depth - 1].hasElement {
            bytes.append(UInt8(ascii: ","))
        } else {
            open[depth - 1].hasElement = true
        }
    }

    /// Writes `"key":` as the next member of the object at `depth - 1`.
    func writeKey(_ key: String, depth: Int) {
        beginElement(depth: depth)
        writeString(key)
        bytes.append(UInt8(ascii: ":"))
    }

    func writeString(_ string: String) {
        bytes.append(UInt8(ascii: "\""))
        var string = string
        string.withUTF8 { utf8 in
            var start = 0
            for index in 0..<utf8.count {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<index]))
                switch byte {
                case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
                case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
                case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
                case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
                case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
                default:
                    let hex = Array("0123456789abcdef".utf8)
                    bytes.append(contentsOf: Array("\\u00".utf8))
                    bytes.append(hex[Int(byte >> 4)])
                    bytes.append(hex[Int(byte & 0x0F)])
                }
                start = index + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<utf8.count]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    func writeInteger<T: BinaryInteger>(_ value: T) {
        bytes.append(contentsOf: value.description.utf8)
    }

    func writeDouble(_ value: Double, codingPath: [any CodingKey]) throws {
        guard value.isFinite else {
            throw EncodingError.invalidValue(
                value, EncodingError.Context(codingPath: codingPath, debugDescription: "\(value) is not valid JSON"))
        }
        // The shortest form that reads back as the same Double ("1.5", "1e+21"); both are JSON numbers.
        bytes.append(contentsOf: value.description.utf8)
    }

    /// Encodes `value` as the value at `depth` (its key or comma already written). Scalars are recognised by their
    /// metatype (a pointer comparison) rather than by dynamic casts, which cost more than the writing itself.
    func encodeValue<T: Encodable>(_ value: T, depth: Int, codingPath: [any CodingKey]) throws {
        if T.self == String.self {
            writeString(unsafeBitCast(value, to: String.self))
        } else if T.self == Int64.self {
            writeInteger(unsafeBitCast(value, to: Int64.self))
        } else if T.self == Date.self {
            try writeDouble(unsafeBitCast(value, to: Date.self).timeIntervalSinceReferenceDate, codingPath: codingPath)
        } else if T.self == Bool.self {
            bytes.append(contentsOf: (unsafeBitCast(value, to: Bool.self) ? "true" : "false").utf8)
        } else if T.self == Int.self {
            writeInteger(unsafeBitCast(value, to: Int.self))
        } else if T.self == Int32.self {
            writeInteger(unsafeBitCast(value, to: Int32.self))
        } else if T.self == UInt64.self {
            writeInteger(unsafeBitCast(value, to: UInt64.self))
        } else if T.self == UInt32.self {
            writeInteger(unsafeBitCast(value, to: UInt32.self))
        } else if T.self == Double.self {
            try writeDouble(unsafeBitCast(value, to: Double.self), codingPath: codingPath)
        } else if T.self == Data.self || T.self == URL.self || T.self == Decimal.self {
            throw EncodingError.invalidValue(
                value,
                EncodingError.Context(
                    codingPath: codingPath, debugDescription: "\(T.self) needs JSONEncoder's special form"))
        } else if sortingDictionaries, let dictionary = value as? any JSONLineSortableDictionary {
            try dictionary.encodeSorted(into: self, depth: depth, codingPath: codingPath)
        } else if writingDirectly, let writable = value as? any JSONLineWritable {
            close(downTo: depth)
            try writable.writeJSON(to: self)
        } else {
            try encodeCodable(value, depth: depth, codingPath: codingPath)
        }
    }

    /// Encodes `value` through its `Encodable` conformance as the value at `depth`.
    func encodeCodable<T: Encodable>(_ value: T, depth: Int, codingPath: [any CodingKey]) throws {
        let start = bytes.count
        try value.encode(to: JSONLineFieldEncoder(state: self, depth: depth, codingPath: codingPath))
        // A value that wrote nothing (no container asked for) is an empty object, as JSONEncoder writes it.
        if bytes.count == start && open.count <= depth { bytes.append(contentsOf: "{}".utf8) }
    }
}

/// A dictionary the encoder can write with its members in key order.
protocol JSONLineSortableDictionary {
    func encodeSorted(into state: JSONLineState, depth: Int, codingPath: [any CodingKey]) throws
}

extension Dictionary: JSONLineSortableDictionary where Key == String, Value: Encodable {
    /// Writes the dictionary as a JSON object, members in ascending key order (what `Dictionary`'s own
    /// `Encodable` writes, in its iteration order).
    func encodeSorted(into state: JSONLineState, depth: Int, codingPath: [any CodingKey]) throws {
        state.openContainer(isObject: true, depth: depth)
        // The members themselves are sorted, not the keys (no hash look-up per member), in `String` order.
        let members = Array(self)
        for index in SortKey.order(of: members.map(\.key)) {
            state.writeKey(members[index].key, depth: depth + 1)
            try state.encodeValue(members[index].value, depth: depth + 1, codingPath: codingPath)
        }
    }
}

/// Sorts strings in `String` order, fast for ASCII ones: snapshot tables hold up to millions of ASCII keys (ids,
/// phone numbers), and comparing them as `String`s was half the time of encoding a snapshot.
struct SortKey {
    /// The first 16 UTF-8 bytes, big-endian (shorter keys padded with zeros).
    var high: UInt64
    var low: UInt64
    /// All bytes are ASCII: then byte order is `String` order, and the prefix decides unless it is equal.
    var ascii: Bool
    var index: Int

    init(_ key: String, index: Int) {
        var high: UInt64 = 0
        var low: UInt64 = 0
        var ascii = true
        var count = 0
        for byte in key.utf8 {
            if byte >= 0x80 { ascii = false }
            if count < 8 {
                high |= UInt64(byte) << (56 - 8 * count)
            } else if count < 16 {
                low |= UInt64(byte) << (56 - 8 * (count - 8))
            }
            count += 1
        }
        self.high = high
        self.low = low
        self.ascii = ascii
        self.index = index
    }

    /// The indices of `keys` in ascending `String` order: by the 16-byte prefix when both keys are ASCII and their
    /// prefixes differ, else by `String` comparison (the same order either way).
    static func order(of keys: [String]) -> [Int] {
        var sortKeys = keys.indices.map { SortKey(keys[$0], index: $0) }
        sortKeys.sort { a, b in
            if a.ascii && b.ascii {
                if a.high != b.high { return a.high < b.high }
                if a.low != b.low { return a.low < b.low }
            }
            return keys[a.index] < keys[b.index]
        }
        return sortKeys.map(\.index)
    }
}

/// The encoder of one value at one depth.
struct JSONLineFieldEncoder: Encoder {
    let state: JSONLineState
    let depth: Int
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        state.openContainer(isObject: true, depth: depth)
        return KeyedEncodingContainer(
            JSONLineKeyedContainer<Key>(state: state, depth: depth + 1, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        state.openContainer(isObject: false, depth: depth)
        return JSONLineUnkeyedContainer(state: state, depth: depth + 1, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        JSONLineSingleValueContainer(state: state, depth: depth, codingPath: codingPath)
    }
}

struct JSONLineKeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let state: JSONLineState
    /// The depth of this object's members (the object itself is open at `depth - 1`).
    let depth: Int
    let codingPath: [any CodingKey]

    mutating func encodeNil(forKey key: Key) throws {
        state.writeKey(key.stringValue, depth: depth)
        state.bytes.append(contentsOf: "null".utf8)
    }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        state.writeKey(key.stringValue, depth: depth)
        try state.encodeValue(value, depth: depth, codingPath: codingPath)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        state.writeKey(key.stringValue, depth: depth)
        state.openContainer(isObject: true, depth: depth)
        return KeyedEncodingContainer(
            JSONLineKeyedContainer<NestedKey>(state: state, depth: depth + 1, codingPath: codingPath))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        state.writeKey(key.stringValue, depth: depth)
        state.openContainer(isObject: false, depth: depth)
        return JSONLineUnkeyedContainer(state: state, depth: depth + 1, codingPath: codingPath)
    }

    mutating func superEncoder() -> any Encoder {
        superEncoder(forKey: Key(stringValue: "super")!)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        state.writeKey(key.stringValue, depth: depth)
        return JSONLineFieldEncoder(state: state, depth: depth, codingPath: codingPath)
    }
}

struct JSONLineUnkeyedContainer: UnkeyedEncodingContainer {
    let state: JSONLineState
    /// The depth of this array's elements (the array itself is open at `depth - 1`).
    let depth: Int
    let codingPath: [any CodingKey]
    private(set) var count = 0

    init(state: JSONLineState, depth: Int, codingPath: [any CodingKey]) {
        self.state = state
        self.depth = depth
        self.codingPath = codingPath
    }

    mutating func encodeNil() throws {
        state.beginElement(depth: depth)
        state.bytes.append(contentsOf: "null".utf8)
        count += 1
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        state.beginElement(depth: depth)
        try state.encodeValue(value, depth: depth, codingPath: codingPath)
        count += 1
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type
    ) -> KeyedEncodingContainer<NestedKey> {
        state.beginElement(depth: depth)
        state.openContainer(isObject: true, depth: depth)
        count += 1
        return KeyedEncodingContainer(
            JSONLineKeyedContainer<NestedKey>(state: state, depth: depth + 1, codingPath: codingPath))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        state.beginElement(depth: depth)
        state.openContainer(isObject: false, depth: depth)
        count += 1
        return JSONLineUnkeyedContainer(state: state, depth: depth + 1, codingPath: codingPath)
    }

    mutating func superEncoder() -> any Encoder {
        state.beginElement(depth: depth)
        count += 1
        return JSONLineFieldEncoder(state: state, depth: depth, codingPath: codingPath)
    }
}

struct JSONLineSingleValueContainer: SingleValueEncodingContainer {
    let state: JSONLineState
    let depth: Int
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws {
        state.close(downTo: depth)
        state.bytes.append(contentsOf: "null".utf8)
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        state.close(downTo: depth)
        try state.encodeValue(value, depth: depth, codingPath: codingPath)
    }

    // The scalars `encodeValue` does not recognise by metatype: their own `encode(to:)` calls these. Left to the
    // generic method above, they went back into `encodeValue` and recursed until the stack overflowed.
    mutating func encode(_ value: Int8) throws { try integer(value) }
    mutating func encode(_ value: Int16) throws { try integer(value) }
    mutating func encode(_ value: UInt8) throws { try integer(value) }
    mutating func encode(_ value: UInt16) throws { try integer(value) }
    mutating func encode(_ value: UInt) throws { try integer(value) }
    mutating func encode(_ value: Int128) throws { try integer(value) }
    mutating func encode(_ value: UInt128) throws { try integer(value) }

    mutating func encode(_ value: Float) throws {
        guard value.isFinite else {
            throw EncodingError.invalidValue(
                value, EncodingError.Context(codingPath: codingPath, debugDescription: "\(value) is not valid JSON"))
        }
        state.close(downTo: depth)
        // Float's own shortest form ("0.1"), which reads back as the same Float; Double(value) would print its
        // binary expansion.
        state.bytes.append(contentsOf: value.description.utf8)
    }

    private mutating func integer<I: FixedWidthInteger>(_ value: I) throws {
        state.close(downTo: depth)
        state.writeInteger(value)
    }
}
