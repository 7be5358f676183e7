import Foundation
import Testing

@testable import NumberCore

@Suite(
    "Derived indexes: transaction locations, trunks and keys per account, billing dates, key minutes, pending releases")
struct DerivedIndexTests {
    /// Two accounts with `count` funds transactions each, interleaved.
    static func ledgers(_ count: Int) -> CoreState {
        var state = CoreState()
        let now = Date.utc("2025-01-15T10:30:00Z")
        for account in ["ACC_a", "ACC_b"] {
            state.apply(.accountCreated(Account(id: account, name: account, currency: "USD", createdAt: now)))
        }
        for index in 0..<count {
            for account in ["ACC_a", "ACC_b"] {
                state.apply(
                    .transactionPosted(
                        LedgerTransaction(
                            id: "TXN_\(account.suffix(1))\(index)", accountId: account, kind: .fundsAdded, amount: 1,
                            balanceAfter: Int64(index + 1), currency: "USD", numberId: nil, description: "funds",
                            createdAt: now, idempotencyKey: nil)))
            }
        }
        return state
    }

    @Test("every transaction is found by id at its position; unknown ids are not")
    func lookUp() {
        let state = Self.ledgers(1_000)
        for account in ["a", "b"] {
            for index in [0, 1, 499, 998, 999] {
                let found = state.transaction("TXN_\(account)\(index)")
                #expect(found?.id == "TXN_\(account)\(index)")
                #expect(found?.accountId == "ACC_\(account)")
                #expect(state.transactionAccounts["TXN_\(account)\(index)"]?.index == index)
            }
        }
        #expect(state.transaction("TXN_c0") == nil)
        #expect(state.transaction("TXN_a1000") == nil)
        #expect(state.checkInvariants() == [])
    }

    @Test("a damaged state whose ledger sums overflow is reported (amount-range), not a trap in the checker")
    func overflowingLedgerIsReported() throws {
        let json = String(decoding: try JSONLineEncoder.encode(Self.ledgers(2)), as: UTF8.self)
        let damaged = json.replacingOccurrences(of: #""amount":1,"#, with: #""amount":9223372036854775807,"#)
        #expect(damaged != json)
        let state = try JSONLineDecoder.decode(CoreState.self, from: Array(damaged.utf8)[...])
        let rules = Set(state.checkInvariants().map(\.rule))
        #expect(rules.contains("amount-range"), "\(rules)")
        #expect(rules.contains("balance-after"), "\(rules)")
    }

    @Test("a snapshot keeps the id → account form, and reading one rebuilds the same locations")
    func snapshotForm() throws {
        let state = Self.ledgers(50)
        let json = try JSONLineEncoder.encode(state)
        let object = try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any]
        let written = object?["transactionAccounts"] as? [String: String]
        #expect(written?.count == 100)
        #expect(written?["TXN_b7"] == "ACC_b")
        let read = try JSONLineDecoder.decode(CoreState.self, from: json[...])
        #expect(read == state)
        #expect(read.transaction("TXN_a49")?.balanceAfter == 50)
        // Foundation's JSON round trip reads the same.
        #expect(try JSONDecoder().decode(CoreState.self, from: JSONEncoder().encode(state)) == state)
    }

    @Test("a snapshot read ignores its id → account copy; a ledger listing one id twice is reported")
    func duplicatesAreReported() throws {
        var state = Self.ledgers(3)
        // The same id in both ledgers (a damaged snapshot, or a bug): one location for two rows.
        state.transactions["ACC_b"]![1].id = "TXN_a1"
        let read = try JSONLineDecoder.decode(CoreState.self, from: try JSONLineEncoder.encode(state)[...])
        #expect(read.checkInvariants().map(\.rule).contains("transaction-index"))
    }

    @Test("a location that points at another row is reported")
    func wrongPosition() {
        var state = Self.ledgers(3)
        state.transactionAccounts["TXN_a1"] = TransactionLocation(accountId: "ACC_a", index: 2)
        #expect(state.checkInvariants().map(\.rule).contains("transaction-index"))
        #expect(state.transaction("TXN_a1") == nil)
    }

    @Test("trunks and keys are listed per account through the index, which follows creation and deletion")
    func trunkAndKeyIndex() async throws {
        var harness = try await Harness(.file)
        let service = harness.service
        let first = try await service.createAccount(name: "first", currency: "USD")
        let second = try await service.createAccount(name: "second", currency: "USD")
        var made: [String: [String]] = [:]
        for index in 0..<5 {
            for account in [first.id, second.id] {
                let sid = trunkSid(index * 2 + (account == first.id ? 0 : 1))
                let trunk = try await service.createTrunk(accountId: account, name: "t\(index)", providerTrunkSid: sid)
                made[account, default: []].append(trunk.id)
            }
        }
        _ = try await service.createApiKey(name: "k", scope: .account, accountId: first.id)
        _ = try await service.createApiKey(name: "admin", scope: .admin, accountId: nil)
        #expect(try service.listTrunks(accountId: first.id).map(\.id).sorted() == made[first.id]!.sorted())
        #expect(try service.listTrunks(accountId: second.id).map(\.id).sorted() == made[second.id]!.sorted())
        #expect(try service.listApiKeys(accountId: first.id).keys.count == 1)
        #expect(try service.listApiKeys(accountId: second.id).keys.isEmpty)
        #expect(try service.listApiKeys(accountId: nil).keys.map(\.name) == ["admin"])
        for trunkId in made[second.id]! { try await service.deleteTrunk(accountId: second.id, trunkId: trunkId) }
        #expect(try service.listTrunks(accountId: second.id).isEmpty)
        let state = harness.service.coordinator.speculativeState
        #expect(state.accountTrunks[second.id] == nil, "an account without trunks has no entry")
        #expect(state.checkInvariants() == [])
        // A restart reads the snapshot and journal and rebuilds the same indexes.
        try await harness.restart()
        #expect(harness.service.coordinator.speculativeState == state)
        #expect(try harness.service.listTrunks(accountId: first.id).map(\.id).sorted() == made[first.id]!.sorted())
    }

    @Test("an index that disagrees with its table is reported")
    func brokenIndexes() {
        var state = Self.ledgers(1)
        state.accountTrunks["ACC_a"] = ["TRK_missing"]
        state.accountApiKeys[nil] = ["KEY_missing"]
        state.activeApiKeyCount += 1
        state.accountIds.remove("ACC_b")
        let rules = state.checkInvariants().map(\.rule)
        #expect(rules.contains("trunk-index"))
        #expect(rules.contains("key-index"))
        #expect(rules.contains("key-count"))
        #expect(rules.contains("account-index"))
    }

    @Test("sorted ids stay sorted, each once, in well-formed runs through insertions and removals across many runs")
    func sortedKeys() {
        var keys = SortedKeys()
        var reference = Set<String>()
        var disagreements = 0
        // Keys from 0..<20 000 in a scrambled order (7 919 is prime to it), each third step removing one: runs split
        // (at most 512 ids each); removing every id at the end empties them all.
        for step in 0..<60_000 {
            let key = "K\(step * 7_919 % 20_000)"
            if step % 3 == 2 {
                if keys.remove(key) != (reference.remove(key) != nil) { disagreements += 1 }
            } else {
                if keys.insert(key) != reference.insert(key).inserted { disagreements += 1 }
            }
        }
        #expect(disagreements == 0)
        let sorted = reference.sorted()
        #expect(keys.isWellFormed && keys.count == sorted.count && Array(keys) == sorted)
        #expect(keys == SortedKeys(reference) && keys.hashValue == SortedKeys(reference).hashValue)
        let byPosition = sorted.indices.allSatisfy { keys[$0] == sorted[$0] }
        #expect(byPosition)
        var examined = 0
        let afterTenth = keys.firstPosition(after: sorted[10], examined: &examined)
        let beforeAll = keys.firstPosition(after: "", examined: &examined)
        let afterAll = keys.firstPosition(after: "L", examined: &examined)
        #expect(afterTenth == 11 && beforeAll == 0 && afterAll == sorted.count)
        #expect(examined > 0 && examined <= 3 * 14, "three binary searches over \(sorted.count) ids")
        #expect(keys.keys(from: sorted.count - 3, limit: 10) == Array(sorted.suffix(3)))
        for key in sorted { keys.remove(key) }
        let removedAgain = keys.remove("K1")
        #expect(keys.isEmpty && keys.isWellFormed && Array(keys).isEmpty && !removedAgain)
    }

    @Test("a voided keyed purchase frees its key in the index too; a retry with it records it again")
    func voidedKey() async throws {
        let h = try await Harness(.file)
        let account = try await h.account(funds: 1_000)
        h.provider.stock(["+14155550100"])
        h.provider.inject(.fail(.numberUnavailable), on: .buy)
        let request = PurchaseRequest(
            accountId: account.id, phoneNumbers: ["+14155550100"], country: "US", idempotencyKey: "k")
        _ = try? await h.service.purchase(request)
        #expect(h.service.coordinator.speculativeState.work.idempotencyMinutes.isEmpty)
        try await h.check()
        h.clock.advance(by: 90)  // another minute
        let bought = try await h.service.purchase(request)
        #expect(bought.numbers.count == 1 && !bought.replayed)
        #expect(h.service.coordinator.speculativeState.work.idempotencyMinutes.count == 1)
        try await h.check()
    }

    @Test("billing expires exactly the keys past their time to live, through the minute index")
    func keyExpiryByMinute() async throws {
        let h = try await Harness(.memory)
        let account = try await h.account()
        let ttl = TimeInterval(h.config.idempotency.ttlSeconds)
        // Keys made 20 s apart over 5 minutes: several per minute, minutes only partly past the TTL below.
        var made: [(key: String, at: Date)] = []
        for index in 0..<15 {
            _ = try await h.service.addFunds(accountId: account.id, amount: 1, idempotencyKey: "k\(index)")
            made.append(("k\(index)", h.clock.now()))
            h.clock.advance(by: 20)
        }
        let start = made[0].at
        for offset in [ttl - 1, ttl, ttl + 50, ttl + 110, ttl + 400] {
            h.clock.set(start.addingTimeInterval(offset))
            _ = try await h.service.runBilling()
            let live = Set(h.service.coordinator.speculativeState.idempotency.values.map(\.key))
            let expected = Set(made.filter { $0.at.addingTimeInterval(ttl) > h.clock.now() }.map(\.key))
            #expect(live == expected, "at TTL + \(offset - ttl) s")
            try await h.check()
        }
    }

    @Test("a refused release leaves the pending-release index; one with an unknown outcome stays there for reconcile")
    func pendingReleases() async throws {
        let h = try await Harness(.file)
        let account = try await h.account(funds: 1_000)
        let numbers = try await h.buy(["+14155550100", "+14155550101"], for: account.id).numbers
        // Refused, and still ours at the provider: the request is withdrawn.
        h.provider.inject(.fail(.unavailable), on: .release)
        _ = try? await h.service.release(accountId: account.id, numberId: numbers[0].id)
        #expect(h.service.coordinator.speculativeState.work.pendingReleases.isEmpty)
        try await h.check()
        // Lost answer and a failed look-up: the release stays requested until reconcile finishes it.
        h.provider.inject(.loseAnswer, on: .release)
        h.provider.inject(.fail(.unavailable), on: .lookUp)
        _ = try? await h.service.release(accountId: account.id, numberId: numbers[1].id)
        // (The provider already let it go: the full check would rightly see a number owned here and not there.)
        #expect(h.service.coordinator.speculativeState.work.pendingReleases == [numbers[1].id])
        #expect(h.service.coordinator.speculativeState.checkInvariants() == [])
        let report = await h.service.reconcile()
        #expect(report.releasesCompleted == [numbers[1].id])
        #expect(h.service.coordinator.speculativeState.work.pendingReleases.isEmpty)
        try await h.check()
    }

    /// The account's numbers not released, in the order recorded, as the held index gives them.
    static func heldNumberIds(_ state: CoreState, of accountId: String) -> [String] {
        let ids = state.numberIDs(of: accountId)
        return state.held.positions(of: accountId).map { ids[$0] }.filter { state.numbers[$0]?.status != .released }
    }

    @Test("held numbers: listings read only the numbers not released, in purchase order, pages stable across releases")
    func heldNumbers() async throws {
        var h = try await Harness(.file)
        let account = try await h.account(funds: 100_000)
        let phones = (0..<12).map { "+1415555" + String(format: "%04d", $0) }
        let bought = try await h.buy(phones, for: account.id).numbers
        let firstPage = try h.service.listNumbers(ListNumbersRequest(accountId: account.id, pageSize: 5))
        #expect(firstPage.numbers.map(\.number.id) == bought.prefix(5).map(\.id))
        // Release 9 of the 12 (the list is compacted once released entries pass half of it), among them numbers of
        // the page already read and of the next.
        for index in [0, 1, 2, 3, 5, 6, 8, 9, 11] {
            _ = try await h.service.release(accountId: account.id, numberId: bought[index].id)
        }
        let held = [4, 7, 10].map { bought[$0].id }
        #expect(Self.heldNumberIds(h.service.durableState(), of: account.id) == held)
        // Compacted at the 7th release (7 of 12 left in place), then 2 more left in place among the 5 kept.
        #expect(h.service.durableState().held.positions(of: account.id).count == 5)
        let rest = try h.service.listNumbers(
            ListNumbersRequest(accountId: account.id, pageSize: 5, pageToken: firstPage.nextPageToken))
        #expect(rest.numbers.map(\.number.id) == [7, 10].map { bought[$0].id } && rest.nextPageToken == nil)
        let all = try h.service.listNumbers(ListNumbersRequest(accountId: account.id))
        #expect(all.numbers.map(\.number.id) == held && all.total == 3 && all.monthlyCost == 3 * 133)
        let released = try h.service.listNumbers(ListNumbersRequest(accountId: account.id, status: .released))
        #expect(released.total == 9 && released.monthlyCost == 0)
        // Released numbers page by position too, stepping over the held ones; they keep no trunk.
        var releasedIds: [String] = []
        var token: String?
        repeat {
            let page = try h.service.listNumbers(
                ListNumbersRequest(accountId: account.id, status: .released, pageSize: 4, pageToken: token))
            #expect(page.total == 9 && page.numbers.count <= 4)
            releasedIds += page.numbers.map(\.number.id)
            token = page.nextPageToken
        } while token != nil
        #expect(releasedIds == [0, 1, 2, 3, 5, 6, 8, 9, 11].map { bought[$0].id })
        let trunk = try await h.service.createTrunk(accountId: account.id, name: "T", providerTrunkSid: trunkSid(1))
        let onTrunk = try h.service.listNumbers(
            ListNumbersRequest(accountId: account.id, status: .released, trunkId: trunk.id))
        #expect(onTrunk.numbers.isEmpty && onTrunk.total == 0)
        let more = try await h.buy(["+14155559990", "+14155559991"], for: account.id).numbers
        try await h.restart()
        #expect(Self.heldNumberIds(h.service.durableState(), of: account.id) == held + more.map(\.id))
        try await h.check()
    }
}
