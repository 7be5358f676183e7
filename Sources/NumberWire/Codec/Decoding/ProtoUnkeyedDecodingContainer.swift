/// Reads the elements of a repeated field for a type that asks for an unkeyed container itself (arrays are
/// read directly). Scalars are read from packed runs and from unpacked entries alike.
struct ProtoUnkeyedDecodingContainer: UnkeyedDecodingContainer {
    private let decoder: ProtoFieldDecoder
    /// The next entry of this field, or `decoder.hi` when none is left (kept current so `isAtEnd` is O(1)).
    private var nextEntry: Int
    /// Inside a packed run: the next value's offset, the run's end and its values' wire type.
    private var packedOffset = 0
    private var packedEnd = 0
    private var packedWireType = WireType.varint
    private(set) var currentIndex = 0

    init(decoder: ProtoFieldDecoder) {
        self.decoder = decoder
        self.nextEntry = Int(decoder.hi)
        self.nextEntry = entry(from: Int(decoder.lo))
    }

    var codingPath: [any CodingKey] { decoder.codingPath }
    // Not counted up front: the count would come from untrusted input.
    var count: Int? { nil }

    var isAtEnd: Bool { packedOffset >= packedEnd && nextEntry >= Int(decoder.hi) }

    private var state: ProtoDecodingState { decoder.state }

    /// The first entry of this field at or after `index`, or `decoder.hi`.
    private func entry(from index: Int) -> Int {
        var index = index
        while index < Int(decoder.hi) {
            if state.entries[index].field == decoder.field { return index }
            index += 1
        }
        return Int(decoder.hi)
    }

    /// Moves to the next element; returns a decoder for it. `wireType` is the scalar wire type the caller
    /// reads (a length-delimited entry is then a packed run), nil for anything else.
    private mutating func nextElement(scalar wireType: WireType?) throws -> ProtoFieldDecoder {
        while packedOffset >= packedEnd {
            guard nextEntry < Int(decoder.hi) else {
                throw DecodingError.valueNotFound(
                    Any.self, DecodingError.Context(codingPath: codingPath, debugDescription: "no more elements"))
            }
            let index = nextEntry
            nextEntry = entry(from: index + 1)
            let found = state.entries[index]
            guard let wireType, wireType != .lengthDelimited, found.wireType == WireType.lengthDelimited.rawValue
            else {
                return ProtoFieldDecoder(
                    state: state, lo: index, hi: index + 1, field: decoder.field, depth: decoder.level, mode: .element)
            }
            enterPackedRun(found, wireType: wireType)
        }
        let element = ProtoFieldDecoder(
            state: state, lo: packedOffset, hi: packedEnd, field: decoder.field, depth: decoder.level, mode: .packed)
        packedOffset = try decoder.skipPacked(packedWireType, at: packedOffset, end: packedEnd)
        return element
    }

    private mutating func enterPackedRun(_ entry: FieldEntry, wireType: WireType) {
        packedOffset = Int(entry.start)
        packedEnd = Int(entry.end)
        packedWireType = wireType
    }

    private mutating func scalar<S: ProtoScalar>(_: S.Type) throws -> S {
        let element = try nextElement(scalar: S.wireType)
        currentIndex += 1
        return try element.decodeScalar(S.self)
    }

    mutating func decodeNil() throws -> Bool { false }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try scalar(type) }
    mutating func decode(_ type: String.Type) throws -> String { try decode(type as Any.Type, String.self) }
    mutating func decode(_ type: Double.Type) throws -> Double { try scalar(type) }
    mutating func decode(_ type: Float.Type) throws -> Float { try scalar(type) }
    mutating func decode(_ type: Int.Type) throws -> Int { try scalar(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try scalar(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try scalar(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try scalar(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try scalar(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try scalar(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try scalar(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try scalar(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try scalar(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try scalar(type) }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try decode(type as Any.Type, T.self)
    }

    private mutating func decode<T: Decodable>(_: Any.Type, _ type: T.Type) throws -> T {
        if let scalarType = T.self as? any ProtoScalar.Type {
            return try scalar(scalarType) as! T
        }
        let element = try nextElement(scalar: nil)
        currentIndex += 1
        do {
            return try state.decodeValue(T.self, from: element)
        } catch let signal as PackedElementSignal where element.mode == .element && signal.entryIndex == Int(element.lo)
        {
            // An enum (or other single-scalar type) met a packed run: read the run value by value.
            enterPackedRun(state.entries[signal.entryIndex], wireType: signal.wireType)
            return try state.decodeValue(T.self, from: nextElement(scalar: signal.wireType))
        }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type
    ) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        let element = try nextElement(scalar: nil)
        currentIndex += 1
        return try element.container(keyedBy: NestedKey.self)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        throw decoder.error(.unsupportedShape, "protobuf has no repeated field of repeated fields (nested arrays)")
    }

    mutating func superDecoder() throws -> any Decoder {
        currentIndex += 1
        return try nextElement(scalar: nil)
    }
}
