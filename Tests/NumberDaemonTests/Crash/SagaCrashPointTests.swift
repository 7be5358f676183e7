import Foundation
import NIOCore
import NumberAPI
import NumberClient
import NumberCore
import TestSupport
import Testing
import TwilioSimulator

/// The sagas' named crash points (`NUMBERD_CRASH_POINT`), each hit repeatedly by a numberd child process that
/// kills itself there: after every restart and reconciliation each operation is wholly done or wholly undone, and
/// the provider agrees. The journal's own crash points (before append, mid-write, after write before sync, after
/// sync before the reply, during a snapshot write, after a rename before the directory sync) are covered by
/// `Tests/NumberCoreTests/Store/CrashTests.swift` with `StoreCrashChild`.
@Suite("saga crash points (child process)", .serialized)
struct SagaCrashPointTests {
    /// How many times each point is hit: `NUMBERD_SAGA_CRASH_HITS` (default 8).
    static let hits = ProcessInfo.processInfo.environment["NUMBERD_SAGA_CRASH_HITS"].flatMap(Int.init) ?? 8

    @Test("after the provider bought, before the commit: the restart commits the purchase, charged once")
    func afterProviderBuy() async throws {
        try await withCrashRig { rig in
            var child = try await rig.start(armed: .afterProviderBuyBeforeCommit)
            for hit in 0..<Self.hits {
                let phones = rig.phones.take(1 + hit % 2)
                let heard = await rig.purchase(phones)
                await child.waitForExit()
                #expect(child.killedBySignal, "hit \(hit): numberd did not crash at the point")
                #expect(heard == .maybe, "hit \(hit): the client got an answer from a crashed saga")
                // Old state on disk: an open intent holds the amount, no number, no debit.
                let state = try await rig.offlineState()
                #expect(state.intents.values.contains { Set($0.items.map(\.phoneNumber)) == Set(phones) })
                #expect(phones.allSatisfy { state.phoneOwners[$0] == nil })
                child = try await rig.start(armed: .afterProviderBuyBeforeCommit)
            }
            await child.crash()
            let settled = try await rig.settle()
            // The provider bought every number before each crash: reconciliation commits every purchase.
            let models = rig.model.inner.withLock { $0.purchases }
            for purchase in models {
                #expect(purchase.phones.allSatisfy { settled.phoneOwners[$0] != nil }, "\(purchase.phones) lost")
            }
        }
    }

    @Test("after the provider released, before the record: the restart records the release with its refund")
    func afterProviderRelease() async throws {
        try await withCrashRig { rig in
            var child = try await rig.start(armed: nil)
            var owned: [String] = []
            for _ in 0..<Self.hits {
                #expect(await rig.purchase(rig.phones.take(1)) == .acknowledged)
            }
            owned = rig.model.inner.withLock { $0.purchases.flatMap(\.numberIds) }
            // One number each, or the loop below would check nothing.
            try #require(owned.count == Self.hits, "\(owned)")
            await child.crash()
            child = try await rig.start(armed: .afterProviderReleaseBeforeRecord)
            for (hit, numberId) in owned.enumerated() {
                let heard = await rig.release(numberId)
                await child.waitForExit()
                #expect(child.killedBySignal, "hit \(hit): numberd did not crash at the point")
                #expect(heard == .maybe, "hit \(hit)")
                let state = try await rig.offlineState()
                // Old state on disk: still ours (release requested), no refund yet.
                #expect(state.numbers[numberId]?.status != .released, "hit \(hit)")
                #expect(state.numbers[numberId]?.releaseRequestedAt != nil, "hit \(hit)")
                // Start-up reconciliation finishes the release through the same path, so it runs unarmed; the
                // new state must appear without any client asking again.
                child = try await rig.start(armed: nil)
                #expect(try await rig.waitReleased(numberId), "hit \(hit): the restart did not finish the release")
                await child.crash()
                child = try await rig.start(armed: .afterProviderReleaseBeforeRecord)
            }
            await child.crash()
            let settled = try await rig.settle()
            for numberId in owned {
                #expect(settled.numbers[numberId]?.status == .released, "\(numberId) not released")
            }
        }
    }
}

/// A simulator in the test process, a numberd child's launch description, one account and its model.
struct CrashRig: Sendable {
    let simulator: TwilioSimulator
    let launch: NumberdChild.Launch
    let adminKey: String
    let model: AccountModel
    let charge: Int64
    let phones: PhonePool

    func start(armed point: CrashPoint?) async throws -> NumberdChild {
        var launch = launch
        launch.environment[CrashPoint.environmentVariable] = point?.rawValue ?? ""
        return try await NumberdChild.start(launch)
    }

    func client(_ key: String) -> NumbersClientConfiguration { launch.client(key) }

    /// The admin's client for setting a test up (accounts, keys, funds): it retries what the client library
    /// retries by default — calls that never started (a connection closing under a loaded machine) and keyed
    /// ones — because setup is not what these tests check. Calls under test use `client(_:)`, which never retries.
    func setupClient() -> NumbersClientConfiguration {
        var configuration = client(adminKey)
        configuration.retry = NumbersClientConfiguration.RetryPolicy()
        return configuration
    }

    /// One purchase through the account's key; the outcome goes into the model.
    func purchase(_ phones: [String]) async -> Heard {
        do {
            let bought = try await withNumbersClient(client(model.key)) { client in
                try await client.purchaseNumbers(
                    PurchaseNumbersRequest(accountId: model.accountId, country: "US", numbers: phones, currency: "USD"),
                    options: CallOptions(timeout: .seconds(30)))
            }
            model.record(
                AccountModel.Purchase(
                    phones: phones, heard: .acknowledged, numberIds: bought.numbers.map(\.number.id),
                    charged: bought.totalCharged))
            return .acknowledged
        } catch {
            let heard = Heard.classify(error)
            model.record(AccountModel.Purchase(phones: phones, heard: heard, error: "\(error)"))
            return heard
        }
    }

    /// One release through the account's key; the outcome goes into the model.
    func release(_ numberId: String) async -> Heard {
        do {
            let released = try await withNumbersClient(client(model.key)) { client in
                try await client.releaseNumber(
                    ReleaseNumberRequest(accountId: model.accountId, numberId: numberId),
                    options: CallOptions(timeout: .seconds(30)))
            }
            model.record(
                AccountModel.Release(
                    numberId: numberId, heard: .acknowledged, refund: released.transaction?.amount ?? 0))
            return .acknowledged
        } catch {
            let heard = Heard.classify(error)
            model.record(AccountModel.Release(numberId: numberId, heard: heard))
            return heard
        }
    }

    /// Polls numberd (at most 20 s) until `numberId` reads as released.
    func waitReleased(_ numberId: String) async throws -> Bool {
        try await withNumbersClient(client(model.key)) { client in
            for _ in 0..<400 {
                let number = try await client.getNumber(
                    GetNumberRequest(accountId: model.accountId, numberId: numberId),
                    options: CallOptions(timeout: .seconds(10))
                ).number
                if number.status == .released { return true }
                try await Task.sleep(for: .milliseconds(50))
            }
            return false
        }
    }

    /// The durable state, read offline (numberd must be dead), checked against the model (not yet settled).
    func offlineState() async throws -> CoreState {
        let report = await verifyDataDirectory(URL(fileURLWithPath: launch.dataDirectory + "/store"))
        #expect(report.isSound, "\(report.journal.problems) \(report.violations) \(report.replayError ?? "")")
        let state = try #require(report.state)
        let problems = model.check(state, charge: charge, settled: false)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
        return state
    }

    /// Reconciles offline (numberd must be dead) and checks the settled state, the provider, and `numberd verify`.
    func settle() async throws -> CoreState {
        let state = try await reconcileOffline(dataDirectory: launch.dataDirectory, simulator: simulator)
        #expect(state.intents.isEmpty, "open intents after reconciliation: \(state.intents.keys)")
        let problems = model.check(state, charge: charge, settled: true) + providerProblems(state, simulator: simulator)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
        let verify = try await runNumberdVerify(dataDirectory: launch.dataDirectory)
        #expect(verify.status == 0, "\(verify.output)")
        return state
    }
}

/// Sets up a simulator, a data directory with one funded account (numberd started once, unarmed), and runs
/// `body`; everything is removed afterwards.
func withCrashRig(
    environment: [String: String] = [:], _ body: (CrashRig) async throws -> Void
) async throws {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-rig-\(UUID())").path
    try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: root) }
    let simulator = try await startExternalSimulator(directory: root)
    do {
        var launch = NumberdChild.Launch(
            dataDirectory: root + "/data", port: try freeLoopbackPort(), simulatorURL: simulator.baseURL,
            simulatorCA: simulator.caPEMPath!, credentials: simulator.credentials)
        launch.environment = environment
        let child = try await NumberdChild.start(launch)
        let adminKey = try String(contentsOfFile: launch.dataDirectory + "/admin.key", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let setup = CrashRig(
            simulator: simulator, launch: launch, adminKey: adminKey, model: AccountModel(accountId: "", key: ""),
            charge: 0, phones: PhonePool(simulator: simulator))
        let (model, charge) = try await withNumbersClient(setup.setupClient()) { admin in
            let account = try await admin.createAccount(CreateAccountRequest(name: "rig", currency: "USD")).account
            let key = try await admin.createApiKey(
                CreateApiKeyRequest(accountId: account.id, scope: .account, name: "rig"))
            _ = try await admin.addFunds(
                AddFundsRequest(accountId: account.id, amount: 100_000_000, currency: "USD"),
                options: CallOptions(idempotencyKey: "initial"))
            let model = AccountModel(accountId: account.id, key: key.secret)
            model.record(AccountModel.Funds(key: "initial", amount: 100_000_000, heard: .acknowledged))
            let listing = try await admin.searchNumbers(
                SearchNumbersRequest(accountId: account.id, country: "US", limit: 1))
            let pricing = try #require(listing.numbers.first).pricing
            return (model, pricing.setupFee + pricing.monthlyFee)
        }
        await child.crash()
        try await body(
            CrashRig(
                simulator: simulator, launch: launch, adminKey: adminKey, model: model, charge: charge,
                phones: setup.phones))
    } catch {
        try? await simulator.shutdown()
        throw error
    }
    try await simulator.shutdown()
}
