import Foundation
import NumberCore
import Testing

@Suite("Concurrency")
struct ConcurrencyTests {
    @Test("20 concurrent purchases, balance for exactly one: one succeeds, balance 0", arguments: StoreKind.allCases)
    func noOverdraw(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let account = try await h.account(funds: 133)
        let phones = (0..<20).map { "+1415555\(String(format: "%04d", $0))" }
        h.provider.stock(phones)
        h.provider.inject(.stall(nanoseconds: 5_000_000), on: .buy, times: 20)
        let service = h.service
        let outcomes = await withTaskGroup(of: NumberError?.self) { group in
            for phone in phones {
                group.addTask {
                    await numberError {
                        _ = try await service.purchase(
                            PurchaseRequest(accountId: account.id, phoneNumbers: [phone], country: "US"))
                    }
                }
            }
            return await group.reduce(into: [NumberError?]()) { $0.append($1) }
        }
        #expect(outcomes.count { $0 == nil } == 1)
        #expect(outcomes.compactMap { $0 }.allSatisfy { $0.reason == .insufficientBalance })
        #expect(
            try h.service.balance(accountId: account.id)
                == BalanceSummary(
                    accountId: account.id, balance: 0, held: 0, available: 0, currency: "USD"))
        #expect(h.provider.calls(.buy) == 1)
        try await h.check()
    }

    @Test("two accounts buying the same number at once: exactly one owns it", arguments: StoreKind.allCases)
    func sameNumber(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let first = try await h.account(funds: 1_000)
        let second = try await h.account(funds: 1_000, name: "Second")
        h.provider.stock(["+14155550100"])
        h.provider.inject(.stall(nanoseconds: 10_000_000), on: .buy, times: 2)
        let service = h.service
        async let a = numberError {
            _ = try await service.purchase(
                PurchaseRequest(accountId: first.id, phoneNumbers: ["+14155550100"], country: "US"))
        }
        async let b = numberError {
            _ = try await service.purchase(
                PurchaseRequest(accountId: second.id, phoneNumbers: ["+14155550100"], country: "US"))
        }
        let results = await [a, b]
        #expect(results.count { $0 == nil } == 1)
        #expect(results.compactMap { $0 }.first?.reason == .numberUnavailable)
        let owner = try #require(h.service.durableState().phoneOwners["+14155550100"])
        let owners = [first.id, second.id].filter { id in
            (try? h.service.number(accountId: id, numberId: owner)) != nil
        }
        #expect(owners.count == 1)
        let balances = try [first.id, second.id].map { try h.service.balance(accountId: $0).balance }.sorted()
        #expect(balances == [867, 1_000])
        try await h.check()
    }

    @Test(
        "concurrent writes share commits (group commit) and each returns only once durable",
        arguments: StoreKind.allCases)
    func groupCommit(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let account = try await h.account()
        if kind == .memory { h.memoryStore.setCommitDelay(nanoseconds: 2_000_000) }
        let before = h.commitCount
        let service = h.service
        let store = h.store
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<50 {
                group.addTask {
                    let transaction = try await service.addFunds(accountId: account.id, amount: Int64(index + 1))
                    let stored = try await store.load()
                    #expect(stored.transactionAccounts[transaction.id] != nil, "acknowledged before durable")
                }
            }
            try await group.waitForAll()
        }
        let commits = h.commitCount - before
        #expect(commits < 50)
        #expect(try h.service.balance(accountId: account.id).balance == (1...50).reduce(0, +))
        try await h.check()
    }

    @Test("commitBytesEstimateMax caps a commit: at the minimum every decision is its own commit")
    func commitCap() async throws {
        var config = NumberServiceConfig.defaults
        config.commits.commitBytesEstimateMax = 1
        let h = try await Harness(.memory, config: config)
        let account = try await h.account()
        h.memoryStore.setCommitDelay(nanoseconds: 2_000_000)
        let before = h.commitCount
        let service = h.service
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<20 {
                group.addTask { _ = try await service.addFunds(accountId: account.id, amount: 1) }
            }
            try await group.waitForAll()
        }
        #expect(h.commitCount - before == 20)
        #expect(try h.service.balance(accountId: account.id).balance == 20)
        try await h.check()
    }

    @Test("readers never see a write that is not durable yet", arguments: [StoreKind.memory])
    func readersSeeOnlyDurable(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let account = try await h.account()
        h.memoryStore.setCommitDelay(nanoseconds: 50_000_000)
        let service = h.service
        async let write = service.addFunds(accountId: account.id, amount: 500)
        try await Task.sleep(nanoseconds: 10_000_000)
        #expect(try h.service.balance(accountId: account.id).balance == 0)
        _ = try await write
        #expect(try h.service.balance(accountId: account.id).balance == 500)
        try await h.check()
    }

    @Test("a keyed purchase retried after its first result is durable answers without waiting for others' writes")
    func replayDoesNotWaitForOthers() async throws {
        let h = try await Harness(.memory)
        let buyer = try await h.account(funds: 1_000)
        let other = try await h.account()
        h.provider.stock(["+14155550100"])
        let request = PurchaseRequest(
            accountId: buyer.id, phoneNumbers: ["+14155550100"], country: "US", idempotencyKey: "order-7")
        let first = try await h.service.purchase(request)
        // Another caller's write is in flight on a slow disk while the retry comes in.
        h.memoryStore.setCommitDelay(nanoseconds: 3_000_000_000)
        let service = h.service
        async let write = service.addFunds(accountId: other.id, amount: 500)
        try await Task.sleep(nanoseconds: 50_000_000)
        let retry = try await h.service.purchase(request)
        #expect(retry.replayed && retry.numbers == first.numbers)
        // The retry came back while the other write was still pending: it read the durable record and did not
        // wait for a commit it has nothing to do with (it used to, for every keyed purchase).
        #expect(try h.service.balance(accountId: other.id).balance == 0)
        _ = try await write
        #expect(try h.service.balance(accountId: other.id).balance == 500)
        try await h.check()
    }

    @Test("a failed commit fails every write queued behind it; only writes acknowledged before it are visible")
    func failStopWithQueuedWrites() async throws {
        let h = try await Harness(.memory)
        let account = try await h.account()
        h.memoryStore.setCommitDelay(nanoseconds: 5_000_000)
        // The first commit takes the first write; the others queue behind it and go in the second, which fails.
        h.memoryStore.failAfterCommits(1)
        let service = h.service
        let outcomes = try await withThrowingTaskGroup(of: (Int64, NumberError?).self) { group in
            group.addTask {
                (1, await numberError { _ = try await service.addFunds(accountId: account.id, amount: 1) })
            }
            try await Task.sleep(nanoseconds: 1_000_000)
            for amount in 2...30 {
                group.addTask {
                    (
                        Int64(amount),
                        await numberError {
                            _ = try await service.addFunds(accountId: account.id, amount: Int64(amount))
                        }
                    )
                }
            }
            return try await group.reduce(into: [(Int64, NumberError?)]()) { $0.append($1) }
        }
        // Normally the first commit holds only the first write; on a loaded machine a few more may join it.
        let acknowledged = outcomes.filter { $0.1 == nil }.map(\.0)
        let failed = outcomes.filter { $0.1 != nil }
        #expect(acknowledged.contains(1) && acknowledged.count < 30, "\(outcomes)")
        #expect(failed.allSatisfy { $0.1?.reason == .storeFailed }, "\(failed)")
        #expect(h.memoryStore.commitCount == 2, "account creation, then the first batch")
        #expect(try h.service.balance(accountId: account.id).balance == acknowledged.reduce(0, +))
        let stored = try await h.memoryStore.load().transactions[account.id]?.map(\.amount) ?? []
        #expect(Set(stored) == Set(acknowledged) && stored.count == acknowledged.count)
        let later = await numberError { _ = try await h.service.addFunds(accountId: account.id, amount: 5) }
        #expect(later?.reason == .storeFailed)
    }

    @Test(
        "a store failure stops all writes (fail-stop) and the failed write is not visible",
        arguments: [StoreKind.memory])
    func failStop(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let account = try await h.account()
        h.memoryStore.failNextCommits(1)
        let failed = await numberError { _ = try await h.service.addFunds(accountId: account.id, amount: 10) }
        #expect(failed?.reason == .storeFailed && failed?.code == .unavailable)
        #expect(try h.service.balance(accountId: account.id).balance == 0)
        let later = await numberError { _ = try await h.service.addFunds(accountId: account.id, amount: 10) }
        #expect(later?.reason == .storeFailed)
        #expect(h.service.storeFailure != nil)
        #expect(try await h.memoryStore.load().checkInvariants() == [])
    }
}
