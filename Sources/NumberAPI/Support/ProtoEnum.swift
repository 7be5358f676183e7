/// A protobuf enum as an open Swift type: any `Int32` is representable, so a value added by a newer peer decodes
/// instead of failing (proto3 open-enum semantics). On the wire it is a varint.
public protocol ProtoEnum: RawRepresentable, Codable, Sendable, Hashable, CustomStringConvertible
where RawValue == Int32 {
    /// Wraps a raw value, known or not.
    init(rawValue: Int32)
    /// Every value this version knows, with its `.proto` name.
    static var known: [(value: Self, name: String)] { get }
}

extension ProtoEnum {
    /// The `.proto` name of the value (`NUMBER_STATUS_ACTIVE`), or its number when this version doesn't know it.
    public var description: String {
        Self.known.first { $0.value == self }?.name ?? String(rawValue)
    }

    /// Whether this version of the API knows the value.
    public var isKnown: Bool { Self.known.contains { $0.value == self } }

    /// Decodes the raw varint value.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        self.init(rawValue: try container.decode(Int32.self))
    }

    /// Encodes the raw varint value; for encoders that ask for names (`CodingUserInfoKey.protoEnumNames`, e.g. JSON
    /// for people and scripts) the `.proto` name instead, as protobuf's JSON mapping does.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if encoder.userInfo[.protoEnumNames] as? Bool == true, isKnown {
            try container.encode(description)
        } else {
            try container.encode(rawValue)
        }
    }
}

extension CodingUserInfoKey {
    /// Set to `true` in an encoder's `userInfo` to have protobuf enums written as their `.proto` names.
    public static let protoEnumNames = CodingUserInfoKey(rawValue: "numberd.protoEnumNames")!
}
