import Foundation

/// How much work the background runs have open: what an operator's gauges show (numberd's
/// `numberd_open_purchase_intents`, `numberd_pending_releases`, ...). Levels, not events: each reading replaces the last.
public struct WorkLevels: Sendable, Hashable {
    /// Purchase intents not yet committed or voided (open or compensating): money held, numbers maybe bought.
    public var openPurchaseIntents = 0
    /// When the oldest of them started; nil when there is none. One that stays old means reconciliation cannot settle
    /// it (the provider unreachable, or a number it keeps refusing).
    public var oldestOpenPurchaseIntentCreatedAt: Date?
    /// Numbers whose release was requested and has not happened at the provider yet (no longer billed).
    public var pendingReleases = 0
    /// When the oldest of them was requested; nil when there is none. One that stays old is a release the provider
    /// keeps refusing (or cannot be reached for): the customer is no longer billed while the number may still be paid
    /// at the provider.
    public var oldestPendingReleaseRequestedAt: Date?
    /// Numbers the orphan sweep watches at the provider (``OrphanWatch``).
    public var orphanWatches = 0
    /// Numbers with a trunk change whose outcome is not recorded yet (``OwnedNumber/routeRequest``): running, or left
    /// by a crash or a lost answer for reconciliation. One that stays is a number the provider cannot be asked about.
    public var openRouteRequests = 0
    /// When the oldest of them was asked for (``RouteRequest/at``: a change recorded over requests that may still land
    /// keeps its own time); nil when there is none. Reconciliation settles one once the in-flight horizon has passed
    /// since its call ended: one that stays older is a number the provider cannot be asked about, its trunks held.
    public var oldestOpenRouteRequestAt: Date?
    /// Numbers an adoption's routing is recorded for (``AdoptionRouteRequest``): running, or sent without an answer and
    /// held until it can no longer land (after a restart, the late-buy window from the latest its call can have
    /// ended). Reconciliation ends each record then: one that stays is an adoption routing numberd keeps holding, its
    /// number and trunk with it.
    public var adoptionRoutes = 0

    /// No open work.
    public init() {}

    /// Seconds since the oldest open purchase intent started at `now` (0 when there is none, never negative).
    public func oldestOpenPurchaseIntentAgeSeconds(at now: Date) -> Double {
        oldestOpenPurchaseIntentCreatedAt.map { max(0, now.timeIntervalSince($0)) } ?? 0
    }

    /// Seconds since the oldest pending release was requested at `now` (0 when there is none, never negative).
    public func oldestPendingReleaseAgeSeconds(at now: Date) -> Double {
        oldestPendingReleaseRequestedAt.map { max(0, now.timeIntervalSince($0)) } ?? 0
    }

    /// Seconds since the oldest open route request was asked for at `now` (0 when there is none, never negative).
    public func oldestOpenRouteRequestAgeSeconds(at now: Date) -> Double {
        oldestOpenRouteRequestAt.map { max(0, now.timeIntervalSince($0)) } ?? 0
    }
}

extension NumberService {
    /// The open work now, read without copying any table out of its lock: the intents, watches and route requests
    /// from the durable state (one pass over the open intents and the open route requests, which reconciliation keeps
    /// few), the pending releases from the index
    /// decisions keep (``WorkIndexes``, absent from the durable state; it may count a release decided and not yet on
    /// disk; one pass over them for the oldest, as reconciliation's claim makes). Cheap enough for every background
    /// run.
    public func workLevels() -> WorkLevels {
        var levels =
            (try? coordinator.read { state in
                var levels = WorkLevels()
                levels.openPurchaseIntents = state.intents.count
                levels.oldestOpenPurchaseIntentCreatedAt = state.intents.values.lazy.map(\.createdAt).min()
                levels.orphanWatches = state.orphanWatch.count
                levels.openRouteRequests = state.routeRequests.count
                levels.oldestOpenRouteRequestAt =
                    state.routeRequests.lazy.compactMap { state.numbers[$0]?.routeRequest?.at }.min()
                levels.adoptionRoutes = state.adoptionRoutes.count
                return levels
            }) ?? WorkLevels()
        (levels.pendingReleases, levels.oldestPendingReleaseRequestedAt) = coordinator.readDecisionState { state in
            let pending = state.work.pendingReleases
            return (pending.count, pending.lazy.compactMap { state.numbers[$0]?.releaseRequestedAt }.min())
        }
        return levels
    }
}
