/// Reads a single value from the field its decoder stands for (enums, wrappers, `Optional`).
struct ProtoSingleValueDecodingContainer: SingleValueDecodingContainer {
    let decoder: ProtoFieldDecoder

    var codingPath: [any CodingKey] { decoder.codingPath }

    // Only an absent field is nil: protobuf has no null.
    func decodeNil() -> Bool {
        switch decoder.mode {
        case .packed, .sameMessage: return false
        case .field, .element:
            return decoder.state.lastEntry(field: decoder.field, lo: Int(decoder.lo), hi: Int(decoder.hi)) == nil
        }
    }

    func decode(_ type: Bool.Type) throws -> Bool { try decoder.decodeScalar(type) }
    func decode(_ type: String.Type) throws -> String { try decoder.decodeString() }
    func decode(_ type: Double.Type) throws -> Double { try decoder.decodeScalar(type) }
    func decode(_ type: Float.Type) throws -> Float { try decoder.decodeScalar(type) }
    func decode(_ type: Int.Type) throws -> Int { try decoder.decodeScalar(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try decoder.decodeScalar(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try decoder.decodeScalar(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try decoder.decodeScalar(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try decoder.decodeScalar(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try decoder.decodeScalar(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try decoder.decodeScalar(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try decoder.decodeScalar(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try decoder.decodeScalar(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try decoder.decodeScalar(type) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.state.decodeValue(T.self, from: decoder) }
}
