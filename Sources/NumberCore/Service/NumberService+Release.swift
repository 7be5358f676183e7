import Foundation
import Logging

/// What a release did (or, for a dry run, would do).
public struct ReleaseResult: Sendable, Hashable {
    /// The number after the release (unchanged for a dry run).
    public var number: OwnedNumber
    /// When it was (or would be) released.
    public var releasedAt: Date
    /// The prorated refund, minor units.
    public var refund: Int64
    /// Whole days left in the cycle.
    public var remainingDays: Int64
    /// The cycle's UTC calendar days, its first day included (``BillingCalendar/cycleDays(from:to:)``).
    public var daysInCycle: Int64
    /// E.g. "Prorated refund for 15 days remaining in billing cycle"; "No refund: past due, no paid cycle left".
    public var description: String
    /// The refund transaction (nil for a dry run or no refund).
    public var transaction: LedgerTransaction?
    /// The monthly fees of the cycles that had begun before the release and no billing run had charged yet, charged
    /// in the release's own decision (or, for a dry run, that would be), minor units ≥ 0
    /// (``NumberService/billedBeforeRelease``).
    public var renewalCharge: Int64 = 0
    /// Those renewals' transactions (empty for a dry run).
    public var renewals: [LedgerTransaction] = []
    /// Whether nothing was changed.
    public var dryRun: Bool
    /// Whether this is the first release's result, returned to a retry under its idempotency key.
    public var replayed = false
    /// The end of the paid cycle the refund is of (after the billing done first; for a dry run, that it would do), nil
    /// when none is paid (past due: nothing refunded): what a caller passes as `expectedNextBillingDate`.
    public var nextBillingDate: Date?
}

/// A caller's release under an idempotency key: its record, and what a retry under the key gets.
struct KeyedRelease {
    let accountId: String
    let numberId: String
    let key: String

    var storageKey: String { IdempotencyRecord.storageKey(accountId: accountId, key: key) }

    /// The request's parameters: the number (a release has no other).
    var fingerprint: String { Crypto.sha256Hex("release|\(numberId)") }

    /// The renewals an earlier request under the key posted before the provider refused it (withdrawn, its renewals
    /// kept): a retry that releases names them with its own, every renewal the call charged.
    func earlierRenewals(in state: CoreState, expiredBy: Date) -> [LedgerTransaction] {
        guard let earlier = state.liveIdempotency(accountId: accountId, key: key, expiredBy: expiredBy),
            earlier.operation == .release, case .releaseRequested(numberId, let ids) = earlier.outcome
        else { return [] }
        return ids.compactMap { state.transaction($0) }
    }

    /// The record a release request writes: the number, and `renewals` — the earlier attempts' and its own.
    func record(renewals: [LedgerTransaction], at now: Date) -> IdempotencyRecord {
        IdempotencyRecord(
            accountId: accountId, key: key, operation: .release, fingerprint: fingerprint, createdAt: now,
            outcome: .releaseRequested(numberId: numberId, renewalIds: renewals.map(\.id)))
    }

    /// What a retry under the key gets from `state`: nil when the key is free — no live record, or the release it
    /// recorded was withdrawn (the provider refused it; the number is the customer's again, or released since by
    /// another request) — the first release's result once it is recorded, `REQUEST_IN_PROGRESS` while that release
    /// is still requested (at the provider, or in doubt until reconciliation settles it; the record lives as long),
    /// `IDEMPOTENCY_KEY_REUSED` for the key of another request.
    func replay(in state: CoreState, expiredBy: Date) throws(NumberError) -> ReleaseResult? {
        guard let record = state.liveIdempotency(accountId: accountId, key: key, expiredBy: expiredBy) else {
            return nil
        }
        guard record.operation == .release, record.fingerprint == fingerprint,
            case .releaseRequested(let recorded, let renewalIds) = record.outcome, recorded == numberId,
            let number = state.numbers[numberId], number.accountId == accountId
        else { throw .idempotencyKeyReused(key, record: record) }
        // A release another request asked for (after this key's was withdrawn) is not this key's.
        guard record.askedForRelease(of: number) else { return nil }
        guard number.status == .released, let releasedAt = number.releasedAt else { throw .requestInProgress(key) }
        // The refund as the release computed it, at its request (not its record, which may be a midnight or a
        // reconciliation later: the days said would not be those of the first answer and the ledger line): of a
        // paid cycle's whole days left, nothing for a number released past due; the amount as credited (one cut to
        // fit the balance).
        let transaction = number.refundTransactionId.flatMap { state.transaction($0) }
        var refund =
            NumberService.paidCycleEnd(number) != nil
            ? BillingCalendar.proratedRefund(
                monthlyFee: number.monthlyFee, cycleStart: number.cycleStart, nextBillingDate: number.nextBillingDate,
                releaseAt: number.releaseRequestedAt ?? releasedAt)
            : BillingCalendar.Refund(amount: 0, remainingDays: 0, daysInCycle: 0)
        refund.amount = transaction?.amount ?? 0
        var result = NumberService.releaseResult(
            number, at: releasedAt, refund: refund, transaction: transaction, dryRun: false)
        result.renewals = renewalIds.compactMap { state.transaction($0) }
        result.renewalCharge = NumberService.charge(of: result.renewals)
        result.replayed = true
        return result
    }
}

extension NumberService {
    /// Releases a number at the provider and credits the prorated refund for the unused whole days of the paid
    /// cycle; with `dryRun` it only computes the refund. A release runs to its end even if the calling task is
    /// cancelled (``carriedThrough(_:)``). From the request until the release is recorded the number is listed as
    /// ``OwnedNumber/ListingStatus/releasing`` — also when its outcome is unknown and reconciliation finishes it —
    /// and billed no more; the refund, computed at the request, is credited once, in the record of the release.
    /// `actor` (the caller's key) is recorded with the request, and the refund names it, also when reconciliation
    /// records the release.
    ///
    /// With an `idempotencyKey`, the request records the key with the number: a retry under it (a dry run too)
    /// returns the first release's result once it is recorded (``ReleaseResult/replayed``), is refused
    /// `REQUEST_IN_PROGRESS` while that release waits for its turn, runs at the provider or is in doubt, and releases
    /// again if the provider refused the first and it was withdrawn; the key with another number is
    /// `IDEMPOTENCY_KEY_REUSED`. A record lives while its release is requested (``CoreState/isUnsettled(_:)``), then
    /// as long as purchases' keys from the release's record (``NumberServiceConfig/Idempotency``).
    ///
    /// `expectedNextBillingDate` refuses (`PRICE_CHANGED`, nothing done) a release whose number's paid cycle — after
    /// the billing it would do first (``billedBeforeRelease``) — does not end then, or is gone (past due: ``paidCycleEnd``):
    /// a caller that showed a dry run's figures passes its ``ReleaseResult/nextBillingDate``, so a billing date passing
    /// between the two — the number renewed or gone past due, by the billing run or by the release — is not charged,
    /// or its refund lost, unseen. `expectNoPaidCycle` is its other half, for figures that showed no paid cycle (a dry
    /// run that marked the number past due, nothing charged or refunded): refused if the release would renew it — the
    /// account funded, or a hold voided, since. Not both (`INVALID_ARGUMENT`); neither is a parameter of the
    /// idempotency key.
    ///
    /// `evenIfSuspended` (an administrator's call) releases a suspended account's number too: suspension keeps the
    /// account's own keys from changing anything, and an operator who suspended it can stop what its numbers cost at
    /// the provider without making it active again (which would let it buy meanwhile).
    public func release(
        accountId: String, numberId: String, dryRun: Bool = false, idempotencyKey: String? = nil,
        expectedNextBillingDate: Date? = nil, expectNoPaidCycle: Bool = false, evenIfSuspended: Bool = false,
        actor: LedgerActor? = nil
    ) async throws(NumberError) -> ReleaseResult {
        try LedgerActor.check(actor)
        guard !expectNoPaidCycle || expectedNextBillingDate == nil else {
            throw .invalid(
                "expect_no_paid_cycle",
                "expect_no_paid_cycle and expected_next_billing_date cannot both be set: a paid cycle ends or none is")
        }
        let expectedCycle =
            expectNoPaidCycle ? ExpectedCycle.unpaid : expectedNextBillingDate.map(ExpectedCycle.endingAt)
        let keyed = try Validation.idempotencyKey(idempotencyKey, max: config.idempotency.keyLengthMax).map {
            KeyedRelease(accountId: accountId, numberId: numberId, key: $0)
        }
        if let keyed {
            // A retry under the key of a release still waiting for its turn or running: no record yet, or one that
            // only says "requested".
            if local.withLock({ $0.releaseKeys[numberId] == keyed.storageKey }) {
                throw .requestInProgress(keyed.key)
            }
        }
        let now = now()
        let expiredBy = idempotencyKeysExpired(by: now)
        // What the decision refuses is refused before the caller waits for one of its account's provider slots (a
        // dry run: all it does), in one read with the key's replay.
        let first = try coordinator.read { state throws(NumberError) -> ReleaseResult? in
            _ = try state.requireAccount(accountId)
            if let keyed, let first = try keyed.replay(in: state, expiredBy: expiredBy) { return first }
            if !evenIfSuspended { _ = try state.requireActiveAccount(accountId) }
            let number = try state.requireUsableNumber(numberId, of: accountId)
            guard dryRun else { return nil }
            // The same checks as the release itself: a dry run never shows a refund the release would refuse.
            let billed = Self.billedBeforeRelease(number, in: state, config: config, now: now)
            try Self.checkCycle(billed: billed, expected: expectedCycle)
            var result = Self.releaseResult(
                billed.number, at: now, refund: Self.refund(for: billed.number, at: now), transaction: nil,
                dryRun: true)
            result.number = number
            result.renewalCharge = Self.charge(of: billed.renewals)
            return result
        }
        if let first { return first }
        // A caller gone before anything started (its deadline passed, it cancelled) starts nothing: from here on the
        // release runs to its end, and it cannot be undone. While it waits for a slot, another release of it or a
        // trunk change is refused, and billing leaves the number alone if its billing date comes after now (the
        // request, once it has its slot, bills that cycle itself).
        guard !Task.isCancelled else { throw Self.cancelledBeforeStart }
        try local.withLock { local throws(NumberError) in
            guard local.routing[numberId] == nil else { throw .trunkChangeInProgress(numberId) }
            guard !local.liveReleases.contains(numberId), local.waitingReleases[numberId] == nil else {
                // The same key's first call still waiting or running: its retry learns that, not "not active".
                if let keyed, local.releaseKeys[numberId] == keyed.storageKey { throw .requestInProgress(keyed.key) }
                throw .releaseInProgress(numberId)
            }
            local.waitingReleases[numberId] = now
            if let keyed { local.releaseKeys[numberId] = keyed.storageKey }
        }
        defer {
            local.withLock { local in
                // Only this call's: no other release of the number could wait while its entry stood.
                local.waitingReleases.removeValue(forKey: numberId)
                if local.releaseKeys[numberId] == keyed?.storageKey { local.releaseKeys.removeValue(forKey: numberId) }
            }
        }
        return try await withProviderChangeSlot(accountId) { () async throws(NumberError) -> ReleaseResult in
            try await self.releaseHoldingSlot(
                accountId: accountId, numberId: numberId, keyed: keyed,
                expectedCycle: expectedCycle, evenIfSuspended: evenIfSuspended, actor: actor)
        }
    }

    /// ``release(accountId:numberId:dryRun:idempotencyKey:expectedNextBillingDate:expectNoPaidCycle:evenIfSuspended:actor:)``
    /// once the caller holds one of its account's provider slots.
    private func releaseHoldingSlot(
        accountId: String, numberId: String, keyed: KeyedRelease?, expectedCycle: ExpectedCycle?,
        evenIfSuspended: Bool, actor: LedgerActor?
    ) async throws(NumberError) -> ReleaseResult {
        // A caller gone while it waited for the slot started nothing (``withProviderChangeSlot(_:_:)``). The release is
        // requested (and its refund computed) as of now, not of the call's arrival: the wait may have been long.
        let now = now()
        let expiredBy = idempotencyKeysExpired(by: now)
        /// What the decision decided: the release requested, or (another call under the key got there first) the
        /// first release's result.
        enum Decided {
            case requested(OwnedNumber, renewals: [LedgerTransaction])
            case replayed(ReleaseResult)
        }
        return try await carriedThrough { () async throws(NumberError) -> ReleaseResult in
            // Whether the decision claimed the number for this call: handed back however the call ends, also when
            // the request's record is refused (a store with no room), which leaves nothing to release.
            var claimed = false
            defer { if claimed { self.local.withLock { $0.handBack([numberId]) } } }
            let decided = try await self.coordinator.perform(admitting: true) {
                state throws(NumberError) -> ([CoreEvent], Decided) in
                if let keyed, let first = try keyed.replay(in: state, expiredBy: expiredBy) {
                    return ([], .replayed(first))
                }
                // The caller's key, checked again where the release is decided (as a purchase's is): it may have been
                // revoked while the call waited for its turn at the provider.
                try state.requireUnrevokedKey(actor?.apiKeyId)
                if !evenIfSuspended { _ = try state.requireActiveAccount(accountId) }
                let number = try state.requireUsableNumber(numberId, of: accountId)
                let billed = Self.billedBeforeRelease(number, in: state, config: self.config, now: now)
                try Self.checkCycle(billed: billed, expected: expectedCycle)
                try self.local.withLock { local throws(NumberError) in
                    guard local.routing[numberId] == nil else {
                        throw .trunkChangeInProgress(numberId)
                    }
                    // Claimed only if no one else drives its release: a request refused for lack of room leaves the
                    // number as it was, and another call may decide on it before this one hands its claim back.
                    guard local.liveReleases.insert(numberId).inserted else { throw .releaseInProgress(numberId) }
                    local.withdrawableReleases.insert(numberId)
                }
                claimed = true
                var events =
                    billed.events + [
                        .numberReleaseRequested(numberId: numberId, at: now, by: actor, key: keyed?.storageKey)
                    ]
                var renewals = billed.renewals
                if let keyed {
                    renewals = keyed.earlierRenewals(in: state, expiredBy: expiredBy) + renewals
                    events.append(.idempotencyRecorded(keyed.record(renewals: renewals, at: now)))
                }
                return (events, .requested(billed.number, renewals: renewals))
            }
            let number: OwnedNumber
            let renewals: [LedgerTransaction]
            switch decided {
            case .replayed(let first): return first
            case .requested(let requested, let posted): (number, renewals) = (requested, posted)
            }
            var result: ReleaseResult
            do throws(NumberError) {
                result = try await self.finishRelease(number, requestedAt: now, withdrawIfRefused: true)
            } catch {
                // The renewals stay posted whatever became of the release (a withdrawn one leaves the number in the
                // cycle they paid): the caller is told what was charged.
                var error = error
                if !renewals.isEmpty {
                    error.details["renewalCharge"] = String(Self.charge(of: renewals))
                    error.details["currency"] = number.currency
                    error.details["renewalTransactionIds"] = renewals.map(\.id).joined(separator: ",")
                }
                throw error
            }
            result.renewals = renewals
            result.renewalCharge = Self.charge(of: renewals)
            return result
        }
    }

    /// What a release of `number` decides before its request, in the same decision: the billing a run would have
    /// decided for it by `now` — each cycle begun while its account can pay renewed, else the number marked past due
    /// (``BillingPlanner/billBeforeRelease(_:)``) — so a number whose billing date passed before a billing run renewed
    /// it (within the run's interval, a catch-up after downtime, a backlog of a million numbers due on one date) is not
    /// kept those days for nothing while the provider bills the month: the refund is then of the new cycle's days left,
    /// and a number its account could not pay for is refunded nothing. The events, the number as they leave it, and
    /// the renewals posted (none when its billing date has not come).
    static func billedBeforeRelease(
        _ number: OwnedNumber, in state: CoreState, config: NumberServiceConfig, now: Date
    ) -> (events: [CoreEvent], number: OwnedNumber, renewals: [LedgerTransaction]) {
        guard number.status == .active, number.nextBillingDate <= now else { return ([], number, []) }
        // Two events fewer than a billing run's budget: the request and the key's record share the journal record.
        var config = config
        config.billing.actionsPerRunMax = max(1, config.billing.actionsPerRunMax - 2)
        var planner = BillingPlanner(state: state, config: config, now: now)
        planner.billBeforeRelease(number.id, owedFirst: owedBefore(number, in: state, now: now, config: config))
        let renewals = planner.events.compactMap { event -> LedgerTransaction? in
            guard case .numberRenewed(_, let transaction, _, _) = event else { return nil }
            return transaction
        }
        return (planner.events, planner.scratch.numbers[number.id] ?? number, renewals)
    }

    /// What a billing run would spend by `now` before it reached `number`, on the account's other active numbers due
    /// before it (an older billing date: a run bills the oldest date first, every cycle of a number at once, at most
    /// `cyclesPerNumberMax` each), billed oldest first by the run's own rule
    /// (``BillingPlanner/spent(billing:of:in:config:now:needed:)``): the account pays them before the released number,
    /// as it would in the run, and only what the run would pay. An older number the account cannot pay is marked past
    /// due by the run, at no cost, and the run goes on to renew the younger ones with what is left: holding back all
    /// the older numbers owed (as the release once did) marked the released number past due, refunded nothing, for a
    /// month the run would have renewed and Twilio bills. Its numbers not released, read through ``CoreState/held``
    /// (at most the account's number limit, in practice the few due since the last run); only when the released
    /// number is due.
    static func owedBefore(
        _ number: OwnedNumber, in state: CoreState, now: Date, config: NumberServiceConfig
    ) -> Int64 {
        let ids = state.accountNumbers[number.accountId] ?? []
        var older: [OwnedNumber] = []
        for position in state.held.positions(of: number.accountId) where position < ids.count {
            guard let other = state.numbers[ids[position]], other.id != number.id, other.status == .active,
                other.releaseRequestedAt == nil, other.nextBillingDate < number.nextBillingDate
            else { continue }
            older.append(other)
        }
        guard !older.isEmpty else { return 0 }
        // The run's order: billing date by billing date, oldest first (within a date, any: by id here).
        older.sort { ($0.nextBillingDate, $0.id) < ($1.nextBillingDate, $1.id) }
        return BillingPlanner.spent(
            billing: older.map(\.id), of: number.accountId, in: state, config: config, now: now,
            needed: number.monthlyFee)
    }

    /// What a caller's figures showed of the paid cycle a release leaves (a dry run's
    /// ``ReleaseResult/nextBillingDate``, or its absence).
    enum ExpectedCycle: Equatable {
        /// The paid cycle ends then.
        case endingAt(Date)
        /// None is paid: the number past due, or going past due by the release.
        case unpaid
    }

    /// Refuses (`PRICE_CHANGED`) a release whose number's paid cycle, as the billing it would do first leaves it
    /// (`billed`), is not the one the caller `expected`: a billing date passed since the caller's figures — renewed
    /// (by the billing run or by this release), or gone past due unpaid (by either: no paid cycle, no refund) — or,
    /// figures that showed it going past due, the account able to pay since (the release would renew it).
    private static func checkCycle(
        billed: (events: [CoreEvent], number: OwnedNumber, renewals: [LedgerTransaction]), expected: ExpectedCycle?
    ) throws(NumberError) {
        guard let expected else { return }
        let number = billed.number
        let paidEnd = paidCycleEnd(number)
        guard paidEnd.map(ExpectedCycle.endingAt) ?? .unpaid != expected else { return }
        let charge = charge(of: billed.renewals)
        var details = ["renewalCharge": String(charge), "currency": number.currency, "numberId": number.id]
        details["nextBillingDate"] = paidEnd?.iso8601Milliseconds
        let asked: String
        switch expected {
        case .endingAt(let end):
            details["expectedNextBillingDate"] = end.iso8601Milliseconds
            asked = ", not the cycle ending at \(end.iso8601Milliseconds) (expectedNextBillingDate)"
        case .unpaid:
            details["expectNoPaidCycle"] = "true"
            asked = ", not past due unpaid as expected (expectNoPaidCycle): the account can pay its billing date now"
        }
        throw NumberError(
            .failedPrecondition, .priceChanged,
            (paidEnd.map { "the number's paid cycle ends at \($0.iso8601Milliseconds)" }
                ?? "the number is past due: its billing date passed unpaid, and nothing would be refunded")
                + asked
                + (charge > 0
                    ? "; the release would first charge \(PricingPolicy.display(charge, number.currency))" : "")
                + "; nothing was released",
            details: details)
    }

    /// The end of `number`'s paid cycle — the one a release refunds the whole days left of — or nil when none is paid
    /// (past due, or released past due: nothing refunded).
    static func paidCycleEnd(_ number: OwnedNumber) -> Date? {
        switch number.status {
        case .active: number.nextBillingDate
        case .pastDue: nil
        case .released: number.pastDueSince == nil ? number.nextBillingDate : nil
        }
    }

    /// What `renewals` charged, minor units ≥ 0.
    fileprivate static func charge(of renewals: [LedgerTransaction]) -> Int64 {
        renewals.reduce(0) { $0 - $1.amount }
    }

    /// Releases at the provider, then records the release with its refund. When the provider refuses and the number is
    /// certainly still ours, a caller's release or a grace-period release (`withdrawIfRefused`) is withdrawn and the
    /// refusal returned (the caller may try again; the next billing run does), its details naming the number's status
    /// after the withdrawal (`status`: `active`, or `past_due` when it was past due already or the release billed it
    /// first and the account could not pay — a withdrawal undoes no billing); one that reconciliation finishes — the
    /// caller was told it would be done — stays requested for the next pass. An unknown outcome — including a refusal
    /// after a request that may still land, such as a timed-out DELETE that a look-up cannot yet see — always stays
    /// requested: withdrawing it would bill the customer every month for a number the provider may already have taken
    /// back. Releasing again is safe (a number already gone is a 404).
    ///
    /// A release the provider did not confirm — its DELETE answered Twilio's 404, or failed while a look-up does not
    /// list the number — is recorded (with its refund, once) and the number watched for orphans in the same record:
    /// right after a purchase Twilio can answer 404 and list nothing for a number it did sell, which would then stay
    /// paid there by nobody; the orphan sweep releases it if it shows up.
    ///
    /// The refund names who asked for the release (``OwnedNumber/releaseRequestedBy``), or `actorIfUnrecorded` for a
    /// request recorded without one.
    func finishRelease(
        _ number: OwnedNumber, requestedAt: Date, withdrawIfRefused: Bool, actorIfUnrecorded: LedgerActor? = nil
    ) async throws(NumberError) -> ReleaseResult {
        var unconfirmed = false
        // A DELETE that may still land: the number is kept off purchases until the sweep's look-up no longer lists it.
        var inFlight = false
        do {
            try await provider.release(sid: number.providerSid)
        } catch let error as ProviderError where error.kind == .notFound {
            unconfirmed = true
            inFlight = error.mayStillTakeEffect
        } catch {
            switch await lookUpOwned(number.phoneNumber) {
            case .notOwned:
                unconfirmed = true
                inFlight = Self.mayStillTakeEffect(error)
            // A refusal that cannot have happened (every attempt refused — credentials, rate limit, a bad request —
            // or never sent) leaves the number where it was even when the look-up fails too (a 401 refuses both):
            // "unknown outcome" left the number releasing, unbilled, until a pass released it behind its owner's back.
            case .owned where !Self.mayStillTakeEffect(error), .unknown where !Self.mayHaveHappened(error):
                if withdrawIfRefused {
                    // Not withdrawn (no room to record it, after a few tries): the release stays
                    // requested, and reconciliation tries it again — the caller must not read the provider's refusal
                    // as "nothing happened".
                    if await !withdrawRelease(number.id) {
                        throw NumberError(
                            .unavailable, .outcomeUnknown,
                            "the provider refused the release of \(number.id) and the service could not record it; "
                                + "the release stays requested and will be reconciled",
                            details: ["numberId": number.id], internalDetail: "\(error)")
                    }
                    // Withdrawn, the number is as the release's own decision left it: active in the cycle it paid, or
                    // past due when it was already or the release billed it first and the account could not pay
                    // (`status`).
                    var refused = NumberError.fromProvider(error, phoneNumber: number.phoneNumber)
                    let status = try? coordinator.read { state throws(NumberError) in state.numbers[number.id]?.status }
                    if let status = status ?? nil { refused.details["status"] = status.rawValue }
                    throw refused
                }
                throw NumberError.fromProvider(error, phoneNumber: number.phoneNumber)
            case .owned, .unknown:
                throw NumberError(
                    .unavailable, .outcomeUnknown,
                    "the release of \(number.id) has an unknown outcome; it will be reconciled",
                    details: ["numberId": number.id], internalDetail: "\(error)")
            }
        }
        CrashPoint.afterProviderReleaseBeforeRecord.hit()
        do throws(NumberError) {
            return try await recordRelease(
                number.id, requestedAt: requestedAt, watching: unconfirmed, blocking: inFlight,
                actorIfUnrecorded: actorIfUnrecorded)
        } catch {
            // The request is durable: reconciliation records the release and its refund once there is room.
            throw Self.unrecorded(
                error,
                "the number was released at the provider and the release is not recorded yet; it will be "
                    + "reconciled", details: ["numberId": number.id])
        }
    }

    /// Withdraws a release request the provider refused outright (the number stays the customer's, billed again); a
    /// store with no room is tried again `noRoomRetryMilliseconds` + 10 ms later, at most ``withdrawalAttemptsMax``
    /// times (within a pause that has backed off longer, each is refused at once). Whether it is withdrawn (or was no
    /// longer requested).
    private func withdrawRelease(_ numberId: String) async -> Bool {
        for attempt in 1...Self.withdrawalAttemptsMax {
            do throws(NumberError) {
                _ = try await coordinator.perform { state throws(NumberError) in
                    guard state.numbers[numberId]?.releaseRequestedAt != nil else { return ([], true) }
                    return ([.numberReleaseCancelled(numberId: numberId)], true)
                }
                return true
            } catch  where error.reason == .storeFull && attempt < Self.withdrawalAttemptsMax {
                try? await Task.sleep(for: .milliseconds(config.commits.noRoomRetryMilliseconds + 10))
            } catch {
                return false
            }
        }
        return false
    }

    /// How many times a withdrawal refused for lack of room is tried (``withdrawRelease(_:)``); the watch of a number a
    /// compensation could neither mark nor delete is tried as often (``watchUnmarked(_:of:at:)``).
    static let withdrawalAttemptsMax = 5

    /// Records a release the provider has done; the refund (if the cycle was paid) is computed at `requestedAt`. With
    /// `watching`, the number gets an orphan watch in the same record; with `blocking` (its DELETE may still land),
    /// purchases of it are refused until the orphan sweep's look-up no longer lists it. The refund names the release's
    /// asker (``OwnedNumber/releaseRequestedBy``), or `actorIfUnrecorded` when none was recorded. Once recorded, the
    /// trunk changes of the number left unsettled (`Local.unsettledRoutes`) no longer hold any trunk, not even one a
    /// request that got no answer may still land on: the provider routes a released number nowhere.
    func recordRelease(
        _ numberId: String, requestedAt: Date, watching: Bool = false, blocking: Bool = false,
        actorIfUnrecorded: LedgerActor? = nil
    ) async throws(NumberError) -> ReleaseResult {
        let now = now()
        let recorded: ReleaseResult = try await coordinator.perform { state throws(NumberError) in
            guard let number = state.numbers[numberId], let account = state.accounts[number.accountId] else {
                throw .numberNotFound(numberId)
            }
            guard number.status != .released else { throw .alreadyReleased(number) }
            var computed = Self.refund(for: number, at: requestedAt)
            // A refund is owed whatever the balance, so it is not held to `balanceMax` (refunds can take a balance
            // past it); one that would take it past Int64.max — only under a configuration near that, or changed
            // between restarts — is cut to what fits rather than trap (numberd died at the decision, and again at
            // each reconciliation pass that retried the release after the restart).
            let room = Int64.max - account.balance
            if computed.amount > room {
                self.logger.error(
                    "refund cut to what the balance can hold",
                    metadata: ["number": "\(numberId)", "refund": "\(computed.amount)", "credited": "\(room)"])
                computed.amount = room
            }
            var refund: LedgerTransaction?
            if computed.amount > 0 {
                refund = LedgerTransaction(
                    id: Identifier.make(Identifier.transaction, taken: state.isTaken), accountId: account.id,
                    kind: .refund, amount: computed.amount, balanceAfter: account.balance + computed.amount,
                    currency: account.currency, numberId: numberId,
                    description: "Prorated refund for \(computed.remainingDays) days remaining in billing cycle",
                    createdAt: state.ledgerStamp(account.id, now), idempotencyKey: nil,
                    actor: number.releaseRequestedBy ?? actorIfUnrecorded)
            }
            // Released when recorded, as its refund is stamped: a release reconciliation finished later (after a crash,
            // a credentials outage) read as released at its request, and across a month's end the number was released
            // in one month's statement and refunded in the next. The refund is still the request's
            // (`releaseRequestedAt`): the customer stopped paying when they asked.
            var released = number
            released.status = .released
            released.releasedAt = now
            released.trunkId = nil
            released.refundTransactionId = refund?.id
            let result = Self.releaseResult(released, at: now, refund: computed, transaction: refund, dryRun: false)
            var events: [CoreEvent] = [.numberReleased(numberId: numberId, at: now, refund: refund)]
            // A keyed request's record lives from the release's record, not its request: a release in doubt for longer
            // than a key lives (the record kept while it was requested) is still answered to the retry it asked for.
            if let storageKey = number.releaseRequestKey, var record = state.idempotency[storageKey],
                case .releaseRequested(numberId, _) = record.outcome, record.createdAt < now
            {
                record.createdAt = now
                events.append(.idempotencyRecorded(record))
            }
            if blocking { self.blockPurchases([number.phoneNumber]) }
            // A voided purchase's watch this number claimed (``OrphanWatch/claimedBy``) watches again once this
            // record's release applies; within its window its rule — a number created by the window's end is the
            // orphan — covers this number's own SID too, bought within it, so it takes no watch of its own. With its
            // DELETE in doubt it watches from now (at least a millisecond after it began, for a held clock): long
            // enough for both, and a watch no look-up begun before this record read, so such a look-up cannot lift
            // this DELETE's block (the sweep acts only on the watch it read). Then it may have two numbers to
            // release, this one's SID if the DELETE never lands and the late POST's after it (``OrphanWatch/earlierBuys``).
            let claimed = state.orphanWatch[number.phoneNumber].flatMap {
                $0.claimedBy == numberId && self.lateBuys(at: now).contains($0) ? $0 : nil
            }
            if watching, var watch = claimed {
                watch.claimedBy = nil
                watch.since = max(now, watch.since.addingTimeInterval(0.001))
                watch.earlierBuys = (watch.earlierBuys ?? 0) + 1
                events.append(.orphanWatchStarted([watch]))
            } else if watching {
                // Owned by nobody once this record's release applies.
                events += self.orphanWatchEvents(
                    [number.phoneNumber], accountId: account.id, startedBy: numberId, at: now, over: state)
            }
            return (events, result)
        }
        local.withLock { $0.unsettledRoutes.remove(numberId) }
        return recorded
    }

    /// The refund for releasing `number` at `at`: only a paid (active) cycle is refunded, and only once.
    static func refund(for number: OwnedNumber, at: Date) -> BillingCalendar.Refund {
        guard number.status == .active, number.refundTransactionId == nil else {
            return BillingCalendar.Refund(amount: 0, remainingDays: 0, daysInCycle: 0)
        }
        return BillingCalendar.proratedRefund(
            monthlyFee: number.monthlyFee, cycleStart: number.cycleStart, nextBillingDate: number.nextBillingDate,
            releaseAt: at)
    }

    /// The result for `number` (as it is after the operation) with `refund`.
    static func releaseResult(
        _ number: OwnedNumber, at: Date, refund: BillingCalendar.Refund, transaction: LedgerTransaction?, dryRun: Bool
    ) -> ReleaseResult {
        ReleaseResult(
            number: number, releasedAt: at, refund: refund.amount, remainingDays: refund.remainingDays,
            daysInCycle: BillingCalendar.cycleDays(from: number.cycleStart, to: number.nextBillingDate),
            // A walk read "Prorated refund for 0 days remaining" of a past-due number as a rounding.
            description: paidCycleEnd(number) == nil
                ? "No refund: past due, no paid cycle left"
                : "Prorated refund for \(refund.remainingDays) days remaining in billing cycle",
            transaction: transaction, dryRun: dryRun, nextBillingDate: paidCycleEnd(number))
    }
}
