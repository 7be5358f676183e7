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
