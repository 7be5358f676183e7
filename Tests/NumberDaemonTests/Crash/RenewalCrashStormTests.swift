import Foundation
import NIOCore
import NumberAPI
import NumberClient
import NumberCore
import Synchronization
import TestSupport
import Testing
import TwilioSimulator

/// Renewals under SIGKILL: numberd as a child process whose wall clock libfaketime sets weeks back (``FakedClock``),
/// so that billing dates pass within a test run. Its starts on a clock 65 to 47 days back buy numbers for four accounts
/// and stop cleanly; then a storm of starts, each on a clock a little further on up to the real one, is SIGKILLed at
/// random moments — during the start, its billing run (each start bills what came due since the last), or the crash
/// storm's purchases, releases and credits — and after every kill the data directory is checked offline: the clients'
/// model, and every number's renewals against the billing calendar. At the end numberd runs on the real clock until
/// billing is caught up: every cycle begun paid once where the balance allowed it, never where it did not.
///
/// `NUMBERD_RENEWAL_CRASH_CYCLES` (default 16) sets the kill cycles, `NUMBERD_CRASH_SEED` the seed and
/// `NUMBERD_RENEWAL_CHAOS_FAULTS` provider faults during the storm's starts (comma-separated `twilio-sim --fault` specs,
/// as `ChaosStormTests`' `NUMBERD_CHAOS_FAULTS`). Needs the Debian package `faketime`.
@Suite("numberd renewal crash storm (child process, clock set back, SIGKILL)", .serialized)
struct RenewalCrashStormTests {
    /// Runs the storm `name` (its cycles from `NUMBERD_RENEWAL_CRASH_CYCLES`, default 16; its seed, printed), with
    /// `faults` and those of `NUMBERD_RENEWAL_CHAOS_FAULTS`, `adjust` changing the rest of the plan; expects no
    /// problem and every cycle run, and returns the report and the seed for the test's own expectations.
    static func storm(
        _ name: String, faults: [String] = [], _ adjust: (inout RenewalCrashStorm.Plan) -> Void = { _ in }
    ) async throws -> (report: RenewalCrashStorm.Report, seed: UInt64) {
        let (cycles, seed) = CrashStorm.runSettings(name, cyclesVariable: "NUMBERD_RENEWAL_CRASH_CYCLES", cycles: 16)
        var plan = RenewalCrashStorm.Plan(cycles: cycles, seed: seed)
        plan.faults =
            faults
            + (ProcessInfo.processInfo.environment["NUMBERD_RENEWAL_CHAOS_FAULTS"] ?? "").split(separator: ",").map {
                String($0)
            }
        adjust(&plan)
        let report = try await RenewalCrashStorm(plan: plan).run()
        print("\(name), seed \(seed): \(report)")
        let problems = report.storm.problems
        #expect(problems.isEmpty, "seed \(seed): \(problems.prefix(20).joined(separator: "\n"))")
        #expect(report.storm.cycles == cycles, "seed \(seed)")
        return (report, seed)
    }

    @Test("renewals due at numberd's starts survive random SIGKILLs: each cycle paid once, never without the money")
    func renewalsSurviveKills() async throws {
        let (report, seed) = try await Self.storm("renewal crash storm")
        // The kills must land on both sides of the starts' billing, or the run proves nothing: some before a start had
        // billed what was due at it (a later start billed it, once), some after (what a killed numberd renewed was
        // kept, and not renewed again).
        #expect(report.killsBeforeBilling > 0, "seed \(seed): no kill landed before a start's billing: \(report)")
        #expect(report.killsAfterBilling > 0, "seed \(seed): no start's billing ended before its kill: \(report)")
        #expect(report.renewalsAfterKills > 0, "seed \(seed): killed numberd children renewed nothing: \(report)")
        #expect(report.stormOperations > 0, "seed \(seed): the storm's clients did nothing: \(report)")
    }

    @Test(
        "grace releases at numberd's starts survive SIGKILLs and failed DELETEs: each released once, nothing left at Twilio"
    )
    func graceReleasesSurviveKills() async throws {
        // The grace releases' DELETEs failing before and after Twilio acted, and answers lost: the release is retried
        // or settled by reconciliation, never recorded without Twilio's word.
        let faults = ["releaseNumber:503-after:0.1", "releaseNumber:lost:0.05", "releaseNumber:500-before:0.1"]
        let (report, seed) = try await Self.storm("grace release crash storm", faults: faults) { plan in
            // None: a number marked past due is released by the next billing run — its own start's next (every
            // second), or the next start's first, around which the kills are aimed. (A grace period of running time
            // outlasts the storm's starts: a killed start's time after its last record counts as downtime.)
            plan.gracePeriodSeconds = 0
        }
        #expect(report.graceReleasesAfterKills > 0, "seed \(seed): killed numberd children released nothing: \(report)")
        #expect(report.faultsMet > 0, "seed \(seed): no provider fault fired: \(report)")
    }
}

/// The renewal crash storm: aging (starts on a clock set back, stopped cleanly), the storm (starts on a clock moving
/// up to the real one, each SIGKILLed), the end (a start on the real clock until billing is caught up, stopped
/// cleanly). Reuses the crash storm's workers, model and offline checks (``CrashStorm``, ``AccountModel``).
struct RenewalCrashStorm {
    /// How the storm runs.
    struct Plan: Sendable {
        var cycles: Int
        var seed: UInt64
        /// The aging starts, days before now, each buying numbers for every account. A number's first billing date is
        /// 27 to 31 days after its purchase (the anchor day of the next month at 00:00 UTC, clamped), its second 55 to
        /// 62: so no billing date comes before the last aging start (billing begins with the storm), every first one
        /// (by 16 days back) comes before any second one (from 10 days back), and the numbers bought 65 days back have
        /// exactly 2 cycles begun by now (the third is 18 days ahead at least), the others 1 or 2 (the calendar
        /// decides: ``RenewalCrashStorm/cyclesDue(_:by:)``).
        var agingDays = [65, 59, 53, 47]
        /// Numbers an aging start buys for a funded account (one purchase: at most 20), and for each of the others.
        var fundedPerStart = 20
        var poorPerStart = 10
        /// Numbers each funded account releases at the last aging start.
        var releasedWhileAging = 2
        /// Days before now of the storm's first start; its later starts move evenly up to the real clock, each billing
        /// the cycles begun since the one before (the numbers of the aging starts reach their billing dates during the
        /// storm, and so do the ones its clients buy in its first weeks).
        var stormStartDays = 38
        /// The kill comes at a random time from the spawn up to the previous start's time to listen plus this: on even
        /// cycles a short margin, aimed at the start and its billing run (which begins as it listens and takes
        /// milliseconds), on odd ones a longer one, in which the clients' purchases, releases and credits flow.
        var aimedKillMilliseconds = 250
        var loadKillMilliseconds = 1_500
        /// Every this many cycles (and after the last) the full offline verification; the others replay and check the
        /// invariants (``CrashStorm/offlineState(_:full:into:context:)``).
        var fullVerificationEvery = 5
        /// How long the last start may take to catch billing up.
        var catchUpSeconds = 60
        /// Provider faults (`twilio-sim --fault` specs) active during the storm's starts (not the aging, not the end).
        var faults: [String] = []
        /// numberd's grace period (`NUMBERD_GRACE_PERIOD`), seconds of its running time; nil: the default 7 days,
        /// which no run reaches. Short, the numbers the one-renewal and spent accounts cannot pay are released by it
        /// during the storm's starts, which the kills cut into, and the end expects every one of them released.
        var gracePeriodSeconds: Int?
    }

    /// What the storm did.
    struct Report: Sendable, CustomStringConvertible {
        /// Cycles, operations, restart times and problems, as the crash storm counts them.
        var storm = CrashStorm.Report()
        /// Kills after which a number due at that start was still unbilled (a later start billed it).
        var killsBeforeBilling = 0
        /// Kills after the start had billed every number due at it.
        var killsAfterBilling = 0
        /// Renewals in the data directory after the last kill: made by numberd children that were then killed.
        var renewalsAfterKills = 0
        /// Renewals at the end.
        var renewals = 0
        /// Operations the storm's clients finished (whatever they heard).
        var stormOperations = 0
        /// Numbers bought by the aging starts, and by anyone (not released at the end).
        var numbersAged = 0
        var numbersHeld = 0
        /// The one-renewal account's numbers by cycles paid.
        var oneRenewalPaid: [Int: Int] = [:]
        /// Requests the provider faults met (``Plan/faults``).
        var faultsMet = 0
        /// Numbers the grace period released: in the data directory after the last kill (by killed numberd
        /// children), and at the end; and grace releases a kill left requested but not recorded, summed over the kills.
        var graceReleasesAfterKills = 0
        var graceReleases = 0
        var graceReleasesOpenAtKills = 0

        var description: String {
            let paid = oneRenewalPaid.keys.sorted().map { "\($0): \(oneRenewalPaid[$0] ?? 0)" }.joined(separator: ", ")
            return "\(storm.cycles) kill cycles in \(String(format: "%.1f", storm.elapsedSeconds)) s: "
                + "\(killsBeforeBilling) kills before a start's billing, \(killsAfterBilling) after; "
                + "\(renewalsAfterKills) renewals after the last kill, \(renewals) at the end; "
                + "\(numbersAged) numbers aged, \(numbersHeld) held at the end; "
                + "one-renewal account's numbers by cycles paid [\(paid)]; \(graceReleasesAfterKills) grace releases "
                + "after the last kill (\(graceReleasesOpenAtKills) open at the kills summed), \(graceReleases) at the "
                + "end; \(faultsMet) provider faults met; "
                + "\(stormOperations) storm operations; \(storm.acknowledged) acknowledged, \(storm.refused) refused, "
                + "\(storm.maybe) unanswered operations in all; "
                + "restart p50 \(String(format: "%.0f", percentile(storm.restartMilliseconds, 50))) ms, "
                + "max \(String(format: "%.0f", storm.restartMilliseconds.max() ?? 0)) ms; "
                + "\(storm.problems.count) problems"
        }
    }

    /// An account of the storm and what its balance is for.
    struct StormAccount: Sendable {
        enum Role: String, Sendable {
            /// Funded for every renewal; its client runs the crash storm's workers during the storm.
            case funded
            /// After its purchases, funded for exactly one monthly fee per number.
            case oneRenewal = "one renewal"
            /// Nothing left after its purchases.
            case spent
        }

        var role: Role
        var model: AccountModel
    }

    /// One storm client: an account's model, its key's client, and its seed for the cycle.
    struct Worker: Sendable {
        var model: AccountModel
        var own: NumbersClientConfiguration
        var seed: UInt64
    }

    let plan: Plan

    /// Runs the storm in a fresh temporary directory (removed afterwards).
    func run() async throws -> Report {
        // Before anything: without libfaketime, or a C compiler for the timer pass-through, the run fails at once.
        _ = try FakedClock.library()
        _ = try FakedClock.timerPassthrough.get()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-renewal-crash-\(UUID())").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let clock = ShiftedClock()
        // Twilio's clock is set back with numberd's: a number's creation date after numberd's time makes reconciliation
        // take it for someone else's later purchase (`NumberService.latestBuy(of:)`), and the orphan sweep too
        // (`latestCreation(ofBuySentBy:)`), so a purchase a kill left open would be voided, its numbers left bought at
        // Twilio with no owner. Its certificates are valid from before the earliest start, which checks them by its
        // clock.
        let earliest = Int64((plan.agingDays.max() ?? 0) + 5) * 86_400
        let simulator = try await startExternalSimulator(
            directory: root, validFromSecondsAgo: earliest, clock: { clock.now() })
        do {
            let report = try await run(root: root, simulator: simulator, clock: clock)
            try await simulator.shutdown()
            return report
        } catch {
            try? await simulator.shutdown()
            throw error
        }
    }

    private func run(root: String, simulator: TwilioSimulator, clock: ShiftedClock) async throws -> Report {
        let started = ContinuousClock.now
        var random = SplitMix64(seed: plan.seed)
        var report = Report()
        var launch = NumberdChild.Launch(
            dataDirectory: root + "/data", port: try freeLoopbackPort(), simulatorURL: simulator.baseURL,
            simulatorCA: simulator.caPEMPath!, credentials: simulator.credentials,
            environment: [
                // As the crash storm: kills land during snapshot writes too.
                "NUMBERD_SNAPSHOT_INTERVAL": "1",
                // A billing run every second besides the start's (default 60 s): the last start catches up promptly.
                "NUMBERD_BILLING_INTERVAL": "1",
                // Every start's clock is days or weeks past the data's latest record, which numberd refuses past 31
                // days unless told (`--clock-lead-max`).
                "NUMBERD_CLOCK_LEAD_MAX": "10000000",
            ])
        if let grace = plan.gracePeriodSeconds { launch.environment["NUMBERD_GRACE_PERIOD"] = String(grace) }
        // Warnings too (a provider call that failed or was retried): a failure's message ends with the log's tail.
        launch.logLevel = "warning"
        // What numberd counted (calls answered, Twilio requests, open intents, connections) goes into an aging
        // failure's message too: a call that ran out its deadline there once left no line in the log.
        launch.metricsListen = "127.0.0.1:\(try freeLoopbackPort())"
        let phones = PhonePool(simulator: simulator)

        // Aging: no kill, no fault. A purchase left open here would be reconciled at a later start by a clock days
        // ahead of its buys, which is not what this test is about; every call must succeed.
        let aged = try await age(launch, clock: clock, phones: phones)
        let accounts = aged.accounts
        var state = try await CrashStorm.offlineState(launch.dataDirectory, into: &report.storm, context: "aged")
        check(state, accounts, charge: aged.charge, at: clock.now(), settled: false, into: &report, context: "aged")
        for account in accounts where account.role != .funded {
            let balance = state.accounts[account.model.accountId]?.balance
            let held = state.accountNumbers[account.model.accountId]?.count ?? 0
            let expected = account.role == .oneRenewal ? Int64(held) * aged.fee : 0
            if balance != expected {
                report.storm.problems.append(
                    "aged: \(account.role.rawValue) account has \(String(describing: balance)), not \(expected)")
            }
        }
        report.numbersAged = state.numbers.count

        // The storm: each start on a clock further on, SIGKILLed at random; the funded accounts' clients load it.
        let funded = accounts.filter { $0.role == .funded }.map(\.model)
        let admin = try launch.adminClient()
        var readyMilliseconds = aged.readyMilliseconds
        var owedStarts = 0
        for cycle in 0..<plan.cycles {
            let offset = stormOffset(cycle)
            clock.set(offsetSeconds: offset)
            var shifted = launch
            shifted.clockOffsetSeconds = offset
            let margin = cycle % 2 == 0 ? plan.aimedKillMilliseconds : plan.loadKillMilliseconds
            var killAfter = Int(random.next() % UInt64(max(Int(readyMilliseconds) + margin, 1)))
            let workers = funded.map { Worker(model: $0, own: launch.client($0.key), seed: random.next()) }
            // What the start owes: every number whose billing date has passed by its time.
            let startTime = clock.now()
            let owedBefore = Self.owed(state, by: startTime)
            if owedBefore > 0 {
                // Renewals are due at only a few starts (the aged numbers' billing dates fall on a few days): at those
                // the kill is aimed within the first half of the last start's time to listen — before its billing run,
                // which follows the listener's bind — or past twice that, when the run is over: first at whichever
                // has not landed yet, then in turn. Drawn over the whole start, both could miss on a loaded machine
                // (a CI run did, with no kill before); a start slower than the last may still turn one into the other.
                let ready = max(Int(readyMilliseconds), 2)
                let before =
                    report.killsBeforeBilling == 0 ? true : report.killsAfterBilling == 0 ? false : owedStarts % 2 == 0
                killAfter =
                    before
                    ? Int(random.next() % UInt64(ready / 2))
                    : 2 * ready + Int(random.next() % UInt64(max(margin, 1)))
                owedStarts += 1
            }
            let faults = try StormFaults(plan.faults)
            faults.install(on: simulator)
            let child = try NumberdChild.spawn(shifted)
            let (ready, operations) = try await Self.loadUntilKilled(
                child, port: launch.port, killAfter: killAfter, workers: workers, admin: admin, phones: phones,
                cycle: cycle)
            report.faultsMet += faults.remove(from: simulator)
            report.stormOperations += operations
            guard child.killedBySignal else {
                throw HarnessError(
                    "cycle \(cycle): numberd on a clock \(-offset / 86_400) days back ended before its kill; its log "
                        + "ends:\n" + launch.logTail())
            }
            if let ready {
                readyMilliseconds = ready
                report.storm.restartMilliseconds.append(ready)
            }
            report.storm.cycles += 1
            let full = (cycle + 1) % max(plan.fullVerificationEvery, 1) == 0 || cycle + 1 == plan.cycles
            state = try await CrashStorm.offlineState(
                launch.dataDirectory, full: full, into: &report.storm, context: "cycle \(cycle)")
            check(
                state, accounts, charge: aged.charge, at: clock.now(), settled: false, into: &report,
                context: "cycle \(cycle)")
            let owedAfter = Self.owed(state, by: startTime)
            if owedAfter > 0 {
                report.killsBeforeBilling += 1
            } else if owedBefore > 0 {
                report.killsAfterBilling += 1
            }
            report.renewalsAfterKills = Self.renewals(in: state)
            report.graceReleasesAfterKills = Self.graceReleases(in: state)
            report.graceReleasesOpenAtKills += state.numbers.values.count {
                $0.releaseRequestedBy == .gracePeriod && $0.status != .released
            }
            guard report.storm.problems.isEmpty else { break }
        }
        // The first problems, as they were found (the end would add more, or stop on them).
        guard report.storm.problems.isEmpty else { return report }

        // The end, on the real clock: what the last kill left open is settled as the crash storm settles it, then
        // numberd runs until billing is caught up and stops cleanly.
        clock.set(offsetSeconds: 0)
        let settled = try await reconcileOffline(dataDirectory: launch.dataDirectory, simulator: simulator)
        if !settled.intents.isEmpty {
            report.storm.problems.append("open intents after reconciliation: \(settled.intents.count)")
        }
        let last = try await NumberdChild.start(launch)
        let grace = plan.gracePeriodSeconds != nil
        let caughtUp = try await Self.waitUntilBilled(
            accounts, admin: admin, seconds: plan.catchUpSeconds, released: grace)
        if !caughtUp {
            report.storm.problems.append(
                "billing not caught up within \(plan.catchUpSeconds) s on the real clock"
                    + (grace ? " (or a number the grace period must release not released)" : ""))
        }
        let ending = await last.stop()
        if ending != .exited(0) {
            report.storm.problems.append("the last numberd did not stop cleanly: \(String(describing: ending))")
        }
        let end = Date()
        state = try await CrashStorm.offlineState(launch.dataDirectory, into: &report.storm, context: "final")
        if !state.intents.isEmpty { report.storm.problems.append("final: \(state.intents.count) intents open") }
        check(state, accounts, charge: aged.charge, at: end, settled: true, into: &report, context: "final")
        checkEnd(state, accounts, at: end, grace: grace, into: &report)
        report.storm.problems += providerProblems(state, simulator: simulator).map { "final: \($0)" }
        let verify = try await runNumberdVerify(dataDirectory: launch.dataDirectory)
        if verify.status != 0 { report.storm.problems.append("numberd verify failed: \(verify.output)") }
        for account in accounts {
            for (heard, count) in account.model.counts() {
                switch heard {
                case .acknowledged: report.storm.acknowledged += count
                case .refused: report.storm.refused += count
                case .maybe: report.storm.maybe += count
                }
            }
        }
        report.renewals = Self.renewals(in: state)
        report.graceReleases = Self.graceReleases(in: state)
        report.numbersHeld = state.numbers.values.count { $0.status != .released }
        let elapsed = ContinuousClock.now - started
        report.storm.elapsedSeconds =
            Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return report
    }

    /// The storm's clock offset at `cycle`, in seconds: from ``Plan/stormStartDays`` back, evenly up to the real clock
    /// at the last cycle (never back: numberd holds its time at the data's latest record).
    func stormOffset(_ cycle: Int) -> Int {
        let first = -plan.stormStartDays * 86_400
        guard plan.cycles > 1 else { return 0 }
        return first - first * cycle / (plan.cycles - 1)
    }

    /// What aging made: the accounts, the price of a number (setup fee and first month) and its monthly fee, and how
    /// long the last aging start took to listen.
    struct Aged {
        var accounts: [StormAccount]
        var charge: Int64
        var fee: Int64
        var readyMilliseconds: Double
    }

    /// Starts numberd on a clock ``Plan/agingDays`` back, one start each, and stops it cleanly: the first makes the
    /// accounts and funds them; each buys numbers for every account; the last releases a few of the funded accounts'.
    private func age(_ launch: NumberdChild.Launch, clock: ShiftedClock, phones: PhonePool) async throws -> Aged {
        let roles: [StormAccount.Role] = [.funded, .funded, .oneRenewal, .spent]
        var aged = Aged(accounts: [], charge: 0, fee: 0, readyMilliseconds: 0)
        for (index, days) in plan.agingDays.sorted(by: >).enumerated() {
            let offset = -days * 86_400
            clock.set(offsetSeconds: offset)
            var shifted = launch
            shifted.clockOffsetSeconds = offset
            let child = try await NumberdChild.start(shifted)
            aged.readyMilliseconds = child.readyMilliseconds
            do {
                if index == 0 {
                    let opened = try await Self.open(
                        roles, poorNumbers: plan.agingDays.count * plan.poorPerStart,
                        admin: Self.setupClient(launch, try launch.adminKey()))
                    (aged.accounts, aged.charge, aged.fee) = (opened.accounts, opened.charge, opened.fee)
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for account in aged.accounts {
                        let count = account.role == .funded ? plan.fundedPerStart : plan.poorPerStart
                        let configuration = Self.setupClient(launch, account.model.key)
                        group.addTask { try await Self.buy(count, for: account.model, configuration, phones: phones) }
                    }
                    try await group.waitForAll()
                }
                if index == plan.agingDays.count - 1 {
                    for account in aged.accounts where account.role == .funded {
                        try await withNumbersClient(Self.setupClient(launch, account.model.key)) { client in
                            for _ in 0..<plan.releasedWhileAging {
                                // The oldest: bought 65 days back, weeks before its first billing date.
                                guard let numberId = account.model.takeReleasable({ _ in 0 }) else { break }
                                let released = try await client.releaseNumber(
                                    ReleaseNumberRequest(accountId: account.model.accountId, numberId: numberId))
                                let refund = released.transaction?.amount ?? 0
                                account.model.record(
                                    AccountModel.Release(numberId: numberId, heard: .acknowledged, refund: refund))
                            }
                        }
                    }
                }
            } catch {
                // Which start, what numberd counted and what it logged (the log goes with the directory the test
                // removes). Read 5 s after the failure: a call this client gave up on at its deadline has passed
                // numberd's deadline too by then (counted later, from the request's arrival), so the metrics tell
                // where it stopped — DEADLINE_EXCEEDED in `numberd_calls_total` with the call still in
                // `numberd_calls_in_flight`: its work never ended; counted but not in flight: its handler never ran
                // or ended only past the deadline; not counted at all: the request never reached numberd's calls.
                try? await Task.sleep(for: .seconds(5))
                let metrics = await Self.metricsSummary(launch)
                throw HarnessError(
                    "aging, numberd on a clock \(days) days back: \(error); its metrics:\n\(metrics)\nits log ends:\n"
                        + launch.logTail())
            }
            let ending = await child.stop()
            guard ending == .exited(0) else {
                throw HarnessError(
                    "numberd on a clock \(days) days back did not stop cleanly (\(String(describing: ending))); its "
                        + "log ends:\n" + launch.logTail())
            }
        }
        return aged
    }

    /// The lines of `launch`'s numberd's metrics (its `--metrics-listen`) that say what it was doing: calls by method
    /// and code, Twilio requests, open purchase intents and pending releases, connections; or why they could not be
    /// read.
    static func metricsSummary(_ launch: NumberdChild.Launch) async -> String {
        do {
            let kept = [
                "numberd_calls_total", "numberd_calls_in_flight", "numberd_twilio_calls_total",
                "numberd_twilio_calls_in_flight", "numberd_twilio_retries_total",
                "numberd_open_purchase_intents", "numberd_pending_releases", "numberd_connections",
                "numberd_store_commits_total",
            ]
            return try await launch.metrics().split(separator: "\n").filter { line in
                kept.contains { line.hasPrefix($0) }
            }
            .joined(separator: "\n")
        } catch {
            return "(metrics not read: \(error))"
        }
    }

    /// Makes an account for each of `roles` with a key of its own, and funds it: a funded one for far more than the
    /// storm spends, the one-renewal one for its `poorNumbers` numbers and one monthly fee each, the spent one for its
    /// numbers only (it buys them only while aging, so its balance is exact). The accounts, the price of a number
    /// (setup fee and first month) and its monthly fee.
    private static func open(
        _ roles: [StormAccount.Role], poorNumbers: Int, admin configuration: NumbersClientConfiguration
    ) async throws -> (accounts: [StormAccount], charge: Int64, fee: Int64) {
        try await withNumbersClient(configuration) { admin in
            var accounts: [StormAccount] = []
            for (index, role) in roles.enumerated() {
                let account = try await admin.createAccount(
                    CreateAccountRequest(name: "renewal \(index) (\(role.rawValue))", currency: "USD")
                )
                .account
                let key = try await admin.createApiKey(
                    CreateApiKeyRequest(accountId: account.id, scope: .account, name: "renewal \(index)"))
                accounts.append(StormAccount(role: role, model: AccountModel(accountId: account.id, key: key.secret)))
            }
            let listing = try await admin.searchNumbers(
                SearchNumbersRequest(accountId: accounts[0].model.accountId, country: "US", limit: 1))
            guard let pricing = listing.numbers.first?.pricing else { throw HarnessError("the search found nothing") }
            let charge = pricing.setupFee + pricing.monthlyFee
            for (index, account) in accounts.enumerated() {
                let amount: Int64 =
                    switch account.role {
                    case .funded: 50_000_000
                    case .oneRenewal: Int64(poorNumbers) * (charge + pricing.monthlyFee)
                    case .spent: Int64(poorNumbers) * charge
                    }
                let key = "initial-\(index)"
                _ = try await admin.addFunds(
                    AddFundsRequest(accountId: account.model.accountId, amount: amount, currency: "USD"),
                    options: CallOptions(idempotencyKey: key))
                account.model.record(AccountModel.Funds(key: key, amount: amount, heard: .acknowledged))
            }
            return (accounts, charge, pricing.monthlyFee)
        }
    }

    /// A client of `launch`'s numberd with `key` for aging, which is not under test: it retries what the client
    /// library retries by default (calls that never started, keyed ones), as the saga crash tests' set-up does.
    private static func setupClient(_ launch: NumberdChild.Launch, _ key: String) -> NumbersClientConfiguration {
        var configuration = launch.client(key)
        configuration.retry = NumbersClientConfiguration.RetryPolicy()
        return configuration
    }

    /// Buys `count` fresh numbers for `model`'s account in purchases of at most 20, each of which must succeed.
    private static func buy(
        _ count: Int, for model: AccountModel, _ configuration: NumbersClientConfiguration, phones: PhonePool
    ) async throws {
        try await withNumbersClient(configuration) { client in
            var left = count
            while left > 0 {
                let wanted = phones.take(min(left, 20))
                guard !wanted.isEmpty else { throw HarnessError("the simulator has no numbers left to buy") }
                // The launch's 300 s a call: four accounts' purchases of 20 at once, each number a buy at the simulator
                // in the loaded test process, ran out a 60 s deadline in a clean-clone CI run.
                let bought = try await client.purchaseNumbers(
                    PurchaseNumbersRequest(accountId: model.accountId, country: "US", numbers: wanted, currency: "USD"))
                model.record(
                    AccountModel.Purchase(
                        phones: wanted, heard: .acknowledged, numberIds: bought.numbers.map(\.number.id),
                        charged: bought.totalCharged))
                left -= wanted.count
            }
        }
    }

    /// Loads `child`, just spawned, until `killAfter` milliseconds after now, then SIGKILLs it: once it listens (if the
    /// kill has not come first), `workers` run the crash storm's loop (purchases, releases, credits and corrections).
    /// The milliseconds until it listened (nil if the kill came first) and the operations the workers finished.
    private static func loadUntilKilled(
        _ child: NumberdChild, port: Int, killAfter: Int, workers: [Worker], admin: NumbersClientConfiguration,
        phones: PhonePool, cycle: Int
    ) async throws -> (ready: Double?, operations: Int) {
        let flags = StormFlags()
        let spawned = ContinuousClock.now
        let ready: Double? = try await withThrowingTaskGroup(of: Double?.self) { group in
            group.addTask {
                while !acceptsConnections(port: port) {
                    guard !flags.stop.load(ordering: .relaxed), child.process.isRunning else { return nil }
                    try await Task.sleep(for: .milliseconds(5))
                }
                let elapsed = ContinuousClock.now - spawned
                let milliseconds =
                    Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
                try await withThrowingTaskGroup(of: Void.self) { load in
                    for worker in workers {
                        load.addTask {
                            try await CrashStorm.worker(
                                model: worker.model, admin: admin, own: worker.own, phones: phones, seed: worker.seed,
                                cycle: cycle, flags: flags)
                        }
                    }
                    try await load.waitForAll()
                }
                return milliseconds
            }
            try await Task.sleep(until: spawned + .milliseconds(killAfter), clock: .continuous)
            flags.stop.store(true, ordering: .relaxed)
            await child.crash()
            var listened: Double?
            for try await result in group { listened = result ?? listened }
            return listened
        }
        return (ready, flags.operations.load(ordering: .relaxed))
    }

    /// Polls the accounts' numbers through the admin API until none is active with its billing date passed (every
    /// cycle begun renewed, or the number marked past due) — and, when `released`, none past due or releasing either
    /// (a short grace period released them) —, at most `seconds`; whether it got there.
    private static func waitUntilBilled(
        _ accounts: [StormAccount], admin: NumbersClientConfiguration, seconds: Int, released: Bool
    ) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        return try await withNumbersClient(admin) { client in
            while ContinuousClock.now < deadline {
                var due = 0
                for account in accounts {
                    var token = ""
                    repeat {
                        let page = try await client.listNumbers(
                            ListNumbersRequest(accountId: account.model.accountId, pageSize: 500, pageToken: token))
                        let now = Date()
                        due += page.numbers.count {
                            $0.status == .active ? $0.nextBillingDate <= now : released
                        }
                        token = page.nextPageToken
                    } while !token.isEmpty
                }
                if due == 0 { return true }
                try await Task.sleep(for: .milliseconds(200))
            }
            return false
        }
    }

    /// The checks after every kill and at the end: the clients' model of every account (renewals allowed: the model
    /// does not foresee them), and the renewals against the calendar as of `time` (at or after numberd's clock).
    private func check(
        _ state: CoreState, _ accounts: [StormAccount], charge: Int64, at time: Date, settled: Bool,
        into report: inout Report, context: String
    ) {
        for account in accounts {
            report.storm.problems += account.model.check(state, charge: charge, settled: settled, billed: true)
                .map { "\(context): \($0)" }
        }
        report.storm.problems += Self.renewalProblems(state, at: time).map { "\(context): \($0)" }
    }

    /// What the end must show, on top of ``renewalProblems(_:at:)``: every number a funded account holds paid each
    /// cycle begun by `time` and is active; the one-renewal account paid exactly one fee per number in all (the billing
    /// rules pay the cycles oldest billing date first, each while the balance can pay the whole fee, never a part), is
    /// at zero, and its numbers that owe a cycle are past due; the spent account paid nothing, is at zero, and all its
    /// numbers are past due. (Neither is released: the grace period counts numberd's running time only.) With a short
    /// grace period (`grace`), the numbers that would be past due are released instead, by it, with no refund: the
    /// one-renewal account paid one fee for each number it had, the spent account holds none.
    private func checkEnd(
        _ state: CoreState, _ accounts: [StormAccount], at time: Date, grace: Bool, into report: inout Report
    ) {
        for account in accounts {
            let id = account.model.accountId
            let context = "final: \(id) (\(account.role.rawValue))"
            func fail(_ text: String) { report.storm.problems.append("\(context): \(text)") }
            let paid = Dictionary(
                grouping: (state.transactions[id] ?? []).filter { $0.kind == .renewal }, by: { $0.numberId ?? "" })
            let numbers = (state.accountNumbers[id] ?? []).compactMap { state.numbers[$0] }
            let held = numbers.filter { $0.status != .released }
            let byGrace = numbers.filter { $0.status == .released && $0.releaseRequestedBy == .gracePeriod }
            let balance = state.accounts[id]?.balance ?? 0
            // A grace release owed a cycle when it was asked for, and refunds nothing.
            for number in byGrace {
                let count = paid[number.id]?.count ?? 0
                let due = Self.cyclesDue(number, by: number.releaseRequestedAt ?? time)
                if !grace || account.role == .funded || count >= due || number.refundTransactionId != nil {
                    fail(
                        "number \(number.id) released by the grace period, paid \(count) of the \(due) cycles begun, "
                            + "refund \(number.refundTransactionId ?? "none")")
                }
            }
            switch account.role {
            case .funded:
                for number in held {
                    let count = paid[number.id]?.count ?? 0
                    let due = Self.cyclesDue(number, by: time)
                    if count != due || number.status != .active {
                        fail("number \(number.id) paid \(count) of the \(due) cycles begun, \(number.status)")
                    }
                }
            case .oneRenewal:
                if held.count + byGrace.count != numbers.count {
                    fail("\(numbers.count - held.count - byGrace.count) numbers released, not by the grace period")
                }
                let total = paid.values.reduce(0) { $0 + $1.count }
                if total != numbers.count { fail("\(total) renewals of \(numbers.count) numbers funded for one each") }
                if balance != 0 { fail("balance \(balance) left") }
                for number in numbers {
                    let count = paid[number.id]?.count ?? 0
                    report.oneRenewalPaid[count, default: 0] += 1
                    guard number.status != .released else { continue }
                    let owing = count < Self.cyclesDue(number, by: time)
                    // Owing, it is past due — or, with a short grace period, released by it.
                    if owing != (number.status == .pastDue) || (grace && owing) {
                        fail("number \(number.id) paid \(count) cycle(s) and is \(number.status)")
                    }
                }
            case .spent:
                if !paid.isEmpty { fail("\(paid.count) numbers renewed with nothing to pay with") }
                if balance != 0 { fail("balance \(balance)") }
                if byGrace.count != (grace ? numbers.count : 0) {
                    fail("\(byGrace.count) of its \(numbers.count) numbers released by the grace period")
                }
                for number in held where number.status != .pastDue { fail("number \(number.id) \(number.status)") }
            }
        }
    }

    /// Problems with the renewals in `state` as of `time` (at or after numberd's clock when it wrote them). Every
    /// number paid at most the cycles begun by then (by its release, if released), each for its monthly fee and on or
    /// after the billing date that began it, and its next billing date and cycle start are the calendar's after the
    /// cycles paid. A renewal's transaction does not name its cycle — its journal event does, and replaying refuses a
    /// renewal of any but the number's due cycle —, so these say that no cycle was paid twice and that no billing date
    /// moved on without its debit. A past-due number owes a cycle begun by then, since no earlier than its start. No
    /// account is below zero.
    static func renewalProblems(_ state: CoreState, at time: Date) -> [String] {
        var problems: [String] = []
        for (accountId, account) in state.accounts {
            if account.balance < 0 { problems.append("\(accountId): balance \(account.balance) below zero") }
            let renewals = Dictionary(
                grouping: (state.transactions[accountId] ?? []).filter { $0.kind == .renewal },
                by: { $0.numberId ?? "" })
            let numberIds = state.accountNumbers[accountId] ?? []
            for (numberId, paid) in renewals where !numberIds.contains(numberId) {
                problems.append("\(accountId): \(paid.count) renewal(s) of \(numberId), not its number")
            }
            for numberId in numberIds {
                guard let number = state.numbers[numberId] else { continue }
                problems += renewalProblems(of: number, paid: renewals[numberId] ?? [], at: time)
            }
        }
        return problems
    }

    /// ``renewalProblems(_:at:)`` for one number, `paid` its renewals in ledger order.
    private static func renewalProblems(of number: OwnedNumber, paid: [LedgerTransaction], at time: Date) -> [String] {
        var problems: [String] = []
        func fail(_ text: String) { problems.append("\(number.accountId): number \(number.id): \(text)") }
        let due = cyclesDue(number, by: min(time, number.releasedAt ?? time))
        if paid.count > due { fail("\(paid.count) renewals, \(due) cycle(s) begun by \(time)") }
        let dates = billingDates(of: number, count: paid.count + 1)
        for (index, renewal) in paid.enumerated() {
            if renewal.amount != -number.monthlyFee {
                fail("renewal \(renewal.id) of \(renewal.amount), the fee is \(number.monthlyFee)")
            }
            if renewal.createdAt < dates[index] {
                fail("renewal \(renewal.id) at \(renewal.createdAt), before its cycle began (\(dates[index]))")
            }
        }
        if number.nextBillingDate != dates[paid.count] {
            fail("next billing \(number.nextBillingDate) after \(paid.count) renewal(s), not \(dates[paid.count])")
        }
        let cycleStart = paid.isEmpty ? number.purchasedAt : dates[paid.count - 1]
        if number.cycleStart != cycleStart {
            fail("cycle start \(number.cycleStart) after \(paid.count) renewal(s), not \(cycleStart)")
        }
        if number.status == .pastDue {
            if number.nextBillingDate > time { fail("past due before its billing date \(number.nextBillingDate)") }
            if let since = number.pastDueSince, since < number.nextBillingDate {
                fail("past due since \(since), before the cycle it owes began (\(number.nextBillingDate))")
            }
        }
        return problems
    }

    /// The first `count` billing dates of `number`: its purchase's UTC day of month in each month after it (clamped to
    /// the month's end), as numberd's calendar gives them.
    static func billingDates(of number: OwnedNumber, count: Int) -> [Date] {
        var dates: [Date] = []
        var date = number.purchasedAt
        for _ in 0..<count {
            date = BillingCalendar.nextBillingDate(after: date, anchorDay: number.billingAnchorDay)
            dates.append(date)
        }
        return dates
    }

    /// The cycles of `number` begun by `time` after its first: its billing dates at or before it (at most 100).
    static func cyclesDue(_ number: OwnedNumber, by time: Date) -> Int {
        var date = number.purchasedAt
        var due = 0
        while due < 100 {
            date = BillingCalendar.nextBillingDate(after: date, anchorDay: number.billingAnchorDay)
            guard date <= time else { break }
            due += 1
        }
        return due
    }

    /// Numbers a start at `time` must bill (renew, or mark past due): active, not being released, their billing date
    /// passed by then.
    static func owed(_ state: CoreState, by time: Date) -> Int {
        state.numbers.values.count {
            $0.status == .active && $0.releaseRequestedAt == nil && $0.nextBillingDate <= time
        }
    }

    /// Renewals in every ledger.
    static func renewals(in state: CoreState) -> Int {
        state.transactions.values.joined().count { $0.kind == .renewal }
    }

    /// Numbers released by the grace period.
    static func graceReleases(in state: CoreState) -> Int {
        state.numbers.values.count { $0.status == .released && $0.releaseRequestedBy == .gracePeriod }
    }
}

/// The time of a world whose clocks are set off the real one: the numberd child's under libfaketime and, set alike,
/// the simulated Twilio's.
final class ShiftedClock: Sendable {
    private let offset = Atomic<Int>(0)

    /// Seconds off the real clock (negative: behind).
    var offsetSeconds: Int { offset.load(ordering: .relaxed) }

    func set(offsetSeconds: Int) { offset.store(offsetSeconds, ordering: .relaxed) }

    func now() -> Date { Date().addingTimeInterval(TimeInterval(offsetSeconds)) }
}
