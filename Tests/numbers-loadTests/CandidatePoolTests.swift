import Synchronization
import Testing

@testable import numbers_load

@Suite("CandidatePool: one search refills the pool for every worker that finds it empty")
struct CandidatePoolTests {
    @Test("workers that find the pool empty at once share one search, and each gets its own number")
    func concurrentWorkersShareOneSearch() async {
        let pool = CandidatePool()
        let searches = Atomic(0)
        let found = (0..<30).map { "+1415555\(String(format: "%04d", $0))" }
        let search: @Sendable () async -> [String] = {
            searches.add(1, ordering: .relaxed)
            try? await Task.sleep(for: .milliseconds(100))
            return found
        }
        let taken = await withTaskGroup(of: (String?, Bool).self) { group in
            for _ in 0..<20 { group.addTask { await pool.take(refillingWith: search) } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(searches.load(ordering: .relaxed) == 1)
        #expect(taken.filter(\.1).count == 1, "exactly one worker ran the search")
        let numbers = taken.compactMap(\.0)
        #expect(numbers.count == 20)
        #expect(Set(numbers).count == 20, "no number handed to two workers")
        // Ten left: no search until they are gone.
        for _ in 0..<10 { #expect(await pool.take(refillingWith: search).number != nil) }
        #expect(searches.load(ordering: .relaxed) == 1)
    }

    @Test("a search that finds nothing is tried again up to the bound, then the worker gives up; the next one searches")
    func emptySearchIsTriedAgain() async {
        let pool = CandidatePool()
        let searches = Atomic(0)
        let nothing: @Sendable () async -> [String] = {
            searches.add(1, ordering: .relaxed)
            return []
        }
        let first = await pool.take(refillingWith: nothing)
        #expect(first.number == nil && first.searched)
        #expect(searches.load(ordering: .relaxed) == CandidatePool.refillAttemptsMax)
        let second = await pool.take(refillingWith: { ["+14155550100"] })
        #expect(second.number == "+14155550100" && second.searched)
        #expect(searches.load(ordering: .relaxed) == CandidatePool.refillAttemptsMax)
    }

    /// The refill runs in a task of its own, which the run's cancellation did not reach: an interrupted run waited
    /// for its search up to the call's deadline (`--timeout-ms`, up to 10 minutes).
    @Test("a worker cancelled while it waits for a refill cancels the refill's search")
    func cancelledWaiterCancelsTheRefill() async throws {
        let pool = CandidatePool()
        let started = Atomic(false)
        let sawCancellation = Atomic(false)
        let slow: @Sendable () async -> [String] = {
            started.store(true, ordering: .relaxed)
            try? await Task.sleep(for: .seconds(60))
            sawCancellation.store(Task.isCancelled, ordering: .relaxed)
            return []
        }
        let worker = Task { await pool.take(refillingWith: slow) }
        try await CallBudgetTests.waitUntil { started.load(ordering: .relaxed) }
        worker.cancel()
        let taken = await worker.value
        #expect(taken.number == nil)
        let cancelled = sawCancellation.load(ordering: .relaxed)
        #expect(cancelled, "the search was cancelled, not slept through")
    }

    /// A search held until released (or cancelled), then yielding one number; whether it saw its cancellation.
    final class HeldSearch: Sendable {
        private let released: AsyncStream<Void>
        private let releaser: AsyncStream<Void>.Continuation
        let sawCancellation = Atomic(false)

        init() { (released, releaser) = AsyncStream.makeStream(of: Void.self) }

        func release() { releaser.yield() }

        func callAsFunction() async -> [String] {
            await withTaskCancellationHandler {
                for await _ in released { break }
            } onCancel: {
                releaser.finish()
            }
            sawCancellation.store(Task.isCancelled, ordering: .relaxed)
            return ["+14155550101"]
        }
    }

    @Test("one of two workers waiting for a refill cancelled: the search goes on for the other; both: it is cancelled")
    func refillCancelledOnlyWithItsLastWaiter() async throws {
        let pool = CandidatePool()
        let search = HeldSearch()
        let first = Task { await pool.take(refillingWith: { await search() }) }
        let second = Task { await pool.take(refillingWith: { await search() }) }
        try await CallBudgetTests.waitUntil { pool.refillWaiters == 2 }
        first.cancel()
        search.release()
        #expect(await second.value.number == "+14155550101")
        let cancelledWithTheFirst = search.sawCancellation.load(ordering: .relaxed)
        #expect(!cancelledWithTheFirst, "the search was not cancelled with the first worker")
        #expect(await first.value.number == nil, "a cancelled worker is handed no number")

        let last = HeldSearch()
        let workers = (0..<2).map { _ in Task { await pool.take(refillingWith: { await last() }) } }
        try await CallBudgetTests.waitUntil { pool.refillWaiters == 2 }
        for worker in workers { worker.cancel() }
        for worker in workers { #expect(await worker.value.number == nil) }
        let cancelledWithTheLast = last.sawCancellation.load(ordering: .relaxed)
        #expect(cancelledWithTheLast, "cancelled with the last worker waiting for it")
    }

    /// A search held until released, whether cancelled or not (a call that ignores its cancellation), then yielding
    /// `number`.
    final class StubbornSearch: Sendable {
        let number: String
        let started = Atomic(false)
        /// Released before it waited, or the wait to resume (no cancellation handler: an `AsyncStream` would end).
        private let gate = Mutex<(released: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

        init(_ number: String) { self.number = number }

        func release() {
            let waiter = gate.withLock { gate in
                gate.released = true
                defer { gate.waiter = nil }
                return gate.waiter
            }
            waiter?.resume()
        }

        func callAsFunction() async -> [String] {
            started.store(true, ordering: .relaxed)
            await withCheckedContinuation { continuation in
                let released = gate.withLock { gate in
                    if !gate.released { gate.waiter = continuation }
                    return gate.released
                }
                if released { continuation.resume() }
            }
            return [number]
        }
    }

    /// A review: a worker that found a refill every waiter of which had been cancelled joined it, and waited for a
    /// search cut short; a worker already cancelled was handed a number all the same, lost to the others.
    @Test("a refill abandoned by its waiters is not joined: the next worker starts its own; a cancelled one takes none")
    func abandonedRefillIsNotJoined() async throws {
        let pool = CandidatePool()
        let abandoned = StubbornSearch("+14155550111")
        let first = Task { await pool.take(refillingWith: { await abandoned() }) }
        try await CallBudgetTests.waitUntil { pool.refillWaiters == 1 }
        first.cancel()
        try await CallBudgetTests.waitUntil { pool.refillWaiters == 0 }
        // Its search still runs (it ignores the cancellation), abandoned: the next worker searches anew.
        let fresh = StubbornSearch("+14155550122")
        let second = Task { await pool.take(refillingWith: { await fresh() }) }
        try await CallBudgetTests.waitUntil { fresh.started.load(ordering: .relaxed) }
        // The abandoned search ends first: its numbers join the pool, and the second refill stays the running one.
        abandoned.release()
        #expect(await first.value.number == nil, "a cancelled worker is handed no number")
        #expect(pool.refillWaiters == 1, "the refill that ended cleared itself only")
        fresh.release()
        let taken = await second.value
        #expect(taken.searched, "\(taken)")
        #expect(taken.number == "+14155550111" || taken.number == "+14155550122", "\(taken)")
        #expect(pool.refillWaiters == 0)

        // A worker cancelled before it asks is handed nothing, and the number stays for the others.
        let left = try #require(pool.take())
        pool.returned(left)
        pool.add([left])
        let cancelled = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await pool.take(refillingWith: { [] })
        }
        #expect(await cancelled.value.number == nil)
        #expect(pool.take() == left)
    }

    /// A refill yields one search's numbers (30 at most at the simulator), fewer than the workers that may wait for
    /// it (64 at depth 64): those left without one got nil and were recorded as purchases with no candidate.
    @Test("40 workers finding the pool empty, each search yielding 30 numbers: all 40 get one, over two searches")
    func workersLeftWithoutANumberWaitForTheNextRefill() async {
        let pool = CandidatePool()
        let searches = Atomic(0)
        let search: @Sendable () async -> [String] = {
            let round = searches.add(1, ordering: .relaxed).oldValue
            try? await Task.sleep(for: .milliseconds(100))
            return (0..<30).map { "+1415555\(String(format: "%04d", round * 30 + $0))" }
        }
        let taken = await withTaskGroup(of: (String?, Bool).self) { group in
            for _ in 0..<40 { group.addTask { await pool.take(refillingWith: search) } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let numbers = taken.compactMap(\.0)
        #expect(numbers.count == 40, "no worker left without a number")
        #expect(Set(numbers).count == 40, "no number handed to two workers")
        #expect(searches.load(ordering: .relaxed) == 2)
    }
}
