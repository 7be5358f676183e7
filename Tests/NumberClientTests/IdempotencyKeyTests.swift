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

    @Test("purchase, add-funds and adjust-balance calls are keyed; reads are not")
    func keyedMethods() {
        #expect(NumbersClient.retryClass(NumbersMethods.purchaseNumbers.path) == .keyed)
        #expect(NumbersClient.retryClass(NumbersMethods.addFunds.path) == .keyed)
        #expect(NumbersClient.retryClass(NumbersMethods.adjustBalance.path) == .keyed)
        #expect(NumbersClient.retryClass(NumbersMethods.listNumbers.path) == .idempotent)
        #expect(NumbersClient.retryClass(NumbersMethods.getProviderAudit.path) == .idempotent)
        // No key: a lost answer's retry would be refused as the account's own number, so it is not retried once sent.
        #expect(NumbersClient.retryClass(NumbersMethods.adoptNumber.path) == .unsafe)
    }
}
