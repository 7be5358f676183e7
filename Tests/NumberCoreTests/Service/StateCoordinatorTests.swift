import Foundation
import Synchronization
import Testing

@testable import NumberCore

/// A store the test drives by hand: it records each commit and its completion, and completes a commit only when told
/// to (or, for the one named by `failOnHandOver`, fails it inside `commit` itself, as a store may).
private final class ManualStore: NumberStore {
    struct Commit: Sendable {
        var accountIds: [String]
        var completion: @Sendable (Result<Void, any Error>) -> Void
    }

    struct Inner {
        var commits: [Commit] = []
        var failOnHandOver: Int?
    }

    struct Injected: Error {}

    let inner = Mutex(Inner())

    func load() async throws -> CoreState { CoreState() }

    func commit(_ events: [CoreEvent], completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        let ids = Self.accountIds(events)
        let failNow = inner.withLock { inner in
            inner.commits.append(Commit(accountIds: ids, completion: completion))
            return inner.failOnHandOver == inner.commits.count
        }
        if failNow { completion(.failure(Injected())) }
    }

    var commits: [Commit] { inner.withLock { $0.commits } }

    /// Waits until `count` commits were handed over (``waitUntil(_:)``'s bound: 10 s was less than a CI run's start
    /// once starved the test process for).
    func waitForCommits(_ count: Int) async throws {
        try await waitUntil { commits.count >= count }
    }

    static func accountIds(_ events: [CoreEvent]) -> [String] {
        events.compactMap { event in
            guard case .accountCreated(let account) = event else { return nil }
            return account.id
        }
    }
}

@Suite("StateCoordinator: handing batches to the store, and failures")
struct StateCoordinatorTests {
    private static let at = Date(timeIntervalSince1970: 1_767_225_600)

    private static func create(_ id: String) -> (CoreState) throws(NumberError) -> (events: [CoreEvent], result: Int) {
        { _ in ([.accountCreated(Account(id: id, name: id, currency: "USD", createdAt: at))], 0) }
    }

    private static func durableAccounts(_ coordinator: StateCoordinator) throws -> Set<String> {
        try coordinator.read { state in Set(state.accounts.keys) }
    }

    @Test("one commit in flight; the next batch, everything queued meanwhile, goes from the previous one's completion")
    func nextBatchHandedOverFirst() async throws {
        let store = ManualStore()
        let coordinator = StateCoordinator(store: store, state: CoreState())
        let a = Task { try await coordinator.perform(Self.create("ACC_a")) }
        try await store.waitForCommits(1)
        let b = Task { try await coordinator.perform(Self.create("ACC_b")) }
        let c = Task { try await coordinator.perform(Self.create("ACC_c")) }
        try await waitUntil { coordinator.speculativeState.accounts.count >= 3 }
        // One commit in flight: B and C wait for it, then go together.
        #expect(store.commits.count == 1)
        store.commits[0].completion(.success(()))
        #expect(store.commits.count == 2, "the completion hands over the queued decisions itself")
        #expect(Set(store.commits[1].accountIds) == ["ACC_b", "ACC_c"])
        _ = try await a.value
        // A's caller is woken only once readers see A.
        #expect(try Self.durableAccounts(coordinator).contains("ACC_a"))
        #expect(!(try Self.durableAccounts(coordinator).contains("ACC_b")))
        store.commits[1].completion(.success(()))
        _ = try await (b.value, c.value)
        #expect(try Self.durableAccounts(coordinator) == ["ACC_a", "ACC_b", "ACC_c"])
    }

    @Test("a batch that fails from within the previous one's completion: only its own callers fail")
    func failureBehindADurableBatch() async throws {
        let store = ManualStore()
        // The second commit fails inside `commit`, that is within the first one's completion.
        store.inner.withLock { $0.failOnHandOver = 2 }
        let coordinator = StateCoordinator(store: store, state: CoreState())
        let a = Task { try await coordinator.perform(Self.create("ACC_a")) }
        try await store.waitForCommits(1)
        let b = Task { try await coordinator.perform(Self.create("ACC_b")) }
        try await waitUntil { coordinator.speculativeState.accounts.count >= 2 }
        // B is decided behind A's batch, or this is not the path the test names.
        try #require(coordinator.speculativeState.accounts.count == 2)
        store.commits[0].completion(.success(()))
        let first = await a.result
        let second = await b.result
        #expect((try? first.get()) != nil, "A is durable: its caller must hear so, not the later failure")
        guard case .failure(let error as NumberError) = second else {
            Issue.record("B's commit failed, so must its caller: \(second)")
            return
        }
        #expect(error.reason == .storeFailed)
        #expect(try Self.durableAccounts(coordinator) == ["ACC_a"])
        #expect(coordinator.failure != nil)
        // Nothing more is decided once writes stopped.
        #expect(throws: NumberError.self) { try coordinator.decide(Self.create("ACC_c")) }
    }
}

@Suite("StateCoordinator: the queue of decided writes behind a slow disk")
struct StateCoordinatorQueueLimitTests {
    private static let at = Date(timeIntervalSince1970: 1_767_225_600)

    private static func event(_ id: String) -> CoreEvent {
        .accountCreated(Account(id: id, name: id, currency: "USD", createdAt: at))
    }

    private static func create(_ id: String) -> (CoreState) throws(NumberError) -> (events: [CoreEvent], result: Int) {
        { _ in ([event(id)], 0) }
    }

    private static func decided(_ coordinator: StateCoordinator) -> Set<String> {
        Set(coordinator.speculativeState.accounts.keys)
    }

    /// A coordinator with `limits` over a hand-driven store: A's commit in flight, B and C decided behind it; and how
    /// D, admitting, was answered (nil, recorded as an issue, if it was not refused at once).
    private static func twoWaiting(
        _ limits: StateCoordinator.QueueLimits
    ) async throws -> (ManualStore, StateCoordinator, [Task<Int, any Error>], NumberError?) {
        let store = ManualStore()
        let coordinator = StateCoordinator(store: store, state: CoreState(), queueLimits: limits)
        let a = Task { try await coordinator.perform(admitting: true, create("ACC_a")) }
        try await store.waitForCommits(1)
        let b = Task { try await coordinator.perform(admitting: true, create("ACC_b")) }
        let c = Task { try await coordinator.perform(admitting: true, create("ACC_c")) }
        try await waitUntil { decided(coordinator).count == 3 }
        let refused = await refusalAtOnce { _ = try await coordinator.perform(admitting: true, create("ACC_d")) }
        return (store, coordinator, [a, b, c], refused)
    }

    @Test(
        "past the queue's count an admitting write is refused STORE_BUSY, nothing decided; one carrying on started work, and one writing nothing, are not; drained, admitted again"
    )
    func countLimit() async throws {
        // A's commit is in flight; B and C wait behind it, up to the limit.
        let (store, coordinator, first, refused) = try await Self.twoWaiting(
            StateCoordinator.QueueLimits(decisionsMax: 2, bytesEstimateMax: 1 << 20))
        guard let refused else { return }
        #expect(refused.code == .resourceExhausted && refused.reason == .storeBusy, "\(refused)")
        #expect(refused.details["max"] == "2")
        #expect(!Self.decided(coordinator).contains("ACC_d"), "a refused decision leaves nothing decided")
        // What carries on started work is queued whatever the count.
        let e = Task { try await coordinator.perform(Self.create("ACC_e")) }
        // A decision that writes nothing is answered once what it saw is durable, never refused.
        let nothing = Task { try await coordinator.perform(admitting: true) { _ in ([CoreEvent](), 7) } }
        try await waitUntil { Self.decided(coordinator).count == 4 }
        #expect(store.commits.count == 1)
        store.commits[0].completion(.success(()))
        // B, C and E went to the store together: the queue is empty again, so the next admitting write is taken.
        #expect(Set(store.commits[1].accountIds) == ["ACC_b", "ACC_c", "ACC_e"])
        let f = Task { try await coordinator.perform(admitting: true, Self.create("ACC_f")) }
        try await waitUntil { Self.decided(coordinator).contains("ACC_f") }
        store.commits[1].completion(.success(()))
        try await store.waitForCommits(3)
        store.commits[2].completion(.success(()))
        for task in first + [e, f] { _ = try await task.value }
        #expect(try await nothing.value == 7)
        #expect(try coordinator.read { Set($0.accounts.keys) } == ["ACC_a", "ACC_b", "ACC_c", "ACC_e", "ACC_f"])
    }

    @Test(
        "past the queue's estimated bytes an admitting write is refused; a write larger than the limit alone is taken when nothing waits"
    )
    func bytesLimit() async throws {
        let size = Self.event("ACC_x").bytesEstimate
        let (store, coordinator, first, refused) = try await Self.twoWaiting(
            StateCoordinator.QueueLimits(decisionsMax: 1_000, bytesEstimateMax: 2 * size))
        guard let refused else { return }
        #expect(refused.reason == .storeBusy, "\(refused)")
        store.commits[0].completion(.success(()))
        // Three events at once, more than the limit: taken, as nothing waits behind the commit in flight.
        let big = Task {
            try await coordinator.perform(admitting: true) { _ throws(NumberError) in
                ([Self.event("ACC_g1"), Self.event("ACC_g2"), Self.event("ACC_g3")], 0)
            }
        }
        try await waitUntil { Self.decided(coordinator).contains("ACC_g1") }
        store.commits[1].completion(.success(()))
        try await store.waitForCommits(3)
        store.commits[2].completion(.success(()))
        for task in first + [big] { _ = try await task.value }
        #expect(try coordinator.read { $0.accounts.count } == 6)
    }

    @Test(
        "400 writes at once on a slow store, half of them admitting, in sizes of 1 to 4 events: only admitting ones refused, every other one durable, none of the refused, and the queue's count and bytes back to 0"
    )
    func manyWritesAtOnce() async throws {
        let size = Self.event("ACC_x").bytesEstimate
        let store = InMemoryNumberStore()
        store.setCommitDelay(nanoseconds: 2_000_000)
        let coordinator = StateCoordinator(
            store: store, state: CoreState(),
            queueLimits: StateCoordinator.QueueLimits(decisionsMax: 8, bytesEstimateMax: 12 * size))
        var generator = SystemRandomNumberGenerator()
        let writes = (0..<400).map { index in
            (index: index, admitting: index % 2 == 0, events: Int.random(in: 1...4, using: &generator))
        }
        let outcomes = await withTaskGroup(of: (Int, Bool, NumberError?).self) { group in
            for write in writes {
                group.addTask {
                    do {
                        _ = try await coordinator.perform(admitting: write.admitting) { _ throws(NumberError) in
                            ((0..<write.events).map { Self.event("ACC_\(write.index)_\($0)") }, 0)
                        }
                        return (write.index, write.admitting, nil)
                    } catch {
                        return (write.index, write.admitting, error as? NumberError)
                    }
                }
            }
            return await group.reduce(into: [(Int, Bool, NumberError?)]()) { $0.append($1) }
        }
        let refused = outcomes.filter { $0.2 != nil }
        #expect(!refused.isEmpty, "400 at once past a limit of 8: some are refused")
        #expect(refused.allSatisfy { $0.1 && $0.2?.reason == .storeBusy }, "\(refused.prefix(3))")
        let expected = Set(
            writes.filter { write in !refused.contains { $0.0 == write.index } }
                .flatMap { write in (0..<write.events).map { "ACC_\(write.index)_\($0)" } })
        #expect(try coordinator.read { Set($0.accounts.keys) } == expected)
        let queued = coordinator.queued
        #expect(queued.decisions == 0 && queued.bytes == 0, "\(queued)")
        // The limits still admit: nothing of the refusals or the drained writes is counted any more.
        _ = try await coordinator.perform(admitting: true, Self.create("ACC_after"))
    }
}
