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
    /// Grace releases that failed at the provider (retried on the next run).
    public var releaseFailures = 0
    /// Idempotency records dropped after their TTL.
    public var expiredKeys = 0
    /// Whether the run stopped at its action limit and more work is due.
    public var more = false

    /// An empty report.
    public init() {}
}

extension NumberService {
    /// Renews due numbers (debiting the monthly fee once per cycle, or marking them past due), releases numbers
    /// past due for longer than the grace period, and drops expired idempotency keys. Run it periodically.
    public func runBilling() async throws(NumberError) -> BillingReport {
        let now = now()
        let plan = try await coordinator.perform { state throws(NumberError) in
            var planner = BillingPlanner(state: state, config: config, now: now)
            planner.plan(skipping: local.withLock { $0.liveReleases })
            local.withLock { local in
                for number in planner.toRelease { local.liveReleases.insert(number.id) }
            }
            return (planner.events, planner.outcome)
        }
        var report = plan.report
        for number in plan.toRelease {
            defer { local.withLock { _ = $0.liveReleases.remove(number.id) } }
            do {
                _ = try await finishRelease(number, requestedAt: now)
                report.released += 1
            } catch {
                report.releaseFailures += 1
                logger.warning("grace release failed", metadata: ["number": "\(number.id)", "reason": "\(error.reason)"])
            }
        }
        return report
    }
}

/// Decides one billing run against a scratch copy of the state, so each event's balance follows the last.
struct BillingPlanner {
    struct Outcome: Sendable {
        var report: BillingReport
        var toRelease: [OwnedNumber]
    }

    private(set) var scratch: CoreState
    let config: NumberServiceConfig
    let now: Date
    private(set) var events: [CoreEvent] = []
    private(set) var report = BillingReport()
    private(set) var toRelease: [OwnedNumber] = []
    private var actions = 0

    init(state: CoreState, config: NumberServiceConfig, now: Date) {
        self.scratch = state
        self.config = config
        self.now = now
    }

    var outcome: Outcome { Outcome(report: report, toRelease: toRelease) }

    mutating func plan(skipping busy: Set<String>) {
        let due = scratch.numbers.values.filter {
            $0.status != .released && $0.releaseRequestedAt == nil && !busy.contains($0.id) && $0.nextBillingDate <= now
        }.sorted { ($0.nextBillingDate, $0.id) < ($1.nextBillingDate, $1.id) }
        for number in due {
            guard actions < config.billing.actionsPerRunMax else {
                report.more = true
                break
            }
            bill(number.id)
        }
        expireKeys()
    }

    private mutating func record(_ event: CoreEvent) {
        scratch.apply(event)
        events.append(event)
        actions += 1
    }

    private mutating func bill(_ numberId: String) {
        var cycles = 0
        while let number = scratch.numbers[numberId], number.nextBillingDate <= now {
            guard cycles < config.billing.cyclesPerNumberMax, actions < config.billing.actionsPerRunMax else {
                report.more = true
                return
            }
            let account = scratch.accounts[number.accountId]!
            guard account.available >= number.monthlyFee else {
                if number.status == .active {
                    record(.numberPastDue(numberId: numberId, at: number.nextBillingDate))
                    report.markedPastDue += 1
                }
                scheduleGraceRelease(numberId)
                return
            }
            record(renewal(of: number, account: account))
            report.renewed += 1
            cycles += 1
        }
    }

    private func renewal(of number: OwnedNumber, account: Account) -> CoreEvent {
        let cycleStart = number.nextBillingDate
        let next = BillingCalendar.nextBillingDate(after: cycleStart, anchorDay: number.billingAnchorDay)
        let transaction = LedgerTransaction(
            id: Identifier.make(Identifier.transaction, taken: scratch.isTaken), accountId: account.id, kind: .renewal,
            amount: -number.monthlyFee, balanceAfter: account.balance - number.monthlyFee, currency: account.currency,
            numberId: number.id, description: "Monthly fee: \(number.phoneNumber)", createdAt: now,
            idempotencyKey: nil)
        return .numberRenewed(numberId: number.id, transaction: transaction, cycleStart: cycleStart, nextBillingDate: next)
    }

    private mutating func scheduleGraceRelease(_ numberId: String) {
        guard let number = scratch.numbers[numberId], number.status == .pastDue, let since = number.pastDueSince,
            since.addingTimeInterval(TimeInterval(config.billing.gracePeriodSeconds)) <= now,
            actions < config.billing.actionsPerRunMax
        else { return }
        record(.numberReleaseRequested(numberId: numberId, at: now))
        toRelease.append(scratch.numbers[numberId]!)
    }

    private mutating func expireKeys() {
        let ttl = TimeInterval(config.idempotency.ttlSeconds)
        let budget = max(0, config.billing.actionsPerRunMax - actions)
        let expired = scratch.idempotency.values.filter { record in
            if case .pending = record.outcome { return false }
            return record.createdAt.addingTimeInterval(ttl) <= now
        }.map(\.storageKey).sorted()
        guard !expired.isEmpty else { return }
        if expired.count > budget { report.more = true }
        let batch = Array(expired.prefix(budget))
        guard !batch.isEmpty else { return }
        record(.idempotencyExpired(storageKeys: batch))
        report.expiredKeys = batch.count
    }
}
