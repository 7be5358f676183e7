import Foundation
import Testing

@testable import NumberCore

@Suite("Identifiers: form, the random pool, collisions")
struct IdentifierTests {
    static let alphabet = Set("0123456789abcdefghjkmnpqrstvwxyz")

    @Test("an id is the prefix, an underscore and 11 base32 characters, 15 bytes in all")
    func form() {
        for prefix in [
            Identifier.account, Identifier.trunk, Identifier.number, Identifier.transaction, Identifier.intent,
        ] {
            let id = Identifier.make(prefix)
            #expect(id.utf8.count == 15)
            #expect(id.hasPrefix(prefix + "_"))
            #expect(id.dropFirst(4).allSatisfy { Self.alphabet.contains($0) }, "\(id)")
            #expect(Identifier.prefix(of: id) == prefix)
        }
    }

    @Test("ids drawn across many refills of the random pool are distinct and use the whole alphabet")
    func distinctAcrossRefills() {
        // 20 pools' worth of random bytes: every refill boundary is crossed, also mid-id.
        let count = 20 * Crypto.identifierPoolSize / Identifier.randomLength + 7
        var seen = Set<String>()
        var characters = Set<Character>()
        for _ in 0..<count {
            let id = Identifier.make(Identifier.number)
            #expect(id.utf8.count == 15)
            seen.insert(id)
            characters.formUnion(id.dropFirst(4))
        }
        #expect(seen.count == count)
        #expect(characters == Self.alphabet)
    }

    @Test("ids drawn from many threads at once are distinct")
    func concurrentDraws() async {
        let ids = await withTaskGroup(of: [String].self) { group in
            for _ in 0..<8 {
                group.addTask { (0..<2_000).map { _ in Identifier.make(Identifier.transaction) } }
            }
            return await group.reduce(into: [String]()) { $0 += $1 }
        }
        #expect(Set(ids).count == 16_000)
    }

    @Test("a taken id is drawn again until a free one comes")
    func takenIdsAreRedrawn() {
        var draws = 0
        let id = Identifier.make(Identifier.account) { _ in
            draws += 1
            return draws < 3
        }
        #expect(draws == 3)
        #expect(id.hasPrefix("ACC_"))
    }

    @Test("prefix(of:) reads XXX_ only")
    func prefixOf() {
        #expect(Identifier.prefix(of: "NUM_0123456789a") == "NUM")
        #expect(Identifier.prefix(of: "NUM_") == "")
        #expect(Identifier.prefix(of: "NUMX0123456789a") == "")
        #expect(Identifier.prefix(of: "") == "")
        #expect(Identifier.prefix(of: "é_xxxxx") == "")
    }

    @Test("isTaken finds an id of each kind in its own table, and an id without a known prefix anywhere")
    func isTakenByKind() async throws {
        let harness = try await Harness(.memory)
        let account = try await harness.service.createAccount(name: "a", currency: "USD")
        let funds = try await harness.service.addFunds(accountId: account.id, amount: 10_000)
        let state = harness.service.coordinator.speculativeState
        #expect(state.isTaken(account.id))
        #expect(state.isTaken(funds.id))
        #expect(!state.isTaken(Identifier.make(Identifier.account)))
        // A legacy or foreign id form (no XXX_ prefix) is looked up in every table.
        var legacy = state
        legacy.accounts["legacy-account"] = legacy.accounts[account.id]
        #expect(legacy.isTaken("legacy-account"))
        #expect(!legacy.isTaken("legacy-other"))
        // An id whose prefix names another kind is not found in the wrong table.
        #expect(!state.isTaken("TRK" + account.id.dropFirst(3)))
    }
}
