/// A Swift value with a fixed protobuf scalar encoding: a varint, a fixed32 or a fixed64.
///
/// Internal: the encoder and decoder specialise on it so scalar fields never box or allocate.
protocol ProtoScalar: ProtoFieldEncodable, ProtoFieldDecodable {
    /// The wire type of an unpacked value.
    static var wireType: WireType { get }
    /// The proto3 default (zero), which a non-optional field does not write.
    static var protoDefault: Self { get }
    /// The value's wire bits: the varint value, or the fixed32 / fixed64 bit pattern.
    var wireBits: UInt64 { get }
    /// Rebuilds a value from its wire bits; nil when they do not fit the Swift type.
    init?(wireBits: UInt64)
}

extension ProtoScalar {
    /// Whether a non-optional field holding this value is left out (proto3 default omission).
    @inline(__always)
    var isProtoDefault: Bool { wireBits == 0 }

    func encodeProtoField(_ encoder: ProtoFieldEncoder) throws {
        encoder.encodeScalar(self)
    }

    static func decodeProtoField(_ decoder: ProtoFieldDecoder) throws -> Self {
        try decoder.decodeScalar(Self.self)
    }
}

extension Bool: ProtoScalar {
    static var wireType: WireType { .varint }
    static var protoDefault: Bool { false }
    var wireBits: UInt64 { self ? 1 : 0 }
    init?(wireBits: UInt64) { self = wireBits != 0 }
}

extension Int32: ProtoScalar {
    static var wireType: WireType { .varint }
    static var protoDefault: Int32 { 0 }
    // Negative int32 values are sign-extended to ten bytes, as protobuf does.
    var wireBits: UInt64 { UInt64(bitPattern: Int64(self)) }
    // protobuf truncates an int32 varint to its low 32 bits.
    init?(wireBits: UInt64) { self.init(truncatingIfNeeded: wireBits) }
}

extension Int64: ProtoScalar {
    static var wireType: WireType { .varint }
    static var protoDefault: Int64 { 0 }
    var wireBits: UInt64 { UInt64(bitPattern: self) }
    init?(wireBits: UInt64) { self.init(bitPattern: wireBits) }
}

extension Int: ProtoScalar {
    static var wireType: WireType { .varint }
    static var protoDefault: Int { 0 }
    var wireBits: UInt64 { UInt64(bitPattern: Int64(self)) }
    init?(wireBits: UInt64) { self.init(exactly: Int64(bitPattern: wireBits)) }
}

extension Int16: ProtoScalar {
    static var wireType: WireType { .varint }
    static var protoDefault: Int16 { 0 }
    var wireBits: UInt64 { UInt64(bitPattern: Int64(self)) }
    init?(wireBits: UInt64) { self.init(exactly: Int64(bitPattern: wireBits)) }
}

extension Int8: ProtoScalar {
    static var wireType: WireType { .varint }
    static var protoDefault: Int8 { 0 }
    var wireBits: UInt64 { UInt64(bitPattern: Int64(self)) }
    init?(wireBits: UInt64) { self.init(exactly: Int64(bitPattern: wireBits)) }
}

extension UInt32: ProtoScalar {
    static var wireType: WireType { .varint }
    static var protoDefault: UInt32 { 0 }
    var wireBits: UInt64 { UInt64(self) }
    // protobuf truncates a uint32 varint to its low 32 bits.
    init?(wireBits: UInt64) { self.init(truncatingIfNeeded: wireBits) }
}

extension UInt64: ProtoScalar {
    static var wireType: WireType { .varint }
    static var protoDefault: UInt64 { 0 }
    var wireBits: UInt64 { self }
    init?(wireBits: UInt64) { self = wireBits }
}

extension UInt: ProtoScalar {
    static var wireType: WireType { .varint }
    static var protoDefault: UInt { 0 }
    var wireBits: UInt64 { UInt64(self) }
    init?(wireBits: UInt64) { self.init(exactly: wireBits) }
}

extension UInt16: ProtoScalar {
    static var wireType: WireType { .varint }
    static var protoDefault: UInt16 { 0 }
    var wireBits: UInt64 { UInt64(self) }
    init?(wireBits: UInt64) { self.init(exactly: wireBits) }
}

extension UInt8: ProtoScalar {
    static var wireType: WireType { .varint }
    static var protoDefault: UInt8 { 0 }
    var wireBits: UInt64 { UInt64(self) }
    init?(wireBits: UInt64) { self.init(exactly: wireBits) }
}

extension Float: ProtoScalar {
    static var wireType: WireType { .fixed32 }
    static var protoDefault: Float { 0 }
    // Compared by bits, like Google's runtime: -0.0 is not the default and is written.
    var wireBits: UInt64 { UInt64(bitPattern) }
    init?(wireBits: UInt64) { self.init(bitPattern: UInt32(truncatingIfNeeded: wireBits)) }
}

extension Double: ProtoScalar {
    static var wireType: WireType { .fixed64 }
    static var protoDefault: Double { 0 }
    var wireBits: UInt64 { bitPattern }
    init?(wireBits: UInt64) { self.init(bitPattern: wireBits) }
}
