import Foundation
import NIOCore
import NumberAPI
import NumberClient
import NumberCore
import Synchronization
import TestSupport
import TwilioSimulator

#if canImport(Glibc)
import Glibc
#endif

/// A storm of purchases, releases, fund additions, corrections and adoptions from concurrent clients (one TLS
/// connection each) against a numberd child process, which is SIGKILLed at random moments and restarted; after every
/// kill the data directory is checked offline against the clients' model, the adoptions and trunk changes the kill
/// left unanswered are made again, and at the end everything is reconciled and checked against the provider. Shared
/// by the CI test and the documented long run.
struct CrashStorm {
    /// A storm's kill cycles (`cyclesVariable`, else `cycles`) and seed (`NUMBERD_CRASH_SEED`, else random), printed
    /// first as `name`'s: a run that throws (a child that will not start) still tells how to replay it.
    static func runSettings(_ name: String, cyclesVariable: String, cycles: Int) -> (cycles: Int, seed: UInt64) {
        let environment = ProcessInfo.processInfo.environment
        let cycles = environment[cyclesVariable].flatMap(Int.init) ?? cycles
        let seed = environment["NUMBERD_CRASH_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64.max)
        print("\(name): \(cycles) cycles, seed \(seed) (NUMBERD_CRASH_SEED=\(seed) replays it)")
        return (cycles, seed)
    }

    /// How the storm runs.
    struct Plan: Sendable {
        var cycles: Int
        var accounts: Int = 4
        /// Extra pause before the kill, drawn from 0..<killJitterMilliseconds after the load starts.
        var killJitterMilliseconds: Int = 300
        /// Every this many cycles (and after the last) the data directory gets the full offline verification (every
        /// snapshot and segment, as `numberd verify`); the other cycles replay it and check the invariants, which
        /// costs one snapshot decode instead of three and keeps long runs from slowing down as the state grows.
        var fullVerificationEvery: Int = 10
        var seed: UInt64
        /// Provider faults (`twilio-sim --fault` specs) active while the load runs (not during the set-up, a
        /// restart's settling of unanswered changes, or the final reconciliation).
        var faults: [String] = []
        /// When set, the faults stay on through each restart and this long after numberd is ready, so the start's
        /// reconciliation of what the kill left open (purchases voided at a horizon of 0, releases, trunk changes)
        /// meets them too; then they are cleared for the settling of unanswered changes.
        var faultsAfterRestart: Duration?
        /// numberd's settings beyond the storm's own, as environment variables.
        var environment: [String: String] = [:]
        /// Each purchase heard "maybe" is made again once by its account, as a caller retrying would (refused while the
        /// first still holds the phones: tried again for a while), and the number it answers released at once. With
        /// a short in-flight horizon and buys delayed past numberd's Twilio timeout, the first purchase's POST can be
        /// voided, the number bought again and released, and that POST land after all: a number paid at the provider
        /// that nobody holds, unless numberd's orphan watch releases it.
        var rebuy = false
        /// The wait after the last kill, before the final reconciliation, for buys the faults delayed to land.
        var lateLandingWait: Duration = .zero
    }

    /// What a storm did.
    struct Report: Sendable, CustomStringConvertible {
        var cycles = 0
        var acknowledged = 0
        var refused = 0
        var maybe = 0
        /// Cycles whose kill came before two operations had finished (the load never flowed in 30 s).
        var idleKills = 0
        var restartMilliseconds: [Double] = []
        var problems: [String] = []
        var numbersHeld = 0
        /// Balance adjustments posted (credits and debits).
        var adjustments = 0
        /// Numbers adopted (held at the end or released since), adoptions a kill left unanswered that were run
        /// again under their key after the restart, and the answers `replayed` (those of them recorded before the
        /// kill, and each restart's repeat of every account's last acknowledged adoption).
        var adoptions = 0
        var adoptionsRunAgain = 0
        var adoptionsReplayed = 0
        /// Trunk changes moved onto or off their account's trunk, and those a kill left unanswered, made again.
        var trunkChanges = 0
        var trunkChangesRunAgain = 0
        /// Trunk changes a kill left open in the store (recorded before they were sent, store format 8), each settled
        /// by a restart's reconciliation or the change made again: the distinct requests (number and time asked), and
        /// how many were open at the kills summed over them (a request stays open across kills while it may still land).
        var routeRequestsLeftOpen: Set<String> = []
        var routeRequestsOpenAtKills = 0
        /// Purchase and release intents a kill left open, summed over the kills: what each start's reconciliation had
        /// to settle.
        var intentsOpenAtKills = 0
        /// With `rebuy`: purchases made again that were acknowledged, and phones the provider sold more than once (a
        /// first POST that landed after the purchase made again was released, or its answer lost).
        var rebuys = 0
        var boughtAgain = 0
        /// Requests the provider faults met.
        var faultsMet = 0
        var elapsedSeconds = 0.0

        var description: String {
            "\(cycles) kill cycles in \(String(format: "%.1f", elapsedSeconds)) s: \(acknowledged) acknowledged, "
                + "\(refused) refused, \(maybe) unanswered operations, \(idleKills) idle kills; "
                + "\(numbersHeld) numbers held at the end, \(adjustments) adjustments posted, \(adoptions) "
                + "adoptions (\(adoptionsRunAgain) unanswered run again, \(adoptionsReplayed) keyed repeats replayed), "
                + "\(trunkChanges) trunk changes acknowledged (\(trunkChangesRunAgain) unanswered made again, "
                + "\(routeRequestsLeftOpen.count) requests left open by a kill, \(routeRequestsOpenAtKills) open at "
                + "the kills summed, \(intentsOpenAtKills) purchase and release intents open at the kills summed); "
                + "\(rebuys) purchases made again, \(boughtAgain) phones bought more than once at "
                + "the provider, \(faultsMet) provider faults met; "
                + "restart p50 \(String(format: "%.0f", percentile(restartMilliseconds, 50))) ms, "
                + "p99 \(String(format: "%.0f", percentile(restartMilliseconds, 99))) ms, "
                + "max \(String(format: "%.0f", restartMilliseconds.max() ?? 0)) ms; \(problems.count) problems"
        }
    }

    let plan: Plan

    /// Runs the storm in a fresh temporary directory (removed afterwards).
    func run() async throws -> Report {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-crash-\(UUID())").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let simulator = try await startExternalSimulator(directory: root)
        do {
            var report = try await run(root: root, simulator: simulator)
            try await simulator.shutdown()
            // A storm that found problems keeps its data directory (and numberd's log) for the one finding out why.
            if report.problems.isEmpty {
                try? FileManager.default.removeItem(atPath: root)
            } else {
                report.problems.append("kept for inspection: \(root)")
            }
            return report
        } catch {
            try? await simulator.shutdown()
            try? FileManager.default.removeItem(atPath: root)
            throw error
        }
    }

    private func run(root: String, simulator: TwilioSimulator) async throws -> Report {
        let started = ContinuousClock.now
        var random = SplitMix64(seed: plan.seed)
        var settings = NumberdChild.Launch(
            dataDirectory: root + "/data", port: try freeLoopbackPort(), simulatorURL: simulator.baseURL,
            simulatorCA: simulator.caPEMPath!, credentials: simulator.credentials,
            // A snapshot every second and at each start: kills land during snapshot writes too, and a restart replays
            // a short journal tail instead of the whole storm (which made long runs slower with every cycle).
            environment: ["NUMBERD_SNAPSHOT_INTERVAL": "1"].merging(plan.environment) { _, planned in planned })
        // A plan's log level, when it sets one (for a run kept to be read), rather than the children's "error".
        if plan.environment["NUMBERD_LOG_LEVEL"] != nil { settings.logLevel = nil }
        let launch = settings
        var report = Report()
        var child = try await NumberdChild.start(launch)
        let adminKey = try String(contentsOfFile: launch.dataDirectory + "/admin.key", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let trust = launch.dataDirectory + "/tls/ca.pem"
        func configuration(_ key: String) -> NumbersClientConfiguration {
            NumbersClientConfiguration(
                host: "127.0.0.1", port: launch.port, apiKey: key, trustRoots: .file(trust), retry: .none)
        }
        // Setup runs without a kill: accounts with a first credit, and the price of a number.
        let (models, trunks, charge) = try await withNumbersClient(configuration(adminKey)) { admin in
            var models: [AccountModel] = []
            var trunks: [String] = []
            for index in 0..<plan.accounts {
                let account = try await admin.createAccount(
                    CreateAccountRequest(name: "storm \(index)", currency: "USD")
                )
                .account
                let key = try await admin.createApiKey(
                    CreateApiKeyRequest(accountId: account.id, scope: .account, name: "storm \(index)"))
                let model = AccountModel(accountId: account.id, key: key.secret)
                _ = try await admin.addFunds(
                    AddFundsRequest(accountId: account.id, amount: 50_000_000, currency: "USD"),
                    options: CallOptions(idempotencyKey: "initial-\(index)"))
                model.record(AccountModel.Funds(key: "initial-\(index)", amount: 50_000_000, heard: .acknowledged))
                models.append(model)
                // A trunk numberd makes at the provider, which its numbers move onto and off.
                let trunk = try await admin.createTrunk(
                    CreateTrunkRequest(
                        accountId: account.id, name: "storm \(index)", originationSipUri: "sip:pbx\(index).example.com")
                )
                trunks.append(trunk.trunk.id)
            }
            let listing = try await admin.searchNumbers(
                SearchNumbersRequest(accountId: models[0].accountId, country: "US", limit: 1))
            guard let pricing = listing.numbers.first?.pricing else { throw HarnessError("the search found nothing") }
            return (models, trunks, pricing.setupFee + pricing.monthlyFee)
        }
        let phones = PhonePool(simulator: simulator)
        let faults = try StormFaults(plan.faults)
        for cycle in 0..<plan.cycles {
            faults.install(on: simulator)
            let flags = StormFlags()
            let killAfter = Int(random.next() % UInt64(max(plan.killJitterMilliseconds, 1)))
            let seeds = (0..<models.count).map { _ in random.next() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, model) in models.enumerated() {
                    group.addTask {
                        try await Self.worker(
                            model: model, admin: configuration(adminKey), own: configuration(model.key),
                            phones: phones, seed: seeds[index], cycle: cycle, flags: flags, adopt: true,
                            trunkId: trunks[index], rebuy: plan.rebuy)
                    }
                }
                // Kill only once the load flows, so every cycle crashes with operations in flight (counted when it
                // never does: the test expects none).
                let flowing = ContinuousClock.now + .seconds(30)
                while flags.operations.load(ordering: .relaxed) < 2, ContinuousClock.now < flowing {
                    try await Task.sleep(for: .milliseconds(5))
                }
                if flags.operations.load(ordering: .relaxed) < 2 { report.idleKills += 1 }
                try await Task.sleep(for: .milliseconds(killAfter))
                flags.stop.store(true, ordering: .relaxed)
                await child.crash()
                try await group.waitForAll()
            }
            if plan.faultsAfterRestart == nil { report.faultsMet += faults.remove(from: simulator) }
            report.cycles += 1
            let full = (cycle + 1) % max(plan.fullVerificationEvery, 1) == 0 || cycle + 1 == plan.cycles
            let state = try await Self.offlineState(
                launch.dataDirectory, full: full, into: &report, context: "cycle \(cycle)")
            for model in models {
                report.problems += model.check(state, charge: charge, settled: false).map { "cycle \(cycle): \($0)" }
            }
            for id in state.routeRequests {
                report.routeRequestsLeftOpen.insert(
                    "\(id) \(state.numbers[id]?.routeRequest?.at.timeIntervalSince1970 ?? 0)")
            }
            report.routeRequestsOpenAtKills += state.routeRequests.count
            report.intentsOpenAtKills +=
                state.intents.count
                + state.numbers.values.count { $0.releaseRequestedAt != nil && $0.status != .released }
            guard report.problems.isEmpty else {
                report.faultsMet += faults.remove(from: simulator)
                break
            }
            child = try await NumberdChild.start(launch)
            report.restartMilliseconds.append(child.readyMilliseconds)
            if let dwell = plan.faultsAfterRestart {
                try await Task.sleep(for: dwell)
                report.faultsMet += faults.remove(from: simulator)
            }
            // An adoption or trunk change the kill cut off is made again (an adoption under its key), as its caller
            // would: an adoption replayed when recorded.
            let settled = try await Self.settleUnanswered(models, state: state, admin: configuration(adminKey))
            report.problems += settled.problems.map { "cycle \(cycle): \($0)" }
            report.adoptionsRunAgain += settled.adoptions
            report.adoptionsReplayed += settled.replayed
            report.trunkChangesRunAgain += settled.trunkChanges
            guard report.problems.isEmpty else { break }
        }
        await child.crash()
        // Settle what the last kill left open (once the buys the faults delayed have landed), then everything must
        // agree with the provider.
        try await Task.sleep(for: plan.lateLandingWait)
        let settled = try await reconcileOffline(dataDirectory: launch.dataDirectory, simulator: simulator)
        if !settled.intents.isEmpty {
            report.problems.append("open intents after reconciliation: \(settled.intents.count)")
        }
        for model in models {
            report.trunkChanges += model.trunkChangesAcknowledged()
            report.problems += model.check(settled, charge: charge, settled: true).map { "final: \($0)" }
            for (heard, count) in model.counts() {
                switch heard {
                case .acknowledged: report.acknowledged += count
                case .refused: report.refused += count
                case .maybe: report.maybe += count
                }
            }
        }
        let asked = models.reduce(into: [String: Int]()) { asked, model in
            asked.merge(model.purchasesAsked(), uniquingKeysWith: +)
        }
        report.problems += providerProblems(
            settled, simulator: simulator, purchasesAsked: plan.rebuy ? asked : nil,
            history: { phone in models.flatMap { $0.history(of: phone) } }
        )
        .map { "final: \($0)" }
        report.boughtAgain = simulator.engine.purchaseCounts.values.count { $0 > 1 }
        report.rebuys = models.reduce(0) { $0 + $1.rebuysAcknowledged() }
        report.problems += routingProblems(settled, simulator: simulator).map { "final: \($0)" }
        report.numbersHeld = settled.numbers.values.filter { $0.status != .released }.count
        report.adjustments = settled.transactions.values.joined().count { $0.kind == .adjustment }
        report.adoptions = settled.transactions.values.joined().count {
            $0.description.hasPrefix("Phone number adopted")
        }
        let verify = try await runNumberdVerify(dataDirectory: launch.dataDirectory)
        if verify.status != 0 { report.problems.append("numberd verify failed: \(verify.output)") }
        let elapsed = ContinuousClock.now - started
        report.elapsedSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return report
    }

    /// The data directory's durable state, read offline (numberd is dead); its own checks must pass (all of them when
    /// `full`, otherwise the replay and the core invariants).
    static func offlineState(
        _ dataDirectory: String, full: Bool = true, into report: inout Report, context: String
    ) async throws
        -> CoreState
    {
        if !full {
            let state: CoreState
            do {
                state = try await replayDataDirectory(URL(fileURLWithPath: dataDirectory + "/store"))
            } catch {
                throw HarnessError("\(context): the store does not replay: \(error)")
            }
            let violations = state.checkInvariants()
            if !violations.isEmpty { report.problems.append("\(context): invariants: \(violations)") }
            return state
        }
        let verification = await verifyDataDirectory(URL(fileURLWithPath: dataDirectory + "/store"))
        if !verification.isSound {
            report.problems.append(
                "\(context): verify: \(verification.journal.problems) \(verification.violations) "
                    + "\(verification.replayError ?? "")")
        }
        guard let state = verification.state else { throw HarnessError("\(context): the store does not replay") }
        return state
    }

    /// One client's loop: purchases of one or two fresh numbers, releases of its own numbers, credits and corrections through the
    /// admin key, with `adopt` adoptions (through the admin key, under a key) of numbers bought at the provider
    /// behind numberd's back, with `trunkId` its numbers moved onto that trunk or off it, and with `rebuy` each purchase
    /// heard "maybe" made again (``Plan/rebuy``), until told to stop; every outcome goes into the model.
    static func worker(
        model: AccountModel, admin: NumbersClientConfiguration, own: NumbersClientConfiguration, phones: PhonePool,
        seed: UInt64, cycle: Int, flags: StormFlags, adopt: Bool = false, trunkId: String? = nil, rebuy: Bool = false
    ) async throws {
        var random = SplitMix64(seed: seed)
        let options = { (key: String?) in CallOptions(timeout: .seconds(20), idempotencyKey: key) }
        do {
            try await withNumbersClient(admin) { adminClient in
                try await withNumbersClient(own) { client in
                    var index = 0
                    while !flags.stop.load(ordering: .relaxed) {
                        index += 1
                        let roll = random.next() % 10
                        if rebuy, let again = model.takeRebuy() {
                            try await Self.buyAgain(again, for: model, client, flags: flags)
                        } else if roll == 0 {
                            // A correction, credit or debit, under its key: crashes must not post it twice or lose it.
                            let key = "adjust-\(model.accountId)-\(cycle)-\(index)"
                            let amount = Int64(100 + random.next() % 5_000) * (random.next() % 2 == 0 ? 1 : -1)
                            do {
                                _ = try await adminClient.adjustBalance(
                                    AdjustBalanceRequest(
                                        accountId: model.accountId, amount: amount, currency: "USD", reason: "storm"),
                                    options: options(key))
                                model.record(
                                    AccountModel.Funds(key: key, amount: amount, heard: .acknowledged, adjustment: true)
                                )
                            } catch {
                                model.record(
                                    AccountModel.Funds(
                                        key: key, amount: amount, heard: .classify(error), adjustment: true))
                            }
                        } else if roll < 2 {
                            let key = "funds-\(model.accountId)-\(cycle)-\(index)"
                            let amount = Int64(100 + random.next() % 5_000)
                            do {
                                _ = try await adminClient.addFunds(
                                    AddFundsRequest(accountId: model.accountId, amount: amount, currency: "USD"),
                                    options: options(key))
                                model.record(AccountModel.Funds(key: key, amount: amount, heard: .acknowledged))
                            } catch {
                                model.record(AccountModel.Funds(key: key, amount: amount, heard: .classify(error)))
                            }
                        } else if adopt && roll == 9 {
                            let bought: String?
                            do {
                                bought = try phones.takeBoughtAtProvider()
                            } catch {
                                // Not the connect failure the outer catch is for: said, and the worker goes on.
                                model.recordProblem("\(error)")
                                continue
                            }
                            guard let phone = bought else {
                                try await Task.sleep(for: .milliseconds(10))
                                continue
                            }
                            let key = "adopt-\(model.accountId)-\(cycle)-\(index)"
                            model.record(
                                await Self.adopt(phone, for: model, under: key, adminClient, options: options(key)))
                        } else if let trunkId, roll == 8,
                            let held = model.pickHeld({ Int(random.next() % UInt64($0)) })
                        {
                            let target = held.trunkId == trunkId ? "" : trunkId
                            model.record(await Self.route(held.numberId, to: target, for: model, client))
                        } else if roll < 5,
                            let numberId = model.takeReleasable({ Int(random.next() % UInt64($0)) })
                        {
                            await Self.release(numberId, for: model, client)
                        } else {
                            let wanted = phones.take(1 + Int(random.next() % 2))
                            // The simulator's inventory ran dry (after ~15,000 numbers): nothing to buy this turn.
                            guard !wanted.isEmpty else {
                                try await Task.sleep(for: .milliseconds(10))
                                continue
                            }
                            let bought = await Self.purchase(wanted, for: model, client)
                            model.record(bought)
                            if rebuy && bought.heard == .maybe { model.queueRebuy(wanted) }
                        }
                        flags.operations.add(1, ordering: .relaxed)
                    }
                }
            }
        } catch {
            // Connecting failed (the server was already killed): nothing was asked, nothing to record.
        }
    }
}

extension CrashStorm {
    /// Buys `phones` for `model`'s account: what was heard, for the model.
    static func purchase(
        _ phones: [String], for model: AccountModel, _ client: NumbersClient, rebuy: Bool = false
    ) async -> AccountModel.Purchase {
        do {
            let bought = try await client.purchaseNumbers(
                PurchaseNumbersRequest(accountId: model.accountId, country: "US", numbers: phones, currency: "USD"),
                options: CallOptions(timeout: .seconds(20)))
            return AccountModel.Purchase(
                phones: phones, heard: .acknowledged, numberIds: bought.numbers.map(\.number.id),
                charged: bought.totalCharged, rebuy: rebuy)
        } catch {
            return AccountModel.Purchase(phones: phones, heard: .classify(error), error: "\(error)", rebuy: rebuy)
        }
    }

    /// Releases `numberId` of `model`'s account; what was heard goes into the model.
    static func release(_ numberId: String, for model: AccountModel, _ client: NumbersClient) async {
        do {
            let released = try await client.releaseNumber(
                ReleaseNumberRequest(accountId: model.accountId, numberId: numberId),
                options: CallOptions(timeout: .seconds(20)))
            model.record(
                AccountModel.Release(
                    numberId: numberId, heard: .acknowledged, refund: released.transaction?.amount ?? 0))
        } catch {
            model.record(AccountModel.Release(numberId: numberId, heard: .classify(error)))
        }
    }

    /// Buys `phones` again for `model`'s account, after a purchase of them heard "maybe" (``Plan/rebuy``): refused
    /// as unavailable while that purchase holds them, it is tried again every 250 ms for 10 s (or until the storm
    /// stops); acknowledged, its numbers are released at once. What was last heard goes into the model.
    static func buyAgain(
        _ phones: [String], for model: AccountModel, _ client: NumbersClient, flags: StormFlags
    ) async throws {
        var again = await purchase(phones, for: model, client, rebuy: true)
        for _ in 0..<40 where again.heard == .refused && again.error.contains("NUMBER_UNAVAILABLE") {
            guard !flags.stop.load(ordering: .relaxed) else { break }
            try await Task.sleep(for: .milliseconds(250))
            again = await purchase(phones, for: model, client, rebuy: true)
        }
        model.record(again)
        guard again.heard == .acknowledged else { return }
        for numberId in again.numberIds {
            model.takeReleasable(numberId)
            await release(numberId, for: model, client)
        }
    }

    /// Adopts `phone` (owned at the provider, no account's here) for `model`'s account at a purchase's charge, under
    /// `key`: what was heard, for the model.
    static func adopt(
        _ phone: String, for model: AccountModel, under key: String, _ adminClient: NumbersClient,
        options: CallOptions
    ) async -> AccountModel.Purchase {
        do {
            let adopted = try await adminClient.adoptNumber(
                AdoptNumberRequest(accountId: model.accountId, phoneNumber: phone, country: "US", charge: .full),
                options: options)
            return AccountModel.Purchase(
                phones: [phone], heard: .acknowledged, numberIds: [adopted.number.id],
                charged: adopted.transaction.amount, adoptionKey: key, replayed: adopted.replayed)
        } catch {
            return AccountModel.Purchase(
                phones: [phone], heard: .classify(error), error: "\(error)", adoptionKey: key)
        }
    }

    /// Moves `numberId` onto the trunk `trunkId`, or off its trunk (""): what was heard, for the model.
    static func route(
        _ numberId: String, to trunkId: String, for model: AccountModel, _ client: NumbersClient
    ) async -> AccountModel.TrunkChange {
        do {
            let changed = try await client.updateNumber(
                UpdateNumberRequest(
                    accountId: model.accountId, numberId: numberId, assignTrunkId: trunkId.isEmpty ? nil : trunkId,
                    unassignTrunk: trunkId.isEmpty),
                options: CallOptions(timeout: .seconds(20)))
            let answered = changed.number.trunkId ?? ""
            return AccountModel.TrunkChange(
                numberId: numberId, trunkId: trunkId, heard: .acknowledged,
                error: answered == trunkId ? "" : "answered with the number on trunk \"\(answered)\"")
        } catch {
            return AccountModel.TrunkChange(
                numberId: numberId, trunkId: trunkId, heard: .classify(error), error: "\(error)")
        }
    }

    /// Makes again every trunk change a kill left unanswered, and runs again under its key every adoption it left so, on
    /// a numberd just restarted on `state` (its data directory read offline before the start): each must now be
    /// acknowledged, an adoption answered `replayed` exactly when `state` holds it. Then each account's last
    /// acknowledged adoption is repeated under its key (a caller whose answer was lost): it must be answered
    /// `replayed`, the same number, from the record the restart read. Returns the
    /// problems found, how many unanswered adoptions were run again, how many of those and the repeats were replayed,
    /// and how many trunk changes were made again.
    static func settleUnanswered(
        _ models: [AccountModel], state: CoreState, admin: NumbersClientConfiguration
    ) async throws -> (problems: [String], adoptions: Int, replayed: Int, trunkChanges: Int) {
        var problems: [String] = []
        var (settled, replayed, trunkChanges) = (0, 0, 0)
        try await withNumbersClient(admin) { adminClient in
            for model in models {
                for (numberId, trunkId) in model.unsettledTrunkChanges() {
                    var again = await route(numberId, to: trunkId, for: model, adminClient)
                    // The start's reconciliation may be settling the kill's open request of the number (store format
                    // 8): the change is refused ABORTED meanwhile, as any concurrent change of the number; made again
                    // once it is done.
                    for _ in 0..<200 where again.error.contains("ABORTED") && again.error.contains("in progress") {
                        try await Task.sleep(for: .milliseconds(50))
                        again = await route(numberId, to: trunkId, for: model, adminClient)
                    }
                    model.record(again)
                    if again.heard == .acknowledged {
                        trunkChanges += 1
                    } else {
                        problems.append(
                            "\(model.accountId): trunk change of \(numberId) to \"\(trunkId)\" made again: \(again.error)"
                        )
                    }
                }
                for (key, phone) in model.unsettledAdoptions() {
                    let held = state.phoneOwners[phone].flatMap { state.numbers[$0] }
                    let recorded = held?.accountId == model.accountId
                    let again = await adopt(
                        phone, for: model, under: key, adminClient,
                        options: CallOptions(timeout: .seconds(20), idempotencyKey: key))
                    model.record(again)
                    guard again.heard == .acknowledged else {
                        problems.append("\(model.accountId): adoption \(key) of \(phone) run again: \(again.error)")
                        continue
                    }
                    settled += 1
                    if again.replayed { replayed += 1 }
                    if again.replayed != recorded {
                        problems.append(
                            "\(model.accountId): adoption \(key) of \(phone) run again answered replayed="
                                + "\(again.replayed), but the store \(recorded ? "held" : "did not hold") it")
                    }
                    if recorded && again.numberIds != [held?.id ?? ""] {
                        problems.append(
                            "\(model.accountId): adoption \(key) replayed \(again.numberIds), the store holds "
                                + "\(held?.id ?? "none")")
                    }
                }
                // Not recorded in the model: it is the same adoption, and its number must not be offered twice.
                guard let last = model.lastAdoption() else { continue }
                let repeated = await adopt(
                    last.phone, for: model, under: last.key, adminClient,
                    options: CallOptions(timeout: .seconds(20), idempotencyKey: last.key))
                if repeated.heard == .acknowledged && repeated.replayed && repeated.numberIds == [last.numberId] {
                    replayed += 1
                } else {
                    problems.append(
                        "\(model.accountId): adoption \(last.key) of \(last.phone) (\(last.numberId)) repeated after "
                            + "the restart: \(repeated.heard) replayed=\(repeated.replayed) \(repeated.numberIds) "
                            + "\(repeated.error)")
                }
            }
        }
        return (problems, settled, replayed, trunkChanges)
    }
}

/// Shared by the workers of one cycle: the stop signal and the count of finished operations.
final class StormFlags: Sendable {
    let stop = Atomic<Bool>(false)
    let operations = Atomic<Int>(0)
}

/// Provider faults set on the simulator while a storm's load runs (`twilio-sim --fault` specs).
struct StormFaults: Sendable {
    /// Each may fire a million times (no storm comes near), so what a rule has left tells how often it fired.
    let rules: [FaultRule]

    init(_ specs: [String]) throws {
        rules = try specs.map { spec in
            var rule = try FaultRule.parse(spec)
            rule.remaining = rule.remaining ?? 1_000_000
            return rule
        }
    }

    /// Sets the rules on `simulator` (which has none of its own).
    func install(on simulator: TwilioSimulator) { rules.forEach(simulator.engine.addFault) }

    /// Clears every rule from `simulator`: how often these fired since ``install(on:)`` (a rule given its own TIMES
    /// and used up is gone from the simulator's list: it fired them all).
    func remove(from simulator: TwilioSimulator) -> Int {
        var left = simulator.engine.faultRules[...]
        var fired = 0
        for rule in rules {
            let initial = rule.remaining ?? 0
            if let next = left.first, next.endpoint == rule.endpoint, next.kind == rule.kind,
                next.probability == rule.probability
            {
                fired += initial - (next.remaining ?? 0)
                left = left.dropFirst()
            } else {
                fired += initial
            }
        }
        simulator.engine.clearFaults()
        return fired
    }
}
