/// A type the protobuf encoder writes itself instead of calling `encode(to:)`: scalars, strings, bytes,
/// timestamps, repeated fields and maps, whose wire shape Codable alone cannot express.
protocol ProtoFieldEncodable {
    /// Writes `self` as the field `encoder` stands for.
    func encodeProtoField(_ encoder: ProtoFieldEncoder) throws
}

/// A type the protobuf decoder reads itself instead of calling `init(from:)`.
protocol ProtoFieldDecodable {
    /// Reads the field `decoder` stands for (its default when the field is absent).
    static func decodeProtoField(_ decoder: ProtoFieldDecoder) throws -> Self
}

extension String: ProtoFieldEncodable, ProtoFieldDecodable {
    func encodeProtoField(_ encoder: ProtoFieldEncoder) throws {
        encoder.encodeString(self)
    }

    static func decodeProtoField(_ decoder: ProtoFieldDecoder) throws -> String {
        try decoder.decodeString()
    }
}
