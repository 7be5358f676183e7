import Foundation
import NumberWire
import Testing

/// proto3 decoding rules: defaults for absent fields, last value wins, merging, packed and unpacked, unknown fields.
@Suite("Codec decoding semantics")
struct DecodingSemanticsTests {
    @Test("absent fields decode to their defaults; a missing sub-message decodes from no bytes")
    func absentFields() throws {
        #expect(try ProtoDecoder().decode(Scalars.self, from: []) == Scalars())
        #expect(try ProtoDecoder().decode(Repeated.self, from: []) == Repeated())
        #expect(try ProtoDecoder().decode(Maps.self, from: []) == Maps())
        #expect(try ProtoDecoder().decode(Outer.self, from: Hex.bytes("10 05")) == Outer(inner: Inner(), tag: 5))
        #expect(try ProtoDecoder().decode(Event.self, from: []).at == Date(timeIntervalSince1970: 0))
        #expect(try ProtoDecoder().decode(Optionals.self, from: Hex.bytes("08 05")) == Optionals(i32: 5))
    }

    @Test("a scalar or string seen twice keeps the last value")
    func lastValueWins() throws {
        #expect(
            try ProtoDecoder().decode(Inner.self, from: Hex.bytes("08 01 12 01 61 08 02 12 01 62"))
                == Inner(a: 2, s: "b"))
    }

    @Test("a sub-message seen twice merges field by field")
    func subMessagesMerge() throws {
        // inner {a: 1} then inner {s: "x"} then inner {a: 3}: a is 3, s survives.
        let bytes = Hex.bytes("0a 02 08 01 0a 03 12 01 78 10 09 0a 02 08 03")
        #expect(try ProtoDecoder().decode(Outer.self, from: bytes) == Outer(inner: Inner(a: 3, s: "x"), tag: 9))
        // Repeated fields inside merged sub-messages append.
        let nested = Hex.bytes("0a 03 0a 01 01 0a 03 0a 01 02")
        let decoded = try ProtoDecoder().decode(Wrapper<Repeated>.self, from: nested)
        #expect(decoded.value.ints == [1, 2])
    }

    @Test("repeated scalars decode packed, unpacked and mixed; occurrences append")
    func packedAndUnpacked() throws {
        let unpacked = Hex.bytes("08 03 08 8e 02 08 9e a7 05")
        #expect(try ProtoDecoder().decode(Repeated.self, from: unpacked).ints == [3, 270, 86942])
        let mixed = Hex.bytes("0a 02 01 02 08 03 0a 01 04")
        #expect(try ProtoDecoder().decode(Repeated.self, from: mixed).ints == [1, 2, 3, 4])
        // An empty packed run is legal and adds nothing.
        #expect(try ProtoDecoder().decode(Repeated.self, from: Hex.bytes("0a 00 08 07")).ints == [7])
        // Enums: packed (as encoded), unpacked, and an empty run.
        #expect(try ProtoDecoder().decode(Repeated.self, from: Hex.bytes("22 02 01 02")).colors == [.red, .blue])
        #expect(
            try ProtoDecoder().decode(Repeated.self, from: Hex.bytes("20 02 20 01 22 00 22 01 02")).colors == [
                .blue, .red, .blue,
            ])
        // Fixed-width and zigzag runs.
        #expect(
            try ProtoDecoder().decode(Repeated.self, from: Hex.bytes("45 01 00 00 00 42 04 02 00 00 00")).f32 == [
                Fixed(1), Fixed(2),
            ])
        #expect(
            try ProtoDecoder().decode(Repeated.self, from: Hex.bytes("38 01 3a 01 02")).zz == [ZigZag(-1), ZigZag(1)])
        #expect(
            try ProtoDecoder().decode(Repeated.self, from: Hex.bytes("29 00 00 00 00 00 00 f8 3f")).doubles == [1.5])
    }

    @Test("repeated messages and strings append in order")
    func repeatedAppend() throws {
        let bytes = Hex.bytes("1a 02 08 01 12 01 61 1a 00 12 00 1a 02 08 02")
        let decoded = try ProtoDecoder().decode(Repeated.self, from: bytes)
        #expect(decoded.inners == [Inner(a: 1), Inner(), Inner(a: 2)])
        #expect(decoded.strings == ["a", ""])
    }

    @Test("a map key seen twice keeps the last entry; a missing key or value is its default")
    func mapEntries() throws {
        let bytes = Hex.bytes("0a 05 0a 01 61 10 01 0a 05 0a 01 61 10 02 0a 02 10 07 0a 03 0a 01 62")
        #expect(try ProtoDecoder().decode(Maps.self, from: bytes).counts == ["a": 2, "": 7, "b": 0])
    }

    static let unknownFields: [(String, String)] = [
        ("varint", "18 96 01"),
        ("fixed64", "21 01 02 03 04 05 06 07 08"),
        ("length-delimited", "2a 03 01 02 03"),
        ("fixed32", "35 01 02 03 04"),
        ("ten-byte varint", "38 ff ff ff ff ff ff ff ff ff 01"),
        ("high field number", "f8 ff ff ff 0f 01"),
        ("all of them", "18 01 21 01 02 03 04 05 06 07 08 2a 00 35 01 02 03 04"),
    ]

    @Test("unknown fields of every wire type are skipped", arguments: unknownFields)
    func unknownFieldsSkipped(name: String, hex: String) throws {
        let bytes = Hex.bytes("08 96 01 " + hex + " 12 01 78")
        #expect(try ProtoDecoder().decode(Inner.self, from: bytes) == Inner(a: 150, s: "x"), "\(name)")
    }

    @Test("Int32 and UInt32 truncate a wider varint, as protobuf does")
    func truncation() throws {
        // int32 field holding 2^32 + 5 (as an int64 writer might send).
        #expect(try ProtoDecoder().decode(Inner.self, from: Hex.bytes("08 85 80 80 80 10")).a == 5)
        // uint32 holding uint64 max.
        #expect(
            try ProtoDecoder().decode(Scalars.self, from: Hex.bytes("20 ff ff ff ff ff ff ff ff ff 01")).u32 == .max)
    }

    @Test("Swift-only widths are range checked instead of truncated")
    func narrowWidths() throws {
        let value = Narrow(u8: 255, i8: -128, u16: 65535, i16: -32768, uint: .max)
        let bytes = try ProtoEncoder().encode(value)
        #expect(try ProtoDecoder().decode(Narrow.self, from: bytes) == value)
        let error = protoError(Narrow.self, Hex.bytes("08 ac 02"))
        #expect(error?.kind == .valueOutOfRange)
        #expect(error?.fieldNumber == 1)
        #expect(protoError(Narrow.self, Hex.bytes("10 80 01"))?.kind == .valueOutOfRange)
    }

    @Test("enums through a hand-written unkeyed container: packed, unpacked, mixed, inside repeated messages")
    func customUnkeyedEnums() throws {
        let value = ColorSets(sets: [Wrapper(value: CustomColors([.red, .blue])), Wrapper(value: CustomColors([]))])
        let bytes = try ProtoEncoder().encode(value)
        #expect(Hex.string(bytes) == "0a 04 0a 02 01 02 0a 00")
        #expect(try ProtoDecoder().decode(ColorSets.self, from: bytes) == value)
        let expected = ColorSets(sets: [Wrapper(value: CustomColors([.red, .blue]))])
        #expect(try ProtoDecoder().decode(ColorSets.self, from: Hex.bytes("0a 04 08 01 08 02")) == expected)
        #expect(try ProtoDecoder().decode(ColorSets.self, from: Hex.bytes("0a 05 08 01 0a 01 02")) == expected)
        let twoRuns = ColorSets(sets: [Wrapper(value: CustomColors([.red, .blue, .blue]))])
        #expect(try ProtoDecoder().decode(ColorSets.self, from: Hex.bytes("0a 07 0a 02 01 02 0a 01 02")) == twoRuns)
    }

    @Test("superEncoder and superDecoder share the message")
    func superCoders() throws {
        let value = Derived(base: 3, extra: "e")
        let bytes = try ProtoEncoder().encode(value)
        #expect(Hex.string(bytes) == "08 03 12 01 65")
        #expect(try ProtoDecoder().decode(Derived.self, from: bytes) == value)
    }
}

/// A message with one field 1 of any type.
struct Wrapper<Value: Codable & Equatable>: Codable, Equatable {
    enum CodingKeys: Int, CodingKey { case value = 1 }
    var value: Value
}

/// Inheritance-style coding through superEncoder()/superDecoder().
struct Derived: Codable, Equatable {
    struct Base: Codable, Equatable {
        enum CodingKeys: Int, CodingKey { case base = 1 }
        var base: Int32
    }
    enum CodingKeys: Int, CodingKey { case extra = 2 }
    var base: Int32
    var extra: String

    init(base: Int32, extra: String) {
        self.base = base
        self.extra = extra
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        base = try Base(from: container.superDecoder()).base
        extra = try container.decode(String.self, forKey: .extra)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try Base(base: base).encode(to: container.superEncoder())
        try container.encode(extra, forKey: .extra)
    }
}
