import Foundation
import Logging

/// What a billing run did.
public struct BillingReport: Sendable, Hashable {
    /// Monthly fees paid (one per number per cycle).
    public var renewed = 0
    /// Numbers that became past due.
    public var markedPastDue = 0
    /// Past-due numbers released after the grace period.
    public var released = 0
    /// Grace releases that failed at the provider (tried again by the next catch-up, not within this one).
    public var releaseFailures = 0
    /// Grace releases not tried because the run stopped asking the provider (it failed
    /// ``NumberServiceConfig/Reconcile/providerFailuresPerPassMax`` times in a row, or numberd is stopping), while
    /// renewals went on: their release request is withdrawn, as for a refused one, and the next catch-up tries them.
    public var releasesDeferred = 0
    /// Idempotency records dropped after their TTL.
    public var expiredKeys = 0
    /// Whether the run stopped at its action limit and more work is due.
    public var more = false

    /// An empty report.
    public init() {}
}

extension BillingReport {
    /// Adds the counts of a later run; `more` is the later run's.
    mutating func add(_ later: BillingReport) {
        renewed += later.renewed
        markedPastDue += later.markedPastDue
        released += later.released
        releaseFailures += later.releaseFailures
        releasesDeferred += later.releasesDeferred
        expiredKeys += later.expiredKeys
        more = later.more
    }
}

extension NumberService {
    /// Renews due numbers (debiting the monthly fee once per cycle, or marking them past due), releases numbers
    /// past due for longer than the grace period, and drops expired idempotency keys — at most
    /// `billing.actionsPerRunMax` actions and `billing.expiredKeysPerRunMax` keys (`more` says work is left). Two
    /// decisions, each one journal record within the record limit: the numbers', then the keys'.
    public func runBilling() async throws(NumberError) -> BillingReport {
        var pass = ProviderPass(failuresMax: config.reconcile.providerFailuresPerPassMax)
        let report = try await billingRun(skipping: [], pass: &pass).report
        logStoppedEarly(pass, "billing grace release", left: report.releasesDeferred)
        return report
    }

    /// Billing runs one after another until nothing more is due (`more` false), `runsMax` runs, or the task is
    /// cancelled: how the daemon catches up when more is due than one run may do (a month's renewals of a million
    /// numbers falling on one date). Each run is its own decision, so other writes go on between them. A number
    /// whose grace release the provider refused is not asked again in the same catch-up (it would be, run after run,
    /// and a run full of them would never reach later dates); the next catch-up tries it again. The counts are the
    /// runs' sums.
    public func runBillingUntilCaughtUp(runsMax: Int) async throws(NumberError) -> BillingReport {
        precondition(runsMax > 0, "runsMax must be positive")
        // One pass for the whole catch-up: once the provider failed the limit in a row, later runs renew and mark but
        // defer their grace releases instead of each trying again.
        var pass = ProviderPass(failuresMax: config.reconcile.providerFailuresPerPassMax)
        var (report, refused) = try await billingRun(skipping: [], pass: &pass)
        var runs = 1
        while report.more && runs < runsMax && !Task.isCancelled {
            let next: (report: BillingReport, refused: Set<String>)
            do throws(NumberError) {
                next = try await billingRun(skipping: refused, pass: &pass)
            } catch  where error.reason == .storeFull {
                // The earlier runs are recorded: reported as done; the next catch-up goes on from here.
                logger.warning("billing catch-up stopped: the store has no room", metadata: ["runs": "\(runs)"])
                break
            }
            report.add(next.report)
            refused.formUnion(next.refused)
            runs += 1
        }
        logStoppedEarly(pass, "billing grace release", left: report.releasesDeferred)
        return report
    }

    /// One billing run, leaving out `skipping` (besides the numbers a running release, or a waiting one asked for
    /// before their billing date, holds; a running trunk change keeps only the grace release off its number);
    /// returns its report and the numbers whose grace release failed.
    private func billingRun(
        skipping extra: Set<String>, pass: inout ProviderPass
    ) async throws(NumberError) -> (report: BillingReport, refused: Set<String>) {
        let now = now()
        let downtimes = graceDowntimes(at: now)
        // The grace releases the plan claimed, handed back if its record is refused (a store with no room).
        var claimed: [String] = []
        let plan: BillingPlanner.Outcome
        do throws(NumberError) {
            plan = try await coordinator.perform { state throws(NumberError) in
                var planner = BillingPlanner(state: state, config: config, now: now, downtimes: downtimes)
                // Once the provider failed the limit in a row, a release would only be requested to be withdrawn:
                // two journal events per number, run after run, while the provider is down.
                planner.graceReleases = pass.mayGoOn
                // Numbers whose last grace release failed wait their retry time (their renewals do not); after a run
                // whose provider pass stopped, only a probe's few are requested.
                let retryMax = TimeInterval(config.billing.graceReleaseRetryMaxSeconds)
                let busy: Set<String>
                let routing: Set<String>
                (busy, routing, planner.releasesBackingOff, planner.graceReleasesMax) = local.withLock { local in
                    // Dropped once the number is no longer the same past-due one (paid, or past due again since, or
                    // released), or its time is further than the longest wait (a clock set back).
                    for (id, retry) in local.graceRetries {
                        let number = state.numbers[id]
                        if number?.status != .pastDue || number?.pastDueSince != retry.pastDueSince
                            || retry.notBefore > now.addingTimeInterval(retryMax)
                        {
                            local.graceRetries.removeValue(forKey: id)
                        }
                    }
                    let waiting = Set(local.graceRetries.filter { $0.value.notBefore > now }.keys)
                    // A number whose release is running waits for the next run, and so does one whose customer's
                    // release, asked for before its billing date, waits for its turn at the provider: that release's
                    // request bills the cycle begun meanwhile itself (``NumberService/billedBeforeRelease``), in the
                    // decision that prices its refund, so a renewal decided here could not change what the customer
                    // pays (at midnight before a billing date, one releasing many numbers would pay a month for each
                    // one still waiting). A release asked for after the date hides nothing: a caller asking again and
                    // again, each refused after its wait, would otherwise keep a due number from billing for days.
                    let held = local.waitingReleases.filter { id, askedAt in
                        state.numbers[id].map { askedAt < $0.nextBillingDate } ?? true
                    }
                    let busy = local.liveReleases.union(held.keys)
                    // A trunk change records only the trunk: the number is renewed or marked past due as any other,
                    // and only its grace release waits (it would race the change at the provider).
                    let routing = Set(local.routing.keys)
                    let probe = local.graceProbe ? config.reconcile.providerFailuresPerPassMax : Int.max
                    return (busy, routing, waiting, probe)
                }
                planner.routing = routing
                planner.plan(skipping: busy.union(extra))
                claimed = planner.toRelease.map(\.id)
                local.withLock { local in
                    for id in claimed {
                        local.liveReleases.insert(id)
                        local.withdrawableReleases.insert(id)
                    }
                }
                return (planner.events, planner.outcome)
            }
        } catch {
            local.withLock { $0.handBack(claimed) }
            throw error
        }
        var report = plan.report
        var refused: Set<String> = []
        var deferred: [String] = []
        for number in plan.toRelease {
            guard pass.mayGoOn else {
                // Still claimed until the withdrawal below: handed back before it, reconciliation could take the
                // number and send its DELETE, and the withdrawal then clear the release request under it.
                deferred.append(number.id)
                refused.insert(number.id)
                continue
            }
            defer { local.withLock { $0.handBack([number.id]) } }
            do {
                _ = try await finishRelease(number, requestedAt: now, withdrawIfRefused: true)
                report.released += 1
                pass.record(answered: true)
                local.withLock { local in
                    local.graceRetries.removeValue(forKey: number.id)
                    local.graceProbe = false
                }
            } catch {
                pass.record(answered: !ProviderPass.isNoAnswer(error))
                report.releaseFailures += 1
                refused.insert(number.id)
                // The wait counts from the failure, not from the run's start: a run of many slow refusals would
                // otherwise outlast the first waits.
                let billing = config.billing
                let failedAt = self.now()
                local.withLock { local in
                    let failures = (local.graceRetries[number.id]?.failures ?? 0) + 1
                    let wait = min(
                        billing.graceReleaseRetrySeconds << min(failures - 1, 20), billing.graceReleaseRetryMaxSeconds)
                    local.graceRetries[number.id] = (
                        failures, failedAt.addingTimeInterval(TimeInterval(wait)), number.pastDueSince
                    )
                }
                logger.warning(
                    "grace release failed", metadata: ["number": "\(number.id)", "reason": "\(error.reason)"])
            }
        }
        // A pass that stopped asking leaves the next runs a probe's few grace releases until one goes through.
        if !pass.mayGoOn { local.withLock { $0.graceProbe = true } }
        if !deferred.isEmpty {
            // The plan recorded their release as requested; not tried, it is withdrawn in one record, as a refused
            // one's is, so the number stays past due for the next catch-up (reconciliation, which never withdraws a
            // release, would otherwise keep retrying one the provider refuses). Should this fail, reconciliation
            // finishes them.
            let withdrawn = try? await coordinator.perform { state throws(NumberError) in
                let events = deferred.filter { state.numbers[$0]?.releaseRequestedAt != nil }.map {
                    CoreEvent.numberReleaseCancelled(numberId: $0)
                }
                // Handed back in the decision that withdraws them.
                local.withLock { $0.handBack(deferred) }
                return (events, events.count)
            }
            if withdrawn == nil {
                local.withLock { $0.handBack(deferred) }
            }
            report.releasesDeferred += withdrawn ?? deferred.count
        }
        // After the releases, so a failure here never leaves their claims behind.
        do throws(NumberError) {
            let revealed = self.revealed
            let keys = try await coordinator.perform { state throws(NumberError) in
                let expiry = KeyExpiry(state: state, config: config, now: now, revealed: revealed)
                return (expiry.events, expiry.report)
            }
            report.expiredKeys = keys.expiredKeys
            report.more = report.more || keys.more
        } catch  where error.reason == .storeFull {
            // The renewals and releases above are recorded: the run reports them. Expired keys only take room; they are
            // dropped by the next run.
            logger.warning("expired idempotency keys not dropped: the store has no room", metadata: ["now": "\(now)"])
        }
        return (report, refused)
    }
}

/// Decides one billing run. It reads the state it was given and never changes it (a changed copy would copy every
/// table the run touched, under the decision lock); the accounts and numbers its events touch are copied into a
/// small scratch state and the events applied there, so each event's balance follows the last. Due numbers are
/// found through the state's billing-date index, not by reading every number (expired keys: ``KeyExpiry``).
struct BillingPlanner {
    struct Outcome: Sendable {
        var report: BillingReport
        var toRelease: [OwnedNumber]
    }

    let state: CoreState
    /// Only what the planned events touched, with those events applied.
    private(set) var scratch = CoreState()
    let config: NumberServiceConfig
    let now: Date
    private(set) var events: [CoreEvent] = []
    private(set) var report = BillingReport()
    private(set) var toRelease: [OwnedNumber] = []
    private var actions = 0
    /// Whether the run requests grace releases: false once the provider stopped answering, when the numbers past
    /// their grace period are counted as deferred instead (``BillingReport/releasesDeferred``), nothing recorded.
    var graceReleases = true
    /// Past-due numbers whose last grace release failed and whose retry time has not come: not released by this run
    /// (nor counted deferred); renewed as any other if their account can pay.
    var releasesBackingOff: Set<String> = []
    /// Numbers whose trunk a call is changing at the provider: renewed and marked past due as any other (the change
    /// records only the trunk), but not released by this run (nor counted deferred): the DELETE would race the change,
    /// whose record would then find the number gone.
    var routing: Set<String> = []
    /// Most grace releases this run requests; nothing is recorded for the others past their grace period (`more`: the
    /// next run of the catch-up takes them). ``NumberServiceConfig/Reconcile/providerFailuresPerPassMax`` after a run whose provider pass
    /// stopped (a probe: the provider still failing, each tick requested and withdrew every number past grace).
    var graceReleasesMax = Int.max
    /// Numbers the run looked at (acted on or not): what a run costs besides its actions.
    private(set) var visited = 0

    /// Numbers marked past due at or before this time are past their grace period: it counts only numberd's uptime
    /// (``NumberServiceConfig/Billing/downtimes``), so a number whose grace period was running when numberd stopped
    /// is not released by the first run back, before its customer could pay.
    let graceOverIfMarkedBy: Date

    /// `downtimes`: numberd's own (``NumberServiceConfig/Billing/downtimes``) unless given — the billing run adds the
    /// times writes found no room (``WriteOutages``).
    init(state: CoreState, config: NumberServiceConfig, now: Date, downtimes: Downtimes? = nil) {
        self.state = state
        self.config = config
        self.now = now
        self.graceOverIfMarkedBy = (downtimes ?? config.billing.downtimes).graceOver(
            at: now, grace: config.billing.gracePeriodSeconds)
    }

    var outcome: Outcome { Outcome(report: report, toRelease: toRelease) }

    /// Bills, until the action limit: the active numbers due, oldest billing date first (within a date in no
    /// particular order); then the past-due numbers of accounts that can now pay the cheapest of theirs; then the
    /// past-due numbers whose grace period is over, oldest first. Each walks its index and stops at the limit, so a run
    /// costs what it does, not a collect-and-sort of everything due: a million numbers due on one date are a thousand
    /// runs of 500, each short — and the numbers marked past due by the earlier ones are not passed again (they leave
    /// the billing-date index), nor are past-due numbers still in their grace period, nor numbers whose release was
    /// requested (out of every index here until it is recorded or withdrawn).
    mutating func plan(skipping busy: Set<String>) {
        let work = state.work
        for date in work.billingDates.keys.filter({ $0 <= now }).sorted() {
            guard visit(work.billingDates[date] ?? [], skipping: busy) else { return }
        }
        for (accountId, byFee) in work.pastDueAccounts {
            guard let cheapest = byFee.keys.min(), let available = account(accountId)?.available,
                available >= cheapest
            else { continue }
            for fee in byFee.keys.sorted() {
                // Until the renewals planned so far have spent what the account has.
                let canPay = { (planner: BillingPlanner) in (planner.account(accountId)?.available ?? 0) >= fee }
                guard canPay(self) else { break }
                guard visit(byFee[fee] ?? [], skipping: busy, while: canPay) else { return }
            }
        }
        let graceOver = WorkIndexes.minute(graceOverIfMarkedBy)
        let releasesSkipped = busy.union(releasesBackingOff).union(routing)
        for minute in work.pastDueMinutes.keys.filter({ $0 <= graceOver }).sorted() {
            guard graceReleases else {
                report.releasesDeferred += (work.pastDueMinutes[minute] ?? []).count { id in
                    guard !releasesSkipped.contains(id), let number = state.numbers[id], number.status == .pastDue,
                        number.releaseRequestedAt == nil, let since = number.pastDueSince
                    else { return false }
                    return since <= graceOverIfMarkedBy
                }
                continue
            }
            guard visit(work.pastDueMinutes[minute] ?? [], skipping: releasesSkipped) else { return }
        }
    }

    /// Bills each of `ids` that is held, not being released, not busy and not already billed by this run, while
    /// `condition` holds; false (and `more`) when the action limit stops the run.
    private mutating func visit(
        _ ids: Set<String>, skipping busy: Set<String>, while condition: (BillingPlanner) -> Bool = { _ in true }
    ) -> Bool {
        for id in ids {
            guard condition(self) else { return true }
            visited += 1
            guard let number = state.numbers[id], number.status != .released, number.releaseRequestedAt == nil,
                !busy.contains(id), scratch.numbers[id] == nil
            else { continue }
            guard actions < config.billing.actionsPerRunMax else {
                report.more = true
                return false
            }
            guard bill(id) else { return false }
        }
        return true
    }

    /// The number as the planned events left it.
    private func number(_ id: String) -> OwnedNumber? { scratch.numbers[id] ?? state.numbers[id] }

    /// The account as the planned events left it.
    private func account(_ id: String) -> Account? { scratch.accounts[id] ?? state.accounts[id] }

    /// Applies `event` to the scratch state, first copying in the number it changes and that number's account.
    private mutating func record(_ event: CoreEvent, number numberId: String? = nil) {
        if let numberId, scratch.numbers[numberId] == nil, let number = state.numbers[numberId] {
            scratch.numbers[numberId] = number
            if scratch.accounts[number.accountId] == nil {
                scratch.accounts[number.accountId] = account(number.accountId)
            }
        }
        scratch.apply(event)
        events.append(event)
        actions += 1
    }

    /// Bills one number as a run would — each cycle begun by `now` while its account can pay, else its past-due mark —
    /// and requests no grace release: what a customer's release decides first (``NumberService/billedBeforeRelease``).
    /// `owedFirst`: what a run would spend before this one on the account's numbers with older billing dates
    /// (``NumberService/owedBefore(_:in:now:config:)``), held back from what this one may spend.
    mutating func billBeforeRelease(_ numberId: String, owedFirst: Int64 = 0) {
        graceReleases = false
        if owedFirst > 0, let accountId = state.numbers[numberId]?.accountId, var held = account(accountId) {
            // Only the planner's copy: the events it records do not carry the account's held amount.
            let (sum, over) = held.held.addingReportingOverflow(owedFirst)
            held.held = over ? .max : sum
            scratch.accounts[accountId] = held
        }
        bill(numberId)
    }

    /// What a run would spend of `accountId`'s money billing `numberIds` in that order, each by the run's own rule
    /// (``bill(_:)``): each cycle begun by `now` while the account can pay, else the number marked past due — which
    /// costs nothing, and the run goes on to the next one, which the money left may pay. No action limit (the runs of
    /// a catch-up bill them all before a later billing date) and no grace release; the events are not kept. It stops
    /// once less than `needed` is left — the first cycle of the number billed after these, which it then cannot pay
    /// whatever more they spend.
    static func spent(
        billing numberIds: [String], of accountId: String, in state: CoreState, config: NumberServiceConfig,
        now: Date, needed: Int64
    ) -> Int64 {
        var config = config
        config.billing.actionsPerRunMax = .max
        var planner = BillingPlanner(state: state, config: config, now: now)
        planner.graceReleases = false
        for numberId in numberIds {
            guard let left = planner.account(accountId)?.available, left >= needed else { break }
            planner.bill(numberId)
        }
        let before = state.accounts[accountId]?.balance ?? 0
        return before - (planner.account(accountId)?.balance ?? before)
    }

    /// Bills `numberId`: each cycle begun by `now` while its account can pay, else its past-due mark (and its grace
    /// release, if due). False when the action limit stopped it (`more`): the run goes no further.
    @discardableResult
    private mutating func bill(_ numberId: String) -> Bool {
        // The mark of a number that comes in past due: paying some of the cycles it owes must not start its grace
        // period again, or paying one month in every grace period would keep it for good. Its renewals leave the run
        // one action to mark it again (unless the run has only one): a run stopped by its limit between the two would
        // leave it active with a billing date passed, for the next run to mark from its own time.
        let markedBefore = self.number(numberId).flatMap { $0.status == .pastDue ? $0.pastDueSince : nil }
        let actionsMax = config.billing.actionsPerRunMax
        let renewalsEnd = markedBefore == nil ? actionsMax : max(1, actionsMax - 1)
        var cycles = 0
        while let number = number(numberId), number.nextBillingDate <= now {
            guard actions < actionsMax else {
                report.more = true
                return false
            }
            let account = account(number.accountId)!
            let canPay = account.available >= number.monthlyFee
            let outOfActions = canPay && actions >= renewalsEnd
            let stopped = outOfActions || cycles >= config.billing.cyclesPerNumberMax
            guard canPay, !stopped else {
                // Stopped by a limit, a number that came in past due and was renewed above is marked again even if its
                // account could pay on (the next run's past-due renewals go on from there); one that came in active is
                // left active for the next run.
                if number.status == .active && (!stopped || markedBefore != nil) {
                    // From this run, not from the due date: a billing job that was down for longer than the grace
                    // period must not release the number on its first run back, before the customer could pay. One
                    // that came in past due and was renewed above still owes this cycle: its grace counts from the
                    // earlier mark, or from this cycle's start if that is later (the cycles before it are paid),
                    // never from after now.
                    let at = markedBefore.map { min(now, max($0, number.nextBillingDate)) } ?? now
                    record(.numberPastDue(numberId: numberId, at: at), number: numberId)
                    report.markedPastDue += 1
                }
                if stopped {
                    report.more = true
                } else {
                    scheduleGraceRelease(numberId)
                }
                return !outOfActions
            }
            record(renewal(of: number, account: account), number: numberId)
            report.renewed += 1
            cycles += 1
        }
        return true
    }

    private func renewal(of number: OwnedNumber, account: Account) -> CoreEvent {
        let cycleStart = number.nextBillingDate
        let next = BillingCalendar.nextBillingDate(after: cycleStart, anchorDay: number.billingAnchorDay)
        let transaction = LedgerTransaction(
            id: Identifier.make(Identifier.transaction) { state.isTaken($0) || scratch.isTaken($0) },
            accountId: account.id, kind: .renewal, amount: -number.monthlyFee,
            balanceAfter: account.balance - number.monthlyFee, currency: account.currency, numberId: number.id,
            description: "Monthly fee: \(number.phoneNumber)",
            createdAt: max(state.ledgerStamp(account.id, now), scratch.ledgerStamp(account.id, now)),
            idempotencyKey: nil,
            actor: .billing)
        return .numberRenewed(
            numberId: number.id, transaction: transaction, cycleStart: cycleStart, nextBillingDate: next)
    }

    private mutating func scheduleGraceRelease(_ numberId: String) {
        guard graceReleases, !releasesBackingOff.contains(numberId), !routing.contains(numberId),
            let number = number(numberId),
            number.status == .pastDue, let since = number.pastDueSince, since <= graceOverIfMarkedBy,
            actions < config.billing.actionsPerRunMax
        else { return }
        // A probe after a run whose provider pass stopped: a few, nothing recorded for the rest, which the next run of
        // the catch-up takes (all of them once the probe went through; counted deferred if the provider still fails).
        guard toRelease.count < graceReleasesMax else {
            report.more = true
            return
        }
        record(.numberReleaseRequested(numberId: numberId, at: now, by: .gracePeriod), number: numberId)
        toRelease.append(scratch.numbers[numberId]!)
    }
}

/// Decides which expired idempotency records a billing run drops: at most `billing.expiredKeysPerRunMax`, oldest
/// minute first, found through the idempotency-minute index (it stops at the limit instead of collecting and sorting
/// the whole backlog). A record still unsettled (a purchase open, a release still requested) is kept. One event, so one
/// journal record.
struct KeyExpiry {
    private(set) var events: [CoreEvent] = []
    private(set) var report = BillingReport()

    init(state: CoreState, config: NumberServiceConfig, now: Date, revealed: [DateInterval] = []) {
        let expiredBy = config.idempotencyKeysExpired(by: now, revealed: revealed)
        let budget = config.billing.expiredKeysPerRunMax
        // Records of a minute after this one are all younger than the time to live.
        let lastMinute = WorkIndexes.minute(expiredBy)
        var expired: [String] = []
        walk: for minute in state.work.idempotencyMinutes.keys.filter({ $0 <= lastMinute }).sorted() {
            for key in state.work.idempotencyMinutes[minute] ?? [] {
                guard let record = state.idempotency[key], !state.isUnsettled(record) else { continue }
                guard record.createdAt <= expiredBy else { continue }
                guard expired.count < budget else {
                    report.more = true
                    break walk
                }
                expired.append(key)
            }
        }
        guard !expired.isEmpty else { return }
        events = [.idempotencyExpired(storageKeys: expired)]
        report.expiredKeys = expired.count
    }
}
