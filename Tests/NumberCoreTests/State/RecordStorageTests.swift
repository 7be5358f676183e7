import Foundation
import Testing

@testable import NumberCore

/// `OwnedNumber` and `LedgerTransaction` keep their fields in shared copy-on-write storage (so the state's three
/// copies of their tables hold references, not records). These tests pin what must not change with that: the
/// JSON of the journal and snapshots, value semantics, equality and hashing.
@Suite("Copy-on-write records: same JSON as plain structs, value semantics")
struct RecordStorageTests {
    private static let at = Date(timeIntervalSince1970: 1_736_937_000.25)

    /// The fields of `OwnedNumber` as a plain struct with synthesized `Codable`: what the journal held before.
    private struct PlainNumber: Codable {
        var id: String
        var accountId: String
        var phoneNumber: String
        var friendlyName: String
        var country: String
        var region: String?
        var locality: String?
        var postalCode: String?
        var type: NumberType
        var capabilities: NumberCapabilities
        var status: OwnedNumber.Status
        var trunkId: String?
        var setupFee: Int64
        var monthlyFee: Int64
        var currency: String
        var providerSid: String
        var purchasedAt: Date
        var billingAnchorDay: Int
        var cycleStart: Date
        var nextBillingDate: Date
        var pastDueSince: Date?
        var releaseRequestedAt: Date?
        var releasedAt: Date?
        var refundTransactionId: String?
    }

    /// The fields of `LedgerTransaction` as a plain struct.
    private struct PlainTransaction: Codable {
        var id: String
        var accountId: String
        var kind: LedgerTransaction.Kind
        var amount: Int64
        var balanceAfter: Int64
        var currency: String
        var numberId: String?
        var description: String
        var createdAt: Date
        var idempotencyKey: String?
    }

    static func number(full: Bool) -> OwnedNumber {
        var number = OwnedNumber(
            id: "NUM_0123456789a", accountId: "ACC_0123456789a", phoneNumber: "+14155550100",
            friendlyName: "(415) 555-0100", country: "US", region: full ? "CA" : nil,
            locality: full ? "San Francisco" : nil, postalCode: full ? "94102" : nil, type: .local,
            capabilities: NumberCapabilities(voice: true, sms: false, mms: true), status: .active,
            trunkId: full ? "TRK_0123456789a" : nil, setupFee: 100, monthlyFee: 115, currency: "USD",
            providerSid: "PN0123456789abcdef0123456789abcdef", purchasedAt: at, billingAnchorDay: 15, cycleStart: at,
            nextBillingDate: at.addingTimeInterval(86_400 * 31))
        if full {
            number.status = .released
            number.pastDueSince = at.addingTimeInterval(1)
            number.releaseRequestedAt = at.addingTimeInterval(2)
            number.releasedAt = at.addingTimeInterval(3)
            number.refundTransactionId = "TXN_0123456789a"
        }
        return number
    }

    private static func plain(_ n: OwnedNumber) -> PlainNumber {
        PlainNumber(
            id: n.id, accountId: n.accountId, phoneNumber: n.phoneNumber, friendlyName: n.friendlyName,
            country: n.country, region: n.region, locality: n.locality, postalCode: n.postalCode, type: n.type,
            capabilities: n.capabilities, status: n.status, trunkId: n.trunkId, setupFee: n.setupFee,
            monthlyFee: n.monthlyFee, currency: n.currency, providerSid: n.providerSid, purchasedAt: n.purchasedAt,
            billingAnchorDay: n.billingAnchorDay, cycleStart: n.cycleStart, nextBillingDate: n.nextBillingDate,
            pastDueSince: n.pastDueSince, releaseRequestedAt: n.releaseRequestedAt, releasedAt: n.releasedAt,
            refundTransactionId: n.refundTransactionId)
    }

    static func transaction(full: Bool) -> LedgerTransaction {
        LedgerTransaction(
            id: "TXN_0123456789a", accountId: "ACC_0123456789a", kind: full ? .refund : .fundsAdded, amount: -250,
            balanceAfter: 1_000, currency: "USD", numberId: full ? "NUM_0123456789a" : nil,
            description: "Refund \"quoted\" \u{1F4DE}", createdAt: at, idempotencyKey: full ? "key-1" : nil)
    }

    private static func plain(_ t: LedgerTransaction) -> PlainTransaction {
        PlainTransaction(
            id: t.id, accountId: t.accountId, kind: t.kind, amount: t.amount, balanceAfter: t.balanceAfter,
            currency: t.currency, numberId: t.numberId, description: t.description, createdAt: t.createdAt,
            idempotencyKey: t.idempotencyKey)
    }

    @Test(
        "the journal encoder writes the bytes a plain struct gave, and both decoders read them back",
        arguments: [false, true])
    func sameJSON(full: Bool) throws {
        let number = Self.number(full: full)
        let numberJSON = try JSONLineEncoder.encode(number)
        #expect(numberJSON == (try JSONLineEncoder.encode(Self.plain(number))))
        #expect(try JSONDecoder().decode(OwnedNumber.self, from: Data(numberJSON)) == number)
        #expect(try JSONDecoder().decode(OwnedNumber.self, from: JSONEncoder().encode(Self.plain(number))) == number)
        let transaction = Self.transaction(full: full)
        let transactionJSON = try JSONLineEncoder.encode(transaction)
        #expect(transactionJSON == (try JSONLineEncoder.encode(Self.plain(transaction))))
        #expect(try JSONDecoder().decode(LedgerTransaction.self, from: Data(transactionJSON)) == transaction)
        // Absent optionals are left out, as before.
        #expect(String(decoding: numberJSON, as: UTF8.self).contains("releasedAt") == full)
        #expect(String(decoding: transactionJSON, as: UTF8.self).contains("idempotencyKey") == full)
    }

    @Test("a record in a table, an event or a copy of the state is one reference")
    func oneReference() {
        #expect(MemoryLayout<OwnedNumber>.size == MemoryLayout<UnsafeRawPointer>.size)
        #expect(MemoryLayout<LedgerTransaction>.size == MemoryLayout<UnsafeRawPointer>.size)
    }

    @Test("a copy is a value: changing one leaves the other, equality and hashing follow the fields")
    func valueSemantics() {
        let original = Self.number(full: false)
        var copy = original
        #expect(copy == original && copy.hashValue == original.hashValue)
        copy.status = .pastDue
        copy.trunkId = "TRK_1"
        #expect(original.status == .active && original.trunkId == nil)
        #expect(copy.status == .pastDue && copy.trunkId == "TRK_1" && copy != original)
        copy.status = .active
        copy.trunkId = nil
        // Equal again field by field although the storage is no longer shared.
        #expect(copy == original && copy.hashValue == original.hashValue)
        var table = ["a": original]
        let snapshot = table
        table["a"]!.monthlyFee = 999
        #expect(snapshot["a"]!.monthlyFee == 115 && table["a"]!.monthlyFee == 999)

        var debit = Self.transaction(full: false)
        let kept = debit
        debit.amount = -1
        #expect(kept.amount == -250 && debit.amount == -1 && kept != debit)
        #expect(Set([kept, kept, Self.transaction(full: false)]).count == 1)
    }
}
