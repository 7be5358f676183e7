/// Reads the fields of one indexed message; each key's integer value is the protobuf field number.
/// An absent field reads as its proto3 default, never as `keyNotFound`.
struct ProtoKeyedDecodingContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let state: ProtoDecodingState
    /// This message's entries in `state.entries`.
    let entries: Range<Int>
    /// This message's depth (the top-level message is 0).
    let depth: Int

    var codingPath: [any CodingKey] { Array(state.codingPath.prefix(depth)) }

    var allKeys: [Key] {
        var seen = Set<UInt32>()
        return entries.compactMap { index in
            let field = state.entries[index].field
            guard seen.insert(field).inserted else { return nil }
            return Key(intValue: Int(field))
        }
    }

    @inline(__always)
    private func field(_ key: Key) throws -> UInt32 {
        guard let field = Wire.fieldNumber(of: key) else {
            throw state.fail(
                .invalidFieldKey,
                "CodingKey '\(key.stringValue)' has no protobuf field number in 1...\(Wire.fieldNumberMax): "
                    + "declare `enum CodingKeys: Int, CodingKey` with the .proto field numbers",
                field: nil, offset: entries.isEmpty ? 0 : Int(state.entries[entries.lowerBound].start))
        }
        return field
    }

    @inline(__always)
    private func decoder(_ key: Key) throws -> ProtoFieldDecoder {
        ProtoFieldDecoder(
            state: state, lo: entries.lowerBound, hi: entries.upperBound, field: try field(key), depth: depth + 1)
    }

    @inline(__always)
    private func scalar<S: ProtoScalar>(_ type: S.Type, _ key: Key) throws -> S {
        try decoder(key).decodeScalar(S.self)
    }

    func contains(_ key: Key) -> Bool {
        guard let field = Wire.fieldNumber(of: key) else { return false }
        return state.lastEntry(field: field, lo: entries.lowerBound, hi: entries.upperBound) != nil
    }

    // Only an absent field is nil: protobuf has no null.
    func decodeNil(forKey key: Key) throws -> Bool { !contains(key) }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try scalar(type, key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try decoder(key).decodeString() }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try scalar(type, key) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try scalar(type, key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try scalar(type, key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try scalar(type, key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try scalar(type, key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try scalar(type, key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try scalar(type, key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try scalar(type, key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try scalar(type, key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try scalar(type, key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try scalar(type, key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try scalar(type, key) }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        let decoder = try decoder(key)
        state.enter(key, depth: depth)
        return try state.decodeValue(T.self, from: decoder)
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let field = Wire.fieldNumber(of: key) else { return nil }
        // Present only with the wire type the value is read from, when the type tells it; a mistyped occurrence is
        // refused, as on the generated path (`ProtoFieldReader.contains`).
        let (lo, hi) = (entries.lowerBound, entries.upperBound)
        let present =
            try ProtoDecodingState.occurrenceWireType(T.self).map {
                try state.presence(field: field, wireType: $0, lo: lo, hi: hi)
            } ?? (state.lastEntry(field: field, lo: lo, hi: hi) != nil)
        guard present else { return nil }
        return try decode(T.self, forKey: key)
    }

    // The standard library's defaults for these ask `contains`, which cannot know the type: route them through the
    // generic one.
    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try typed(type, key) }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try typed(type, key) }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try typed(type, key) }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? { try typed(type, key) }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try typed(type, key) }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try typed(type, key) }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try typed(type, key) }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try typed(type, key) }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try typed(type, key) }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try typed(type, key) }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try typed(type, key) }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try typed(type, key) }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try typed(type, key) }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try typed(type, key) }

    @inline(__always)
    private func typed<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T? {
        try decodeIfPresent(type as T.Type, forKey: key)
    }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type, forKey key: Key
    ) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        let decoder = try decoder(key)
        state.enter(key, depth: depth)
        return try decoder.container(keyedBy: NestedKey.self)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try decoder(key).unkeyedContainer()
    }

    // The superclass's fields come from this same message (see ProtoKeyedEncodingContainer.superEncoder).
    func superDecoder() throws -> any Decoder {
        ProtoFieldDecoder(
            state: state, lo: entries.lowerBound, hi: entries.upperBound, field: 0, depth: depth, mode: .sameMessage)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        try decoder(key)
    }
}
