import Foundation
import Testing

@testable import NumberCore

@Suite("JSONLineEncoder: the journal's streaming JSON encoder reads back through JSONDecoder")
struct JSONLineEncoderTests {
    private static let at = Date(timeIntervalSince1970: 1_736_937_000.123)

    /// Every event kind, the maximal ones of the size tests plus the rest.
    static func everyEvent() -> [CoreEvent] {
        let watch = OrphanWatch(phoneNumber: "+14155550100", accountId: "ACC_1", intentId: "PIN_1", since: at)
        // A voided purchase's buys carried a trunk, or none (""): written; not known (nil): left out.
        let routed = OrphanWatch(
            phoneNumber: "+14155550101", accountId: "ACC_1", intentId: "PIN_2", since: at, buyTrunkSid: "TK1")
        var unrouted = routed
        unrouted.buyTrunkSid = ""
        return EventSizeTests.maximalEvents() + [
            .accountStatusChanged(accountId: "ACC_1", status: .suspended),
            .apiKeyCreated(
                ApiKey(
                    id: "KEY_1", name: "ops \"root\"", scope: .admin, accountId: nil,
                    secretHash: String(repeating: "f", count: 64), createdAt: at)),
            .apiKeyRevoked(keyId: "KEY_1", at: at),
            .apiKeysPurged(keyIds: ["KEY_1", "KEY_2"]),
            .trunkCreated(
                Trunk(
                    id: "TRK_1", accountId: "ACC_1", name: "edge\\1", providerTrunkSid: "TK1", createdAt: at,
                    providerManaged: true)),
            .trunkDeleted(trunkId: "TRK_1"),
            .purchaseIntentCompensating(intentId: "PIN_1"),
            .purchaseIntentVoided(intentId: "PIN_1"),
            .numberTrunkChanged(numberId: "NUM_1", trunkId: nil),
            .numberTrunkChanged(numberId: "NUM_1", trunkId: "TRK_1"),
            .numberReleaseRequested(numberId: "NUM_1", at: at, by: nil),
            .numberReleaseRequested(numberId: "NUM_1", at: at, by: .apiKey("KEY_1")),
            .numberReleaseRequested(numberId: "NUM_1", at: at, by: .gracePeriod),
            .numberReleaseCancelled(numberId: "NUM_1"),
            .numberReleased(numberId: "NUM_1", at: at, refund: nil),
            .numberPastDue(numberId: "NUM_1", at: at),
            .idempotencyExpired(storageKeys: []),
            .orphanWatchStarted([watch, watch]),
            .orphanWatchStarted([routed, unrouted]),
            .orphanWatchEnded(phoneNumber: watch.phoneNumber, outcome: .released(sid: "PN1"), at: at),
            .orphanWatchEnded(phoneNumber: watch.phoneNumber, outcome: .claimed, at: at),
            .orphanWatchEnded(phoneNumber: watch.phoneNumber, outcome: .expired, at: at),
        ]
    }

    @Test("every event kind, alone and all together, decodes to the same value; equal values give equal bytes")
    func everyEventRoundTrips() throws {
        let events = Self.everyEvent()
        for event in events {
            let bytes = try JSONLineEncoder.encode([event])
            #expect(try JSONDecoder().decode([CoreEvent].self, from: Data(bytes)) == [event], "\(event)")
            #expect(try JSONLineEncoder.encode([event]) == bytes)
            #expect(!bytes.contains(UInt8(ascii: "\n")))
        }
        let all = try JSONLineEncoder.encode(events)
        #expect(try JSONDecoder().decode([CoreEvent].self, from: Data(all)) == events)
        #expect(try JSONLineEncoder.encode([CoreEvent]()) == Array("[]".utf8))
    }

    @Test("it reads the same as JSONEncoder's output of the same events (the journals written before it)")
    func sameValueAsFoundation() throws {
        let events = Self.everyEvent()
        let foundation = JSONEncoder()
        foundation.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let old = try JSONDecoder().decode([CoreEvent].self, from: foundation.encode(events))
        let new = try JSONDecoder().decode([CoreEvent].self, from: Data(JSONLineEncoder.encode(events)))
        #expect(old == new)
    }

    private struct Sample: Codable, Equatable {
        var text: String
        var texts: [String]
        var nested: [[Int64]]
        var map: [String: Int]
        var optional: Int?
        var flag: Bool
        var unsigned: UInt64
        var ratio: Double
        var when: Date
        var empty: [String]
    }

    /// Strings that need escaping or are not ASCII (the decoder's tests use them too).
    static let trickyStrings = [
        "plain", "", "\"quoted\"", "back\\slash", "a/b", String((0..<32).map { Character(Unicode.Scalar($0)!) }),
        "line\u{2028}sep\u{2029}", "Zürich ☎️ 📞", "\u{7F}\u{80}",
    ]

    @Test(
        "strings: quotes, backslashes, every control character, non-ASCII, U+2028, emoji",
        arguments: trickyStrings)
    func strings(_ text: String) throws {
        let sample = Sample(
            text: text, texts: [text, text], nested: [[], [1, -2], [.max, .min]], map: [text: 1, "b": 2], optional: nil,
            flag: true, unsigned: .max, ratio: -0.1, when: Self.at, empty: [])
        let bytes = try JSONLineEncoder.encode(sample)
        #expect(!bytes.contains(UInt8(ascii: "\n")) && !bytes.contains(UInt8(ascii: "\r")))
        #expect(try JSONDecoder().decode(Sample.self, from: Data(bytes)) == sample)
    }

    @Test("numbers and dates survive exactly", arguments: [0.0, -0.0, 1e-9, 123_456_789.123_456, 1e21, -3.5e300])
    func numbers(_ value: Double) throws {
        let sample = Sample(
            text: "", texts: [], nested: [], map: [:], optional: 7, flag: false, unsigned: 0, ratio: value,
            when: Date(timeIntervalSinceReferenceDate: value), empty: [])
        let bytes = try JSONLineEncoder.encode(sample)
        let decoded = try JSONDecoder().decode(Sample.self, from: Data(bytes))
        #expect(decoded == sample)
        #expect(decoded.ratio.bitPattern == value.bitPattern || value == 0)
    }

    private struct SmallScalars: Codable, Equatable {
        var tiny: Int8
        var short: Int16
        var byte: UInt8
        var word: UInt16
        var natural: UInt
        var single: Float
        var singles: [Float]
    }

    @Test("the scalars without a fast path (Int8, Int16, UInt8, UInt16, UInt, Float) encode as JSONEncoder writes them")
    func smallScalars() throws {
        let value = SmallScalars(
            tiny: -128, short: .max, byte: 255, word: 0, natural: .max, single: 0.1,
            singles: [1.5, -3e38, .leastNonzeroMagnitude])
        let bytes = try JSONLineEncoder.encode(value)
        #expect(try JSONDecoder().decode(SmallScalars.self, from: Data(bytes)) == value)
        #expect(String(decoding: bytes, as: UTF8.self).contains(#""single":0.1,"#))
        #expect(throws: EncodingError.self) { try JSONLineEncoder.encode([Float.nan]) }
    }

    @Test("values JSON cannot hold, or that need JSONEncoder's special forms, are refused")
    func refused() {
        #expect(throws: EncodingError.self) { try JSONLineEncoder.encode([Double.nan]) }
        #expect(throws: EncodingError.self) { try JSONLineEncoder.encode([Double.infinity]) }
        #expect(throws: EncodingError.self) { try JSONLineEncoder.encode([Data([1, 2])]) }
        #expect(throws: EncodingError.self) { try JSONLineEncoder.encode(["u": URL(string: "https://x")!]) }
        #expect(throws: JournalError.self) { try JournalCodec.encodeEventsJSON([Double.nan]) }
    }

    @Test("snapshots: dictionaries written in key order, whatever order they were built in, and read back")
    func sortedDictionaries() throws {
        let keys = (0..<200).map { "k\($0 * 7919 % 1000)" }
        var forward: [String: Sample] = [:]
        var backward: [String: Sample] = [:]
        for (index, key) in keys.enumerated() {
            forward[key] = Sample(
                text: key, texts: [], nested: [], map: ["z": index, "a": -index, "m": 0], optional: nil, flag: true,
                unsigned: 0, ratio: 0, when: Self.at, empty: [])
        }
        for key in keys.reversed() { backward[key] = forward[key] }
        let bytes = try JSONLineEncoder.encode(forward, sortingDictionaries: true)
        #expect(try JSONLineEncoder.encode(backward, sortingDictionaries: true) == bytes)
        #expect(try JSONDecoder().decode([String: Sample].self, from: Data(bytes)) == forward)
        let text = String(decoding: bytes, as: UTF8.self)
        let offsets = keys.sorted().map { text.range(of: "\"\($0)\":{")!.lowerBound }
        #expect(offsets == offsets.sorted())
        #expect(text.contains(#""map":{"a":"#))
        #expect(try JSONLineEncoder.encode([String: Int](), sortingDictionaries: true) == Array("{}".utf8))
    }

    @Test("snapshot keys sort in String order: ASCII by their 16-byte prefix, the rest and the ties as Strings")
    func sortKeyOrder() {
        var random = SystemRandomNumberGenerator()
        let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz_+ACNU")
        let special = [
            "", "\u{0}", "a\u{0}", "a", "é", "e\u{301}", "e\u{301}a", "\u{212A}", "K", "k", "📞", "ab📞",
            "NUM_0123456789abcdef", "NUM_0123456789abcdee", "NUM_0123456789abcdef0", "NUM_0123456789abcdeé",
        ]
        for round in 0..<50 {
            var keys = special
            for _ in 0..<(20 + round * 10) {
                let length = Int.random(in: 0...24, using: &random)
                let prefix = ["", "NUM_", "TXN_", "+1415555", "ACC_0123456789a"].randomElement(using: &random)!
                keys.append(prefix + String((0..<length).map { _ in alphabet.randomElement(using: &random)! }))
            }
            keys = Array(Set(keys)).shuffled(using: &random)
            let expected = keys.indices.sorted { keys[$0] < keys[$1] }.map { keys[$0] }
            #expect(SortKey.order(of: keys).map { keys[$0] } == expected)
        }
    }

    @Test("a state encodes to the same bytes whatever order its tables were filled in; JSONDecoder reads it back")
    func stateSnapshotIsDeterministic() throws {
        let ids = (0..<50).map { "ACC_\($0)" }
        func state(_ order: [String]) -> CoreState {
            var state = CoreState()
            for id in order {
                state.apply(.accountCreated(Account(id: id, name: "n \(id)", currency: "USD", createdAt: Self.at)))
                state.apply(
                    .transactionPosted(
                        LedgerTransaction(
                            id: "TXN_\(id)", accountId: id, kind: .fundsAdded, amount: 500, balanceAfter: 500,
                            currency: "USD", numberId: nil, description: "funds", createdAt: Self.at,
                            idempotencyKey: nil)))
            }
            return state
        }
        let forward = state(ids)
        let bytes = try JournalCodec.encodeJSON(forward)
        #expect(try JournalCodec.encodeJSON(state(ids.reversed())) == bytes)
        let decoded = try JSONDecoder().decode(CoreState.self, from: Data(bytes))
        #expect(decoded == forward)
        #expect(try JournalCodec.encodeJSON(decoded) == bytes)
        // A snapshot written by an older numberd (Foundation's JSONEncoder, every key sorted) reads the same.
        let foundation = JSONEncoder()
        foundation.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let old = try foundation.encode(forward)
        #expect(Data(bytes) != old)
        #expect(try JSONDecoder().decode(CoreState.self, from: old) == forward)
    }

    @Test("a snapshot file encoded in one buffer is the state's JSON with its head and trailer, byte for byte")
    func snapshotFileInOneBuffer() throws {
        var state = CoreState()
        for id in (0..<40).map({ "ACC_\($0)" }) {
            state.apply(.accountCreated(Account(id: id, name: "n \"\(id)\"", currency: "USD", createdAt: Self.at)))
        }
        let json = try JournalCodec.encodeJSON(state)
        let expected = JournalCodec.snapshotLine(seq: 7, time: 1_764_385_200_123, stateJSON: json)
        // Too small (grown as it goes), none, exact, larger.
        for capacity in [0, 1, expected.count, expected.count * 3] {
            let file = try JournalCodec.snapshotFile(seq: 7, time: 1_764_385_200_123, state: state, capacity: capacity)
            #expect(file == expected, "capacity \(capacity)")
            #expect(ChecksummedLine.verify(file.dropLast()))
        }
    }
}
