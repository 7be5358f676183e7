import Foundation
import NIOCore
import NumberWire
import Testing

/// Golden bytes pin the wire format. Each expectation was computed by hand from the protobuf encoding spec and
/// checked against Google's runtime (python protobuf 7.36 / upb, `SerializeToString(deterministic=True)`) on
/// the equivalent golden.proto messages described in CodecFixtures.swift.
@Suite("Codec golden bytes")
struct GoldenBytesTests {
    static let scalarCases: [(String, Scalars, String)] = [
        ("int32 150 (spec example)", Scalars(i32: 150), "10 96 01"),
        ("int32 -1 is ten bytes", Scalars(i32: -1), "10 ff ff ff ff ff ff ff ff ff 01"),
        ("int64 -2", Scalars(i64: -2), "18 fe ff ff ff ff ff ff ff ff 01"),
        ("uint32 max", Scalars(u32: .max), "20 ff ff ff ff 0f"),
        ("uint64 max", Scalars(u64: .max), "28 ff ff ff ff ff ff ff ff ff 01"),
        ("bool", Scalars(b: true), "08 01"),
        ("float 1", Scalars(f: 1), "35 00 00 80 3f"),
        ("float -0 is not the default", Scalars(f: -0.0), "35 00 00 00 80"),
        ("double 1", Scalars(d: 1), "39 00 00 00 00 00 00 f0 3f"),
        ("string unicode", Scalars(s: "héllo 🌍"), "42 0b 68 c3 a9 6c 6c 6f 20 f0 9f 8c 8d"),
        ("bytes and data", Scalars(bytes: [0, 0xff], data: Data([1])), "4a 02 00 ff 52 01 01"),
        ("Int as int64", Scalars(int: -1), "58 ff ff ff ff ff ff ff ff ff 01"),
        ("enum", Scalars(color: .blue), "60 02"),
        ("sint32 -1", Scalars(sint32: ZigZag(-1)), "68 01"),
        ("sint32 min", Scalars(sint32: ZigZag(.min)), "68 ff ff ff ff 0f"),
        ("sint64 max", Scalars(sint64: .max), "70 fe ff ff ff ff ff ff ff ff 01"),
        ("sint64 min", Scalars(sint64: .min), "70 ff ff ff ff ff ff ff ff ff 01"),
        ("fixed32", Scalars(fixed32: Fixed(0x1234_5678)), "7d 78 56 34 12"),
        ("fixed64", Scalars(fixed64: 0x0102_0304_0506_0708), "81 01 08 07 06 05 04 03 02 01"),
        ("sfixed32 -1", Scalars(sfixed32: Fixed(-1)), "8d 01 ff ff ff ff"),
        ("sfixed64 -2", Scalars(sfixed64: -2), "91 01 fe ff ff ff ff ff ff ff"),
        ("all defaults write nothing", Scalars(), ""),
    ]

    @Test("scalar fields", arguments: scalarCases)
    func scalars(name: String, value: Scalars, hex: String) throws {
        #expect(Hex.string(try ProtoEncoder().encode(value)) == hex, "\(name)")
        #expect(try ProtoDecoder().decode(Scalars.self, from: Hex.bytes(hex)) == value, "\(name)")
    }

    @Test("spec examples: Inner(a: 150) and a string")
    func specExamples() throws {
        #expect(Hex.string(try ProtoEncoder().encode(Inner(a: 150))) == "08 96 01")
        #expect(Hex.string(try ProtoEncoder().encode(Inner(s: "testing"))) == "12 07 74 65 73 74 69 6e 67")
    }

    @Test("nested messages, empty and longer than 127 bytes")
    func nested() throws {
        #expect(Hex.string(try ProtoEncoder().encode(Outer(inner: Inner(a: 150)))) == "0a 03 08 96 01")
        // A set message field is written even when empty (it has presence).
        #expect(Hex.string(try ProtoEncoder().encode(Outer())) == "0a 00")
        let big = Outer(inner: Inner(s: String(repeating: "x", count: 200)), tag: 7)
        let bytes = try ProtoEncoder().encode(big)
        // The one reserved length byte grew to two: everything after it moved right by one.
        #expect(Hex.string(Array(bytes.prefix(7))) == "0a cb 01 12 c8 01 78")
        #expect(bytes.count == 3 + 203 + 2)
        #expect(Hex.string(Array(bytes.suffix(2))) == "10 07")
        #expect(try ProtoDecoder().decode(Outer.self, from: bytes) == big)
    }

    @Test("proto3 optional: a set default is written")
    func optionals() throws {
        let zeros = Optionals(i32: 0, s: "", b: false, color: .unspecified, zz: ZigZag(0))
        #expect(Hex.string(try ProtoEncoder().encode(zeros)) == "08 00 12 00 18 00 28 00 38 00")
        #expect(try ProtoDecoder().decode(Optionals.self, from: ProtoEncoder().encode(zeros)) == zeros)
        #expect(try ProtoEncoder().encode(Optionals()).isEmpty)
        #expect(try ProtoDecoder().decode(Optionals.self, from: []) == Optionals())
    }

    @Test("repeated fields: packed numbers, one field per string, message and bytes")
    func repeated() throws {
        #expect(Hex.string(try ProtoEncoder().encode(Repeated(ints: [3, 270, 86942]))) == "0a 06 03 8e 02 9e a7 05")
        #expect(
            Hex.string(try ProtoEncoder().encode(Repeated(ints: [-1, 1]))) == "0a 0b ff ff ff ff ff ff ff ff ff 01 01")
        let mix = Repeated(
            strings: ["a", ""], inners: [Inner(a: 1), Inner()], colors: [.red, .blue], doubles: [1.5],
            bools: [true, false], zz: [ZigZag(-1), ZigZag(1)], f32: [Fixed(1)], blobs: [Data(), Data([0x7a])])
        let expected =
            "12 01 61 12 00 1a 02 08 01 1a 00 22 02 01 02 2a 08 00 00 00 00 00 00 f8 3f 32 02 01 00 3a 02 01 02 "
            + "42 04 01 00 00 00 4a 00 4a 01 7a"
        #expect(Hex.string(try ProtoEncoder().encode(mix)) == expected)
        #expect(try ProtoDecoder().decode(Repeated.self, from: Hex.bytes(expected)) == mix)
        #expect(try ProtoEncoder().encode(Repeated()).isEmpty)
    }

    @Test("maps: entries in key order, key and value always written")
    func maps() throws {
        let maps = Maps(counts: ["b": 2, "a": 1], names: [-1: "neg", 5: ""], inners: ["k": Inner(a: 3)])
        let expected =
            "0a 05 0a 01 61 10 01 0a 05 0a 01 62 10 02 12 10 08 ff ff ff ff ff ff ff ff ff 01 12 03 6e 65 67 "
            + "12 04 08 05 12 00 1a 07 0a 01 6b 12 02 08 03"
        #expect(Hex.string(try ProtoEncoder().encode(maps)) == expected)
        #expect(try ProtoDecoder().decode(Maps.self, from: Hex.bytes(expected)) == maps)
        #expect(Hex.string(try ProtoEncoder().encode(Maps(counts: ["": 0]))) == "0a 04 0a 00 10 00")
    }

    static let timestampCases: [(Event, String)] = [
        (Event(at: Date(timeIntervalSince1970: 1.5), name: "x"), "0a 08 08 01 10 80 ca b5 ee 01 12 01 78"),
        (Event(), "0a 00"),
        (Event(at: Date(timeIntervalSince1970: -0.5)), "0a 11 08 ff ff ff ff ff ff ff ff ff 01 10 80 ca b5 ee 01"),
        (
            Event(at: Date(timeIntervalSince1970: 1_795_000_000.125), name: "launch"),
            "0a 0b 08 c0 8d f6 d7 06 10 c0 b2 cd 3b 12 06 6c 61 75 6e 63 68"
        ),
        (Event(at: Date(timeIntervalSince1970: -62_135_596_800)), "0a 0b 08 80 92 b8 c3 98 fe ff ff ff 01"),
        (Event(at: Date(timeIntervalSince1970: 253_402_300_799)), "0a 07 08 ff 82 d1 ff af 07"),
    ]

    @Test("Date as google.protobuf.Timestamp", arguments: timestampCases)
    func timestamps(event: Event, hex: String) throws {
        #expect(Hex.string(try ProtoEncoder().encode(event)) == hex)
        let decoded = try ProtoDecoder().decode(Event.self, from: Hex.bytes(hex))
        #expect(abs(decoded.at.timeIntervalSince(event.at)) < 1e-6)
        #expect(decoded.name == event.name)
    }

    @Test("largest field number 2^29-1 has a five-byte tag")
    func largestField() throws {
        let bytes = try ProtoEncoder().encode(LargestFieldNumber(big: 1))
        #expect(Hex.string(bytes) == "f8 ff ff ff 0f 01")
        #expect(try ProtoDecoder().decode(LargestFieldNumber.self, from: bytes) == LargestFieldNumber(big: 1))
    }

    @Test("a value asking twice for its keyed container writes one message")
    func twoContainers() throws {
        let value = Outer2(inner: TwoContainers(first: 1, second: "b"))
        #expect(Hex.string(try ProtoEncoder().encode(value)) == "0a 05 08 01 12 01 62")
        #expect(try ProtoDecoder().decode(Outer2.self, from: ProtoEncoder().encode(value)) == value)
    }

    @Test("a type writing its own unkeyed container gets a packed repeated field")
    func customUnkeyed() throws {
        let value = CustomList(values: .init(items: [1, -1, 300]))
        let bytes = try ProtoEncoder().encode(value)
        #expect(Hex.string(bytes) == "0a 0d 01 ff ff ff ff ff ff ff ff ff 01 ac 02")
        #expect(try ProtoDecoder().decode(CustomList.self, from: bytes) == value)
        // Unpacked elements read the same.
        #expect(try ProtoDecoder().decode(CustomList.self, from: Hex.bytes("08 01 08 02")).values.items == [1, 2])
    }

    @Test("ByteBuffer and any byte collection")
    func byteBufferAndCollections() throws {
        var buffer = ByteBuffer(bytes: [0xaa])
        try ProtoEncoder().encode(Inner(a: 150), into: &buffer)
        #expect(buffer.readableBytesView.elementsEqual([0xaa, 0x08, 0x96, 0x01]))
        buffer.moveReaderIndex(forwardBy: 1)
        #expect(try ProtoDecoder().decode(Inner.self, from: buffer) == Inner(a: 150))
        #expect(try ProtoDecoder().decode(Inner.self, from: Data([0x08, 0x96, 0x01])) == Inner(a: 150))
        let slice = ([0xff, 0x08, 0x96, 0x01] as [UInt8])[1...]
        #expect(try ProtoDecoder().decode(Inner.self, from: slice) == Inner(a: 150))
        #expect(
            try ProtoDecoder().decode(Inner.self, from: ([0x08, 0x96, 0x01] as [UInt8]).lazy.map { $0 })
                == Inner(a: 150))
    }
}

struct Outer2: Codable, Equatable {
    enum CodingKeys: Int, CodingKey { case inner = 1 }
    var inner: TwoContainers
}
