import Foundation
import TestSupport
import Testing

@testable import NumberCore

@Suite("JSONLineWritable/Readable: records that write and read their own JSON do as Codable does")
struct JSONLineWritableTests {
    /// The bytes of `value` written directly and through `Codable` only; both must be the same.
    private func bothWays<Value: Encodable>(
        _ value: Value, sortingDictionaries: Bool = false
    ) throws -> (direct: [UInt8], codable: [UInt8]) {
        (
            try JSONLineEncoder.encode(value, sortingDictionaries: sortingDictionaries),
            try JSONLineEncoder.encode(value, sortingDictionaries: sortingDictionaries, writingDirectly: false)
        )
    }

    private func expectSame<Value: Encodable & Decodable & Equatable>(
        _ value: Value, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let (direct, codable) = try bothWays(value)
        let same = direct == codable
        let differAt =
            zip(direct, codable).enumerated().first { $1.0 != $1.1 }?.offset ?? min(direct.count, codable.count)
        #expect(
            same,
            "the bytes differ from offset \(differAt): \(String(decoding: codable.prefix(differAt + 40), as: UTF8.self))",
            sourceLocation: sourceLocation)
        let decoded = try JSONLineDecoder.decode(Value.self, from: direct[...])
        let readsBack = decoded == value
        #expect(readsBack, "the direct bytes read back as another value", sourceLocation: sourceLocation)
        let throughCodable = try JSONLineDecoder.decode(Value.self, from: direct[...], readingDirectly: false)
        let readsAlike = throughCodable == decoded
        #expect(
            readsAlike, "read directly and through Codable, the bytes give two values", sourceLocation: sourceLocation)
    }

    @Test("damaged records: read directly and through Codable, the same value or the same kind of error")
    func damagedRecords() async throws {
        var generator = RecordGenerator(random: SplitMix64(seed: 0xDA_3A6E), full: true)
        let numbers = (0..<3).map { _ in generator.number() }
        let transactions = (0..<3).map { _ in generator.transaction() }
        var random = SplitMix64(seed: 77)
        var agreedOnValues = 0
        for (index, clean) in [try JSONLineEncoder.encode(numbers), try JSONLineEncoder.encode(transactions)]
            .enumerated()
        {
            for round in 0..<1_000 {
                if round % 50 == 0 { await Task.yield() }
                var bytes = clean
                let at = Int(random.next() % UInt64(bytes.count))
                switch round % 3 {
                case 0: bytes[at] = UInt8(truncatingIfNeeded: random.next())
                case 1: bytes.remove(at: at)
                default: bytes.insert(Array(#"{}[]",:0-e.\"nul"#.utf8)[Int(random.next() % 15)], at: at)
                }
                let text = "round \(round): \(String(decoding: bytes, as: UTF8.self))"
                if index == 0 {
                    let direct = Self.outcome([OwnedNumber].self, bytes, true)
                    #expect(direct == Self.outcome([OwnedNumber].self, bytes, false), "\(text)")
                    if case .value = direct { agreedOnValues += 1 }
                } else {
                    let direct = Self.outcome([LedgerTransaction].self, bytes, true)
                    #expect(direct == Self.outcome([LedgerTransaction].self, bytes, false), "\(text)")
                    if case .value = direct { agreedOnValues += 1 }
                }
            }
        }
        #expect(agreedOnValues > 0)
    }

    /// What decoding gives: the value, or the kind of `DecodingError` (with the missing key's name).
    private static func outcome<Value: Decodable & Equatable>(
        _ type: Value.Type, _ bytes: [UInt8], _ direct: Bool
    ) -> DecodeOutcome<Value> {
        do {
            return .value(try JSONLineDecoder.decode(type, from: bytes[...], readingDirectly: direct))
        } catch let error as DecodingError {
            switch error {
            case .typeMismatch: return .error("typeMismatch")
            case .valueNotFound: return .error("valueNotFound")
            case .keyNotFound(let key, _): return .error("keyNotFound \(key.stringValue)")
            case .dataCorrupted: return .error("dataCorrupted")
            @unknown default: return .error("\(error)")
            }
        } catch {
            return .error("\(error)")
        }
    }

    @Test("every event kind, alone and together (the ones written directly and the ones that are not)")
    func everyEvent() throws {
        let events = JSONLineEncoderTests.everyEvent()
        for event in events { try expectSame([event]) }
        try expectSame(events)
        try expectSame([CoreEvent]())
    }

    @Test("random records: every optional member set and unset, every enum case, tricky strings, edge numbers")
    func randomRecords() async throws {
        var random = SplitMix64(seed: 0x5EED_0F_15_0_4)
        for index in 0..<500 {
            if index % 10 == 0 { await Task.yield() }
            var generator = RecordGenerator(random: random)
            let intent = generator.intent()
            let number = generator.number()
            let transaction = generator.transaction()
            let record = generator.idempotencyRecord()
            random = generator.random
            try expectSame(intent)
            try expectSame(number)
            try expectSame(transaction)
            try expectSame(record)
            try expectSame([
                CoreEvent.purchaseIntentOpened(intent), .idempotencyRecorded(record),
                .purchaseCommitted(intentId: intent.id, numbers: [number, number], transactions: [transaction]),
                .purchaseCommitted(intentId: intent.id, numbers: [], transactions: []),
                .transactionPosted(transaction),
                .numberReleased(numberId: number.id, at: number.purchasedAt, refund: transaction),
            ])
        }
    }

    @Test("the fullest samples set every optional member, so the comparisons above cover each of them")
    func samplesAreFull() {
        var generator = RecordGenerator(random: SplitMix64(seed: 1), full: true)
        for value in [
            generator.intent() as Any, generator.number(), generator.transaction(), generator.idempotencyRecord(),
        ] {
            #expect(Self.unsetOptionals(in: value).isEmpty, "\(type(of: value)): \(Self.unsetOptionals(in: value))")
        }
    }

    @Test("a snapshot of a service-built state: the same bytes both ways")
    func snapshot() async throws {
        let (direct, codable) = try bothWays(
            try await JSONLineDecoderTests.serviceBuiltState(), sortingDictionaries: true)
        let same = direct == codable
        #expect(same)
    }

    /// The labels of optional members that are nil, anywhere inside `value` (through copy-on-write boxes too).
    static func unsetOptionals(in value: Any, path: String = "") -> [String] {
        let mirror = Mirror(reflecting: value)
        if mirror.displayStyle == .optional {
            guard let wrapped = mirror.children.first?.value else { return [path] }
            return unsetOptionals(in: wrapped, path: path)
        }
        return mirror.children.flatMap { child in
            unsetOptionals(in: child.value, path: path + "." + (child.label ?? "?"))
        }
    }
}

/// Records with random contents; `full` sets every optional member.
private struct RecordGenerator {
    var random: SplitMix64
    var full = false

    private static let strings = JSONLineEncoderTests.trickyStrings + ["ACC_01n4cx93naj", "+14155550100", "USD"]

    mutating func string() -> String { Self.strings[Int(random.next() % UInt64(Self.strings.count))] }

    mutating func optionalString() -> String? { full || random.next() % 2 == 0 ? string() : nil }

    mutating func amount() -> Int64 {
        [Int64.min, -1, 0, 1, 133, .max, Int64(bitPattern: random.next())][Int(random.next() % 7)]
    }

    mutating func date() -> Date {
        [
            Date(timeIntervalSinceReferenceDate: 0), Date(timeIntervalSince1970: 1_736_937_000.123),
            Date(timeIntervalSinceReferenceDate: Double(random.next() % 4_000_000_000) / 7),
            Date(timeIntervalSinceReferenceDate: -1e-9),
        ][Int(random.next() % 4)]
    }

    mutating func optionalDate() -> Date? { full || random.next() % 2 == 0 ? date() : nil }

    mutating func optionalActor() -> LedgerActor? {
        full || random.next() % 2 == 0 ? element([LedgerActor.apiKey(string()), .billing, .reconciliation]) : nil
    }

    mutating func element<T>(_ choices: [T]) -> T { choices[Int(random.next() % UInt64(choices.count))] }

    mutating func capabilities() -> NumberCapabilities {
        let bits = random.next()
        return NumberCapabilities(voice: bits & 1 != 0, sms: bits & 2 != 0, mms: bits & 4 != 0, fax: bits & 8 != 0)
    }

    mutating func intent() -> PurchaseIntent {
        let items = (0..<(full ? 2 : Int(random.next() % 3))).map { _ in
            PurchaseIntent.Item(
                phoneNumber: string(), setupFee: amount(), monthlyFee: amount(),
                listing: full || random.next() % 2 == 0
                    ? AvailableNumber(
                        phoneNumber: string(), friendlyName: string(), locality: optionalString(),
                        region: optionalString(), postalCode: optionalString(), country: string(),
                        type: element(NumberType.allCases), capabilities: capabilities())
                    : nil)
        }
        return PurchaseIntent(
            id: string(), accountId: string(), items: items, country: string(),
            type: element(NumberType.allCases), trunkId: optionalString(), currency: string(),
            heldAmount: amount(), idempotencyKey: optionalString(), createdAt: date(),
            status: element(PurchaseIntent.Status.allCases), actor: optionalActor())
    }

    mutating func number() -> OwnedNumber {
        var number = OwnedNumber(
            id: string(), accountId: string(), phoneNumber: string(), friendlyName: string(), country: string(),
            region: optionalString(), locality: optionalString(), postalCode: optionalString(),
            type: element(NumberType.allCases), capabilities: capabilities(),
            status: element(OwnedNumber.Status.allCases), trunkId: optionalString(), setupFee: amount(),
            monthlyFee: amount(), currency: string(), providerSid: string(), purchasedAt: date(),
            billingAnchorDay: Int(random.next() % 31) + 1, cycleStart: date(), nextBillingDate: date())
        number.pastDueSince = optionalDate()
        number.releaseRequestedAt = optionalDate()
        number.releasedAt = optionalDate()
        number.refundTransactionId = optionalString()
        number.releaseRequestedBy = optionalActor()
        number.releaseRequestKey = optionalString()
        if let at = optionalDate() {
            let earlier = full || random.next() % 2 == 0 ? ["", string(), string()].sorted() : []
            number.routeRequest = RouteRequest(trunkId: optionalString(), at: at, earlier: earlier)
        }
        return number
    }

    mutating func transaction() -> LedgerTransaction {
        LedgerTransaction(
            id: string(), accountId: string(), kind: element(LedgerTransaction.Kind.allCases), amount: amount(),
            balanceAfter: amount(), currency: string(), numberId: optionalString(), description: string(),
            createdAt: date(), idempotencyKey: optionalString(), actor: optionalActor())
    }

    mutating func idempotencyRecord() -> IdempotencyRecord {
        let outcome: IdempotencyRecord.Outcome =
            switch random.next() % 5 {
            case 0: .pending(intentId: string())
            case 1:
                .purchased(
                    numberIds: (0..<Int(random.next() % 3)).map { _ in string() },
                    transactionIds: (0..<Int(random.next() % 3)).map { _ in string() })
            case 2: .adjusted(transactionId: string())
            case 3:
                .releaseRequested(
                    numberId: string(), renewalIds: (0..<Int(random.next() % 3)).map { _ in string() })
            default: .fundsAdded(transactionId: string())
            }
        return IdempotencyRecord(
            accountId: string(), key: string(), operation: element(IdempotencyRecord.Operation.allCases),
            fingerprint: string(),
            createdAt: date(), outcome: outcome)
    }
}

/// A decoding's result, comparable: the value or the kind of error.
private enum DecodeOutcome<Value: Equatable>: Equatable {
    case value(Value)
    case error(String)
}
