import NIOCore
import NumberAPI
import Testing

@testable import numbers_load

@Suite("WorkloadRunner: each operation's histogram holds that operation's RPC only")
struct WorkloadRunnerTests {
    let clock = FakeClock()
    let account = LoadAccount(id: "ACC_load0", authorization: "Bearer nk_test", numberIds: [])
    /// A candidate search far slower than the purchase and release after it.
    let durations: [Operation: TimeAmount] = [
        .search: .seconds(5), .purchase: .milliseconds(10), .release: .milliseconds(1),
    ]

    func runner(_ recorder: LatencyRecorder, candidates: CandidatePool = CandidatePool()) -> WorkloadRunner {
        let clock = clock
        return WorkloadRunner(
            recorder: recorder, candidates: candidates, leftovers: Leftovers(), wireSizes: WireSizes(),
            country: "US",
            timeout: .seconds(5),
            now: { clock.now })
    }

    /// The largest latency recorded for `operation`, in microseconds.
    func maxMicros(_ recorder: LatencyRecorder, _ operation: Operation) -> UInt64 {
        recorder.snapshot().byOperation[operation]?.max ?? 0
    }

    /// Within the histogram's three significant digits.
    func isClose(_ micros: UInt64, to expected: TimeAmount) -> Bool {
        let expectedMicros = Double(expected.nanoseconds / 1000)
        return abs(Double(micros) - expectedMicros) <= expectedMicros * 0.002
    }

    @Test("a purchase that searched for candidates first: the search is a search, not part of the purchase")
    func purchaseLeavesOutItsSearch() async {
        let recorder = LatencyRecorder(measureFrom: clock.now)
        let runner = runner(recorder)
        let client = StubLoadClient(clock: clock, durations: durations)
        var random = FastRandom(seed: 1)
        let first = await runner.perform(
            .purchase, client: client, account: account, stripe: 0, intended: clock.now, random: &random)
        let second = await runner.perform(
            .purchase, client: client, account: account, stripe: 1, intended: clock.now, random: &random)
        #expect(first == 3, "search, purchase, release")
        #expect(second == 2, "a candidate left in the pool: no search")
        let merged = recorder.snapshot()
        #expect(merged.byOperation[.search]?.totalCount == 1)
        #expect(merged.byOperation[.purchase]?.totalCount == 2)
        #expect(merged.byOperation[.release]?.totalCount == 2)
        #expect(isClose(maxMicros(recorder, .search), to: .seconds(5)))
        #expect(isClose(maxMicros(recorder, .purchase), to: .milliseconds(10)))
        #expect(isClose(maxMicros(recorder, .release), to: .milliseconds(1)))
    }

    @Test(
        "open loop, an operation started 3 s after it was due: each of its calls carries the 3 s, none the calls before it"
    )
    func lateOperationCarriesItsLatenessInEveryCall() async {
        let recorder = LatencyRecorder(measureFrom: clock.now)
        let runner = runner(recorder)
        let client = StubLoadClient(clock: clock, durations: durations)
        clock.advance(by: .seconds(3))
        var random = FastRandom(seed: 1)
        await runner.perform(
            .purchase, client: client, account: account, stripe: 0, intended: clock.now - .seconds(3), random: &random)
        #expect(isClose(maxMicros(recorder, .search), to: .seconds(8)))
        #expect(isClose(maxMicros(recorder, .purchase), to: .seconds(3) + .milliseconds(10)))
        #expect(isClose(maxMicros(recorder, .release), to: .seconds(3) + .milliseconds(1)))
    }

    /// Starts a purchase by `runner` on worker `stripe`, due `intended`, in a task of its own: its count of calls.
    func purchase(
        _ runner: WorkloadRunner, _ client: StubLoadClient, stripe: Int, intended: NIODeadline
    ) -> Task<Int, Never> {
        let account = account
        return Task {
            var random = FastRandom(seed: UInt64(stripe + 1))
            return await runner.perform(
                .purchase, client: client, account: account, stripe: stripe, intended: intended, random: &random)
        }
    }

    @Test("a purchase that waited for another worker's search carries the wait; the searching one does not")
    func waitForAnotherSearchIsInTheLatency() async throws {
        let recorder = LatencyRecorder(measureFrom: clock.now)
        let runner = runner(recorder)
        let client = StubLoadClient(clock: clock, durations: durations)
        client.holdSearches()
        let intended = clock.now
        let searching = purchase(runner, client, stripe: 0, intended: intended)
        try await CallBudgetTests.waitUntil { client.heldSearchCount == 1 }
        // Due at the same time, it finds the pool empty while the first worker's search runs, and waits for it.
        let waiting = purchase(runner, client, stripe: 1, intended: intended)
        try await Task.sleep(for: .milliseconds(50))
        client.releaseSearches()
        let calls = (await searching.value, await waiting.value)
        #expect(calls == (3, 2))
        let purchases = try #require(recorder.snapshot().byOperation[.purchase])
        #expect(purchases.totalCount == 2)
        // One fake clock for both: each call's own duration advances it for the other too, so only the 5 s matter.
        #expect(purchases.max >= 5_000_000, "the wait is in the waiting one's: \(purchases.max) µs")
        #expect(purchases.min < 100_000, "its own search is not in the searching one's: \(purchases.min) µs")
    }

    /// An interrupted run's worker waiting for another's candidate search is handed no number (``CandidatePool``); it
    /// was then recorded as a purchase without a candidate, `NO_CANDIDATE` — an operation the run never meant to make,
    /// counted against `--max-error-fraction`. A worker not interrupted whose search finds nothing still records one.
    @Test("a worker interrupted while it waits for a candidate records no NO_CANDIDATE; one not interrupted does")
    func interruptedWorkerRecordsNoMissingCandidate() async throws {
        let recorder = LatencyRecorder(measureFrom: clock.now)
        let candidates = CandidatePool()
        let runner = runner(recorder, candidates: candidates)
        let client = StubLoadClient(clock: clock, durations: durations)
        client.holdSearches()
        let intended = clock.now
        let searching = purchase(runner, client, stripe: 0, intended: intended)
        try await CallBudgetTests.waitUntil { client.heldSearchCount == 1 }
        let interrupted = purchase(runner, client, stripe: 1, intended: intended)
        // Both wait for the one search: the second joined it rather than searching itself.
        try await CallBudgetTests.waitUntil { candidates.refillWaiters == 2 }
        interrupted.cancel()
        client.releaseSearches()
        #expect(await interrupted.value == 0, "no call made")
        #expect(await searching.value == 3)
        let snapshot = recorder.snapshot()
        #expect(snapshot.noCandidates == 0)
        #expect(snapshot.byOperation[.purchase]?.totalCount == 1, "the searching worker's purchase only")

        // Not interrupted, with nothing to buy (every search comes back empty): recorded as NO_CANDIDATE.
        let empty = StubLoadClient(clock: clock, durations: durations, searchResults: 0)
        let emptyRecorder = LatencyRecorder(measureFrom: clock.now)
        var random = FastRandom(seed: 3)
        let calls = await self.runner(emptyRecorder).perform(
            .purchase, client: empty, account: account, stripe: 0, intended: clock.now, random: &random)
        #expect(calls == CandidatePool.refillAttemptsMax, "one search a round, no purchase")
        #expect(emptyRecorder.snapshot().noCandidates == 1)
    }

    /// The harness probe: after a crashed run, one number numberd held back (a voided purchase's, watched) was handed
    /// back to the pool after each refusal, and every refill brought one NUMBER_UNAVAILABLE more.
    @Test(
        "a candidate numberd refuses NUMBER_UNAVAILABLE is not offered again when found again; one refused otherwise is"
    )
    func unavailableCandidateIsDropped() async throws {
        for (reason, offeredAgain) in [("NUMBER_UNAVAILABLE", false), ("PRICE_CHANGED", true)] {
            let recorder = LatencyRecorder(measureFrom: clock.now)
            let candidates = CandidatePool()
            let runner = runner(recorder, candidates: candidates)
            let client = StubLoadClient(clock: clock, durations: durations, failing: [.purchase])
            client.refusal.withLock {
                $0 = RPCError(code: .failedPrecondition, message: "refused", reason: reason)
            }
            candidates.add(["+14155550100"])
            var random = FastRandom(seed: 1)
            await runner.perform(
                .purchase, client: client, account: account, stripe: 0, intended: clock.now, random: &random)
            // Found again by a later search: offered again only if it was given back.
            candidates.add(["+14155550100"])
            #expect((candidates.take() != nil) == offeredAgain, "\(reason)")
        }
    }

    /// The harness probe: Ctrl-C reported the calls in flight, which the harness itself cancelled, as 8 errors
    /// (CANCELLED), with the warning failed calls bring to the CPU per call.
    @Test("a call the harness cancels (an interrupted run) is left out of the figures, not counted as an error")
    func cancelledCallIsNotAnError() async throws {
        let recorder = LatencyRecorder(measureFrom: clock.now)
        let runner = runner(recorder)
        let client = StubLoadClient(clock: clock, durations: durations)
        client.holdCalls(firstOnly: true)
        let account = account
        let intended = clock.now
        let call = Task {
            var random = FastRandom(seed: 1)
            return await runner.perform(
                .balance, client: client, account: account, stripe: 0, intended: intended, random: &random)
        }
        try await CallBudgetTests.waitUntil { client.calls(.balance) == 1 }
        call.cancel()
        client.releaseCalls()
        _ = await call.value
        let snapshot = recorder.snapshot()
        #expect(snapshot.total.totalCount == 0 && snapshot.errors == 0, "\(snapshot.outcomes)")
        // Not cancelled: recorded as usual.
        var random = FastRandom(seed: 2)
        await runner.perform(
            .balance, client: client, account: account, stripe: 0, intended: clock.now, random: &random)
        #expect(recorder.snapshot().outcomes == ["OK": 1])
    }
}
