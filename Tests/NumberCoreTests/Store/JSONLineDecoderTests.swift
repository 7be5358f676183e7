import Foundation
import Testing

@testable import NumberCore

/// `JSONLineDecoder` reads what `JSONLineEncoder` and Foundation's `JSONEncoder` write as the same values as
/// `JSONDecoder`, refuses malformed JSON with a `DecodingError` (never a trap), and never accepts damaged bytes as
/// something `JSONDecoder` would read differently.
@Suite("JSONLineDecoder: the journal's JSON decoder reads what JSONDecoder reads")
struct JSONLineDecoderTests {
    private static let at = Date(timeIntervalSince1970: 1_736_937_000.123)

    private func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) throws -> T {
        try JSONLineDecoder.decode(type, from: bytes[...])
    }

    private func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try decode(type, Array(text.utf8))
    }

    @Test("every event kind, written by either encoder, reads back as the same value as JSONDecoder gives")
    func everyEvent() throws {
        let events = JSONLineEncoderTests.everyEvent()
        let foundation = JSONEncoder()
        foundation.outputFormatting = [.sortedKeys]  // escapes "/" as "\/", as older journals have it
        for bytes in [try JSONLineEncoder.encode(events), Array(try foundation.encode(events))] {
            let ours = try decode([CoreEvent].self, bytes)
            #expect(ours == events)
            #expect(try JSONDecoder().decode([CoreEvent].self, from: Data(bytes)) == ours)
        }
    }

    private struct Sample: Codable, Equatable {
        var text: String
        var texts: [String]
        var nested: [[Int64]]
        var map: [String: Int]
        var numbered: [Int: String]
        var optional: Int?
        var optionals: [String?]
        var flag: Bool
        var unsigned: UInt64
        var small: Int8
        var ratio: Double
        var single: Float
        var when: Date
        var empty: [String]
    }

    private func sample(_ text: String, ratio: Double = -0.1) -> Sample {
        Sample(
            text: text, texts: [text, text], nested: [[], [1, -2], [.max, .min]], map: [text: 1, "b": 2],
            numbered: [3: text, -4: "x"], optional: nil, optionals: [nil, text], flag: true, unsigned: .max,
            small: -128, ratio: ratio, single: 1.5, when: Date(timeIntervalSinceReferenceDate: ratio), empty: [])
    }

    @Test(
        "strings: quotes, backslashes, every control character, slashes, non-ASCII, U+2028, emoji",
        arguments: JSONLineEncoderTests.trickyStrings)
    func strings(_ text: String) throws {
        let value = sample(text)
        let foundation = JSONEncoder()
        for bytes in [try JSONLineEncoder.encode(value), Array(try foundation.encode(value))] {
            #expect(try decode(Sample.self, bytes) == value)
        }
    }

    @Test(
        "numbers and dates", arguments: [0.0, -0.0, 1e-9, 123_456_789.123_456, 1e21, -3.5e300, .leastNonzeroMagnitude])
    func numbers(_ value: Double) throws {
        let decoded = try decode(Sample.self, try JSONLineEncoder.encode(sample("n", ratio: value)))
        #expect(decoded == sample("n", ratio: value))
        #expect(decoded.ratio.bitPattern == value.bitPattern)
    }

    @Test("\\u escapes, surrogate pairs and escaped member names")
    func escapes() throws {
        #expect(
            try decode(String.self, #""\u0041\u00e9\u2028\ud83d\udcde\/\b\f\n\r\t\"\\""#)
                == "Aé\u{2028}📞/\u{8}\u{C}\n\r\t\"\\")
        #expect(try decode([String: Int].self, #"{"\u0061":1,"b\n":2}"#) == ["a": 1, "b\n": 2])
        struct Named: Decodable, Equatable { var name: String }
        #expect(try decode(Named.self, #"{"n\u0061me":"x"}"#) == Named(name: "x"))
    }

    @Test("integers: exact values in any JSON number form, nothing out of range or fractional")
    func integers() throws {
        #expect(
            try decode([Int64].self, "[0,-0,9223372036854775807,-9223372036854775808,1.0,1e3,-2E+2]") == [
                0, 0, .max, .min, 1, 1000, -200,
            ])
        #expect(try decode([UInt64].self, "[18446744073709551615]") == [.max])
        #expect(
            try decode([Int64].self, "[0.0e5,12.50e1,-0.0,100e-2,4611686018427387.904e3]") == [0, 125, 0, 1, 1 << 62])
        // Refused like JSONDecoder refuses them: a fraction, out of range, or (with a fraction or an exponent) a value
        // a Double cannot hold exactly, even if it is an integer in decimal.
        for bad in [
            "[9223372036854775808]", "[1.5]", "[1e-1]", "[\"1\"]", "[true]", "[1e19]", "[1e99999999]",
            "[9223372036854775.807e3]",
        ] {
            #expect(throws: DecodingError.self, "\(bad)") { try decode([Int64].self, bad) }
            #expect((try? JSONDecoder().decode([Int64].self, from: Data(bad.utf8))) == nil, "\(bad)")
        }
        // Stricter than JSONDecoder, which rounds these through a Double to 9223372036854776 and 1.
        for fraction in ["[9223372036854775.807]", "[1.0000000000000001]"] {
            #expect(throws: DecodingError.self, "\(fraction)") { try decode([Int64].self, fraction) }
        }
        #expect(throws: DecodingError.self) { try decode([UInt64].self, "[-1]") }
        #expect(throws: DecodingError.self) { try decode([Int8].self, "[128]") }
    }

    @Test("missing keys, nulls and wrong types give the errors JSONDecoder gives")
    func errors() throws {
        struct Record: Decodable, Equatable {
            var id: String
            var note: String?
            var count: Int
            var flag: Bool?
            var level: Int64?
        }
        #expect(try decode(Record.self, #"{"count":2,"id":"a"}"#) == Record(id: "a", note: nil, count: 2))
        #expect(try decode(Record.self, #"{"id":"a","note":null,"count":2}"#) == Record(id: "a", note: nil, count: 2))
        #expect(
            try decode(Record.self, #"{"level":-7,"flag":false,"note":"n","count":2,"id":"a"}"#)
                == Record(id: "a", note: "n", count: 2, flag: false, level: -7))
        let cases: [(String, String)] = [
            (#"{"id":"a"}"#, "keyNotFound"), (#"{"id":null,"count":1}"#, "valueNotFound"),
            (#"{"id":1,"count":1}"#, "typeMismatch"), (#"[1]"#, "typeMismatch"),
            (#"{"id":"a","count":"1"}"#, "typeMismatch"),
            // Optional members present with the wrong type fail as JSONDecoder fails them (not read as absent).
            (#"{"id":"a","count":1,"note":5}"#, "typeMismatch"),
            (#"{"id":"a","count":1,"flag":"yes"}"#, "typeMismatch"),
            (#"{"id":"a","count":1,"level":1.5}"#, "dataCorrupted"),
        ]
        for (text, kind) in cases {
            do {
                _ = try decode(Record.self, text)
                Issue.record("\(text) decoded")
            } catch let error as DecodingError {
                #expect("\(error)".hasPrefix("DecodingError.\(kind)"), "\(text): \(error)")
                #expect((try? JSONDecoder().decode(Record.self, from: Data(text.utf8))) == nil)
            }
        }
    }

    @Test(
        "malformed JSON is refused with a DecodingError",
        arguments: [
            "", " ", "{", "}", "[1,]", #"{"a":1,}"#, #"{"a" 1}"#, #"{a:1}"#, "01", "1.", "-", "1e", "+1", ".5",
            #""\x""#, #""\u12""#, "\"a\u{01}\"", "tru", "nul", "[1] 2", "[1]]", #""unterminated"#, #""\ud800""#,
            #""\udc00\ud800""#, "[\"\\", #"{"a":1,"a":1}"#, #"{"a":1,"\u0061":2}"#,
            "{" + (0..<40).map { #""k\#($0 % 39)":0"# }.joined(separator: ",") + "}",
        ])
    func malformed(_ text: String) {
        #expect(throws: DecodingError.self) { try decode(AnyJSONValue.self, text) }
        #expect(throws: DecodingError.self) { try decode([String].self, text) }
    }

    @Test("invalid UTF-8 inside a string is refused when the string is read")
    func invalidUTF8() {
        let bytes: [UInt8] = Array(#"[""#.utf8) + [0xC3, 0x28] + Array(#""]"#.utf8)
        #expect(throws: DecodingError.self) { try decode([String].self, bytes) }
    }

    @Test("nesting is bounded: 64 levels read, 65 refused")
    func depth() throws {
        let deep = { (levels: Int) in String(repeating: "[", count: levels) + String(repeating: "]", count: levels) }
        _ = try decode(AnyJSONValue.self, deep(JSONLineDecoder.depthMax))
        #expect(throws: DecodingError.self) { try decode(AnyJSONValue.self, deep(JSONLineDecoder.depthMax + 1)) }
    }

    @Test("whitespace between tokens is accepted; keys are found in any order")
    func layout() throws {
        struct Pair: Decodable, Equatable {
            var a: Int
            var b: [Int]
        }
        #expect(try decode(Pair.self, " {\n\t\"b\" : [ 1 , 2 ] ,\r\n \"a\":3 } ") == Pair(a: 3, b: [1, 2]))
        #expect(try decode(Pair.self, #"{"x":{"a":9},"a":3,"b":[]}"#) == Pair(a: 3, b: []))
        // Distinct names in a large object (checked through a set) and in a small one (pairwise).
        let large = "{" + (0..<40).map { #""k\#($0)":\#($0)"# }.joined(separator: ",") + "}"
        #expect(try decode([String: Int].self, large).count == 40)
        #expect(try decode([String: Int].self, #"{"ab":1,"ba":2,"a":3,"b":4}"#) == ["ab": 1, "ba": 2, "a": 3, "b": 4])
    }

    @Test("member names compare as strings, as JSONDecoder compares them: the Kelvin sign is K, é is é")
    func canonicalNames() throws {
        struct Keyed: Decodable, Equatable {
            var aKey: String?
        }
        // "\u{212A}" below is the Kelvin sign written raw in the JSON (not a \u escape): "a\u{212A}ey" == "aKey".
        for text in ["{\"a\u{212A}ey\":\"v\"}", #"{"aKey":"v"}"#, "{\"ak\u{212A}\":\"v\"}"] {
            let bytes = Array(text.utf8)
            let ours = try decode(Keyed.self, bytes)
            #expect(ours == Keyed(aKey: text.contains("ak") ? nil : "v"), "\(text)")
            #expect(try JSONDecoder().decode(Keyed.self, from: Data(bytes)) == ours, "\(text)")
        }
        // Names equal as strings are one name twice: refused, composed and decomposed alike.
        #expect(throws: DecodingError.self) { try decode([String: Int].self, "{\"\u{E9}\":1,\"e\u{301}\":2}") }
        #expect(throws: DecodingError.self) { try decode([String: Int].self, "{\"\u{212A}\":1,\"K\":2}") }
    }

    @Test("numbers JSONDecoder refuses are refused: underflow to zero, integers a Double cannot hold exactly")
    func numbersLikeFoundation() throws {
        #expect(try decode([Double].self, "[0e-400,-0.0e5]").allSatisfy { $0 == 0 })
        #expect(throws: DecodingError.self) { try decode([Double].self, "[1e-400]") }
        #expect(throws: DecodingError.self) { try decode([Double].self, "[1e400]") }
        #expect(try decode([Float].self, "[0.1,3.4e38]") == [0.1, 3.4e38])
        #expect(throws: DecodingError.self) { try decode([Float].self, "[1e-50]") }
        #expect(throws: DecodingError.self) { try decode([Float].self, "[1e39]") }
        for text in ["[9223372036854775807.0]", "[18446744073709551615e0]"] {
            #expect(throws: DecodingError.self) { try decode([Int64].self, text) }
            #expect((try? JSONDecoder().decode([Int64].self, from: Data(text.utf8))) == nil)
        }
        // A long run of zeros is linear work, not quadratic.
        #expect(try decode([Int64].self, "[0." + String(repeating: "0", count: 200_000) + "]") == [0])
        #expect(try decode([Int64].self, "[1" + String(repeating: "0", count: 18) + ".000e-18]") == [1])
    }

    @Test("an unkeyed container moves on only when an element was read; super-decoders as JSONDecoder's")
    func containers() throws {
        struct Mixed: Decodable, Equatable {
            var values: [String]
            init(from decoder: any Decoder) throws {
                var array = try decoder.unkeyedContainer()
                values = []
                while !array.isAtEnd {
                    if let number = try? array.decode(Int.self) {
                        values.append("#\(number)")
                    } else {
                        values.append(try array.decode(String.self))
                    }
                }
                #expect(throws: DecodingError.self) { try array.decodeNil() }
            }
        }
        #expect(try decode(Mixed.self, #"[1,"a",2]"#).values == ["#1", "a", "#2"])
        struct Child: Decodable {
            enum CodingKeys: String, CodingKey { case name }
            var name: String
            var parentIsNull: Bool
            init(from decoder: any Decoder) throws {
                let container = try decoder.container(keyedBy: CodingKeys.self)
                name = try container.decode(String.self, forKey: .name)
                // No `super` key in CodingKeys and no "super" member: a decoder over null, not a trap.
                parentIsNull = try container.superDecoder().singleValueContainer().decodeNil()
            }
        }
        let child = try decode(Child.self, #"{"name":"x"}"#)
        #expect(child.name == "x" && child.parentIsNull)
        #expect(try !decode(Child.self, #"{"name":"x","super":{}}"#).parentIsNull)
    }

    /// A state the service built: accounts (one with quotes and an emoji in its name), a trunk, numbers bought on
    /// it, one released with its refund.
    static func serviceBuiltState() async throws -> CoreState {
        let harness = try await Harness(.memory)
        let trunk = try await harness.account(funds: 100_000, name: "Trunked \"quotes\" ☎️")
        let edge = try await harness.service.createTrunk(
            accountId: trunk.id, name: "edge/1", providerTrunkSid: trunkSid(1))
        _ = try await harness.buy(["+14155550100", "+14155550101"], for: trunk.id, trunkId: edge.id)
        let other = try await harness.account(funds: 50_000, name: "Other")
        let bought = try await harness.buy(["+14155550102"], for: other.id)
        _ = try await harness.service.release(accountId: other.id, numberId: bought.numbers[0].id)
        return harness.service.durableState()
    }

    @Test("a snapshot of a populated state reads back equal to the state and to JSONDecoder's reading")
    func stateSnapshot() async throws {
        let state = try await Self.serviceBuiltState()
        let bytes = try JournalCodec.encodeJSON(state)
        let ours = try decode(CoreState.self, bytes)
        #expect(ours == state)
        #expect(try JSONDecoder().decode(CoreState.self, from: Data(bytes)) == ours)
    }

    @Test("damaged bytes: whatever JSONLineDecoder accepts, JSONDecoder reads as the same value")
    func damagedBytes() throws {
        let events = JSONLineEncoderTests.everyEvent()
        let clean = try JSONLineEncoder.encode(events)
        var random = SystemRandomNumberGenerator()
        var accepted = 0
        for round in 0..<1_000 {
            var bytes = clean
            var touched: [Int] = []
            for _ in 0..<(1 + round % 3) {
                let index = Int.random(in: 0..<bytes.count, using: &random)
                touched.append(index)
                switch round % 4 {
                case 0: bytes[index] = UInt8.random(in: 0...255, using: &random)
                case 1: bytes[index] ^= 1 << UInt8.random(in: 0..<8, using: &random)
                case 2: bytes.remove(at: index)
                default: bytes.insert(Array(#"{}[]",:0-e.\"#.utf8).randomElement(using: &random)!, at: index)
                }
            }
            guard let ours = try? decode([CoreEvent].self, bytes) else { continue }
            accepted += 1
            let theirs = try? JSONDecoder().decode([CoreEvent].self, from: Data(bytes))
            #expect(
                theirs == ours,
                "round \(round): \(touched.map { String(decoding: bytes[max(0, $0 - 30)..<min(bytes.count, $0 + 30)], as: UTF8.self) })"
            )
        }
        #expect(accepted > 0)
    }

    @Test("a ledger's actors are made once per decode and shared; the values are the same as JSONDecoder's")
    func actorsAreShared() throws {
        let actors: [LedgerActor?] = [
            .apiKey("KEY_0a1b2c3d4e5f"), .apiKey("KEY_0a1b2c3d4e5f"), .gracePeriod, .gracePeriod, .billing, nil,
            LedgerActor(rawValue: "KEY_\u{e9}t\u{e9}\"quoted\"_long"),
            LedgerActor(rawValue: "KEY_\u{e9}t\u{e9}\"quoted\"_long"),
        ]
        let transactions = actors.enumerated().map { index, actor in
            LedgerTransaction(
                id: "TXN_\(index)", accountId: "ACC_1", kind: .purchase, amount: -1, balanceAfter: 0, currency: "USD",
                numberId: nil, description: "d", createdAt: Date(timeIntervalSinceReferenceDate: 0),
                idempotencyKey: nil, actor: actor)
        }
        let bytes = try JSONLineEncoder.encode(transactions)
        let read = try JSONLineDecoder.decode([LedgerTransaction].self, from: bytes[...])
        #expect(read == transactions)
        #expect(try JSONDecoder().decode([LedgerTransaction].self, from: Data(bytes)) == transactions)
        /// Where a string's UTF-8 is stored: one allocation shared by equal interned strings.
        func storage(_ transaction: LedgerTransaction) -> UnsafeRawPointer? {
            var text = transaction.actor?.rawValue ?? ""
            return text.withUTF8 { UnsafeRawPointer($0.baseAddress) }
        }
        #expect(storage(read[0]) == storage(read[1]), "one key id, one string")
        #expect(storage(read[2]) == storage(read[3]), "one system name, one string")
        #expect(storage(read[0]) != storage(read[2]))
        // Escaped strings are not interned (they are not compared as bytes): equal values, made each time.
        #expect(read[6].actor == read[7].actor)
    }
}
