import Foundation
import NumberCore
import Testing

/// Background passes stop asking a provider that does not answer (`Reconcile.providerFailuresPerPassMax` failures in a
/// row) and stop taking items once their task is cancelled; what is left waits for the next pass. Before, a provider
/// outage cost a pass one timeout per item — hours for a full pass, renewals waiting behind it — and a stop waited for
/// the whole pass.
@Suite("Background passes and a provider that does not answer")
struct ProviderPassTests {
    static let phones = (0..<8).map { "+1415555020\($0)" }

    /// Eight numbers whose releases timed out: each stays requested for reconciliation to finish.
    func pendingReleases(_ h: Harness) async throws -> [String] {
        let account = try await h.account(funds: 133 * 8)
        let numbers = try await h.buy(Self.phones, for: account.id).numbers
        h.provider.inject(.timeOut, on: .release, times: 8)
        for number in numbers {
            _ = await numberError { _ = try await h.service.release(accountId: account.id, numberId: number.id) }
        }
        #expect(h.service.durableState().numbers.values.filter { $0.releaseRequestedAt != nil }.count == 8)
        return numbers.map(\.id)
    }

    /// Eight numbers watched for orphans: each purchase got an answered 5xx (the number may land later).
    func watchedOrphans(_ h: Harness) async throws {
        let account = try await h.account(funds: 133 * 8)
        h.provider.stock(Self.phones)
        for phone in Self.phones {
            h.provider.inject(.fail(.outcomeUnknown), on: .buy)
            _ = await numberError { _ = try await h.buy([phone], for: account.id) }
        }
        #expect(h.service.durableState().orphanWatch.count == 8)
    }

    @Test(
        "reconciliation stops after the limit of unanswered calls in a row; the next pass finishes",
        arguments: StoreKind.allCases)
    func reconciliationStopsAtTheLimit(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let ids = try await pendingReleases(h)
        let before = h.provider.calls(.release)
        h.provider.inject(.fail(.unavailable), on: .release, times: 1_000)
        let stopped = await h.service.reconcile()
        #expect(h.provider.calls(.release) - before == 3, "the default limit, 3")
        #expect(Set(stopped.unresolved) == Set(ids) && stopped.releasesCompleted.isEmpty)
        h.provider.clearFaults()
        let done = await h.service.reconcile()
        #expect(Set(done.releasesCompleted) == Set(ids))
        try await h.check()
    }

    /// A review (forty-second session): purchases, releases and trunk changes shared one pass, so three releases whose
    /// DELETE never got an answer stopped every pass before the trunk changes, which were never looked up (their
    /// trunks held for good). Each kind has its own pass now.
    @Test(
        "releases the provider keeps failing on stop their own pass only: trunk changes are still settled",
        arguments: StoreKind.allCases)
    func eachKindItsOwnPass(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let ids = try await pendingReleases(h)
        let (_, a, b, number) = try await RouteRequestTests.numberOnA(h)
        await RouteRequestTests.timedOut(h, number, to: b.id)
        let before = h.provider.calls(.release)
        h.provider.inject(.fail(.unavailable), on: .release, times: 1_000)
        let pass = await h.service.reconcile()
        #expect(h.provider.calls(.release) - before == 3, "the releases' pass stopped at the limit")
        #expect(Set(pass.unresolved) == Set(ids) && pass.releasesCompleted.isEmpty, "\(pass)")
        #expect(pass.routesSettled == [number.id], "the trunk change looked up and settled all the same")
        #expect(RouteRequestTests.recorded(h, number).trunkId == a.id)
        h.provider.clearFaults()
        #expect(Set(await h.service.reconcile().releasesCompleted) == Set(ids))
        try await h.check()
    }

    @Test(
        "at the edge: limit − 1 failures then an answer go on; answers reset the count", arguments: StoreKind.allCases)
    func failuresInARowOnly(kind: StoreKind) async throws {
        var config = NumberServiceConfig.defaults
        config.reconcile.providerFailuresPerPassMax = 2
        let h = try await Harness(kind, config: config)
        let ids = try await pendingReleases(h)
        let before = h.provider.calls(.release)
        // One failure, an answer, one failure, ...: never two in a row, so every item is tried.
        for _ in 0..<4 {
            h.provider.inject(.fail(.unavailable), on: .release)
            h.provider.inject(.stall(nanoseconds: 0), on: .release)
        }
        let pass = await h.service.reconcile()
        #expect(h.provider.calls(.release) - before == 8)
        #expect(pass.releasesCompleted.count == 4 && pass.unresolved.count == 4)
        // Two in a row: stopped right there.
        h.provider.inject(.fail(.unavailable), on: .release, times: 2)
        let again = await h.service.reconcile()
        #expect(h.provider.calls(.release) - before == 10)
        #expect(again.unresolved.count == 4 && again.releasesCompleted.isEmpty)
        _ = ids
        try await h.check()
    }

    @Test(
        "a refusal is an answer: a provider refusing every release does not stop the pass",
        arguments: StoreKind.allCases)
    func refusalsDoNotStopThePass(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        _ = try await pendingReleases(h)
        let before = h.provider.calls(.release)
        h.provider.inject(.fail(.invalidArgument), on: .release, times: 1_000)
        let pass = await h.service.reconcile()
        #expect(h.provider.calls(.release) - before == 8)
        #expect(pass.unresolved.count == 8)
        try await h.check()
    }

    /// A review: a compensating release without an answer counted as an answer. Through an outage in which look-ups
    /// worked but DELETEs timed out, reconciliation sent one per compensating purchase — a timeout each, the orphan
    /// sweep waiting behind them — and the run reported no provider failure.
    @Test(
        "compensating releases without an answer count against the pass: it stops at the limit and reports them",
        arguments: StoreKind.allCases)
    func unansweredCompensationsStopThePass(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let account = try await h.account(funds: 10_000)
        // Five purchases of two numbers: the first bought, the second refused, the first's release unanswered.
        let phones = (10..<20).map { "+141555504\($0)" }
        h.provider.stock(phones)
        for first in stride(from: 0, to: phones.count, by: 2) {
            let pair = [phones[first], phones[first + 1]]
            h.provider.inject(.fail(.numberUnavailable), on: .buy, phoneNumber: pair[1])
            h.provider.inject(.fail(.unavailable), on: .release)
            let error = await numberError {
                _ = try await h.service.purchase(
                    PurchaseRequest(accountId: account.id, phoneNumbers: pair, country: "US"))
            }
            #expect(error?.reason == .numberUnavailable, "\(String(describing: error))")
        }
        let intents = h.service.durableState().intents.values
        #expect(intents.count == 5 && intents.allSatisfy { $0.status == .compensating })
        let before = h.provider.calls(.release)
        h.provider.inject(.fail(.unavailable), on: .release, times: 1_000)
        let stopped = await h.service.reconcile()
        #expect(h.provider.calls(.release) - before == 3, "the default limit, 3")
        #expect(stopped.providerFailures == 3 && stopped.unresolved.count == 5 && stopped.voided.isEmpty, "\(stopped)")
        h.provider.clearFaults()
        let done = await h.service.reconcile()
        #expect(done.voided.count == 5 && done.providerFailures == 0, "\(done)")
        #expect(h.provider.ownedPhoneNumbers.isEmpty)
        #expect(try h.service.balance(accountId: account.id).held == 0)
        try await h.check()
    }

    @Test(
        "a cancelled pass (numberd stopping) takes no item and leaves every one for the next",
        arguments: StoreKind.allCases)
    func cancelledPassTakesNothing(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let ids = try await pendingReleases(h)
        let before = h.provider.calls(.release)
        let service = h.service
        let task = Task { () async -> ReconcileReport in
            try? await Task.sleep(for: .seconds(600))  // ends at once: cancelled below
            return await service.reconcile()
        }
        task.cancel()
        let report = await task.value
        #expect(h.provider.calls(.release) == before)
        #expect(Set(report.unresolved) == Set(ids))
        #expect(Set((await h.service.reconcile()).releasesCompleted) == Set(ids), "claims given back")
        try await h.check()
    }

    @Test("the orphan sweep stops after the limit of unanswered look-ups in a row", arguments: StoreKind.allCases)
    func orphanSweepStopsAtTheLimit(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        try await watchedOrphans(h)
        let before = h.provider.calls(.lookUp)
        h.provider.inject(.fail(.unavailable), on: .lookUp, times: 1_000)
        let stopped = await h.service.sweepOrphans()
        #expect(h.provider.calls(.lookUp) - before == 3)
        #expect(Set(stopped.pending) == Set(Self.phones))
        h.provider.clearFaults()
        let next = await h.service.sweepOrphans()
        #expect(h.provider.calls(.lookUp) - before == 3 + 8)
        #expect(Set(next.pending) == Set(Self.phones), "inside the watch window, not at the provider: still watched")
        try await h.check()
    }

    @Test(
        "a billing catch-up defers grace releases once the provider failed the limit, and renews the rest meanwhile",
        arguments: StoreKind.allCases)
    func billingDefersGraceReleases(kind: StoreKind) async throws {
        var config = NumberServiceConfig.defaults
        config.billing.actionsPerRunMax = 4
        let h = try await Harness(kind, config: config)
        let broke = try await h.account(funds: 133 * 8, name: "Broke")
        _ = try await h.buy(Self.phones, for: broke.id)
        let payer = try await h.account(funds: 10_000, name: "Payer")
        let renewing = ["+14155550300", "+14155550301", "+14155550302"]
        h.clock.set(.utc("2025-02-15T00:00:01Z"))
        #expect(try await h.service.runBillingUntilCaughtUp(runsMax: 10).markedPastDue == 8)
        // Bought later: due a month after, once the eight are past their grace period.
        _ = try await h.buy(renewing, for: payer.id)
        h.clock.set(.utc("2025-03-16T00:00:00Z"))
        let before = h.provider.calls(.release)
        let eventsBefore = h.service.durableState().eventCount
        h.provider.inject(.fail(.unavailable), on: .release, times: 1_000)
        let report = try await h.service.runBillingUntilCaughtUp(runsMax: 10)
        #expect(h.provider.calls(.release) - before == 3, "three failures in a row, over the whole catch-up")
        // 3 renewals; 5 releases requested (3 refused, 2 not tried once the pass stopped) and withdrawn again. The last
        // 3 are counted deferred without being requested and withdrawn (19 events before: 6 more each catch-up).
        #expect(h.service.durableState().eventCount - eventsBefore == 3 + 5 * 2)
        #expect(report.releaseFailures == 3 && report.releasesDeferred == 5 && report.released == 0)
        #expect(report.renewed == 3, "the payer's numbers renewed in the same catch-up")
        // The deferred five, like the three refused ones, are past due again with no release requested (nothing left
        // for reconciliation to retry), and the first catch-up past the refused ones' retry wait (GraceRetryTests)
        // releases all eight.
        let numbers = h.service.durableState().numbers.values.filter { $0.accountId == broke.id }
        #expect(numbers.count == 8 && numbers.allSatisfy { $0.status == .pastDue && $0.releaseRequestedAt == nil })
        h.provider.clearFaults()
        #expect(await h.service.reconcile().releasesCompleted.isEmpty)
        h.clock.advance(by: TimeInterval(h.config.billing.graceReleaseRetrySeconds))
        let next = try await h.service.runBillingUntilCaughtUp(runsMax: 10)
        #expect(next.released == 8 && next.releasesDeferred == 0)
        #expect(h.provider.ownedPhoneNumbers == Set(renewing))
        try await h.check()
    }

    @Test(
        "items a stopped pass did not try come first in the next pass (the claim had moved past them)",
        arguments: StoreKind.allCases)
    func untriedItemsComeNext(kind: StoreKind) async throws {
        var config = NumberServiceConfig.defaults
        config.reconcile.itemsPerPassMax = 4
        config.reconcile.orphanLookUpsPerSweep = 4
        let h = try await Harness(kind, config: config)
        _ = try await pendingReleases(h)
        h.provider.inject(.fail(.unavailable), on: .release, times: 3)
        let stopped = await h.service.reconcile()
        #expect(stopped.unresolved.count == 4 && stopped.releasesCompleted.isEmpty)
        let untried = try #require(stopped.unresolved.last)
        let next = await h.service.reconcile()
        #expect(next.releasesCompleted.first == untried, "\(next.releasesCompleted) should start at \(untried)")
        #expect(next.releasesCompleted.count == 4)
        try await h.check()
    }

    @Test("watches a stopped sweep did not look up come first in the next sweep", arguments: StoreKind.allCases)
    func untriedWatchesComeNext(kind: StoreKind) async throws {
        var config = NumberServiceConfig.defaults
        config.reconcile.orphanLookUpsPerSweep = 4
        let h = try await Harness(kind, config: config)
        try await watchedOrphans(h)
        let lookUpsBefore = h.provider.calls(.lookUp)
        h.provider.inject(.fail(.unavailable), on: .lookUp, times: 3)
        let stopped = await h.service.sweepOrphans()
        // The four chosen: three looked up and failed, one not tried; the other four were not chosen.
        #expect(h.provider.calls(.lookUp) - lookUpsBefore == 3)
        let tried = Self.phones.sorted().prefix(3)
        let untried = Self.phones.sorted()[3]
        #expect(Set(stopped.pending).isSuperset(of: Set(tried)) && stopped.pending.contains(untried))
        let before = h.provider.calls(.lookUp)
        _ = await h.service.sweepOrphans()
        #expect(h.provider.calls(.lookUp) - before == 4)
        // The second sweep looked up the untried one and the three after it, not the next four after it.
        #expect(h.provider.lookedUp.suffix(4) == Array(Self.phones.sorted()[3..<7]))
        try await h.check()
    }

    @Test("the limit's range is checked")
    func limitRange() {
        var config = NumberServiceConfig.defaults
        config.reconcile.providerFailuresPerPassMax = 0
        #expect(config.validate() == ["reconcile.providerFailuresPerPassMax must be in 1...1000"])
        config.reconcile.providerFailuresPerPassMax = 1
        #expect(config.validate().isEmpty)
        config.reconcile.providerFailuresPerPassMax = 1000
        #expect(config.validate().isEmpty)
        config.reconcile.providerFailuresPerPassMax = 1001
        #expect(config.validate() == ["reconcile.providerFailuresPerPassMax must be in 1...1000"])
    }
}
