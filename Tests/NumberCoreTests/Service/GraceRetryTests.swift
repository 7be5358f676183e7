import Foundation
import Testing

@testable import NumberCore

/// A grace release the provider refuses outright (a number it holds for a reason of its own) was asked again — and
/// withdrawn again — by every billing run: two provider calls and two journal events a minute, for good. After a failure
/// the number's next grace release waits `graceReleaseRetrySeconds`, doubling with each failure in a row up to
/// `graceReleaseRetryMaxSeconds`; one that goes through clears it, and the customer paying meanwhile still renews it.
@Suite("Grace releases the provider refused wait, doubling, before they are asked again")
struct GraceRetryTests {
    @Test(
        "refused: asked again after 60 s, then 120 s, not before; the run between asks nothing",
        arguments: StoreKind.allCases)
    func backsOff(kind: StoreKind) async throws {
        let (h, _, number) = try await ReleaseAndBillingTests.pastGrace(kind)
        let graceOver = h.clock.now()
        h.provider.inject(.fail(.invalidArgument), on: .release, times: 2)
        #expect(try await h.service.runBilling().releaseFailures == 1)
        #expect(h.provider.calls(.release) == 1)
        let commits = h.commitCount
        for (seconds, asked) in [(59.0, 1), (61, 2), (61 + 119, 2), (61 + 121, 3)] {
            h.clock.set(graceOver.addingTimeInterval(seconds))
            let report = try await h.service.runBilling()
            #expect(h.provider.calls(.release) == asked, "at +\(seconds) s")
            #expect(report.releasesDeferred == 0, "at +\(seconds) s: waiting is not deferred")
        }
        #expect(h.commitCount - commits < 8, "the runs that waited recorded no release request and no withdrawal")
        let released = try #require(h.service.durableState().numbers[number.id])
        #expect(released.status == .released)
        #expect(h.service.local.withLock { $0.graceRetries.isEmpty }, "cleared once it went through")
        try await h.check()
    }

    @Test("the wait stops at graceReleaseRetryMaxSeconds; a customer who pays meanwhile is renewed, the wait dropped")
    func capAndPayment() async throws {
        var config = NumberServiceConfig.defaults
        config.billing.graceReleaseRetrySeconds = 10
        config.billing.graceReleaseRetryMaxSeconds = 25
        let h = try await Harness(.memory, config: config)
        let account = try await h.account(funds: 133)
        let number = try await h.buy([ReleaseAndBillingTests.phone], for: account.id).numbers[0]
        h.clock.set(ReleaseAndBillingTests.due.addingTimeInterval(30))
        #expect(try await h.service.runBilling().markedPastDue == 1)
        h.clock.advance(by: TimeInterval(config.billing.gracePeriodSeconds))
        h.provider.inject(.fail(.invalidArgument), on: .release, times: 10)
        var waits: [Date] = []
        for _ in 0..<4 {
            _ = try await h.service.runBilling()
            let notBefore = try #require(h.service.local.withLock { $0.graceRetries[number.id]?.notBefore })
            waits.append(notBefore)
            h.clock.set(notBefore)
        }
        let gaps = zip(waits, waits.dropFirst()).map { $1.timeIntervalSince($0) }
        #expect(gaps == [20, 25, 25], "10, 20, then the 25 s cap")
        // The customer pays during a wait: renewed, no longer past due, the wait forgotten by the next run.
        h.clock.advance(by: 1)
        _ = try await h.service.addFunds(accountId: account.id, amount: 1_000)
        let report = try await h.service.runBilling()
        #expect(report.renewed == 1)
        #expect(h.service.durableState().numbers[number.id]?.status == .active)
        _ = try await h.service.runBilling()
        #expect(h.service.local.withLock { $0.graceRetries.isEmpty })
        try await h.check()
    }

    /// While the provider fails, each tick's first run used to request the grace release of every number past its
    /// grace period, try three, and withdraw them all again. After a run whose provider pass stopped, the next requests a
    /// probe's few; once one goes through, the catch-up takes the rest.
    @Test(
        "after a stopped pass the next catch-up requests a probe's three, not every number; one going through ends it")
    func probeAfterAStoppedPass() async throws {
        let h = try await Harness(.memory)
        let account = try await h.account(funds: 133 * 10)
        let phones = (0..<10).map { "+1415555\(String(format: "%04d", 400 + $0))" }
        _ = try await h.buy(phones, for: account.id)
        h.clock.set(ReleaseAndBillingTests.due.addingTimeInterval(30))
        #expect(try await h.service.runBillingUntilCaughtUp(runsMax: 10).markedPastDue == 10)
        h.clock.advance(by: TimeInterval(h.config.billing.gracePeriodSeconds))
        h.provider.inject(.fail(.unavailable), on: .release, times: 1_000)
        let first = try await h.service.runBillingUntilCaughtUp(runsMax: 10)
        #expect(first.releaseFailures == 3 && first.released == 0)
        // Still failing, 30 s later (the three refused still wait): three requested and withdrawn, nothing for the
        // other four — 6 events, where requesting all seven and withdrawing them made 14.
        h.clock.advance(by: 30)
        let events = h.service.durableState().eventCount
        let asked = h.provider.calls(.release)
        let second = try await h.service.runBillingUntilCaughtUp(runsMax: 10)
        #expect(h.provider.calls(.release) - asked == 3 && second.releaseFailures == 3)
        #expect(h.service.durableState().eventCount - events == 6)
        // Back: the first run's probe goes through, and the catch-up releases every number whose wait is over.
        h.provider.clearFaults()
        h.clock.advance(by: TimeInterval(h.config.billing.graceReleaseRetryMaxSeconds))
        let back = try await h.service.runBillingUntilCaughtUp(runsMax: 10)
        #expect(back.released == 10, "\(back)")
        #expect(h.provider.ownedPhoneNumbers.isEmpty)
        try await h.check()
    }

    /// A customer could not pay while numberd's writes found no room (a full disk: AddFunds refused STORE_FULL) any more
    /// than while numberd was down: those times do not count toward a grace period either.
    @Test("a grace period does not count the time writes found no room")
    func writeOutageIsDowntime() async throws {
        var config = NumberServiceConfig.defaults
        config.commits.noRoomRetryMilliseconds = 5
        let h = try await Harness(.memory, config: config)
        let account = try await h.account(funds: 133)
        let other = try await h.account(funds: 0, name: "Other")
        _ = try await h.buy([ReleaseAndBillingTests.phone], for: account.id)
        let marked = ReleaseAndBillingTests.due.addingTimeInterval(30)
        h.clock.set(marked)
        #expect(try await h.service.runBilling().markedPastDue == 1)
        // Day 1 to day 3 after the mark: writes find no room.
        h.clock.set(marked.addingTimeInterval(86_400))
        h.memoryStore.refuseForRoom()
        let refused = await numberError { _ = try await h.service.addFunds(accountId: other.id, amount: 1) }
        #expect(refused?.reason == .storeFull)
        h.clock.set(marked.addingTimeInterval(3 * 86_400))
        try await Task.sleep(for: .milliseconds(20))  // past the pause after a refusal
        _ = try await h.service.addFunds(accountId: other.id, amount: 1)
        let grace = TimeInterval(h.config.billing.gracePeriodSeconds)
        h.clock.set(marked.addingTimeInterval(grace + 60))
        #expect(try await h.service.runBilling().released == 0, "two of its days were an outage")
        h.clock.set(marked.addingTimeInterval(grace + 2 * 86_400 + 60))
        #expect(try await h.service.runBilling().released == 1)
        try await h.check()
    }

    @Test("the retry times' ranges are checked")
    func ranges() {
        var config = NumberServiceConfig.defaults
        config.billing.graceReleaseRetrySeconds = 0
        #expect(config.validate().contains { $0.contains("graceReleaseRetry") })
        config.billing.graceReleaseRetrySeconds = 60
        config.billing.graceReleaseRetryMaxSeconds = 59
        #expect(config.validate().contains { $0.contains("graceReleaseRetry") })
        #expect(NumberServiceConfig.defaults.validate().isEmpty)
    }
}
