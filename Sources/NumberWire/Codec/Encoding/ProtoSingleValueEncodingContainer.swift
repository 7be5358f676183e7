/// Writes a single value as the field its encoder stands for (enums, wrappers, `Optional`).
struct ProtoSingleValueEncodingContainer: SingleValueEncodingContainer {
    let encoder: ProtoFieldEncoder

    var codingPath: [any CodingKey] { encoder.codingPath }

    // An absent value is simply not written.
    mutating func encodeNil() throws {}

    mutating func encode(_ value: Bool) throws { encoder.encodeScalar(value) }
    mutating func encode(_ value: String) throws { encoder.encodeString(value) }
    mutating func encode(_ value: Double) throws { encoder.encodeScalar(value) }
    mutating func encode(_ value: Float) throws { encoder.encodeScalar(value) }
    mutating func encode(_ value: Int) throws { encoder.encodeScalar(value) }
    mutating func encode(_ value: Int8) throws { encoder.encodeScalar(value) }
    mutating func encode(_ value: Int16) throws { encoder.encodeScalar(value) }
    mutating func encode(_ value: Int32) throws { encoder.encodeScalar(value) }
    mutating func encode(_ value: Int64) throws { encoder.encodeScalar(value) }
    mutating func encode(_ value: UInt) throws { encoder.encodeScalar(value) }
    mutating func encode(_ value: UInt8) throws { encoder.encodeScalar(value) }
    mutating func encode(_ value: UInt16) throws { encoder.encodeScalar(value) }
    mutating func encode(_ value: UInt32) throws { encoder.encodeScalar(value) }
    mutating func encode(_ value: UInt64) throws { encoder.encodeScalar(value) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        try encoder.state.encodeValue(value, encoder: encoder)
    }
}
