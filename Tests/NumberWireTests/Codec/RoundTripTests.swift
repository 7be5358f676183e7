import Foundation
import NumberWire
import TestSupport
import Testing

/// Property-style round trips: random values, including extremes, negatives, unicode and empties.
@Suite("Codec round trips")
struct RoundTripTests {
    static let strings = ["", "a", "héllo", "🌍🚀", "日本語", "\u{0}", String(repeating: "z", count: 300), "a\u{301}"]

    static func randomString(_ random: inout SplitMix64) -> String {
        if Bool.random(using: &random) { return strings.randomElement(using: &random)! }
        let scalars = (0..<Int.random(in: 0...20, using: &random)).compactMap { _ in
            Unicode.Scalar(UInt32.random(in: 0...0x10FFFF, using: &random))
        }
        return String(String.UnicodeScalarView(scalars))
    }

    static func extreme<T: FixedWidthInteger>(_: T.Type, _ random: inout SplitMix64) -> T {
        switch Int.random(in: 0..<6, using: &random) {
        case 0: return .min
        case 1: return .max
        case 2: return 0
        case 3: return T(truncatingIfNeeded: -1)
        default: return T.random(in: .min ... .max, using: &random)
        }
    }

    static func randomScalars(_ random: inout SplitMix64) -> Scalars {
        let doubles: [Double] = [
            0, -0.0, 1.5, -.greatestFiniteMagnitude, .leastNonzeroMagnitude, .infinity, -.infinity,
        ]
        let floats: [Float] = [0, -0.0, 3.25, .greatestFiniteMagnitude, -.infinity]
        return Scalars(
            b: .random(using: &random), i32: extreme(Int32.self, &random), i64: extreme(Int64.self, &random),
            u32: extreme(UInt32.self, &random), u64: extreme(UInt64.self, &random),
            f: Bool.random(using: &random)
                ? floats.randomElement(using: &random)! : .random(in: -1e6...1e6, using: &random),
            d: Bool.random(using: &random)
                ? doubles.randomElement(using: &random)! : .random(in: -1e300...1e300, using: &random),
            s: randomString(&random),
            bytes: (0..<Int.random(in: 0...40, using: &random)).map { _ in .random(in: 0...255, using: &random) },
            data: Data((0..<Int.random(in: 0...40, using: &random)).map { _ in .random(in: 0...255, using: &random) }),
            int: extreme(Int.self, &random), color: Color.allCases.randomElement(using: &random)!,
            sint32: ZigZag(extreme(Int32.self, &random)), sint64: extreme(Int64.self, &random),
            fixed32: Fixed(extreme(UInt32.self, &random)), fixed64: extreme(UInt64.self, &random),
            sfixed32: Fixed(extreme(Int32.self, &random)), sfixed64: extreme(Int64.self, &random))
    }

    @Test("every scalar type", arguments: 0..<3)
    func scalars(seed: Int) throws {
        var random = SplitMix64(seed: UInt64(seed + 1))
        for _ in 0..<300 {
            let value = Self.randomScalars(&random)
            let decoded = try ProtoDecoder().decode(Scalars.self, from: ProtoEncoder().encode(value))
            #expect(decoded == value)
        }
    }

    @Test("NaN round-trips bit for bit")
    func nan() throws {
        let value = Scalars(f: .nan, d: -.nan)
        let decoded = try ProtoDecoder().decode(Scalars.self, from: ProtoEncoder().encode(value))
        #expect(decoded.f.bitPattern == value.f.bitPattern)
        #expect(decoded.d.bitPattern == value.d.bitPattern)
    }

    @Test("repeated fields, maps and optionals", arguments: 0..<3)
    func collections(seed: Int) throws {
        var random = SplitMix64(seed: UInt64(seed + 100))
        for _ in 0..<150 {
            func count() -> Int { Int.random(in: 0...12, using: &random) }
            let repeated = Repeated(
                ints: (0..<count()).map { _ in Self.extreme(Int32.self, &random) },
                strings: (0..<count()).map { _ in Self.randomString(&random) },
                inners: (0..<count()).map { _ in
                    Inner(a: Self.extreme(Int32.self, &random), s: Self.randomString(&random))
                },
                colors: (0..<count()).map { _ in Color.allCases.randomElement(using: &random)! },
                doubles: (0..<count()).map { _ in .random(in: -1e9...1e9, using: &random) },
                bools: (0..<count()).map { _ in .random(using: &random) },
                zz: (0..<count()).map { _ in ZigZag(Self.extreme(Int64.self, &random)) },
                f32: (0..<count()).map { _ in Fixed(Self.extreme(UInt32.self, &random)) },
                blobs: (0..<count()).map { _ in Data((0..<count()).map { _ in .random(in: 0...255, using: &random) }) })
            #expect(try ProtoDecoder().decode(Repeated.self, from: ProtoEncoder().encode(repeated)) == repeated)

            var maps = Maps()
            for _ in 0..<count() { maps.counts[Self.randomString(&random)] = Self.extreme(Int32.self, &random) }
            for _ in 0..<count() { maps.names[Self.extreme(Int64.self, &random)] = Self.randomString(&random) }
            for _ in 0..<count() {
                maps.inners[Self.randomString(&random)] = Inner(a: .random(in: -9...9, using: &random))
            }
            #expect(try ProtoDecoder().decode(Maps.self, from: ProtoEncoder().encode(maps)) == maps)

            let optionals = Optionals(
                i32: Bool.random(using: &random) ? Self.extreme(Int32.self, &random) : nil,
                s: Bool.random(using: &random) ? Self.randomString(&random) : nil,
                b: Bool.random(using: &random) ? Bool.random(using: &random) : nil,
                msg: Bool.random(using: &random) ? Inner(a: 1) : nil,
                color: Bool.random(using: &random) ? Color.allCases.randomElement(using: &random) : nil,
                date: Bool.random(using: &random)
                    ? Date(timeIntervalSince1970: Double(Int32.random(in: .min ... .max, using: &random))) : nil,
                zz: Bool.random(using: &random) ? ZigZag(Self.extreme(Int64.self, &random)) : nil)
            #expect(try ProtoDecoder().decode(Optionals.self, from: ProtoEncoder().encode(optionals)) == optionals)
        }
    }

    @Test("dates across the Timestamp range")
    func dates() throws {
        var random = SplitMix64(seed: 7)
        for _ in 0..<500 {
            // Whole milliseconds near now round-trip exactly; anywhere in range, to within a microsecond.
            let nearNow = Date(
                timeIntervalSince1970: Double(Int64.random(in: 1_500_000_000_000...2_000_000_000_000, using: &random))
                    / 1000)
            let decodedNow = try ProtoDecoder().decode(Event.self, from: ProtoEncoder().encode(Event(at: nearNow)))
            #expect(decodedNow.at == nearNow)
            let anywhere = Date(timeIntervalSince1970: .random(in: -62_135_596_800...253_402_300_799, using: &random))
            let decoded = try ProtoDecoder().decode(Event.self, from: ProtoEncoder().encode(Event(at: anywhere)))
            #expect(abs(decoded.at.timeIntervalSince(anywhere)) < 1e-3)
        }
        let now = Date()
        #expect(try ProtoDecoder().decode(Event.self, from: ProtoEncoder().encode(Event(at: now))).at == now)
    }

    /// A Timestamp as its two fields, as a peer reads and writes it.
    struct RawTimestamp: Codable, Equatable {
        enum CodingKeys: Int, CodingKey { case seconds = 1, nanos }
        var seconds: Int64 = 0
        var nanos: Int32 = 0
    }

    struct RawEvent: Codable, Equatable {
        enum CodingKeys: Int, CodingKey { case at = 1 }
        var at = RawTimestamp()
    }

    @Test("a time of whole milliseconds is exactly those milliseconds on the wire, and they read back to its Double")
    func wholeMilliseconds() async throws {
        var random = SplitMix64(seed: 11)
        for index in 0..<20_000 {
            if index % 500 == 0 { await Task.yield() }
            // As numberd stamps its times (`NumberService.now()`), before 1970 too.
            let milliseconds =
                index < 10_000
                ? Int64.random(in: 1_500_000_000_000...2_000_000_000_000, using: &random)
                : Int64.random(in: -62_135_596_800_000...253_402_300_799_999, using: &random)
            let stamp = Date(timeIntervalSince1970: Double(milliseconds) / 1000)
            let (seconds, millis) = milliseconds.quotientAndRemainder(dividingBy: 1000)
            let expected =
                millis < 0
                ? RawTimestamp(seconds: seconds - 1, nanos: Int32(millis + 1000) * 1_000_000)
                : RawTimestamp(seconds: seconds, nanos: Int32(millis) * 1_000_000)
            let wire = try ProtoDecoder().decode(RawEvent.self, from: ProtoEncoder().encode(Event(at: stamp)))
            #expect(wire.at == expected, "\(milliseconds) ms")
            // What a peer that keeps milliseconds sends back is the stamp itself (a period bound equal to it).
            let back = try ProtoDecoder().decode(Event.self, from: ProtoEncoder().encode(RawEvent(at: expected)))
            #expect(back.at == stamp, "\(milliseconds) ms")
        }
    }

    /// The date numberd stamps for whole milliseconds (`NumberService.now()`).
    static func stamp(_ milliseconds: Int64) -> Date { Date(timeIntervalSince1970: Double(milliseconds) / 1000) }

    /// The Timestamp of `milliseconds` since 1970 and `nanos` more (either sign), as a peer writes it.
    static func raw(milliseconds: Int64, plus nanos: Int64) -> RawTimestamp {
        // Seconds apart from the rest: milliseconds × 10^6 overflows an Int64 past year 2262.
        var (seconds, millis) = milliseconds.quotientAndRemainder(dividingBy: 1000)
        if millis < 0 { (seconds, millis) = (seconds - 1, millis + 1000) }
        var rest = millis * 1_000_000 + nanos
        if rest < 0 { (seconds, rest) = (seconds - 1, rest + 1_000_000_000) }
        if rest >= 1_000_000_000 { (seconds, rest) = (seconds + 1, rest - 1_000_000_000) }
        return RawTimestamp(seconds: seconds, nanos: Int32(rest))
    }

    static func read(_ raw: RawTimestamp) throws -> Date {
        try ProtoDecoder().decode(Event.self, from: ProtoEncoder().encode(RawEvent(at: raw))).at
    }

    @Test("a time 1 ns either side of a stamp reads on that side of it, and goes out on that side again")
    func besideStamps() async throws {
        // The Double nearest 1 ns after this stamp is the stamp itself.
        let after = try Self.read(RawTimestamp(seconds: 1_784_982_559, nanos: 221_000_001))
        #expect(after > Self.stamp(1_784_982_559_221) && after < Self.stamp(1_784_982_559_222))
        let before = try Self.read(RawTimestamp(seconds: 1_784_982_559, nanos: 220_999_999))
        #expect(before < Self.stamp(1_784_982_559_221) && before > Self.stamp(1_784_982_559_220))
        var random = SplitMix64(seed: 13)
        for index in 0..<10_000 {
            if index % 200 == 0 { await Task.yield() }
            // Near now, then anywhere a millisecond and its two neighbours fit in a Timestamp.
            let milliseconds =
                index < 5_000
                ? Int64.random(in: 1_500_000_000_000...2_000_000_000_000, using: &random)
                : Int64.random(in: -62_135_596_799_999...253_402_300_799_998, using: &random)
            for nanos: Int64 in [1, -1, 999_999, -999_999] {
                let date = try Self.read(Self.raw(milliseconds: milliseconds, plus: nanos))
                let (low, high) = nanos > 0 ? (milliseconds, milliseconds + 1) : (milliseconds - 1, milliseconds)
                #expect(date > Self.stamp(low) && date < Self.stamp(high), "\(milliseconds) ms \(nanos) ns")
                // Written again, it stays inside the same millisecond and reads back to itself.
                let again = try ProtoDecoder().decode(RawEvent.self, from: ProtoEncoder().encode(Event(at: date))).at
                #expect(again.seconds * 1000 + Int64(again.nanos / 1_000_000) == low, "\(milliseconds) ms \(nanos) ns")
                #expect(again.nanos % 1_000_000 != 0, "\(milliseconds) ms \(nanos) ns")
                #expect(try Self.read(again) == date, "\(milliseconds) ms \(nanos) ns")
            }
        }
        // Near 2001-01-01 a Double is finer than a nanosecond and a stamp is tens of them off its millisecond: a time
        // read as the Double next to a stamp still goes out as a Timestamp that reads back to that Double.
        for nanos: Int32 in [1_000_001, 1_999_999, 302_000_030] {
            let date = try Self.read(RawTimestamp(seconds: 978_307_200, nanos: nanos))
            let again = try ProtoDecoder().decode(RawEvent.self, from: ProtoEncoder().encode(Event(at: date))).at
            #expect(try Self.read(again) == date, "\(nanos) ns")
        }
    }

    @Test("the last instants a Timestamp holds read as a date that can be written again")
    func lastInstants() throws {
        for nanos: Int32 in [999_999_999, 999_990_000, 999_000_000, 0] {
            let raw = RawEvent(at: RawTimestamp(seconds: 253_402_300_799, nanos: nanos))
            let date = try ProtoDecoder().decode(Event.self, from: ProtoEncoder().encode(raw)).at
            let again = try ProtoDecoder().decode(RawEvent.self, from: ProtoEncoder().encode(Event(at: date)))
            #expect(again.at.seconds == 253_402_300_799, "\(nanos)")
            #expect(abs(Int64(again.at.nanos) - Int64(nanos)) < 100_000, "\(nanos) → \(again.at.nanos)")
        }
    }

    @Test("deep and wide messages")
    func deepAndWide() throws {
        let deep = Node.chain(depth: 64)
        #expect(try ProtoDecoder().decode(Node.self, from: ProtoEncoder().encode(deep)) == deep)
        let wide = Node(children: (0..<2000).map { Node(value: Int32($0)) })
        #expect(try ProtoDecoder().decode(Node.self, from: ProtoEncoder().encode(wide)) == wide)
        let big = Inner(a: 1, s: String(repeating: "é", count: 100_000))
        #expect(try ProtoDecoder().decode(Inner.self, from: ProtoEncoder().encode(big)) == big)
    }

    @Test("other coders see the wrappers as plain integers")
    func wrappersAreTransparent() throws {
        let value = Scalars(sint32: ZigZag(-3), sint64: 4, fixed32: Fixed(5), fixed64: 6)
        let json = String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
        #expect(json.contains("\"sint32\":-3"))
        #expect(json.contains("\"fixed64\":6"))
        #expect(try JSONDecoder().decode(Scalars.self, from: Data(json.utf8)) == value)
    }
}

/// What the encoder refuses, as EncodingErrors carrying a ProtoEncodingError.
@Suite("Codec encoding errors")
struct EncodingErrorTests {
    @Test("a key without a field number names the key")
    func invalidKeys() throws {
        do {
            _ = try ProtoEncoder().encode(StringKeyed())
            Issue.record("expected an error")
        } catch EncodingError.invalidValue(_, let context) {
            #expect((context.underlyingError as? ProtoEncodingError)?.kind == .invalidFieldKey)
            #expect(context.debugDescription.contains("'name'"))
            #expect(context.codingPath.map(\.stringValue) == ["name"])
        }
        #expect(protoError(encoding: BadFieldNumber())?.kind == .invalidFieldKey)
        #expect(protoError(encoding: TooLargeFieldNumber())?.kind == .invalidFieldKey)
        #expect(protoError(encoding: LargestFieldNumber()) == nil)
    }

    @Test("the top-level value must be a message")
    func topLevel() throws {
        #expect(protoError(encoding: 5)?.kind == .notAMessage)
        #expect(protoError(encoding: "s")?.kind == .notAMessage)
        #expect(protoError(encoding: [Int32(1)])?.kind == .notAMessage)
        #expect(protoError(encoding: Date())?.kind == .notAMessage)
    }

    @Test("nesting depth: 64 levels encode, 65 are rejected")
    func depthLimit() throws {
        #expect(protoError(encoding: Node.chain(depth: 64)) == nil)
        #expect(protoError(encoding: Node.chain(depth: 65))?.kind == .nestingTooDeep)
        #expect(protoError(encoding: Node.chain(depth: 2), options: .init(nestingDepthMax: 2)) == nil)
        #expect(protoError(encoding: Node.chain(depth: 3), options: .init(nestingDepthMax: 2))?.kind == .nestingTooDeep)
    }

    @Test("dates outside the Timestamp range")
    func dates() throws {
        #expect(
            protoError(encoding: Event(at: Date(timeIntervalSince1970: -62_135_596_801)))?.kind == .timestampOutOfRange)
        #expect(
            protoError(encoding: Event(at: Date(timeIntervalSince1970: 253_402_300_800)))?.kind == .timestampOutOfRange)
        #expect(
            protoError(encoding: Event(at: Date(timeIntervalSinceReferenceDate: .infinity)))?.kind
                == .timestampOutOfRange)
        #expect(
            protoError(encoding: Event(at: Date(timeIntervalSinceReferenceDate: .nan)))?.kind == .timestampOutOfRange)
    }

    @Test("map keys protobuf does not allow")
    func mapKeys() throws {
        #expect(protoError(encoding: DoubleKeyedMap(map: [1.5: 1]))?.kind == .unsupportedMapKey)
    }

    @Test("map order: sorted by default, dictionary order when asked")
    func mapOrder() throws {
        var counts: [String: Int32] = [:]
        for index in 0..<50 { counts["k\(index)"] = Int32(index) }
        let sorted = try ProtoEncoder().encode(Maps(counts: counts))
        #expect(sorted == (try ProtoEncoder().encode(Maps(counts: counts))))
        let unsorted = try ProtoEncoder(options: .init(sortsMapEntries: false)).encode(Maps(counts: counts))
        #expect(unsorted.count == sorted.count)
        #expect(try ProtoDecoder().decode(Maps.self, from: unsorted).counts == counts)
    }
}
