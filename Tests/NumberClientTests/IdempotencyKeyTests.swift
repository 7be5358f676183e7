import Foundation
import NumberAPI
import Testing

@testable import NumberClient

@Suite("Idempotency keys the client makes for keyed calls")
struct IdempotencyKeyTests {
    @Test("a generated key is a lower-case version-4 UUID, and keys do not repeat")
    func generatedKeys() {
        var seen = Set<String>()
        for _ in 0..<10_000 {
            let key = NumbersClient.newIdempotencyKey()
            #expect(key == key.lowercased())
            let uuid = UUID(uuidString: key)?.uuid
            #expect(uuid != nil, "\(key)")
            if let uuid {
                #expect(uuid.6 >> 4 == 4, "version nibble of \(key)")
                #expect(uuid.8 >> 6 == 0b10, "variant bits of \(key)")
            }
            seen.insert(key)
        }
        #expect(seen.count == 10_000)
    }

    @Test("purchase, add-funds, adjust-balance, release and adoption calls are keyed; reads are not")
    func keyedMethods() {
        #expect(NumbersClient.retryClass(NumbersMethods.purchaseNumbers.path) == .keyed)
        #expect(NumbersClient.retryClass(NumbersMethods.addFunds.path) == .keyed)
        #expect(NumbersClient.retryClass(NumbersMethods.adjustBalance.path) == .keyed)
        #expect(NumbersClient.retryClass(NumbersMethods.listNumbers.path) == .idempotent)
        #expect(NumbersClient.retryClass(NumbersMethods.getProviderAudit.path) == .idempotent)
        #expect(NumbersClient.retryClass(NumbersMethods.releaseNumber.path) == .keyed)
        // Keyed since numberd records an adoption's key: a lost answer's retry gets the adoption made (it was refused
        // as the account's own number before, so it was not retried once sent).
        #expect(NumbersClient.retryClass(NumbersMethods.adoptNumber.path) == .keyed)
    }

    /// Every method's retry class, written out: a method added to the `.proto` without a line here, or classed
    /// otherwise by the client, fails — a call that changes something retried without a key once sent would do it
    /// twice.
    static let expectedClasses: [String: NumbersClient.RetryClass] = [
        // Reads: retried after any transport failure.
        NumbersMethods.searchNumbers.path: .idempotent,
        NumbersMethods.listNumbers.path: .idempotent,
        NumbersMethods.getNumber.path: .idempotent,
        NumbersMethods.getBalance.path: .idempotent,
        NumbersMethods.listTransactions.path: .idempotent,
        NumbersMethods.getStatement.path: .idempotent,
        NumbersMethods.listTrunks.path: .idempotent,
        NumbersMethods.getAccount.path: .idempotent,
        NumbersMethods.listAccounts.path: .idempotent,
        NumbersMethods.listApiKeys.path: .idempotent,
        NumbersMethods.getProviderAudit.path: .idempotent,
        NumbersMethods.healthCheck.path: .idempotent,
        // Keyed: retried under the call's idempotency key.
        NumbersMethods.purchaseNumbers.path: .keyed,
        NumbersMethods.releaseNumber.path: .keyed,
        NumbersMethods.addFunds.path: .keyed,
        NumbersMethods.adjustBalance.path: .keyed,
        NumbersMethods.adoptNumber.path: .keyed,
        // Never retried once sent.
        NumbersMethods.updateNumber.path: .unsafe,
        NumbersMethods.createTrunk.path: .unsafe,
        NumbersMethods.deleteTrunk.path: .unsafe,
        NumbersMethods.createAccount.path: .unsafe,
        NumbersMethods.setAccountStatus.path: .unsafe,
        NumbersMethods.createApiKey.path: .unsafe,
        NumbersMethods.revokeApiKey.path: .unsafe,
        NumbersMethods.createBackup.path: .unsafe,
        NumbersMethods.runProviderAudit.path: .unsafe,
    ]

    @Test("every method has its retry class: reads, keyed, or never retried once sent")
    func everyMethodHasItsClass() {
        #expect(Set(NumbersMethods.allPaths) == Set(Self.expectedClasses.keys), "every method in the table, no other")
        for path in NumbersMethods.allPaths {
            let expected = Self.expectedClasses[path]
            #expect(expected != nil, "\(path) is missing from the table")
            if let expected { #expect(NumbersClient.retryClass(path) == expected, "\(path)") }
        }
    }
}
