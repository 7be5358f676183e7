import Foundation
import NumberWire

// Swift mirrors of the messages in golden.proto (see GoldenBytesTests); field numbers are the raw values.

enum Color: Int32, Codable, Equatable, CaseIterable {
    case unspecified = 0
    case red = 1
    case blue = 2
}

struct Inner: Codable, Equatable {
    enum CodingKeys: Int, CodingKey { case a = 1, s = 2 }
    var a: Int32 = 0
    var s: String = ""
}

struct Outer: Codable, Equatable {
    enum CodingKeys: Int, CodingKey { case inner = 1, tag = 2 }
    var inner = Inner()
    var tag: Int32 = 0
}

struct Scalars: Codable, Equatable {
    enum CodingKeys: Int, CodingKey {
        case b = 1, i32, i64, u32, u64, f, d, s, bytes, data, int, color, sint32, sint64, fixed32, fixed64
        case sfixed32, sfixed64
    }
    var b = false
    var i32: Int32 = 0
    var i64: Int64 = 0
    var u32: UInt32 = 0
    var u64: UInt64 = 0
    var f: Float = 0
    var d: Double = 0
    var s = ""
    var bytes: [UInt8] = []
    var data = Data()
    var int = 0
    var color = Color.unspecified
    var sint32: ZigZag<Int32> = 0
    @ZigZag var sint64: Int64 = 0
    var fixed32: Fixed<UInt32> = 0
    @Fixed var fixed64: UInt64 = 0
    var sfixed32: Fixed<Int32> = 0
    @Fixed var sfixed64: Int64 = 0
}

struct Optionals: Codable, Equatable {
    enum CodingKeys: Int, CodingKey { case i32 = 1, s, b, msg, color, date, zz }
    var i32: Int32?
    var s: String?
    var b: Bool?
    var msg: Inner?
    var color: Color?
    var date: Date?
    var zz: ZigZag<Int64>?
}

struct Repeated: Codable, Equatable {
    enum CodingKeys: Int, CodingKey { case ints = 1, strings, inners, colors, doubles, bools, zz, f32, blobs }
    var ints: [Int32] = []
    var strings: [String] = []
    var inners: [Inner] = []
    var colors: [Color] = []
    var doubles: [Double] = []
    var bools: [Bool] = []
    var zz: [ZigZag<Int64>] = []
    var f32: [Fixed<UInt32>] = []
    var blobs: [Data] = []
}

struct Maps: Codable, Equatable {
    enum CodingKeys: Int, CodingKey { case counts = 1, names, inners }
    var counts: [String: Int32] = [:]
    var names: [Int64: String] = [:]
    var inners: [String: Inner] = [:]
}

struct Event: Codable, Equatable {
    enum CodingKeys: Int, CodingKey { case at = 1, name }
    var at = Date(timeIntervalSince1970: 0)
    var name = ""
}

/// A message that nests itself through a repeated field, to build any depth.
struct Node: Codable, Equatable {
    enum CodingKeys: Int, CodingKey { case children = 1, value }
    var children: [Node] = []
    var value: Int32 = 0

    /// A chain of `depth` messages below the top-level one.
    static func chain(depth: Int) -> Node {
        var node = Node(value: 1)
        for _ in 0..<depth { node = Node(children: [node]) }
        return node
    }

    var depth: Int { children.map { $0.depth + 1 }.max() ?? 0 }
}

/// Keys without integer values: not a protobuf message.
struct StringKeyed: Codable, Equatable {
    var name = "x"
}

/// A key outside protobuf's field numbers.
struct BadFieldNumber: Codable, Equatable {
    enum CodingKeys: Int, CodingKey { case zero = 0 }
    var zero: Int32 = 1
}

struct TooLargeFieldNumber: Codable, Equatable {
    enum CodingKeys: Int, CodingKey { case big = 536_870_912 }
    var big: Int32 = 1
}

struct LargestFieldNumber: Codable, Equatable {
    enum CodingKeys: Int, CodingKey { case big = 536_870_911 }
    var big: Int32 = 0
}

/// Non-protobuf Swift widths and a map with a key protobuf does not allow.
struct Narrow: Codable, Equatable {
    enum CodingKeys: Int, CodingKey { case u8 = 1, i8, u16, i16, uint }
    var u8: UInt8 = 0
    var i8: Int8 = 0
    var u16: UInt16 = 0
    var i16: Int16 = 0
    var uint: UInt = 0
}

struct DoubleKeyedMap: Codable, Equatable {
    enum CodingKeys: Int, CodingKey { case map = 1 }
    var map: [Double: Int32] = [:]
}

/// Encodes through two keyed containers on one encoder, as a subclass calling `super.encode(to:)` does.
struct TwoContainers: Codable, Equatable {
    enum CodingKeys: Int, CodingKey { case first = 1, second = 2 }
    var first: Int32 = 0
    var second: String = ""

    init(first: Int32, second: String) {
        self.first = first
        self.second = second
    }

    init(from decoder: any Decoder) throws {
        first = try decoder.container(keyedBy: CodingKeys.self).decode(Int32.self, forKey: .first)
        second = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .second)
    }

    func encode(to encoder: any Encoder) throws {
        var a = encoder.container(keyedBy: CodingKeys.self)
        try a.encode(first, forKey: .first)
        var b = encoder.container(keyedBy: CodingKeys.self)
        try b.encode(second, forKey: .second)
    }
}

/// A holder of a message that writes its own repeated field through an unkeyed container.
struct CustomList: Codable, Equatable {
    struct Values: Codable, Equatable {
        var items: [Int64]
        init(items: [Int64]) { self.items = items }
        init(from decoder: any Decoder) throws {
            var container = try decoder.unkeyedContainer()
            var items: [Int64] = []
            while !container.isAtEnd { items.append(try container.decode(Int64.self)) }
            self.items = items
        }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.unkeyedContainer()
            for item in items { try container.encode(item) }
        }
    }
    enum CodingKeys: Int, CodingKey { case values = 1 }
    var values = Values(items: [])
}

enum Hex {
    /// "08 96 01" → [0x08, 0x96, 0x01].
    static func bytes(_ text: String) -> [UInt8] {
        text.split(separator: " ").map { UInt8($0, radix: 16)! }
    }

    static func string(_ bytes: [UInt8]) -> String {
        bytes.map { String(format: "%02x", $0) }.joined(separator: " ")
    }
}

/// The `ProtoDecodingError` inside the `DecodingError` that decoding `bytes` throws, or nil if it succeeds.
func protoError<T: Decodable>(
    _ type: T.Type, _ bytes: [UInt8], limits: ProtoDecoder.Limits = .defaults
) -> ProtoDecodingError? {
    do {
        _ = try ProtoDecoder(limits: limits).decode(T.self, from: bytes)
        return nil
    } catch DecodingError.dataCorrupted(let context) {
        return context.underlyingError as? ProtoDecodingError
    } catch {
        return nil
    }
}

/// The `ProtoEncodingError` inside the `EncodingError` that encoding `value` throws, or nil if it succeeds.
func protoError<T: Encodable>(encoding value: T, options: ProtoEncoder.Options = .defaults) -> ProtoEncodingError? {
    do {
        _ = try ProtoEncoder(options: options).encode(value)
        return nil
    } catch EncodingError.invalidValue(_, let context) {
        return context.underlyingError as? ProtoEncodingError
    } catch {
        return nil
    }
}

/// Enums through a hand-written unkeyed container, nested in a repeated field of messages.
struct CustomColors: Codable, Equatable {
    var colors: [Color]

    init(_ colors: [Color]) { self.colors = colors }

    init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        var colors: [Color] = []
        while !container.isAtEnd { colors.append(try container.decode(Color.self)) }
        self.colors = colors
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        for color in colors { try container.encode(color) }
    }
}

struct ColorSets: Codable, Equatable {
    enum CodingKeys: Int, CodingKey { case sets = 1 }
    var sets: [Wrapper<CustomColors>]
}
