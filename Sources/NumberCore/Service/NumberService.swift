import Foundation
import Logging
import Synchronization

/// The core's facade: accounts, ledger, numbers, trunks, billing and API keys over a ``NumberStore`` and a
/// ``NumberProvider``.
///
/// Every write validates against the state, produces ``CoreEvent``s, has them made durable, then applies them;
/// reads see only durable state. Usage:
/// ```swift
/// let service = try await NumberService.open(store: store, provider: provider)
/// let account = try await service.createAccount(name: "Acme", currency: "USD")
/// _ = try await service.addFunds(accountId: account.id, amount: 10_000)
/// let bought = try await service.purchase(PurchaseRequest(accountId: account.id, phoneNumbers: ["+14155550100"], country: "US"))
/// ```
public final class NumberService: Sendable {
    /// Process-local bookkeeping that is not part of the durable state.
    struct Local {
        /// Intents a running saga (or reconcile pass) is driving; reconcile leaves them alone.
        var liveIntents: Set<String> = []
        /// Numbers whose release a running call is driving (a caller's release, the billing run's grace releases,
        /// reconciliation's pass).
        var liveReleases: Set<String> = []
        /// Numbers whose release a caller's call has asked for and that waits for one of its account's provider slots
        /// (``NumberService/withProviderChangeSlot(_:_:)``), nothing recorded yet, with when it was asked for
        /// (numberd's clock): a second release of one, or a trunk change, is refused. Billing leaves one alone only if
        /// its release was asked for before its billing date (the release's request bills the cycle begun meanwhile);
        /// a release asked for later would otherwise hide a due number from billing for as long as its caller kept
        /// asking again (refused after each wait, say, by a wrong `expected_next_billing_date`).
        var waitingReleases: [String: Date] = [:]
        /// The idempotency key (``IdempotencyRecord/storageKey``) of the caller's call that waits for or drives each
        /// number's release, when it brought one: a retry under that key is told `REQUEST_IN_PROGRESS` instead of
        /// `NUMBER_NOT_ACTIVE`, which would say nothing of the first call's outcome.
        var releaseKeys: [String: String] = [:]
        /// The idempotency keys (storage keys: account and key) of purchases running before their intent is open, and
        /// of adoptions running (whose record is written with the number): a retry under one then is answered
        /// REQUEST_IN_PROGRESS, not by its own checks — a refusal (the balance held meanwhile, the number reserved or
        /// owned) that the first attempt, going on, may make untrue. From a purchase's intent on, its pending record
        /// answers.
        var purchaseKeys: Set<String> = []
        /// Past-due numbers whose grace release failed: how many times in a row, and the time before which the billing
        /// run does not ask again (``NumberServiceConfig/Billing/graceReleaseRetrySeconds``). Dropped when one goes
        /// through, or the number is no longer past due.
        var graceRetries: [String: (failures: Int, notBefore: Date, pastDueSince: Date?)] = [:]
        /// Whether the last billing run's provider pass stopped asking (the provider failing): the next run requests
        /// only a probe's few grace releases, until one goes through.
        var graceProbe = false
        /// Those of `liveReleases` whose running call may still withdraw the release (the provider refused it
        /// outright): a caller's release and the billing run's grace releases, never reconciliation's, which never
        /// withdraws one. Only these count against the number limit while releasing (``CoreState/countedForLimit``).
        var withdrawableReleases: Set<String> = []
        /// When the last buy of the saga driving each intent ended (answered, failed or settled by a look-up: its
        /// request left at the latest then, after its turn in the HTTP client's queue and any retries before it was
        /// sent), and how many of its items had their buy sent by then (in item order): reconciliation's in-flight
        /// window (``NumberServiceConfig/Reconcile/inFlightHorizonSeconds``) counts from `ended`, not from the
        /// intent's opening — a purchase of many numbers from a slow provider sends its last buy many minutes after
        /// that —, and only the first `attempted` items may land late and are watched for orphans: a buy whose answer
        /// was lost ends the saga, and the items after it were never sent. Dropped once the intent is settled.
        var buysSent: [String: (ended: Date, attempted: Int)] = [:]
        /// Re-routes of an open intent's numbers to its trunk sent without an answer (``routeBeforeCommit(_:to:of:)``),
        /// and when the last such call ended: each may still land after the purchase is committed. The commit opens a
        /// trunk change on such a number (``OwnedNumber/routeRequest``, to the purchase's trunk), so that a change
        /// answered after it stays open until the re-route can no longer land — recorded at once, the re-route's
        /// landing would route the number back for good. Dropped with `buysSent`. (Not durable: a re-route an earlier
        /// process sent without an answer is not known here.)
        var reroutesSent: [String: (ended: Date, phones: Set<String>)] = [:]
        /// When this service started: a provider call recorded before it (a purchase's buys, a trunk change, an
        /// adoption's routing) can have ended as late as this (when is not kept), or the longest such calls take after
        /// the record if sooner (``NumberService/inheritedCallsEnded(startedAt:from:calls:horizon:)``).
        var startedAt = Date.distantPast
        /// Where the last reconciliation pass stopped in the open intents (by `createdAt`, id) and the pending
        /// releases (by id): the next pass goes on after them, so items that fail on every pass cannot keep the rest
        /// out of a capped pass.
        var reconcileCursor: (intent: (Date, String)?, release: String?) = (nil, nil)
        /// Numbers whose trunk a running call is changing at the provider, with the trunk they go to (nil: none):
        /// another trunk change, a release of the number (a billing run's grace release included) and a deletion of
        /// that trunk wait until it is recorded. Billing renews them and marks them past due all the same: the change
        /// records only the trunk.
        var routing: [String: String?] = [:]
        /// When the last call changing each number's trunk in this process whose own request may still land (sent
        /// without an answer) ended, its route request left open (``OwnedNumber/routeRequest``): reconciliation
        /// settles the request once the in-flight horizon has passed since then. A later call answered or refused
        /// leaves it as it was (a claim over an open request with none here notes that request's `at`, or
        /// `startedAt`), so changes made again and again over one without an answer do not keep it open. Only numbers
        /// with a request open; one made before this process started counts from when its call can have ended at the
        /// latest (``NumberService/inheritedCallsEnded(startedAt:from:calls:horizon:)``).
        var routesEnded: [String: Date] = [:]
        /// The number id the last reconciliation pass that stopped early stopped at in the open route requests: the
        /// next pass goes on after it (``NumberService/reconcileRoutes(max:into:pass:)``).
        var routeCursor: String?
        /// Numbers whose trunk changes ended unknown (no answer, the provider may still route it as asked) or
        /// unrecorded (made at the provider, refused by the store), with every trunk the provider may route each to
        /// instead of the recorded one: those the changes asked for and those the look-ups after them showed. None of
        /// them is deleted (TRUNK_IN_USE) while held. A recorded change of the number drops them, but for the trunk of
        /// a change that got no answer, whose request may land later still (held until it no longer can); its recorded
        /// release drops them all. The caller learns where the number goes by making a change again (every change is
        /// sent to the provider, one to the recorded trunk included); reconciliation settles the request
        /// (``OwnedNumber/routeRequest``, which holds the trunks asked for durably) once none can land any more. Not durable: a restart forgets the rest — the trunk a look-up showed,
        /// the late window of a superseded request —, and the provider audit's `trunk_differs` names a number the
        /// provider still routes elsewhere; a trunk numberd made at the provider is not deleted while the provider
        /// routes numbers to it either (asked then).
        var unsettledRoutes = UnsettledRoutes()
        /// Trunks a call is creating at the provider (by the id their name there starts with) or deleting there (by
        /// SID), not yet recorded or already unrecorded: the provider audit leaves them out.
        var trunksInFlight: Set<String> = []
        /// Trunk creations at the provider running, per account (``NumberServiceConfig/Limits/providerTrunksPerAccountMax``).
        var trunkCreations: [String: Int] = [:]
        /// Trunk creations at the provider running in all (``NumberServiceConfig/Limits/providerTrunksMax``).
        var trunkCreationsTotal = 0
        /// The last provider audit that finished, and when.
        var lastAudit: FinishedProviderAudit?
        /// Whether an orphan sweep is running (one at a time).
        var sweepingOrphans = false
        /// Whether a provider audit is running (one at a time).
        var auditing = false
        /// When the running provider audit started (nil: none runs).
        var auditStartedAt: Date?
        /// The last provider audit that could not finish, unless one finished after it.
        var lastAuditFailure: ProviderAuditFailure?
        /// Numbers a release by the orphan sweep may still reach at the provider: no purchase may reserve one. Set by
        /// the sweep before its DELETE and kept past a DELETE that may still land until a later sweep's look-up no
        /// longer lists the number (or its watch ends). Not durable: a new service starts with every watched number
        /// here, as any of them may have had such a DELETE in flight, and the first sweep to look one up lifts it.
        var releasingOrphans: Set<String> = []
        /// Numbers an adoption is giving to an account (``NumberService/adoptNumber(_:)``): no purchase may reserve one
        /// meanwhile.
        var adopting: Set<String> = []
        /// Adoptions' routings, by E.164 (``NumberService/adoptNumber(_:)``): one running, from the decision that
        /// chose its trunk until the number is recorded or the adoption refused (`until` `.distantFuture`), and those
        /// the provider did not answer. Until each ends (can no longer land), DeleteTrunk refuses its trunk
        /// (TRUNK_IN_USE), only an adoption of the number for the same account on the same trunk is taken, and no
        /// purchase. Pruned as read. Each is recorded (``CoreState/adoptionRoutes``); a new service holds every
        /// recorded one for ``NumberService/lateBuySeconds`` from the latest its call can have ended
        /// (``NumberService/inheritedCallsEnded(startedAt:from:calls:horizon:)``).
        var adoptionRoutes: [String: AdoptionRoute] = [:]

        /// Notes that `numberId`'s open trunk change stands for a call sent without an answer that ended at `ended`
        /// (an adoption's earlier routing, a purchase's re-route): its horizon counts from then — never from earlier
        /// than a time already noted, which a change of the number may have set meanwhile — and `trunkId`, when it
        /// names one, stays held until `until`.
        mutating func routeMayLandLate(_ numberId: String, trunkId: String?, ended: Date, until: Date) {
            routesEnded[numberId] = max(routesEnded[numberId] ?? ended, ended)
            if let trunkId { unsettledRoutes.holdLate(trunkId, of: numberId, until: until) }
        }

        /// The routing an adoption of `phone` sent that may still land at `now`, if any.
        mutating func pendingAdoptionRoute(_ phone: String, at now: Date) -> AdoptionRoute? {
            guard let route = adoptionRoutes[phone] else { return nil }
            guard route.until > now else {
                adoptionRoutes.removeValue(forKey: phone)
                return nil
            }
            return route
        }

        /// Whether a purchase of `phone` must wait: an adoption of it is running, or sent a routing that may still
        /// land.
        mutating func adoptionHolds(_ phone: String, at now: Date) -> Bool {
            adopting.contains(phone) || pendingAdoptionRoute(phone, at: now) != nil
        }
        /// The last watched number the orphan sweep settled: the next pass goes on after it (``rotation(_:of:after:)``).
        var orphanSweepCursor: String?
        /// Provider prices by `country/type`, with the time they were fetched.
        var prices: [String: (price: ProviderPrice, fetchedAt: Date)] = [:]
        /// Search listings by E.164, with the time they were seen.
        var listings = ListingCache()
        /// Searches at the provider now, by account id ("" for searches for no account), and in all.
        var searchesInFlight: [String: Int] = [:]
        var searchesInFlightTotal = 0

        /// Hands back releases a call that may withdraw them claimed (``withdrawableReleases``).
        mutating func handBack(_ ids: some Sequence<String>) {
            for id in ids {
                liveReleases.remove(id)
                withdrawableReleases.remove(id)
            }
        }
    }

    /// The configuration the service was opened with.
    public let config: NumberServiceConfig
    let provider: any NumberProvider
    let clock: any NumberClock
    let coordinator: StateCoordinator
    private let baseLogger: Logger
    /// The service's logger, with the `request-id` of the call it works for when there is one (``CallScope``).
    var logger: Logger { CallScope.decorate(baseLogger) }
    let local: Mutex<Local>
    /// When writes found no room (``WriteOutages``), for grace periods.
    let writeOutages = WriteOutageLog()
    /// Downtimes found while running (``noteDowntime(_:)``), at most ``Downtimes/keptMax`` of the last ones.
    private let revealedDowntimes = Mutex<[DateInterval]>([])
    /// Purchases checking their numbers at the provider before anything is held, per account
    /// (``NumberServiceConfig/Limits/purchaseChecksInFlightPerAccountMax`` and the three limits after it).
    let purchaseChecks: WaitingSlots
    /// Releases, trunk changes, and trunk creations and deletions at the provider, per account
    /// (``NumberServiceConfig/Limits/providerChangesInFlightPerAccountMax`` and the three limits after it).
    let providerChanges: WaitingSlots
    /// Statements being read, per account (``NumberServiceConfig/Limits/statementsInFlightPerAccountMax`` and the three
    /// limits after it).
    let statements: WaitingSlots

    /// Opens a service over the state `store` has committed; throws INVALID_ARGUMENT for an invalid `config`.
    /// Run ``reconcile()`` next to settle purchases a crash interrupted, and again periodically.
    public static func open(
        store: any NumberStore, provider: any NumberProvider, clock: any NumberClock = SystemClock(),
        config: NumberServiceConfig = .defaults, logger: Logger = Logger(label: "numberd.core")
    ) async throws -> NumberService {
        let problems = config.validate()
        guard problems.isEmpty else {
            throw NumberError(
                .invalidArgument, .invalidField, "invalid configuration: \(problems.joined(separator: "; "))")
        }
        let state = try await store.load()
        return NumberService(
            store: store, state: state, provider: provider, clock: clock, config: config, logger: logger)
    }

    /// Creates a service over `store`, whose committed state is `state`; `config` must be valid (it traps
    /// otherwise: use ``open(store:provider:clock:config:logger:)`` to get an error instead).
    public init(
        store: any NumberStore, state: CoreState, provider: any NumberProvider, clock: any NumberClock = SystemClock(),
        config: NumberServiceConfig = .defaults, logger: Logger = Logger(label: "numberd.core")
    ) {
        let problems = config.validate()
        precondition(problems.isEmpty, "invalid NumberServiceConfig: \(problems.joined(separator: "; "))")
        self.config = config
        self.provider = provider
        self.clock = clock
        let outages = writeOutages
        self.coordinator = StateCoordinator(
            store: store, state: state, commitBytesEstimateMax: config.commits.commitBytesEstimateMax,
            queueLimits: StateCoordinator.QueueLimits(
                decisionsMax: config.commits.queuedDecisionsMax,
                bytesEstimateMax: config.commits.queuedBytesEstimateMax),
            noRoomRetry: .milliseconds(config.commits.noRoomRetryMilliseconds),
            noRoomRetryMax: .milliseconds(config.commits.noRoomRetryMaxMilliseconds), logger: logger,
            roomChanged: { hasRoom in
                let now = clock.now()
                outages.state.withLock { $0.note(hasRoom: hasRoom, at: now) }
            })
        self.baseLogger = logger
        var local = Local()
        local.releasingOrphans = Set(state.orphanWatch.keys)
        local.startedAt = clock.now()
        // An adoption's routing recorded by an earlier process may have been sent without an answer: held as one whose
        // call ended as late as it can have (``inheritedCallsEnded(startedAt:from:calls:horizon:)``).
        let late = Double(Self.lateBuySeconds(horizon: config.reconcile.inFlightHorizonSeconds))
        for route in state.adoptionRoutes.values {
            let callEnded = Self.inheritedCallsEnded(
                startedAt: local.startedAt, from: route.at, horizon: config.reconcile.inFlightHorizonSeconds)
            local.adoptionRoutes[route.phoneNumber] = AdoptionRoute(
                accountId: route.accountId, trunkId: route.trunkId, until: callEnded.addingTimeInterval(late))
        }
        self.local = Mutex(local)
        self.purchaseChecks = WaitingSlots(
            perKeyMax: config.limits.purchaseChecksInFlightPerAccountMax,
            totalMax: config.limits.purchaseChecksInFlightMax,
            waitingPerKeyMax: config.limits.purchaseChecksWaitingPerAccountMax,
            waitingMax: config.limits.purchaseChecksWaitingMax)
        self.providerChanges = WaitingSlots(
            perKeyMax: config.limits.providerChangesInFlightPerAccountMax,
            totalMax: config.limits.providerChangesInFlightMax,
            waitingPerKeyMax: config.limits.providerChangesWaitingPerAccountMax,
            waitingMax: config.limits.providerChangesWaitingMax)
        self.statements = WaitingSlots(
            perKeyMax: config.limits.statementsInFlightPerAccountMax, totalMax: config.limits.statementsInFlightMax,
            waitingPerKeyMax: config.limits.statementsWaitingPerAccountMax,
            waitingMax: config.limits.statementsWaitingMax)
    }

    /// Runs `body` — a caller's release, trunk change, or creation or deletion of a trunk at the provider, which asks
    /// the provider to change something — holding one of the account's ``providerChanges`` slots, waited for in
    /// arrival order; refused RESOURCE_EXHAUSTED / CHANGES_BUSY past the waiting limits, and `cancelledBeforeStart`
    /// for a caller gone while it waited (nothing started).
    func withProviderChangeSlot<R: Sendable>(
        _ accountId: String, _ body: () async throws(NumberError) -> R
    ) async throws(NumberError) -> R {
        try await waitForSlot(providerChanges, accountId, cancelled: Self.cancelledBeforeStart, busy: .changesBusy) {
            "too many releases and trunk changes \($0) wait for the provider; retry when one has ended"
        }
        defer { providerChanges.give(accountId) }
        // A caller gone while it waited starts nothing: every body is something to start at the provider.
        guard !Task.isCancelled else { throw Self.cancelledBeforeStart }
        return try await body()
    }

    /// Takes one of `slots` for `accountId`, waiting its turn (the caller gives it back): `cancelled` for a caller gone
    /// while it waited, RESOURCE_EXHAUSTED / `reason` past the waiting limits, with `message("of this account" or "in
    /// all")` and the limit in `max`.
    func waitForSlot(
        _ slots: WaitingSlots, _ accountId: String, cancelled: NumberError, busy reason: NumberError.Reason,
        _ message: (String) -> String
    ) async throws(NumberError) {
        switch await slots.take(accountId) {
        case .taken: return
        case .cancelled: throw cancelled
        case .queueFull(let perKey):
            throw NumberError(
                .resourceExhausted, reason, message(perKey ? "of this account" : "in all"),
                details: ["max": String(perKey ? slots.waitingPerKeyMax : slots.waitingMax)])
        }
    }

    /// `error`, for a record of something the provider already did: `STORE_FULL` says nothing was changed, which is no
    /// longer true, so it becomes `UNAVAILABLE` / `OUTCOME_UNKNOWN` with `message` (what was done and how it is
    /// settled); any other error stands.
    static func unrecorded(_ error: NumberError, _ message: String, details: [String: String] = [:]) -> NumberError {
        guard error.reason == .storeFull else { return error }
        var unrecorded = NumberError(
            .unavailable, .outcomeUnknown, message + " (the service's store has no room to record it)",
            details: details, internalDetail: error.internalDetail)
        unrecorded.recordingFailed = true
        return unrecorded
    }

    /// Sets the flag of work that runs one at a time (the orphan sweep, the provider audit) unless it is set already:
    /// true when the caller may run it, and must clear the flag when done.
    func claimOneAtATime(_ flag: WritableKeyPath<Local, Bool>) -> Bool {
        local.withLock { local in
            if local[keyPath: flag] { return false }
            local[keyPath: flag] = true
            return true
        }
    }

    /// A copy of the durable state (for `verify`, tests and diagnostics).
    public func durableState() -> CoreState {
        (try? coordinator.read { $0 }) ?? CoreState()
    }

    /// Runs `body` to its end in a task of its own, which the caller's cancellation does not reach, and returns its
    /// result. A saga whose first step is durable must reach its last: cancelled mid-way, its provider calls would
    /// end as unknown outcomes, leaving an intent (the customer's money held) or a release for reconciliation —
    /// minutes later, when the purchase was seconds from done. The work it can keep running is bounded by the
    /// callers' own limits (rate limits, the purchase cap, the provider timeouts).
    func carriedThrough<R: Sendable>(
        _ body: @escaping @Sendable () async throws(NumberError) -> R
    ) async throws(NumberError) -> R {
        let task = Task { () async throws -> R in try await body() }
        do {
            return try await task.value
        } catch let error as NumberError {
            throw error
        } catch {
            throw NumberError.internalFailure("unexpected error: \(error)")
        }
    }

    /// A copy of the state decisions are made against: the durable state plus decisions still being written, and
    /// the only one that keeps the background runs' indexes (``WorkIndexes``) — for tests and diagnostics only: while
    /// the copy lives, the next decision copies every table it changes, under the decision lock.
    public func decisionState() -> CoreState {
        coordinator.speculativeState
    }

    /// The store failure that stopped writes, if any.
    public var storeFailure: NumberError? { coordinator.failure }

    /// The current time in whole milliseconds, so that times survive a JSON round trip exactly.
    func now() -> Date {
        let milliseconds = (clock.now().timeIntervalSince1970 * 1000).rounded(.down)
        return Date(timeIntervalSince1970: milliseconds / 1000)
    }
}

extension NumberService {
    /// Counts `interval` as downtime from now on, for grace periods and idempotency keys alike, as the downtimes its
    /// start recorded (``NumberServiceConfig/Billing/downtimes``): numberd finds one while running when a clock that
    /// started behind its data is corrected — the start could not tell how long it had been stopped.
    public func noteDowntime(_ interval: DateInterval) {
        revealedDowntimes.withLock { kept in
            kept.append(interval)
            if kept.count > Downtimes.keptMax { kept.removeFirst(kept.count - Downtimes.keptMax) }
        }
    }

    /// Downtimes found while running (``noteDowntime(_:)``).
    var revealed: [DateInterval] { revealedDowntimes.withLock { $0 } }

    /// Every downtime the service counts: those its start recorded and those found since.
    public var countedDowntimes: Downtimes { config.billing.downtimes.including(revealed) }

    /// The downtimes a grace period does not count at `now`: ``countedDowntimes`` and the times writes found no room
    /// (a customer could not pay then either). Billing releases by them, and the provider audit names a past-due
    /// number overdue by them, so the two agree.
    func graceDowntimes(at now: Date) -> Downtimes {
        config.billing.downtimes.including(writeOutages.state.withLock { $0.intervals(at: now) } + revealed)
    }

    /// A number marked past due at or before this time is past its grace period at `now`, counted as billing counts
    /// it (``graceDowntimes(at:)``, ``BillingPlanner/graceOverIfMarkedBy``): the next billing run releases it, and a
    /// trunk change of it is refused.
    func graceOverIfMarkedBy(at now: Date) -> Date {
        graceDowntimes(at: now).graceOver(at: now, grace: config.billing.gracePeriodSeconds)
    }

    /// ``NumberServiceConfig/idempotencyKeysExpired(by:revealed:)`` with the downtimes found while running.
    func idempotencyKeysExpired(by now: Date) -> Date {
        config.idempotencyKeysExpired(by: now, revealed: revealed)
    }
}

/// ``WriteOutages`` shared with the decision coordinator's callback.
final class WriteOutageLog: Sendable {
    let state = Mutex(WriteOutages())
}

/// When numberd's writes found no room (a full disk: `STORE_FULL`), kept in memory: a customer could not pay then any
/// more than while numberd was down, so a grace period does not count them either (``Downtimes``). At most
/// ``Downtimes/keptMax`` of the last ones.
struct WriteOutages {
    /// When the current one began (nil: writes find room).
    private(set) var since: Date?
    private(set) var ended: [DateInterval] = []

    /// Writes stopped finding room (`hasRoom` false), or found it again, at `now`.
    mutating func note(hasRoom: Bool, at now: Date) {
        if !hasRoom {
            if since == nil { since = now }
            return
        }
        guard let start = since else { return }
        since = nil
        ended.append(DateInterval(start: start, end: max(start, now)))
        if ended.count > Downtimes.keptMax { ended.removeFirst(ended.count - Downtimes.keptMax) }
    }

    /// The outages so far, the current one up to `now`.
    func intervals(at now: Date) -> [DateInterval] {
        ended + (since.map { [DateInterval(start: $0, end: max($0, now))] } ?? [])
    }
}
