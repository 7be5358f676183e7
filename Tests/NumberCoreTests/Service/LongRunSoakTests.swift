import Foundation
import TestSupport
import Testing

@testable import NumberCore

/// numberd's life over 400 days on a fast clock: purchases, releases, funds, trunks, API keys and retries of old
/// idempotency keys from a seeded generator, short bursts of provider faults, the periodic tasks (billing until caught
/// up, reconciliation, the orphan sweep) every 6 hours, and three outages with the downtime each start records. What
/// only a long run shows is checked: invariants that drift, a cycle billed twice or not at all across month ends, Feb
/// 29 and outages, idempotency records outliving their life or dying early, grace periods counting downtime, and
/// process-local bookkeeping or pending state that grows without bound. Every failure names the seed and the time.
// Serialized: each variant computes for seconds, and two at once beside every other suite starved a CI run's start.
@Suite(
    "A long run on a fast clock: invariants hold, each paid cycle is billed once, and nothing grows without bound",
    .serialized)
struct LongRunSoakTests {
    /// One run: the store it writes to and the seed of its choices.
    struct Variant: Sendable, CustomTestStringConvertible {
        var kind: StoreKind
        var seed: UInt64
        var testDescription: String { "\(kind) store, seed \(seed)" }
    }

    @Test(
        "400 days of 6-hour steps and three outages: invariants, renewals by the calendar, key lives, bounded state",
        arguments: [Variant(kind: .memory, seed: 20_240_128), Variant(kind: .file, seed: 20_240_229)])
    func soak(_ variant: Variant) async throws {
        var run = try await SoakRun(variant)
        try await run.run()
    }
}

/// What `body` returned, or the `NumberError` it threw.
private func attempt<R>(_ body: () async throws -> R) async -> Result<R, NumberError> {
    do {
        return .success(try await body())
    } catch let error as NumberError {
        return .failure(error)
    } catch {
        Issue.record("unexpected error type: \(error)")
        return .failure(.internalFailure("\(error)"))
    }
}

/// One run: the service under a harness, the seed's choices, and the test's own record of what it asked for — the
/// model the service is checked against.
private struct SoakRun {
    /// A month before Feb 29: the run crosses the leap day, the ends of months of 28 to 31 days and a new year.
    static let start = Date.utc("2024-01-28T00:00:00Z")
    /// When the grace probe's account buys its number: renewed, unpaid, on 2024-09-06, 4 days before the 40-day
    /// outage.
    static let graceProbeBuy = Date.utc("2024-08-06T00:00:00Z")
    static let days = 400
    static let stepSeconds: TimeInterval = 6 * 3_600
    /// Calls per step: 0 to this many, evenly. Fewer makes the run faster (it must stay well under 20 s in a debug
    /// build on two cores), more makes it denser.
    static let operationsPerStepMax = 2
    /// Numbers held (not being released) past which a purchase gives way to a release, so each step stays cheap.
    static let heldMax = 40
    /// How many of the last calls made under an idempotency key are kept for retries.
    static let keyedCallsKept = 32
    /// numberd stopped after the step at `start` and started again, its downtime recorded, at the step at `end`.
    static let outages = [
        // Three days across the 28th and the 29th: the billing days of the numbers bought on the first day and on
        // Feb 29, renewed by the catch-up at the start.
        DateInterval(start: .utc("2024-05-27T12:00:00Z"), end: .utc("2024-05-30T12:00:00Z")),
        // Forty days: longer than the grace period (7 days of uptime) and an idempotency key's life (1 day of uptime),
        // neither of which may count it.
        DateInterval(start: .utc("2024-09-10T06:00:00Z"), end: .utc("2024-10-20T06:00:00Z")),
        // Twelve hours across the new year.
        DateInterval(start: .utc("2024-12-31T18:00:00Z"), end: .utc("2025-01-01T06:00:00Z")),
    ]
    /// The idempotency records of the last day of uptime (four steps, five at a restart — the step before the stop,
    /// and those before it, are no older in uptime —, each of at most ``operationsPerStepMax`` calls recording one key),
    /// and a few purchases and releases left in doubt by a failing look-up and orphan watches (a day each): what is
    /// open at the end of a step — idempotency records, orphan watches, open intents, pending releases — stays under
    /// this however long numberd runs.
    static let openMax = 5 * operationsPerStepMax + 10
    static let config: NumberServiceConfig = {
        var config = NumberServiceConfig.defaults
        // Past a few revoked API keys the oldest are purged: the key table stays bounded (``checkQuiet(openBefore:)``).
        config.limits.revokedApiKeysKeptMax = 4
        return config
    }()
    /// The calendar of the renewal model: Foundation's, not the service's own arithmetic (``BillingCalendar``).
    static let calendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    /// A call made under an idempotency key, kept to retry.
    enum KeyedCall {
        /// A purchase; its numbers, if the first call returned them (nil: its outcome was unknown).
        case purchase(PurchaseRequest, at: Date, numberIds: [String]?)
        /// AddFunds, and the credit it posted.
        case funds(accountId: String, key: String, amount: Int64, at: Date, transactionId: String)
        /// A release; `recorded`: the first call returned it released (false: in doubt, recorded by reconciliation).
        case release(accountId: String, numberId: String, key: String, at: Date, recorded: Bool)
    }

    /// A dry run's figures shown to a caller, who confirms the release at a later step.
    struct DryRun {
        var accountId: String
        var numberId: String
        /// The end of the paid cycle it showed: the release's `expectedNextBillingDate`.
        var end: Date
    }

    /// What was open at the end of a step (``openMax``).
    struct Sample {
        var day: Int
        var open: Int
    }

    let seed: UInt64
    var h: Harness
    var random: SplitMix64
    /// Accounts never short of money: their numbers are checked against the renewal model.
    var funded: [String] = []
    /// Accounts given too little at a time: their numbers go past due, some are paid again, others are released
    /// after the grace period.
    var thin: [String] = []
    /// An account left out of the random operations, whose one number goes past due 4 days before the 40-day outage
    /// (``graceProbeBuy``): its grace period runs across it, so a grace counting downtime would release it at the
    /// first run after the outage, not 3 days later. Chance alone seldom puts a past-due number there.
    var graceProbe = ""
    /// When each number was asked for (E.164 → the purchase call's time): its first cycle starts then.
    var askedAt: [String: Date] = [:]
    var keyed: [KeyedCall] = []
    var dryRuns: [DryRun] = []
    var serial = 0
    /// Whether provider faults were injected for this step's calls.
    var faulty = false
    var samples: [Sample] = []
    /// Retries answered from their first call, and retries of keys past their life (a new credit).
    var replays = 0
    var lateRetries = 0

    init(_ variant: LongRunSoakTests.Variant) async throws {
        seed = variant.seed
        random = SplitMix64(seed: variant.seed)
        // The provider dates the numbers it sells by the run's clock: reconciliation and the orphan sweep compare that
        // date with the buy numberd sent. The file store snapshots every 256 records, not every 7 (each snapshot
        // writes the whole state, which grows for a year here).
        h = try await Harness(
            variant.kind, config: Self.config, start: Self.start, providerDatesByClock: true,
            snapshotEveryRecords: 256)
    }

    var accounts: [String] { funded + thin }
    var context: String { "seed \(seed), at \(h.clock.now())" }

    mutating func pick(_ count: Int) -> Int { Int(random.next() % UInt64(count)) }

    mutating func pickAccount() -> String {
        let all = accounts
        return all[pick(all.count)]
    }

    mutating func newKey(_ prefix: String) -> String {
        serial += 1
        return "\(prefix)-\(serial)"
    }

    mutating func remember(_ call: KeyedCall) {
        keyed.append(call)
        if keyed.count > Self.keyedCallsKept { keyed.removeFirst() }
    }

    /// Seconds numberd ran from `start` to `end`: the outages left out.
    static func uptime(from start: Date, to end: Date) -> TimeInterval {
        outages.reduce(end.timeIntervalSince(start)) { up, outage in
            up - max(0, min(end, outage.end).timeIntervalSince(max(start, outage.start)))
        }
    }

    /// The billing dates of a number bought at `purchase`, up to `end`: the purchase's UTC day of the month in each
    /// later month, that month's last day when it has no such day (the 31st → Feb 29 → Mar 31).
    static func billingDates(from purchase: Date, through end: Date) -> [Date] {
        let anchor = calendar.component(.day, from: purchase)
        guard let month = calendar.date(from: calendar.dateComponents([.year, .month], from: purchase)) else {
            return []
        }
        var dates: [Date] = []
        while let start = calendar.date(byAdding: .month, value: dates.count + 1, to: month),
            let days = calendar.range(of: .day, in: .month, for: start)?.count,
            let date = calendar.date(byAdding: .day, value: min(anchor, days) - 1, to: start), date <= end
        {
            dates.append(date)
        }
        return dates
    }

    // MARK: The run

    mutating func run() async throws {
        for outage in Self.outages {
            // On the 6-hour grid: the step at its start is the last before the stop, the one at its end the first after.
            #expect(outage.start.timeIntervalSince(Self.start).truncatingRemainder(dividingBy: Self.stepSeconds) == 0)
            #expect(outage.end.timeIntervalSince(Self.start).truncatingRemainder(dividingBy: Self.stepSeconds) == 0)
        }
        for index in 0..<2 {
            let rich = try await h.account(funds: 5_000_000, name: "Funded \(index)")
            let poor = try await h.account(funds: 600, name: "Thin \(index)")
            funded.append(rich.id)
            thin.append(poor.id)
        }
        graceProbe = try await h.account(name: "Grace probe").id
        let steps = Self.days * 86_400 / Int(Self.stepSeconds)
        for index in 0..<steps {
            let time = Self.start.addingTimeInterval(Double(index) * Self.stepSeconds)
            // Stopped: nothing runs.
            if Self.outages.contains(where: { $0.start < time && time < $0.end }) { continue }
            h.clock.set(time)
            if let outage = Self.outages.first(where: { $0.end == time }) { try await restart(after: outage) }
            if time == Self.graceProbeBuy { try await buyGraceProbe() }
            injectFaults()
            await operations()
            h.provider.clearFaults()
            faulty = false
            try await periodicTasks(faults: true)
            sample(at: time)
            if index % (7 * 4) == 0 { try await weeklyCheck(fully: h.kind == .memory || index % (28 * 4) == 0) }
        }
        try await finish()
    }

    /// numberd back after `outage`: its start records the downtime as numberd's does (kept as far back as a grace
    /// period or an idempotency key's life can reach), then reconciles and bills before it serves anything.
    mutating func restart(after outage: DateInterval) async throws {
        var config = h.config
        config.billing.downtimes = config.billing.downtimes.recording(
            from: outage.start, to: outage.end,
            grace: max(config.billing.gracePeriodSeconds, config.idempotency.ttlSeconds))
        try await h.restart(config: config)
        try await periodicTasks(faults: false)
        try await h.check()
    }

    /// Now and then a short burst of the faults the fake provider can make, for this step's calls only.
    mutating func injectFaults() {
        guard pick(12) == 0 else { return }
        faulty = true
        let provider = h.provider
        switch pick(6) {
        case 0:
            // Answers lost: each buy is settled by a look-up.
            provider.inject(.loseAnswer, on: .buy, times: 2)
        case 1:
            // A buy's answer lost and the look-up failing: the purchase is in doubt until reconciliation settles it.
            provider.inject(.loseAnswer, on: .buy)
            provider.inject(.fail(.unavailable), on: .lookUp, times: 2)
        case 2:
            // A buy refused: what the purchase bought is released at the provider, its hold voided.
            provider.inject(.fail(.unavailable), on: .buy)
        case 3:
            // Releases refused, the numbers still there: withdrawn, the numbers billed on.
            provider.inject(.fail(.unavailable), on: .release, times: 2)
        case 4:
            // A release's answer lost, the look-up showing the number gone: recorded, and the number watched a day.
            provider.inject(.loseAnswer, on: .release)
        default:
            // A release's answer lost and the look-up failing: in doubt until reconciliation records it.
            provider.inject(.loseAnswer, on: .release)
            provider.inject(.fail(.unavailable), on: .lookUp)
        }
    }

    /// What numberd's periodic tasks do at each tick: billing until caught up, then reconciliation and the orphan
    /// sweep — with `faults`, now and then while the provider's look-ups fail, which leaves their items to the next
    /// tick.
    mutating func periodicTasks(faults: Bool) async throws {
        let now = h.clock.now()
        let billed = try await h.service.runBillingUntilCaughtUp(runsMax: 100)
        #expect(!billed.more, "billing did not catch up (\(context))")
        checkKeyLifetimes(at: now)
        if faults, pick(30) == 0 {
            let times = 1 + pick(3)
            h.provider.inject(.fail(.unavailable), on: .lookUp, times: times)
        }
        let openBefore = Set(h.service.durableState().intents.keys)
        _ = await h.service.reconcile()
        _ = await h.service.sweepOrphans()
        h.provider.clearFaults()
        checkQuiet(openBefore: openBefore)
    }

    /// Up to ``operationsPerStepMax`` calls, as tenants and an administrator would make them.
    mutating func operations() async {
        for _ in 0..<pick(Self.operationsPerStepMax + 1) {
            let held = heldNumbers()
            switch pick(100) {
            case 0..<30 where held.count < Self.heldMax: await purchase()
            case 0..<55: await release(held)
            case 55..<67: await addFunds()
            case 67..<77: await changeTrunks(held)
            case 77..<85: await changeApiKeys()
            default: await retry()
            }
        }
    }

    // MARK: Calls

    /// A call that failed for a reason the step does not explain fails the test: with no provider fault injected, an
    /// error other than the `expected` ones is a leak or a wrong refusal — a claim that a call long over left behind
    /// refuses the number's release or trunk change, say.
    func explain(_ error: NumberError, _ call: String, expected: Set<NumberError.Reason> = []) {
        #expect(
            faulty || expected.contains(error.reason),
            "\(call) failed with the provider answering: \(error) (\(context))")
    }

    /// The numbers held and not being released, in phone-number order (ids are random; the phone numbers come from a
    /// counter, so the seed alone decides which one is picked); the grace probe's is left alone.
    func heldNumbers() -> [OwnedNumber] {
        let state = h.service.durableState()
        return state.phoneOwners.values.compactMap { state.numbers[$0] }
            .filter { $0.status != .released && $0.releaseRequestedAt == nil && $0.accountId != graceProbe }
            .sorted { $0.phoneNumber < $1.phoneNumber }
    }

    func trunksOf(_ accountId: String) -> [Trunk] {
        h.service.durableState().trunks.values.filter { $0.accountId == accountId }.sorted { $0.name < $1.name }
    }

    /// A purchase of 1 to 3 numbers never sold before, mostly under an idempotency key, now and then on a trunk.
    mutating func purchase() async {
        let accountId = pickAccount()
        let trunks = trunksOf(accountId)
        var trunkId: String?
        if !trunks.isEmpty, pick(3) == 0 { trunkId = trunks[pick(trunks.count)].id }
        let key = pick(4) == 0 ? nil : newKey("p")
        let count = 1 + pick(3)
        let phones = h.provider.stockFresh(count)
        let request = PurchaseRequest(
            accountId: accountId, phoneNumbers: phones, country: "US", trunkId: trunkId, idempotencyKey: key)
        let now = h.clock.now()
        for phone in phones { askedAt[phone] = now }
        let service = h.service
        let outcome = await attempt { try await service.purchase(request) }
        switch outcome {
        case .success(let bought):
            #expect(!bought.replayed && bought.numbers.map(\.phoneNumber) == phones, "\(context)")
            if key != nil { remember(.purchase(request, at: now, numberIds: bought.numbers.map(\.id))) }
        case .failure(let error):
            if key != nil, error.reason == .outcomeUnknown { remember(.purchase(request, at: now, numberIds: nil)) }
            // A thin account is refused what it cannot pay; a funded one never is.
            let expected: Set<NumberError.Reason> = thin.contains(accountId) ? [.insufficientBalance] : []
            explain(error, "a purchase", expected: expected)
        }
    }

    /// A release of a held number: after a dry run whose figures are confirmed at once or at a later step, or
    /// straight away (under an idempotency key half the time).
    mutating func release(_ held: [OwnedNumber]) async {
        guard !held.isEmpty else { return }
        let number = held[pick(held.count)]
        let (accountId, numberId) = (number.accountId, number.id)
        let service = h.service
        switch pick(4) {
        case 0:
            // A dry run shown to the caller, who confirms it at a later step (``confirmDryRun()``).
            let dry = await attempt {
                try await service.release(accountId: accountId, numberId: numberId, dryRun: true)
            }
            switch dry {
            case .success(let shown):
                if let end = shown.nextBillingDate {
                    dryRuns.append(DryRun(accountId: accountId, numberId: numberId, end: end))
                    if dryRuns.count > 16 { dryRuns.removeFirst() }
                }
            case .failure(let error): explain(error, "a dry run")
            }
        case 1 where !dryRuns.isEmpty:
            await confirmDryRun()
        case 1, 2:
            // A dry run confirmed at once: the release charges and refunds exactly what it showed.
            let dry = await attempt {
                try await service.release(accountId: accountId, numberId: numberId, dryRun: true)
            }
            guard case .success(let shown) = dry else {
                if case .failure(let error) = dry { explain(error, "a dry run") }
                return
            }
            let end = shown.nextBillingDate
            let outcome = await attempt {
                try await service.release(
                    accountId: accountId, numberId: numberId, expectedNextBillingDate: end,
                    expectNoPaidCycle: end == nil)
            }
            switch outcome {
            case .success(let released):
                #expect(
                    released.refund == shown.refund && released.renewalCharge == shown.renewalCharge
                        && released.nextBillingDate == end, "the release differs from its dry run (\(context))")
            case .failure(let error): explain(error, "a release after its dry run")
            }
        default:
            let key = pick(2) == 0 ? newKey("r") : nil
            let now = h.clock.now()
            let outcome = await attempt {
                try await service.release(accountId: accountId, numberId: numberId, idempotencyKey: key)
            }
            switch outcome {
            case .success(let released):
                #expect(released.number.status == .released && !released.replayed, "\(context)")
                if let key {
                    remember(.release(accountId: accountId, numberId: numberId, key: key, at: now, recorded: true))
                }
            case .failure(let error):
                if let key, error.reason == .outcomeUnknown {
                    remember(.release(accountId: accountId, numberId: numberId, key: key, at: now, recorded: false))
                }
                explain(error, "a release")
            }
        }
    }

    /// Confirms a dry run shown at an earlier step, passing the end of the paid cycle it showed: refused
    /// PRICE_CHANGED, before the provider is asked, once that date has come (the number renewed or gone past due
    /// since, by the billing run or by the release itself, which bills it first); released with that cycle's refund
    /// before it.
    mutating func confirmDryRun() async {
        guard let plan = dryRuns.popLast() else { return }
        let state = h.service.durableState()
        guard let number = state.numbers[plan.numberId], number.status != .released, number.releaseRequestedAt == nil
        else { return }
        let now = h.clock.now()
        let service = h.service
        let outcome = await attempt {
            try await service.release(
                accountId: plan.accountId, numberId: plan.numberId, expectedNextBillingDate: plan.end)
        }
        switch outcome {
        case .success(let released):
            #expect(
                now < plan.end && released.nextBillingDate == plan.end,
                "released past the date its dry run showed, \(plan.end) (\(context))")
        case .failure(let error) where now >= plan.end:
            #expect(error.reason == .priceChanged, "\(error) (\(context))")
        case .failure(let error):
            explain(error, "a release confirming a dry run")
        }
    }

    /// AddFunds by an administrator, under an idempotency key half the time; a thin account gets too little at a time
    /// to keep all its numbers paid.
    mutating func addFunds() async {
        let accountId = pickAccount()
        let extra = funded.contains(accountId) ? 5_000 + pick(50_000) : 20 + pick(380)
        let amount = Int64(extra)
        let key = pick(2) == 0 ? newKey("f") : nil
        let now = h.clock.now()
        let service = h.service
        let outcome = await attempt {
            try await service.addFundsOutcome(accountId: accountId, amount: amount, idempotencyKey: key)
        }
        switch outcome {
        case .success(let posted):
            #expect(!posted.replayed, "\(context)")
            if let key {
                remember(
                    .funds(
                        accountId: accountId, key: key, amount: amount, at: now, transactionId: posted.transaction.id))
            }
        case .failure(let error): explain(error, "AddFunds")
        }
    }

    /// A trunk made at the provider, deleted, or a held number routed to one (or to none).
    mutating func changeTrunks(_ held: [OwnedNumber]) async {
        let accountId = pickAccount()
        let trunks = trunksOf(accountId)
        let service = h.service
        let choice = pick(3)
        if (choice == 0 && trunks.count < 3) || trunks.isEmpty {
            serial += 1
            let name = "trunk \(serial)"
            let made = await attempt {
                try await service.createTrunk(
                    accountId: accountId, name: name, providerTrunkSid: "", originationSipUri: "sip:pbx.example.com")
            }
            if case .failure(let error) = made { explain(error, "a trunk's creation") }
        } else if choice == 1 {
            let trunkId = trunks[pick(trunks.count)].id
            let deleted = await attempt { try await service.deleteTrunk(accountId: accountId, trunkId: trunkId) }
            // Refused while numbers are on it.
            if case .failure(let error) = deleted { explain(error, "a trunk's deletion", expected: [.trunkInUse]) }
        } else {
            let numbers = held.filter { $0.accountId == accountId }
            guard !numbers.isEmpty else { return }
            let numberId = numbers[pick(numbers.count)].id
            let trunkId = pick(4) == 0 ? nil : trunks[pick(trunks.count)].id
            let routed = await attempt {
                try await service.setTrunk(accountId: accountId, numberId: numberId, trunkId: trunkId)
            }
            // Refused for a past-due number whose grace period is over.
            if case .failure(let error) = routed { explain(error, "a trunk change", expected: [.numberNotActive]) }
        }
    }

    /// An account's API key made, or one revoked.
    mutating func changeApiKeys() async {
        let active = h.service.durableState().apiKeys.values.filter { $0.revokedAt == nil }.sorted { $0.name < $1.name }
        let service = h.service
        if active.count < 6 && (active.isEmpty || pick(2) == 0) {
            let accountId = pickAccount()
            serial += 1
            let name = "key \(serial)"
            let made = await attempt {
                try await service.createApiKey(name: name, scope: .account, accountId: accountId)
            }
            if case .failure(let error) = made { explain(error, "an API key's creation") }
        } else {
            let keyId = active[pick(active.count)].id
            let revoked = await attempt { try await service.revokeApiKey(keyId: keyId) }
            if case .failure(let error) = revoked { explain(error, "an API key's revocation") }
        }
    }

    /// A retry, under its key, of a call made at an earlier step. Within the key's life — a day of numberd's uptime
    /// from the record, the outages left out (as the service counts it) — a retry is answered from its first call; past
    /// it, the key is free again. A retry never buys or releases anything a second time.
    mutating func retry() async {
        guard !keyed.isEmpty else { return }
        let index = pick(keyed.count)
        let now = h.clock.now()
        let life = TimeInterval(h.config.idempotency.ttlSeconds)
        let service = h.service
        switch keyed[index] {
        case .purchase(let request, let at, let numberIds):
            let buys = h.provider.calls(.buy)
            let outcome = await attempt { try await service.purchase(request) }
            // Its numbers are owned, released or gone from the inventory: a replay, or a refusal before any buy.
            if case .success(let result) = outcome { #expect(result.replayed, "bought again (\(context))") }
            #expect(h.provider.calls(.buy) == buys, "a retried purchase asked the provider to buy (\(context))")
            if let numberIds, Self.uptime(from: at, to: now) < life {
                #expect(
                    (try? outcome.get())?.numbers.map(\.id) == numberIds,
                    "a purchase retried within its key's life is answered with its numbers (\(context))")
                replays += 1
            }
        case .funds(let accountId, let key, let amount, let at, let transactionId):
            let outcome = await attempt {
                try await service.addFundsOutcome(accountId: accountId, amount: amount, idempotencyKey: key)
            }
            guard case .success(let posted) = outcome else {
                if case .failure(let error) = outcome { explain(error, "AddFunds retried") }
                return
            }
            if Self.uptime(from: at, to: now) < life {
                // Not credited twice while the key lives, an outage in between or not.
                #expect(
                    posted.replayed && posted.transaction.id == transactionId,
                    "AddFunds retried within its key's life credited again (\(context))")
                replays += 1
            } else {
                // The key's record is gone after its life: a new credit, under the key again.
                #expect(!posted.replayed, "AddFunds retried after its key's life was answered from it (\(context))")
                keyed[index] = .funds(
                    accountId: accountId, key: key, amount: amount, at: now, transactionId: posted.transaction.id)
                lateRetries += 1
            }
        case .release(let accountId, let numberId, let key, let at, let recorded):
            let outcome = await attempt {
                try await service.release(accountId: accountId, numberId: numberId, idempotencyKey: key)
            }
            // The number is released (or still releasing): a replay, or a refusal.
            if case .success(let result) = outcome { #expect(result.replayed, "released again (\(context))") }
            if recorded, Self.uptime(from: at, to: now) < life {
                #expect(
                    (try? outcome.get())?.replayed == true,
                    "a release retried within its key's life is answered with its result (\(context))")
                replays += 1
            }
        }
    }

    // MARK: Checks

    /// After a billing run no idempotency record outlives its life: a settled one is dropped once it is a day of
    /// numberd's uptime old — measured as the service measures it (`idempotencyKeysExpired`: the downtimes its starts
    /// recorded left out), here by the test's own record of the outages. One still unsettled (a purchase open, a
    /// release requested) is kept until it settles.
    func checkKeyLifetimes(at now: Date) {
        let state = h.service.durableState()
        let life = TimeInterval(h.config.idempotency.ttlSeconds)
        for record in state.idempotency.values where !state.isUnsettled(record) {
            #expect(
                Self.uptime(from: record.createdAt, to: now) < life,
                "key \(record.key), recorded at \(record.createdAt), outlived its life (\(context))")
        }
    }

    /// What the service keeps in memory, besides its state, once nothing runs (every call answered, the periodic
    /// tasks done): each entry is a claim or a cache, and one left behind grows with every call and refuses later ones.
    func checkQuiet(openBefore: Set<String>) {
        let state = h.service.durableState()
        let local = h.service.local.withLock { $0 }
        // Claims of calls and passes, each handed back when its call ends: one left behind refuses the number's release
        // or trunk change, or answers a retry of the purchase "in progress", for good.
        #expect(
            local.liveIntents.isEmpty && local.liveReleases.isEmpty && local.withdrawableReleases.isEmpty,
            "\(context)")
        #expect(
            local.waitingReleases.isEmpty && local.releaseKeys.isEmpty && local.purchaseKeys.isEmpty, "\(context)")
        #expect(local.routing.isEmpty && local.unsettledRoutes.entries.isEmpty, "\(context)")
        #expect(
            local.trunksInFlight.isEmpty && local.trunkCreations.isEmpty && local.trunkCreationsTotal == 0, "\(context)"
        )
        #expect(local.searchesInFlight.isEmpty && local.searchesInFlightTotal == 0, "\(context)")
        #expect(!local.sweepingOrphans && !local.auditing, "\(context)")
        // Billing never meets a fault here (a burst ends before it runs): no grace release failed, none waits to retry.
        #expect(local.graceRetries.isEmpty && !local.graceProbe, "\(context)")
        // Bounded by the durable state: the last buys of the intents reconciliation found open (dropped by its next
        // claim once settled), and the numbers the sweep may still be releasing, all watched.
        #expect(Set(local.buysSent.keys).isSubset(of: openBefore), "\(context)")
        #expect(local.releasingOrphans.isSubset(of: Set(state.orphanWatch.keys)), "\(context)")
        // Caches: the one price every purchase asks for; no listing (no search went through the service).
        #expect(local.prices.count <= 1 && local.listings.count == 0, "\(context)")
        // Revoked API keys past `revokedApiKeysKeptMax` are purged.
        let active = state.apiKeys.values.count { $0.revokedAt == nil }
        #expect(state.apiKeys.count <= active + h.config.limits.revokedApiKeysKeptMax, "\(context)")
    }

    /// Counts what is open at the end of the step — idempotency records, orphan watches, open intents, pending
    /// releases: none of it is history (the ledger, released numbers), so none of it may grow with time.
    mutating func sample(at time: Date) {
        let levels = h.service.workLevels()
        let open =
            h.service.durableState().idempotency.count + levels.orphanWatches + levels.openPurchaseIntents
            + levels.pendingReleases
        samples.append(Sample(day: Int(time.timeIntervalSince(Self.start) / 86_400), open: open))
        #expect(open <= Self.openMax, "\(open) records, watches and items open (\(context))")
    }

    /// The invariants, the store agreeing with the service and the provider with both (``Harness/check``) — for the
    /// file store every fourth week, with its data directory replayed, and the state invariants alone in between —
    /// and the provider routing every number as recorded.
    func weeklyCheck(fully: Bool) async throws {
        if fully {
            try await h.check()
        } else {
            #expect(h.service.durableState().checkInvariants() == [], "\(context)")
            let decided = h.service.decisionState()
            #expect(decided.work.kept && decided.checkInvariants() == [], "\(context)")
        }
        checkProvider()
    }

    /// The provider routes each held number to the trunk numberd records for it, and holds exactly the trunks numberd
    /// made there: none a deletion left behind, none unrecorded.
    func checkProvider() {
        let state = h.service.durableState()
        for number in state.numbers.values where number.status != .released && number.releaseRequestedAt == nil {
            let recorded = number.trunkId.flatMap { state.trunks[$0]?.providerTrunkSid }
            #expect(
                h.provider.owned(number.phoneNumber)?.trunkSid == recorded,
                "\(number.phoneNumber) is routed elsewhere than recorded (\(context))")
        }
        let made = Set(state.trunks.values.filter { $0.providerManaged == true }.map(\.providerTrunkSid))
        #expect(h.provider.trunkSids == made, "the provider's trunks and numberd's differ (\(context))")
    }

    /// The grace probe's account is given exactly what its one number costs, which it buys: nothing is left for the
    /// renewal.
    mutating func buyGraceProbe() async throws {
        let phones = h.provider.stockFresh(1)
        _ = try await h.service.addFunds(accountId: graceProbe, amount: 1_000_000)
        let bought = try await h.service.purchase(
            PurchaseRequest(accountId: graceProbe, phoneNumbers: phones, country: "US"))
        askedAt[phones[0]] = h.clock.now()
        let left = try h.service.account(graceProbe).balance
        _ = try await h.service.adjustBalance(accountId: graceProbe, amount: -left, reason: "leave nothing to renew")
        #expect(bought.numbers.count == 1, "\(context)")
    }

    /// The end: the provider answering, everything open settled; then the checks of the whole run.
    mutating func finish() async throws {
        let end = Self.start.addingTimeInterval(TimeInterval(Self.days) * 86_400)
        h.clock.set(end)
        try await periodicTasks(faults: false)
        let levels = h.service.workLevels()
        #expect(levels.openPurchaseIntents == 0 && levels.pendingReleases == 0, "\(context)")
        try await h.check()
        checkProvider()
        let state = h.service.durableState()
        let modelled = checkRenewals(state, end: end)
        let graceReleased = checkGraceReleases(state)
        checkGrowth()
        // The run did what it is meant to exercise, or it proves little.
        #expect(modelled >= 20, "only \(modelled) numbers of funded accounts to check renewals by (\(context))")
        #expect(graceReleased > 0, "no number was released after its grace period (\(context))")
        let probe = state.numbers.values.filter { $0.accountId == graceProbe }
        let shown = probe.map {
            "\($0.status) pastDue=\(String(describing: $0.pastDueSince)) next=\($0.nextBillingDate) "
                + "by=\(String(describing: $0.releaseRequestedBy)) at=\(String(describing: $0.releaseRequestedAt))"
        }
        #expect(
            probe.count == 1 && probe.allSatisfy { $0.releaseRequestedBy == LedgerActor.gracePeriod },
            "the grace probe's number was not released after its grace period: \(shown) (\(context))")
        #expect(
            replays > 0 && lateRetries > 0,
            "retries: \(replays) replayed, \(lateRetries) past their key's life (\(context))")
    }

    /// Renewals per number against a model of its own: one per cycle begun (a billing date by Foundation's calendar,
    /// ``billingDates(from:through:)``) up to its release or the end, each dated no earlier than its cycle's start nor
    /// after the release, of the number's fee. Past-due numbers are renewed when (and if) their account pays, which
    /// the model does not follow: for the thin accounts' numbers only "never more renewals than cycles begun, never
    /// one early or after the release" is checked; for the funded accounts' numbers, which never go past due (checked
    /// too), exactly one renewal per cycle begun. Returns how many numbers the full model checked.
    func checkRenewals(_ state: CoreState, end: Date) -> Int {
        let renewals = Dictionary(grouping: state.transactions.values.joined().filter { $0.kind == .renewal }) {
            $0.numberId ?? ""
        }
        var modelled = 0
        for number in state.numbers.values {
            guard let asked = askedAt[number.phoneNumber] else {
                Issue.record("\(number.phoneNumber) is in the state but was never asked for (\(context))")
                continue
            }
            // Its first cycle begins when the purchase was asked for (its intent opened), also when reconciliation
            // committed it later.
            #expect(number.purchasedAt == asked, "\(number.phoneNumber) (\(context))")
            let until = number.releasedAt ?? end
            let due = Self.billingDates(from: asked, through: until)
            let paid = (renewals[number.id] ?? []).sorted { $0.createdAt < $1.createdAt }
            #expect(paid.count <= due.count, "\(number.phoneNumber): \(paid.count) renewals, \(due.count) cycles")
            for (renewal, date) in zip(paid, due) {
                #expect(
                    renewal.createdAt >= date && renewal.createdAt <= until && renewal.amount == -number.monthlyFee,
                    "\(number.phoneNumber): renewal at \(renewal.createdAt) for the cycle of \(date) (\(context))")
            }
            guard funded.contains(number.accountId) else { continue }
            modelled += 1
            #expect(number.pastDueSince == nil, "\(number.phoneNumber) of a funded account went past due")
            #expect(
                paid.count == due.count,
                "\(number.phoneNumber), bought \(asked): \(paid.count) renewals for \(due.count) cycles (\(context))")
        }
        return modelled
    }

    /// Each grace release came after the grace period of numberd's uptime since the number's past-due mark — the
    /// outages left out, the 40-day one included — and at the first billing run after it (the runs come every 6 hours
    /// of uptime). Returns how many there were.
    func checkGraceReleases(_ state: CoreState) -> Int {
        let grace = TimeInterval(h.config.billing.gracePeriodSeconds)
        var released = 0
        for number in state.numbers.values where number.releaseRequestedBy == LedgerActor.gracePeriod {
            released += 1
            #expect(
                thin.contains(number.accountId) || number.accountId == graceProbe,
                "\(number.phoneNumber) of a funded account released past due")
            guard let since = number.pastDueSince, let releasedAt = number.releasedAt else {
                Issue.record("\(number.phoneNumber): a grace release without its mark or release time (\(context))")
                continue
            }
            let up = Self.uptime(from: since, to: releasedAt)
            #expect(
                up >= grace && up <= grace + Self.stepSeconds,
                "\(number.phoneNumber), past due since \(since), released at \(releasedAt) after \(up) s up")
        }
        return released
    }

    /// What is open stays bounded from the second month to the twelfth: a leak (records never expired, watches never
    /// ended) grows with every month — by the twelfth, hundreds on average for one a day —, where the keys and watches
    /// of the last day do not. Means, not maxima: a month's busiest step is chance.
    func checkGrowth() {
        func mean(_ days: Range<Int>) -> Double {
            let open = samples.filter { days.contains($0.day) }.map(\.open)
            return Double(open.reduce(0, +)) / Double(max(1, open.count))
        }
        let (second, twelfth) = (mean(30..<60), mean(330..<360))
        #expect(
            twelfth <= 2 * second + 2, "open: \(second) on average in month 2, \(twelfth) in month 12 (seed \(seed))")
    }
}
