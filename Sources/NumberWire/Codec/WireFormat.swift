/// The protobuf wire types (the low three bits of a field tag).
enum WireType: UInt8, Sendable {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case startGroup = 3
    case endGroup = 4
    case fixed32 = 5
}

/// Protobuf wire-format constants and byte-level helpers shared by the encoder and the decoder.
enum Wire {
    /// The largest field number protobuf allows (2^29 - 1).
    static let fieldNumberMax = (1 << 29) - 1
    /// A varint never takes more than ten bytes (64 bits, seven per byte).
    static let varintLengthMax = 10
    /// The longest tag or length prefix (a 32-bit value, five bytes of seven bits); longer ones are refused as
    /// Google's C++ and upb parsers refuse them.
    static let tagLengthMax = 5

    /// The number of bytes `value` takes as a varint.
    @inline(__always)
    static func varintSize(_ value: UInt64) -> Int {
        // Bits needed (at least one), seven per byte: (bits + 6) / 7.
        let bits = 64 - (value | 1).leadingZeroBitCount
        return (bits + 6) / 7
    }

    /// The tag of a field: its number shifted left by three, ored with the wire type.
    @inline(__always)
    static func tag(field: UInt32, wireType: WireType) -> UInt64 {
        UInt64(field) << 3 | UInt64(wireType.rawValue)
    }

    /// Maps a CodingKey to its protobuf field number, or nil when it has none in 1...2^29-1.
    @inline(__always)
    static func fieldNumber(of key: some CodingKey) -> UInt32? {
        guard let value = key.intValue, value >= 1, value <= fieldNumberMax else { return nil }
        return UInt32(value)
    }
}

extension Array where Element == UInt8 {
    /// Appends `value` as a base-128 varint, least significant group first.
    @inline(__always)
    mutating func appendVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        append(UInt8(truncatingIfNeeded: value))
    }

    /// Appends the low 32 bits of `value` little endian (wire type fixed32).
    @inline(__always)
    mutating func appendFixed32(_ value: UInt32) {
        append(UInt8(truncatingIfNeeded: value))
        append(UInt8(truncatingIfNeeded: value >> 8))
        append(UInt8(truncatingIfNeeded: value >> 16))
        append(UInt8(truncatingIfNeeded: value >> 24))
    }

    /// Appends `value` little endian (wire type fixed64).
    @inline(__always)
    mutating func appendFixed64(_ value: UInt64) {
        appendFixed32(UInt32(truncatingIfNeeded: value))
        appendFixed32(UInt32(truncatingIfNeeded: value >> 32))
    }

    /// Appends a field tag.
    @inline(__always)
    mutating func appendTag(field: UInt32, wireType: WireType) {
        appendVarint(Wire.tag(field: field, wireType: wireType))
    }
}
