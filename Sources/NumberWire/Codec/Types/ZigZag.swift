/// An integer type that `ZigZag` can wrap: `Int32` (sint32) or `Int64` (sint64).
public protocol ProtoZigZagInteger: FixedWidthInteger, SignedInteger, Codable, Sendable {}

extension Int32: ProtoZigZagInteger {}
extension Int64: ProtoZigZagInteger {}

/// A signed integer written with protobuf's zigzag encoding (`sint32` / `sint64`), so small negative values
/// take one byte instead of ten.
///
/// Use it as a field type or as a property wrapper; other coders (JSON) see the plain integer:
/// ```swift
/// struct Move: Codable {
///     enum CodingKeys: Int, CodingKey { case delta = 1, offset = 2 }
///     var delta: ZigZag<Int64>       // sint64 delta = 1;
///     @ZigZag var offset: Int32      // sint32 offset = 2;
/// }
/// ```
@propertyWrapper
public struct ZigZag<Value: ProtoZigZagInteger>: Codable, Sendable, Hashable {
    /// The integer.
    public var wrappedValue: Value

    /// Wraps `wrappedValue` (property-wrapper form).
    public init(wrappedValue: Value) {
        self.wrappedValue = wrappedValue
    }

    /// Wraps `value`.
    public init(_ value: Value) {
        self.wrappedValue = value
    }

    /// Decodes the plain integer.
    public init(from decoder: any Decoder) throws {
        wrappedValue = try decoder.singleValueContainer().decode(Value.self)
    }

    /// Encodes the plain integer.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(wrappedValue)
    }
}

extension ZigZag: ExpressibleByIntegerLiteral {
    /// Wraps an integer literal.
    public init(integerLiteral value: Value.IntegerLiteralType) {
        self.wrappedValue = Value(integerLiteral: value)
    }
}

extension ZigZag: ProtoScalar {
    static var wireType: WireType { .varint }
    static var protoDefault: ZigZag { ZigZag(Value.zero) }

    var wireBits: UInt64 {
        // (n << 1) ^ (n >> 63) on the sign-extended value equals sint32's 32-bit zigzag for Int32 values.
        let wide = Int64(wrappedValue)
        return UInt64(bitPattern: (wide << 1) ^ (wide >> 63))
    }

    init?(wireBits: UInt64) {
        // protobuf truncates sint32 to its low 32 bits before unzigzagging.
        let bits = Value.bitWidth >= 64 ? wireBits : wireBits & (UInt64(1) << Value.bitWidth - 1)
        let wide = Int64(bitPattern: bits >> 1) ^ -Int64(bitPattern: bits & 1)
        guard let value = Value(exactly: wide) else { return nil }
        self.init(value)
    }
}
