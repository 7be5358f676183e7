import Foundation
import NumberCore
import Testing

/// The open work numberd's gauges show (`numberd_open_purchase_intents`, `…_oldest_open_purchase_intent_age_seconds`,
/// `numberd_pending_releases`, `numberd_orphan_watches`), read as it is and back to zero once settled. Before, only
/// the reconcile run's log said how much was left, and its counters added the same open items up run after run.
@Suite("Work levels: open intents, pending releases, orphan watches")
struct WorkLevelsTests {
    static let phone = "+14155550100"

    @Test("an empty service has no open work", arguments: StoreKind.allCases)
    func empty(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let levels = h.service.workLevels()
        #expect(levels == WorkLevels())
        #expect(levels.oldestOpenPurchaseIntentAgeSeconds(at: h.clock.now()) == 0)
    }

    @Test(
        "a purchase left compensating counts as an open intent, aging with the clock, and its substitute as a watch",
        arguments: StoreKind.allCases)
    func openIntentAndWatch(kind: StoreKind) async throws {
        var h = try await Harness(kind, providerDatesByClock: true)
        let account = try await h.account(funds: 1_000)
        let other = "+14155550199"
        h.provider.stock([Self.phone, other])
        h.provider.sellInstead(other, for: Self.phone)
        h.provider.inject(.fail(.unavailable), on: .release)
        _ = await numberError { _ = try await h.buy([Self.phone], for: account.id) }
        let started = h.clock.now()
        h.clock.advance(by: 90)
        let open = h.service.workLevels()
        #expect(open.openPurchaseIntents == 1)
        #expect(open.oldestOpenPurchaseIntentCreatedAt == started)
        #expect(open.oldestOpenPurchaseIntentAgeSeconds(at: h.clock.now()) == 90)
        #expect(open.orphanWatches == 1)
        #expect(open.pendingReleases == 0)
        // Read again after a restart: from the store's state, not from the saga's memory.
        try await h.restart()
        #expect(h.service.workLevels() == open)
        _ = await h.service.reconcile()
        _ = await h.service.sweepOrphans()
        // Voided and the substitute released; the number asked for stays watched until its window ends.
        var watching = WorkLevels()
        watching.orphanWatches = 1
        #expect(h.service.workLevels() == watching)
        h.clock.advance(by: Double(h.config.reconcile.orphanWatchSeconds))
        _ = await h.service.sweepOrphans()
        #expect(h.service.workLevels() == WorkLevels())
        try await h.check()
    }

    @Test("a release that timed out is pending until reconciliation completes it", arguments: StoreKind.allCases)
    func pendingRelease(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let account = try await h.account(funds: 133)
        let number = try await h.buy([Self.phone], for: account.id).numbers[0]
        h.provider.inject(.timeOut, on: .release)
        let requested = h.clock.now()
        _ = await numberError { _ = try await h.service.release(accountId: account.id, numberId: number.id) }
        var expected = WorkLevels()
        expected.pendingReleases = 1
        expected.oldestPendingReleaseRequestedAt = requested
        #expect(h.service.workLevels() == expected)
        // Aging with the clock while the provider keeps it (`numberd_oldest_pending_release_age_seconds`).
        h.clock.advance(by: 3_600)
        #expect(h.service.workLevels().oldestPendingReleaseAgeSeconds(at: h.clock.now()) == 3_600)
        try await h.provider.release(sid: number.providerSid)
        _ = await h.service.reconcile()
        let settled = h.service.workLevels()
        #expect(settled.pendingReleases == 0 && settled.openPurchaseIntents == 0)
        #expect(settled.oldestPendingReleaseRequestedAt == nil && settled.oldestPendingReleaseAgeSeconds(at: .now) == 0)
        #expect(settled.orphanWatches == h.service.durableState().orphanWatch.count)
        try await h.check()
    }

    @Test("a trunk change left open ages until reconciliation settles it", arguments: StoreKind.allCases)
    func openRouteRequest(kind: StoreKind) async throws {
        var config = NumberServiceConfig.defaults
        config.reconcile.inFlightHorizonSeconds = 600
        let h = try await Harness(kind, config: config)
        let account = try await h.account(funds: 133)
        let trunk = try await h.service.createTrunk(accountId: account.id, name: "T", providerTrunkSid: trunkSid(0xA))
        let number = try await h.buy([Self.phone], for: account.id).numbers[0]
        h.provider.inject(.timeOut, on: .setTrunk)
        let asked = h.clock.now()
        _ = await numberError {
            _ = try await h.service.setTrunk(accountId: account.id, numberId: number.id, trunkId: trunk.id)
        }
        var expected = WorkLevels()
        expected.openRouteRequests = 1
        expected.oldestOpenRouteRequestAt = asked
        #expect(h.service.workLevels() == expected)
        // The provider cannot be asked about it: it stays, aging (`numberd_oldest_open_route_request_age_seconds`).
        h.clock.advance(by: 3_600)
        h.provider.inject(.fail(.unavailable), on: .lookUp, phoneNumber: Self.phone)
        #expect(await h.service.reconcile().unresolved == [number.id])
        #expect(h.service.workLevels().oldestOpenRouteRequestAgeSeconds(at: h.clock.now()) == 3_600)
        #expect(await h.service.reconcile().routesSettled == [number.id])
        let settled = h.service.workLevels()
        #expect(settled.openRouteRequests == 0 && settled.oldestOpenRouteRequestAt == nil)
        #expect(settled.oldestOpenRouteRequestAgeSeconds(at: h.clock.now()) == 0)
        try await h.check()
    }

    @Test("the age is never negative (a clock set back)")
    func ageNeverNegative() {
        var levels = WorkLevels()
        levels.oldestOpenPurchaseIntentCreatedAt = Date(timeIntervalSince1970: 1_000)
        #expect(levels.oldestOpenPurchaseIntentAgeSeconds(at: Date(timeIntervalSince1970: 900)) == 0)
        #expect(levels.oldestOpenPurchaseIntentAgeSeconds(at: Date(timeIntervalSince1970: 1_060)) == 60)
        levels.oldestPendingReleaseRequestedAt = Date(timeIntervalSince1970: 1_000)
        #expect(levels.oldestPendingReleaseAgeSeconds(at: Date(timeIntervalSince1970: 900)) == 0)
        #expect(levels.oldestPendingReleaseAgeSeconds(at: Date(timeIntervalSince1970: 1_060)) == 60)
    }
}
