/// Reads the elements of a repeated field for a type that asks for an unkeyed container itself (arrays are
/// read directly). Scalars are read from packed runs and from unpacked entries alike.
struct ProtoUnkeyedDecodingContainer: UnkeyedDecodingContainer {
    private let decoder: ProtoFieldDecoder
    /// The next entry to look at.
    private var nextEntry: Int
    /// Inside a packed run: the next value's offset and the run's end.
    private var packedOffset = 0
    private var packedEnd = 0
    private(set) var currentIndex = 0

    init(decoder: ProtoFieldDecoder) {
        self.decoder = decoder
        self.nextEntry = Int(decoder.lo)
    }

    var codingPath: [any CodingKey] { decoder.codingPath }
    // Not counted up front: the count would come from untrusted input.
    var count: Int? { nil }

    var isAtEnd: Bool { packedOffset >= packedEnd && entry(from: nextEntry) == nil }

    private var state: ProtoDecodingState { decoder.state }

    private func entry(from index: Int) -> Int? {
        var index = index
        while index < Int(decoder.hi) {
            if state.entries[index].field == decoder.field { return index }
            index += 1
        }
        return nil
    }

    /// Moves to the next element; returns a decoder for it.
    private mutating func nextElement(scalar wireType: WireType?) throws -> ProtoFieldDecoder {
        while packedOffset >= packedEnd {
            guard let index = entry(from: nextEntry) else {
                throw DecodingError.valueNotFound(
                    Any.self, DecodingError.Context(codingPath: codingPath, debugDescription: "no more elements"))
            }
            nextEntry = index + 1
            let found = state.entries[index]
            let isPackedRun =
                wireType != nil && wireType != .lengthDelimited
                && found.wireType == WireType.lengthDelimited.rawValue
            guard isPackedRun else {
                return ProtoFieldDecoder(
                    state: state, lo: index, hi: index + 1, field: decoder.field, depth: decoder.level, mode: .element)
            }
            packedOffset = Int(found.start)
            packedEnd = Int(found.end)
        }
        let element = ProtoFieldDecoder(
            state: state, lo: packedOffset, hi: packedEnd, field: decoder.field, depth: decoder.level, mode: .packed)
        packedOffset = try decoder.skipPacked(wireType ?? .varint, at: packedOffset, end: packedEnd)
        return element
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
        return try state.decodeValue(T.self, from: element)
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
