extension Array: ProtoFieldEncodable where Element: Encodable {
    func encodeProtoField(_ encoder: ProtoFieldEncoder) throws {
        if Element.self == UInt8.self {
            unsafeBitCast(self, to: [UInt8].self).withUnsafeBytes { encoder.encodeBytes($0) }
            return
        }
        if let scalarType = Element.self as? any ProtoScalar.Type {
            encodePacked(scalarType, encoder)
            return
        }
        try encoder.encodeRepeated(self)
    }

    /// Writes numeric scalars packed: one length-delimited field holding every value back to back.
    private func encodePacked<S: ProtoScalar>(_: S.Type, _ encoder: ProtoFieldEncoder) {
        // Element == S here; the cast only names the type for the specialised writer.
        encoder.encodePacked(unsafeBitCast(self, to: [S].self))
    }
}

extension Array: ProtoFieldDecodable where Element: Decodable {
    static func decodeProtoField(_ decoder: ProtoFieldDecoder) throws -> [Element] {
        if Element.self == UInt8.self {
            return unsafeBitCast(Array<UInt8>(try decoder.decodeBytes()), to: [Element].self)
        }
        if let scalarType = Element.self as? any ProtoScalar.Type {
            return try decodeScalars(scalarType, decoder)
        }
        return try decoder.decodeRepeated(Element.self)
    }

    private static func decodeScalars<S: ProtoScalar>(_: S.Type, _ decoder: ProtoFieldDecoder) throws -> [Element] {
        unsafeBitCast(try decoder.decodeRepeatedScalars(S.self), to: [Element].self)
    }
}

/// A map key type protobuf allows: integers, `Bool` and `String`.
protocol ProtoMapKey {
    /// A sort key giving protobuf's deterministic map order (numeric, or bytewise UTF-8 for strings).
    var protoMapSortKey: ProtoMapSortKey { get }
}

/// The order of map entries when `ProtoEncoder.Options.sortsMapEntries` is on.
enum ProtoMapSortKey: Comparable {
    case signed(Int64)
    case unsigned(UInt64)
    case string(String)

    static func < (lhs: ProtoMapSortKey, rhs: ProtoMapSortKey) -> Bool {
        switch (lhs, rhs) {
        case (.signed(let a), .signed(let b)): return a < b
        case (.unsigned(let a), .unsigned(let b)): return a < b
        case (.string(let a), .string(let b)): return a.utf8.lexicographicallyPrecedes(b.utf8)
        default: return false
        }
    }
}

extension String: ProtoMapKey { var protoMapSortKey: ProtoMapSortKey { .string(self) } }
extension Bool: ProtoMapKey { var protoMapSortKey: ProtoMapSortKey { .unsigned(self ? 1 : 0) } }
extension Int: ProtoMapKey { var protoMapSortKey: ProtoMapSortKey { .signed(Int64(self)) } }
extension Int32: ProtoMapKey { var protoMapSortKey: ProtoMapSortKey { .signed(Int64(self)) } }
extension Int64: ProtoMapKey { var protoMapSortKey: ProtoMapSortKey { .signed(self) } }
extension UInt: ProtoMapKey { var protoMapSortKey: ProtoMapSortKey { .unsigned(UInt64(self)) } }
extension UInt32: ProtoMapKey { var protoMapSortKey: ProtoMapSortKey { .unsigned(UInt64(self)) } }
extension UInt64: ProtoMapKey { var protoMapSortKey: ProtoMapSortKey { .unsigned(self) } }
extension ZigZag: ProtoMapKey { var protoMapSortKey: ProtoMapSortKey { .signed(Int64(wrappedValue)) } }
extension Fixed: ProtoMapKey {
    var protoMapSortKey: ProtoMapSortKey {
        Value.isSigned ? .signed(Int64(wrappedValue)) : .unsigned(UInt64(wrappedValue))
    }
}

extension Dictionary: ProtoFieldEncodable where Key: Encodable, Value: Encodable {
    func encodeProtoField(_ encoder: ProtoFieldEncoder) throws {
        guard Key.self is any ProtoMapKey.Type else {
            throw encoder.error(.unsupportedMapKey, "map key type \(Key.self) is not an integer, Bool or String", self)
        }
        if isEmpty { return }
        guard encoder.state.options.sortsMapEntries, count > 1 else {
            for index in indices { try encoder.encodeMapEntry(key: self[index].key, value: self[index].value) }
            return
        }
        let sorted = self.sorted { a, b in
            (a.key as! any ProtoMapKey).protoMapSortKey < (b.key as! any ProtoMapKey).protoMapSortKey
        }
        for index in sorted.indices { try encoder.encodeMapEntry(key: sorted[index].key, value: sorted[index].value) }
    }
}

extension Dictionary: ProtoFieldDecodable where Key: Decodable, Value: Decodable {
    static func decodeProtoField(_ decoder: ProtoFieldDecoder) throws -> [Key: Value] {
        guard Key.self is any ProtoMapKey.Type else {
            throw decoder.error(.unsupportedMapKey, "map key type \(Key.self) is not an integer, Bool or String")
        }
        var result: [Key: Value] = [:]
        try decoder.forEachMapEntry { entry in
            let key = try entry.state.decodeValue(Key.self, from: entry.child(field: 1))
            // Later entries for the same key win, as in protobuf.
            result[key] = try entry.state.decodeValue(Value.self, from: entry.child(field: 2))
        }
        return result
    }
}
