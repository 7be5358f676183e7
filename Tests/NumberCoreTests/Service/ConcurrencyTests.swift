import Foundation
import Synchronization
import Testing

@testable import NumberCore

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

    @Test("readers never see a write that is not durable yet")
    func readersSeeOnlyDurable() async throws {
        // The commit is held at the store until the test has read: a timed delay raced the read on a loaded machine.
        let store = GatedStore(InMemoryNumberStore())
        let service = try await NumberService.open(
            store: store, provider: FakeProvider(), clock: ManualClock(Harness.start), config: .defaults)
        let account = try await service.createAccount(name: "Acme", currency: "USD")
        store.hold()
        async let write = service.addFunds(accountId: account.id, amount: 500)
        try await store.waitUntilHolding(commits: 1)
        #expect(try service.balance(accountId: account.id).balance == 0)
        store.release()
        _ = try await write
        #expect(try service.balance(accountId: account.id).balance == 500)
        let stored = try await store.load()
        #expect(stored == service.durableState())
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
        try await Self.untilDecided(service) { $0.accounts[other.id]?.balance == 500 }
        let retry = try await h.service.purchase(request)
        #expect(retry.replayed && retry.numbers == first.numbers)
        // The retry came back while the other write was still pending: it read the durable record and did not
        // wait for a commit it has nothing to do with (it used to, for every keyed purchase).
        #expect(try h.service.balance(accountId: other.id).balance == 0)
        _ = try await write
        #expect(try h.service.balance(accountId: other.id).balance == 500)
        try await h.check()
    }

    @Test("a retry while the key's first use is still being written: in progress, once that write is durable")
    func retryWhileFirstUseIsPending() async throws {
        let h = try await Harness(.memory)
        let account = try await h.account(funds: 1_000)
        h.provider.stock(["+14155550100"])
        let request = PurchaseRequest(
            accountId: account.id, phoneNumbers: ["+14155550100"], country: "US", idempotencyKey: "order-9")
        h.memoryStore.setCommitDelay(nanoseconds: 1_000_000_000)
        let service = h.service
        let store = h.memoryStore
        async let first = service.purchase(request)
        try await Self.untilDecided(service) { !$0.idempotency.isEmpty }
        let retry = await numberError { _ = try await service.purchase(request) }
        #expect(retry?.reason == .requestInProgress)
        // Answered from the record its first use wrote, and only once that record was durable.
        let recorded = store.committedEvents.contains {
            if case .idempotencyRecorded(let record) = $0 { return record.key == "order-9" }
            return false
        }
        #expect(recorded)
        #expect(try await first.numbers.count == 1)
        #expect(h.provider.calls(.buy) == 1)
        try await h.check()
    }

    @Test("a refusal that rests on a pending write is answered only once that write is durable")
    func refusalWaitsForWhatItObserved() async throws {
        let h = try await Harness(.memory)
        let account = try await h.account(funds: 133)
        h.provider.stock(["+14155550100", "+14155550101"])
        h.memoryStore.setCommitDelay(nanoseconds: 1_000_000_000)
        let service = h.service
        let store = h.memoryStore
        // The first purchase's intent holds the whole balance; its commit takes a second.
        async let first = service.purchase(
            PurchaseRequest(accountId: account.id, phoneNumbers: ["+14155550100"], country: "US"))
        try await Self.untilDecided(service) { $0.accounts[account.id]?.held == 133 }
        let refused = await numberError {
            _ = try await service.purchase(
                PurchaseRequest(accountId: account.id, phoneNumbers: ["+14155550101"], country: "US"))
        }
        #expect(refused?.reason == .insufficientBalance)
        // The refusal came back only after the hold it rests on was on disk: had that write been lost, the caller
        // would have been told "insufficient balance" by a state that never existed.
        let holdDurable = store.committedEvents.contains {
            if case .purchaseIntentOpened(let intent) = $0 { return intent.items.first?.phoneNumber == "+14155550100" }
            return false
        }
        #expect(holdDurable)
        _ = try await first
        try await h.check()
    }

    @Test("a refusal that rests on a write the disk then fails reports the failure, not the refusal")
    func refusalOnALostWrite() async throws {
        let h = try await Harness(.memory)
        let account = try await h.account(funds: 133)
        h.provider.stock(["+14155550100", "+14155550101"])
        h.memoryStore.setCommitDelay(nanoseconds: 500_000_000)
        h.memoryStore.failNextCommits(1)
        let service = h.service
        // The first purchase's hold is decided, then its commit fails: the hold never existed on disk.
        async let first = numberError {
            _ = try await service.purchase(
                PurchaseRequest(accountId: account.id, phoneNumbers: ["+14155550100"], country: "US"))
        }
        try await Self.untilDecided(service) { $0.accounts[account.id]?.held == 133 }
        let refused = await numberError {
            _ = try await service.purchase(
                PurchaseRequest(accountId: account.id, phoneNumbers: ["+14155550101"], country: "US"))
        }
        // "Insufficient balance" would have rested on that lost hold.
        #expect(refused?.reason == .storeFailed)
        #expect(await first?.reason == .storeFailed)
        #expect(h.provider.calls(.buy) == 0)
        #expect(try await h.memoryStore.load().checkInvariants() == [])
    }

    /// The first write's commit is held at the store until the 29 others are decided and queued behind it: a 1 ms
    /// sleep and a 5 ms commit delay stood for that, and on a loaded machine more writes joined the first commit.
    @Test("a failed commit fails every write queued behind it; only writes acknowledged before it are visible")
    func failStopWithQueuedWrites() async throws {
        let inner = InMemoryNumberStore()
        let store = GatedStore(inner)
        let service = try await NumberService.open(
            store: store, provider: FakeProvider(), clock: ManualClock(Harness.start), config: .defaults)
        let account = try await service.createAccount(name: "Acme", currency: "USD")
        // The first commit takes the first write; the others queue behind it and go in the second, which fails.
        inner.failAfterCommits(1)
        store.hold()
        defer { store.release() }  // a wait that fails must not leave the writes held for ever
        let outcomes = try await withThrowingTaskGroup(of: (Int64, NumberError?).self) { group in
            group.addTask {
                (1, await numberError { _ = try await service.addFunds(accountId: account.id, amount: 1) })
            }
            try await store.waitUntilHolding(commits: 1)
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
            try await Self.untilDecided(service) { $0.transactions[account.id]?.count == 30 }
            store.release()
            return try await group.reduce(into: [(Int64, NumberError?)]()) { $0.append($1) }
        }
        let acknowledged = outcomes.filter { $0.1 == nil }.map(\.0)
        let failed = outcomes.filter { $0.1 != nil }
        #expect(acknowledged == [1], "\(outcomes)")
        #expect(failed.allSatisfy { $0.1?.reason == .storeFailed }, "\(failed)")
        #expect(inner.commitCount == 2, "account creation, then the first write")
        #expect(try service.balance(accountId: account.id).balance == 1)
        let stored = try await inner.load().transactions[account.id]?.map(\.amount) ?? []
        #expect(stored == [1])
        let later = await numberError { _ = try await service.addFunds(accountId: account.id, amount: 5) }
        #expect(later?.reason == .storeFailed)
        #expect(try await inner.load().checkInvariants() == [])
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

    /// Waits until a decision shows in the speculative state (decided, maybe not durable yet).
    static func untilDecided(_ service: NumberService, _ decided: (CoreState) -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while !decided(service.coordinator.speculativeState) {
            guard ContinuousClock.now < deadline else { throw CancellationError() }
            try await Task.sleep(nanoseconds: 2_000_000)
        }
    }
}

/// An in-memory store whose commits, while it is held, wait until it is released: a write the test keeps from
/// becoming durable for as long as it needs, whatever the machine's load.
final class GatedStore: NumberStore {
    private struct Gate {
        var held = false
        /// While held, only commits with such events wait (nil: all); once one waits, every later one does too, so
        /// records still reach the store in order.
        var heldWhen: (@Sendable ([CoreEvent]) -> Bool)?
        var waiting: [@Sendable () -> Void] = []
    }

    private let inner: InMemoryNumberStore
    private let gate = Mutex(Gate())

    init(_ inner: InMemoryNumberStore) { self.inner = inner }

    func load() async throws -> CoreState { try await inner.load() }

    func commit(_ events: [CoreEvent], completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        let pass: @Sendable () -> Void = { [inner] in inner.commit(events, completion: completion) }
        let now = gate.withLock { gate in
            guard gate.held, !gate.waiting.isEmpty || gate.heldWhen?(events) ?? true else { return true }
            gate.waiting.append(pass)
            return false
        }
        if now { pass() }
    }

    /// Commits from now on wait for ``release()``: all of them, or from the first whose events `when` picks.
    func hold(when: (@Sendable ([CoreEvent]) -> Bool)? = nil) {
        gate.withLock {
            $0.held = true
            $0.heldWhen = when
        }
    }

    /// Lets the waiting commits (and later ones) through.
    func release() {
        let waiting = gate.withLock { gate in
            gate.held = false
            gate.heldWhen = nil
            defer { gate.waiting = [] }
            return gate.waiting
        }
        for pass in waiting { pass() }
    }

    /// Waits (up to 60 s) until `commits` commits are held.
    func waitUntilHolding(commits: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while gate.withLock({ $0.waiting.count }) < commits, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        try #require(gate.withLock { $0.waiting.count } >= commits, "the write never reached the store")
    }
}
