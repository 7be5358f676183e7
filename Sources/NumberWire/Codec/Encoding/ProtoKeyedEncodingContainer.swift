/// Writes the fields of one message; each key's integer value is the protobuf field number.
struct ProtoKeyedEncodingContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let state: ProtoEncodingState
    /// How many regions are open at this message's level (0 for the top-level message).
    let depth: Int

    var codingPath: [any CodingKey] { state.codingPath }

    @inline(__always)
    // An autoclosure: passing a large struct as `Any` boxes it on the heap, on every call, error or not.
    private func field(_ key: Key, _ value: @autoclosure () -> Any) throws -> UInt32 {
        guard let field = Wire.fieldNumber(of: key) else { throw state.invalidKey(key, value: value()) }
        return field
    }

    @inline(__always)
    private func scalar<S: ProtoScalar>(_ value: S, _ key: Key, explicit: Bool) throws {
        let field = try field(key, value)
        state.close(downTo: depth)
        state.writeScalar(value, field: field, explicit: explicit)
    }

    private func string(_ value: String, _ key: Key, explicit: Bool) throws {
        let field = try field(key, value)
        state.close(downTo: depth)
        state.writeString(value, field: field, explicit: explicit)
    }

    private func value<T: Encodable>(_ value: T, _ key: Key, explicit: Bool) throws {
        let field = try field(key, value)
        state.codingPath.append(key)
        defer { state.codingPath.removeLast() }
        try state.encodeValue(
            value, encoder: ProtoFieldEncoder(state: state, field: field, depth: depth, explicit: explicit))
    }

    private func encoder(for key: Key) -> ProtoFieldEncoder {
        let field = Wire.fieldNumber(of: key) ?? 1
        if Wire.fieldNumber(of: key) == nil { state.deferError(state.invalidKey(key, value: ())) }
        return ProtoFieldEncoder(state: state, field: field, depth: depth, explicit: false)
    }

    // An absent value is simply not written.
    mutating func encodeNil(forKey key: Key) throws {}

    mutating func encode(_ value: Bool, forKey key: Key) throws { try scalar(value, key, explicit: false) }
    mutating func encode(_ value: String, forKey key: Key) throws { try string(value, key, explicit: false) }
    mutating func encode(_ value: Double, forKey key: Key) throws { try scalar(value, key, explicit: false) }
    mutating func encode(_ value: Float, forKey key: Key) throws { try scalar(value, key, explicit: false) }
    mutating func encode(_ value: Int, forKey key: Key) throws { try scalar(value, key, explicit: false) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try scalar(value, key, explicit: false) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try scalar(value, key, explicit: false) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try scalar(value, key, explicit: false) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try scalar(value, key, explicit: false) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try scalar(value, key, explicit: false) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try scalar(value, key, explicit: false) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try scalar(value, key, explicit: false) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try scalar(value, key, explicit: false) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try scalar(value, key, explicit: false) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try self.value(value, key, explicit: false)
    }

    // A set Optional has explicit presence (proto3 `optional`): written even when it holds the default.
    mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws {
        if let value { try scalar(value, key, explicit: true) }
    }
    mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws {
        if let value { try string(value, key, explicit: true) }
    }
    mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws {
        if let value { try scalar(value, key, explicit: true) }
    }
    mutating func encodeIfPresent(_ value: Float?, forKey key: Key) throws {
        if let value { try scalar(value, key, explicit: true) }
    }
    mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws {
        if let value { try scalar(value, key, explicit: true) }
    }
    mutating func encodeIfPresent(_ value: Int8?, forKey key: Key) throws {
        if let value { try scalar(value, key, explicit: true) }
    }
    mutating func encodeIfPresent(_ value: Int16?, forKey key: Key) throws {
        if let value { try scalar(value, key, explicit: true) }
    }
    mutating func encodeIfPresent(_ value: Int32?, forKey key: Key) throws {
        if let value { try scalar(value, key, explicit: true) }
    }
    mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws {
        if let value { try scalar(value, key, explicit: true) }
    }
    mutating func encodeIfPresent(_ value: UInt?, forKey key: Key) throws {
        if let value { try scalar(value, key, explicit: true) }
    }
    mutating func encodeIfPresent(_ value: UInt8?, forKey key: Key) throws {
        if let value { try scalar(value, key, explicit: true) }
    }
    mutating func encodeIfPresent(_ value: UInt16?, forKey key: Key) throws {
        if let value { try scalar(value, key, explicit: true) }
    }
    mutating func encodeIfPresent(_ value: UInt32?, forKey key: Key) throws {
        if let value { try scalar(value, key, explicit: true) }
    }
    mutating func encodeIfPresent(_ value: UInt64?, forKey key: Key) throws {
        if let value { try scalar(value, key, explicit: true) }
    }
    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws {
        if let value { try self.value(value, key, explicit: true) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        encoder(for: key).container(keyedBy: NestedKey.self)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        encoder(for: key).unkeyedContainer()
    }

    // The superclass's fields go into this same message (protobuf has no inheritance to mirror).
    mutating func superEncoder() -> any Encoder {
        ProtoFieldEncoder(state: state, field: 0, depth: depth, explicit: false)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        encoder(for: key)
    }
}
