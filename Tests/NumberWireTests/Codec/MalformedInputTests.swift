import Foundation
import NumberWire
import TestSupport
import Testing

/// Bad bytes give a typed error (kind, field number, offset) inside a DecodingError, never a trap.
@Suite("Codec malformed input")
struct MalformedInputTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let hex: String
        let kind: ProtoDecodingError.Kind
        let field: Int?
        let offset: Int
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "truncated varint", hex: "08 96", kind: .truncatedVarint, field: 1, offset: 1),
        Case(name: "truncated tag", hex: "96", kind: .truncatedVarint, field: nil, offset: 0),
        Case(
            name: "varint over ten bytes", hex: "08 ff ff ff ff ff ff ff ff ff ff 01", kind: .varintTooLong, field: 1,
            offset: 1),
        Case(name: "length past the end", hex: "12 05 61", kind: .lengthPastEnd, field: 2, offset: 1),
        Case(name: "huge length", hex: "12 ff ff ff ff 0f 61", kind: .lengthPastEnd, field: 2, offset: 1),
        Case(
            name: "a length in ten bytes", hex: "12 ff ff ff ff ff ff ff ff ff 01", kind: .varintTooLong, field: 2,
            offset: 1),
        Case(name: "a length in six bytes", hex: "12 81 80 80 80 80 00 61", kind: .varintTooLong, field: 2, offset: 1),
        Case(name: "truncated fixed64", hex: "09 01 02 03", kind: .truncatedFixed, field: 1, offset: 1),
        Case(name: "truncated fixed32", hex: "0d 01 02 03", kind: .truncatedFixed, field: 1, offset: 1),
        Case(name: "field number 0", hex: "00 01", kind: .invalidFieldNumber, field: nil, offset: 0),
        Case(name: "field number 2^29", hex: "80 80 80 80 10 01", kind: .invalidFieldNumber, field: nil, offset: 0),
        Case(name: "huge tag", hex: "80 80 80 80 80 80 80 80 80 01", kind: .varintTooLong, field: nil, offset: 0),
        Case(name: "a tag in six bytes", hex: "88 80 80 80 80 00 07", kind: .varintTooLong, field: nil, offset: 0),
        Case(name: "end group without its start", hex: "1c", kind: .malformedGroup, field: 3, offset: 0),
        Case(name: "group without its end", hex: "0b 08 01", kind: .malformedGroup, field: 1, offset: 0),
        Case(name: "group ended by another field", hex: "2b 34", kind: .malformedGroup, field: 5, offset: 1),
        Case(name: "bad tag inside a group", hex: "2b 00 2c", kind: .invalidFieldNumber, field: nil, offset: 1),
        Case(name: "truncated value inside a group", hex: "2b 08", kind: .truncatedVarint, field: 1, offset: 2),
        Case(name: "wire type 6", hex: "0e", kind: .invalidWireType, field: 1, offset: 0),
        Case(name: "wire type 7", hex: "08 01 1f", kind: .invalidWireType, field: 3, offset: 2),
        Case(name: "invalid UTF-8", hex: "12 02 c3 28", kind: .invalidUTF8, field: 2, offset: 2),
        Case(name: "lone surrogate UTF-8", hex: "12 03 ed a0 80", kind: .invalidUTF8, field: 2, offset: 2),
        // Google's runtimes check every occurrence of a string field, not only the last one, which wins.
        Case(
            name: "invalid UTF-8 in an earlier occurrence", hex: "12 01 ff 12 01 61", kind: .invalidUTF8, field: 2,
            offset: 2),
        Case(
            name: "invalid UTF-8 in a middle occurrence, after another field", hex: "08 01 12 01 61 12 01 ff 12 01 62",
            kind: .invalidUTF8, field: 2, offset: 7),
    ]

    @Test("each malformed input is a typed error", arguments: cases)
    func malformed(_ testCase: Case) throws {
        let error = try #require(protoError(Inner.self, Hex.bytes(testCase.hex)))
        #expect(error.kind == testCase.kind)
        #expect(error.fieldNumber == testCase.field)
        #expect(error.offset == testCase.offset)
    }

    @Test("errors inside sub-messages and repeated fields")
    func nestedErrors() throws {
        // Outer.inner = { a: truncated }.
        let error = try #require(protoError(Outer.self, Hex.bytes("0a 02 08 96")))
        #expect(error.kind == .truncatedVarint)
        #expect(error.offset == 3)
        // A sub-message length running past its parent.
        #expect(protoError(Outer.self, Hex.bytes("0a 05 08 01"))?.kind == .lengthPastEnd)
        // A packed run cut inside a value.
        #expect(protoError(Repeated.self, Hex.bytes("0a 02 01 96"))?.kind == .truncatedVarint)
        #expect(protoError(Repeated.self, Hex.bytes("42 03 01 00 00"))?.kind == .truncatedFixed)
    }

    @Test("an occurrence with another wire type is an unknown field, whatever its position, as in Google's runtimes")
    func mistypedOccurrencesAreUnknownFields() throws {
        let decoder = ProtoDecoder()
        // Inner.a (int32) as bytes, before and after a good occurrence; as fixed32.
        #expect(try decoder.decode(Inner.self, from: Hex.bytes("08 07 0a 01 05")) == Inner(a: 7))
        #expect(try decoder.decode(Inner.self, from: Hex.bytes("0a 01 05 08 07")) == Inner(a: 7))
        #expect(try decoder.decode(Inner.self, from: Hex.bytes("0d 01 00 00 00")) == Inner())
        // Inner.s (string) as a varint.
        #expect(try decoder.decode(Inner.self, from: Hex.bytes("12 01 61 10 01")) == Inner(s: "a"))
        // A sub-message as a varint, alone and after a good occurrence.
        #expect(try decoder.decode(Outer.self, from: Hex.bytes("08 01")) == Outer())
        #expect(try decoder.decode(Outer.self, from: Hex.bytes("0a 02 08 05 08 01")) == Outer(inner: Inner(a: 5)))
        // A map entry that is not a message is refused, not dropped (a metadata key must not vanish).
        #expect(protoError(Maps.self, Hex.bytes("08 01 0a 05 0a 01 6b 10 02"))?.kind == .wrongWireType)
        // Repeated messages and strings: a varint occurrence is not an element.
        #expect(
            try decoder.decode(Repeated.self, from: Hex.bytes("18 01 1a 02 08 03 12 01 61 10 01"))
                == Repeated(strings: ["a"], inners: [Inner(a: 3)]))
        // Repeated scalars: packed and unpacked values are read, a fixed32 among varints is not.
        #expect(try decoder.decode(Repeated.self, from: Hex.bytes("08 01 0d 09 00 00 00 0a 01 02")).ints == [1, 2])
    }

    @Test("well-formed groups are unknown fields, skipped; nested ones to the depth limit")
    func groupsAreSkipped() throws {
        let decoder = ProtoDecoder()
        // An unknown field 5 as a group holding a varint, then Inner.a = 7.
        #expect(try decoder.decode(Inner.self, from: Hex.bytes("2b 08 01 2c 08 07")) == Inner(a: 7))
        // Nested groups (field 3 inside 5), an empty group, and a group on a known field (1): all skipped.
        #expect(try decoder.decode(Inner.self, from: Hex.bytes("2b 1b 1c 2c 08 07")) == Inner(a: 7))
        #expect(try decoder.decode(Inner.self, from: Hex.bytes("0b 0c 08 07")) == Inner(a: 7))
        #expect(try decoder.decode(Inner.self, from: Hex.bytes("08 07 0b 08 01 0c")) == Inner(a: 7))
        // A group holding every other wire type, a length-delimited value included.
        #expect(
            try decoder.decode(
                Inner.self, from: Hex.bytes("2b 08 01 11 01 02 03 04 05 06 07 08 1a 01 61 25 01 02 03 04 2c"))
                == Inner())
        // Depth: groups nested nestingDepthMax deep are skipped, one more is refused.
        let limits = ProtoDecoder.Limits(nestingDepthMax: 3)
        #expect(protoError(Inner.self, Hex.bytes("2b 2b 2b 2c 2c 2c"), limits: limits) == nil)
        #expect(protoError(Inner.self, Hex.bytes("2b 2b 2b 2b 2c 2c 2c 2c"), limits: limits)?.kind == .nestingTooDeep)
    }

    @Test("the DecodingError carries the coding path and a readable description")
    func decodingErrorShape() throws {
        do {
            _ = try ProtoDecoder().decode(Outer.self, from: Hex.bytes("0a 02 08 96"))
            Issue.record("expected an error")
        } catch DecodingError.dataCorrupted(let context) {
            #expect(context.codingPath.map(\.intValue) == [1])
            #expect(context.debugDescription.contains("TRUNCATED_VARINT"))
        }
    }

    @Test("invalid timestamps")
    func invalidTimestamps() throws {
        // nanos = -1 and nanos = 1e9.
        #expect(protoError(Event.self, Hex.bytes("0a 0b 10 ff ff ff ff ff ff ff ff ff 01"))?.kind == .invalidTimestamp)
        #expect(protoError(Event.self, Hex.bytes("0a 06 10 80 94 eb dc 03"))?.kind == .invalidTimestamp)
        // seconds = 253402300800 (year 10000).
        #expect(protoError(Event.self, Hex.bytes("0a 07 08 80 83 d1 ff af 07"))?.kind == .invalidTimestamp)
        #expect(protoError(Event.self, Hex.bytes("0a 07 08 ff 82 d1 ff af 07")) == nil)
    }

    @Test("input length limit at its edge")
    func inputLengthLimit() throws {
        let limits = ProtoDecoder.Limits(inputLengthMax: 3)
        #expect(try ProtoDecoder(limits: limits).decode(Inner.self, from: Hex.bytes("08 96 01")) == Inner(a: 150))
        let error = protoError(Inner.self, Hex.bytes("08 96 01 00"), limits: limits)
        #expect(error?.kind == .inputTooLong)
    }

    /// Each field occurrence costs 16 bytes of index, unknown ones included, and can take two bytes of input: a 4 MiB
    /// request of `08 00` repeated indexed 2 million of them (32 MiB) before any handler could refuse it.
    @Test("field count: 65,536 fields decode, one more is rejected, sub-messages' and unknown ones included")
    func fieldsLimit() throws {
        /// `count` occurrences of `tag 00` (a varint 0).
        func fields(_ count: Int, tag: UInt8 = 0x08) -> [UInt8] {
            var bytes = [UInt8](repeating: 0, count: 2 * count)
            for index in stride(from: 0, to: bytes.count, by: 2) { bytes[index] = tag }
            return bytes
        }
        #expect(ProtoDecoder.Limits.defaults.fieldsMax == 65_536)
        #expect(try ProtoDecoder().decode(Inner.self, from: fields(65_536)) == Inner(a: 0))
        let error = protoError(Inner.self, fields(65_537))
        #expect(error?.kind == .tooManyFields)
        #expect(error?.fieldNumber == 1)
        #expect(error?.offset == 2 * 65_536)
        // Unknown fields (3 is not Inner's) count alike, and 4 MiB of them stop at the limit.
        #expect(try ProtoDecoder().decode(Inner.self, from: fields(65_536, tag: 0x18)) == Inner())
        #expect(protoError(Inner.self, fields(65_537, tag: 0x18))?.kind == .tooManyFields)
        #expect(protoError(Inner.self, fields(2 << 20))?.kind == .tooManyFields)
        // A custom limit, and a sub-message's fields counted with its parent's: Outer's field 1 is one, the two
        // inside it two more.
        let limits = ProtoDecoder.Limits(fieldsMax: 3)
        let nested = Hex.bytes("0a 04 08 01 08 02")
        #expect(try ProtoDecoder(limits: limits).decode(Outer.self, from: nested) == Outer(inner: Inner(a: 2)))
        #expect(protoError(Outer.self, Hex.bytes("0a 04 08 01 08 02 10 01"), limits: limits)?.kind == .tooManyFields)
        #expect(protoError(Outer.self, Hex.bytes("0a 06 08 01 08 02 08 03"), limits: limits)?.kind == .tooManyFields)
    }

    @Test("nesting depth: 64 levels decode, 65 are rejected")
    func depthLimit() throws {
        let deep = ProtoEncoder(options: .init(nestingDepthMax: 100))
        let ok = try deep.encode(Node.chain(depth: 64))
        #expect(try ProtoDecoder().decode(Node.self, from: ok).depth == 64)
        let tooDeep = try deep.encode(Node.chain(depth: 65))
        #expect(protoError(Node.self, tooDeep)?.kind == .nestingTooDeep)
        // A custom limit has the same edge.
        let limits = ProtoDecoder.Limits(nestingDepthMax: 3)
        #expect(protoError(Node.self, try deep.encode(Node.chain(depth: 3)), limits: limits) == nil)
        #expect(protoError(Node.self, try deep.encode(Node.chain(depth: 4)), limits: limits)?.kind == .nestingTooDeep)
        // Hand-built: 65 nested empty sub-messages (each "0a len").
        var bytes: [UInt8] = []
        for _ in 0..<65 {
            let length = bytes.count
            bytes =
                (length < 0x80 ? [0x0a, UInt8(length)] : [0x0a, UInt8(length & 0x7f) | 0x80, UInt8(length >> 7)])
                + bytes
        }
        #expect(protoError(Node.self, bytes)?.kind == .nestingTooDeep)
        #expect(protoError(Node.self, Array(bytes.dropFirst(3))) == nil)
    }

    @Test("a key without a field number is an error naming the key")
    func invalidKeys() throws {
        do {
            _ = try ProtoDecoder().decode(StringKeyed.self, from: Hex.bytes("08 01"))
            Issue.record("expected an error")
        } catch DecodingError.dataCorrupted(let context) {
            #expect((context.underlyingError as? ProtoDecodingError)?.kind == .invalidFieldKey)
            #expect(context.debugDescription.contains("'name'"))
        }
        #expect(protoError(BadFieldNumber.self, [])?.kind == .invalidFieldKey)
        #expect(protoError(TooLargeFieldNumber.self, [])?.kind == .invalidFieldKey)
    }

    @Test("map with a key type protobuf does not allow")
    func unsupportedMapKey() throws {
        #expect(protoError(DoubleKeyedMap.self, Hex.bytes("0a 00"))?.kind == .unsupportedMapKey)
    }

    @Test("random and mutated bytes only ever throw", arguments: 0..<4)
    func fuzz(seed: Int) throws {
        var random = SplitMix64(seed: UInt64(seed) &* 0x1234_5678_9abc)
        let samples: [[UInt8]] = try [
            ProtoEncoder().encode(Outer(inner: Inner(a: -5, s: "héllo"), tag: 300)),
            ProtoEncoder().encode(
                Repeated(
                    ints: [1, -1, 1 << 20], strings: ["a", "bc"], inners: [Inner(a: 1)], colors: [.red],
                    doubles: [1.5], bools: [true], zz: [ZigZag(-3)], f32: [Fixed(9)], blobs: [Data([1, 2])])),
            ProtoEncoder().encode(Maps(counts: ["a": 1], names: [7: "x"], inners: ["k": Inner(a: 2)])),
            ProtoEncoder().encode(Optionals(i32: 0, s: "s", msg: Inner(a: 1), date: Date(timeIntervalSince1970: 5))),
            ProtoEncoder().encode(Node.chain(depth: 6)),
        ]
        let limits = ProtoDecoder.Limits(nestingDepthMax: 8)
        for round in 0..<600 {
            var bytes: [UInt8]
            if round % 5 == 0 {
                bytes = (0..<Int.random(in: 0...40, using: &random)).map { _ in
                    UInt8.random(in: 0...255, using: &random)
                }
            } else {
                bytes = samples[round % samples.count]
                for _ in 0...Int.random(in: 0...3, using: &random) { mutate(&bytes, using: &random) }
            }
            tryDecoding(Outer.self, bytes, limits)
            tryDecoding(Repeated.self, bytes, limits)
            tryDecoding(Maps.self, bytes, limits)
            tryDecoding(Optionals.self, bytes, limits)
            tryDecoding(Node.self, bytes, limits)
            tryDecoding(Scalars.self, bytes, limits)
        }
    }

    private func mutate(_ bytes: inout [UInt8], using random: inout SplitMix64) {
        switch Int.random(in: 0..<4, using: &random) {
        case 0 where !bytes.isEmpty:
            bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
        case 1 where !bytes.isEmpty:
            bytes.removeLast(Int.random(in: 1...bytes.count, using: &random))
        case 2:
            bytes.insert(UInt8.random(in: 0...255, using: &random), at: Int.random(in: 0...bytes.count, using: &random))
        default:
            if !bytes.isEmpty { bytes.remove(at: Int.random(in: 0..<bytes.count, using: &random)) }
        }
    }

    /// Decoding either succeeds or throws a DecodingError; anything else (or a trap) fails the test.
    private func tryDecoding<T: Decodable>(_ type: T.Type, _ bytes: [UInt8], _ limits: ProtoDecoder.Limits) {
        do {
            _ = try ProtoDecoder(limits: limits).decode(T.self, from: bytes)
        } catch is DecodingError {
        } catch {
            Issue.record("unexpected error \(error) for \(Hex.string(bytes))")
        }
    }
}
