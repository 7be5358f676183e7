import Foundation
import Logging
import NumberCore
import TestSupport
import Testing
import TwilioSimulator

/// A port numberd must listen on, held by another process: the start fails before anything is asked of the provider.
/// Before, the listeners were bound only when their services ran, beside the start's billing and reconciliation,
/// which began at once: the billing run recorded the grace release of a number past due and sent its DELETE, and the
/// failed bind then cancelled it mid-way — a release left for a later reconciliation, at every restart of a
/// supervisor's loop.
@Suite("numberd: a taken port fails the start before any provider request (child process)", .serialized)
struct TakenPortTests {
    enum Held: String, CaseIterable, Sendable {
        case rpc, metrics
    }

    @Test("the RPC or the metrics port held by another socket", arguments: Held.allCases)
    func takenPort(held: Held) async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-taken-\(UUID())").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let simulator = try await startExternalSimulator(directory: root)
        do {
            try await Self.takenPort(held: held, root: root, simulator: simulator)
        } catch {
            try? await simulator.shutdown()
            throw error
        }
        try await simulator.shutdown()
    }

    private static func takenPort(held: Held, root: String, simulator: TwilioSimulator) async throws {
        var launch = NumberdChild.Launch(
            dataDirectory: root + "/data", port: try freeLoopbackPort(), simulatorURL: simulator.baseURL,
            simulatorCA: simulator.caPEMPath!, credentials: simulator.credentials)
        // A past-due number is released by the first billing run that marks it.
        launch.environment["NUMBERD_GRACE_PERIOD"] = "0"
        // A first start makes the data directory (TLS, admin key, provider binding).
        await (try await NumberdChild.start(launch)).crash()
        let numberId = try await buyInThePast(dataDirectory: launch.dataDirectory, simulator: simulator)

        var failing = launch
        let metricsPort = try freeLoopbackPort()
        failing.metricsListen = "127.0.0.1:\(metricsPort)"
        let (port, flag) = held == .rpc ? (launch.port, "--listen") : (metricsPort, "--metrics-listen")
        let holder = try HeldPort(port: port)
        simulator.engine.clearRequestLog()
        // A supervisor's restart loop: every attempt fails the same way, and none asks the provider anything.
        for attempt in 0..<3 {
            let result = try await ChildProcess.run(
                try BuiltProduct.path("numberd"), failing.arguments, environment: failing.childEnvironment,
                timeout: .seconds(60))
            #expect(!result.timedOut && result.status != 0, "attempt \(attempt): \(result.status) \(result.text)")
            #expect(
                result.text.contains("cannot listen on 127.0.0.1:\(port) (\(flag))"),
                "attempt \(attempt): \(result.text)")
            #expect(result.text.contains("before asking the provider anything"), "\(result.text)")
            #expect(!result.text.contains("numberd: serving"), "the banner claims a port it does not hold")
        }
        let asked = simulator.engine.requestLog.map { "\($0.method) \($0.path)" }
        #expect(asked.isEmpty, "a start that could not listen asked the provider: \(asked)")
        let untouched = try #require(
            try await replayDataDirectory(URL(fileURLWithPath: launch.dataDirectory + "/store")).numbers[numberId])
        #expect(
            untouched.status == .active && untouched.releaseRequestedAt == nil,
            "a start that could not listen billed the number: \(untouched.status), release requested \(String(describing: untouched.releaseRequestedAt))"
        )

        // The same state with the port free: the start's billing does release the number at the provider (what the
        // failed starts did not do was due).
        holder.close()
        let child = try await NumberdChild.start(launch)
        let deadline = ContinuousClock.now + .seconds(30)
        while !simulator.engine.requestLog.contains(where: { $0.method == "DELETE" }), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(
            simulator.engine.requestLog.contains { $0.method == "DELETE" },
            "the start did not release the number: the test shows nothing")
        await child.crash()
    }

    /// Buys a number 40 days ago (in process, over the simulator) for an account that paid only its first month: its
    /// renewal is due and cannot be paid, so the next billing run marks it past due (and, with no grace period,
    /// releases it at the provider). Returns its id.
    private static func buyInThePast(dataDirectory: String, simulator: TwilioSimulator) async throws -> String {
        let logger = Logger(label: "taken-port", factory: { _ in SwiftLogNoOpLogHandler() })
        let store = try FileNumberStore.open(directory: URL(fileURLWithPath: dataDirectory + "/store"))
        let provider = try twilioAdapter(for: simulator, logger: logger)
        do {
            let service = try await NumberService.open(
                store: store, provider: provider, clock: ManualClock(Date().addingTimeInterval(-40 * 86_400)),
                logger: logger)
            let account = try await service.createAccount(name: "late payer", currency: "USD")
            let offer = try #require(
                try await service.search(ProviderSearchQuery(country: "US"), accountId: account.id).numbers.first)
            _ = try await service.addFunds(accountId: account.id, amount: offer.price.firstCharge)
            let bought = try await service.purchase(
                PurchaseRequest(accountId: account.id, phoneNumbers: [offer.number.phoneNumber], country: "US"))
            let numberId = try #require(bought.numbers.first?.id)
            await provider.shutdown()
            await store.close()
            return numberId
        } catch {
            await provider.shutdown()
            await store.close()
            throw error
        }
    }
}
