/// An integer type that `Fixed` can wrap: `UInt32` (fixed32), `Int32` (sfixed32), `UInt64` (fixed64) or
/// `Int64` (sfixed64).
public protocol ProtoFixedInteger: FixedWidthInteger, Codable, Sendable {}

extension UInt32: ProtoFixedInteger {}
extension Int32: ProtoFixedInteger {}
extension UInt64: ProtoFixedInteger {}
extension Int64: ProtoFixedInteger {}

/// An integer written as protobuf's fixed-width little-endian encoding: `fixed32`/`sfixed32` for 32-bit
/// values, `fixed64`/`sfixed64` for 64-bit ones. Cheaper than a varint for large or random values (hashes, ids).
///
/// Use it as a field type or as a property wrapper; other coders (JSON) see the plain integer:
/// ```swift
/// struct Blob: Codable {
///     enum CodingKeys: Int, CodingKey { case checksum = 1, shard = 2 }
///     var checksum: Fixed<UInt64>    // fixed64 checksum = 1;
///     @Fixed var shard: Int32        // sfixed32 shard = 2;
/// }
/// ```
@propertyWrapper
public struct Fixed<Value: ProtoFixedInteger>: Codable, Sendable, Hashable {
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

extension Fixed: ExpressibleByIntegerLiteral {
    /// Wraps an integer literal.
    public init(integerLiteral value: Value.IntegerLiteralType) {
        self.wrappedValue = Value(integerLiteral: value)
    }
}

extension Fixed: ProtoScalar {
    static var wireType: WireType { Value.bitWidth == 32 ? .fixed32 : .fixed64 }
    static var protoDefault: Fixed { Fixed(Value.zero) }
    var wireBits: UInt64 { UInt64(truncatingIfNeeded: wrappedValue) & Self.mask }
    init?(wireBits: UInt64) { self.init(Value(truncatingIfNeeded: wireBits)) }

    /// Keeps only the value's own width, so a negative sfixed32 stays four bytes of bits.
    private static var mask: UInt64 { Value.bitWidth >= 64 ? .max : (UInt64(1) << Value.bitWidth) - 1 }
}
