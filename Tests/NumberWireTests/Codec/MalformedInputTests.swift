import Foundation
import NumberWire
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
            name: "max varint length", hex: "12 ff ff ff ff ff ff ff ff ff 01", kind: .lengthPastEnd, field: 2,
            offset: 1),
        Case(name: "truncated fixed64", hex: "09 01 02 03", kind: .truncatedFixed, field: 1, offset: 1),
        Case(name: "truncated fixed32", hex: "0d 01 02 03", kind: .truncatedFixed, field: 1, offset: 1),
        Case(name: "int32 sent as bytes", hex: "0a 01 00", kind: .wrongWireType, field: 1, offset: 2),
        Case(name: "int32 sent as fixed32", hex: "0d 01 00 00 00", kind: .wrongWireType, field: 1, offset: 1),
        Case(name: "string sent as varint", hex: "10 01", kind: .wrongWireType, field: 2, offset: 1),
        Case(name: "field number 0", hex: "00 01", kind: .invalidFieldNumber, field: nil, offset: 0),
        Case(name: "field number 2^29", hex: "80 80 80 80 10 01", kind: .invalidFieldNumber, field: nil, offset: 0),
        Case(name: "huge tag", hex: "80 80 80 80 80 80 80 80 80 01", kind: .invalidFieldNumber, field: nil, offset: 0),
        Case(name: "start group", hex: "0b 0c", kind: .groupNotSupported, field: 1, offset: 0),
        Case(name: "end group", hex: "1c", kind: .groupNotSupported, field: 3, offset: 0),
        Case(name: "wire type 6", hex: "0e", kind: .invalidWireType, field: 1, offset: 0),
        Case(name: "wire type 7", hex: "08 01 1f", kind: .invalidWireType, field: 3, offset: 2),
        Case(name: "invalid UTF-8", hex: "12 02 c3 28", kind: .invalidUTF8, field: 2, offset: 2),
        Case(name: "lone surrogate UTF-8", hex: "12 03 ed a0 80", kind: .invalidUTF8, field: 2, offset: 2),
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
        // A repeated message element that is not length-delimited.
        #expect(protoError(Repeated.self, Hex.bytes("18 01"))?.kind == .wrongWireType)
        // A map entry that is not a message.
        #expect(protoError(Maps.self, Hex.bytes("08 01"))?.kind == .wrongWireType)
        // Sub-message sent as a varint.
        #expect(protoError(Outer.self, Hex.bytes("08 01"))?.kind == .wrongWireType)
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
        var random = SeededGenerator(state: UInt64(seed) &* 0x1234_5678_9abc)
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

    private func mutate(_ bytes: inout [UInt8], using random: inout SeededGenerator) {
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
