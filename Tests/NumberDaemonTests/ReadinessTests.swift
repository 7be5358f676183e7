import Foundation
import NIOHTTP1
import NumberCore
import NumberServer
import Testing

@testable import NumberDaemon

/// Readiness over a real server and core: not listening, serving, a store that stopped taking writes (only a restart
/// writes again, so the probe must fail), stopped. HealthCheck over nrpc said the same about the store; a probe that
/// cannot speak nrpc had no way to learn it.
@Suite("Readiness of a server and its core")
struct ReadinessTests {
    @Test("not listening, then ready, then not ready once a commit failed, then stopped")
    func throughItsLife() async throws {
        let store = InMemoryNumberStore()
        let service = try await NumberService.open(store: store, provider: NoProvider(), logger: quietLogger)
        let account = try await service.createAccount(name: "A", currency: "USD")
        let server = NumberServer(
            configuration: NumberServerConfiguration(port: 0), transport: .plaintextForTesting, router: RPCRouter(),
            logger: quietLogger)
        let readiness = Readiness(server: server, service: service)
        #expect(readiness.problem()?.contains("not listening") == true, "\(readiness.problem() ?? "ready")")
        let running = Task { try await server.run() }
        _ = try await server.listeningAddress()
        #expect(readiness.problem() == nil)
        store.failNextCommits(1)
        await #expect(throws: NumberError.self) { _ = try await service.addFunds(accountId: account.id, amount: 1) }
        #expect(readiness.problem()?.contains("store stopped taking writes") == true)
        running.cancel()
        _ = await running.result
        #expect(server.servingState == .stopped)
    }

    /// Kubernetes restarts a pod for its liveness, never for its readiness: with `/healthz` at 200 whatever the store
    /// did, a numberd whose store refused a commit without any I/O (a record over its size limit, a full queue) served
    /// reads for ever and wrote nothing. A full disk is no such failure: it passes by itself once there is room.
    @Test("liveness: alive through a full disk, not once a commit failed; a stopped server is still alive")
    func livenessFollowsAStoppedStore() async throws {
        let store = InMemoryNumberStore()
        var config = NumberServiceConfig.defaults
        // The next write tries the store at once after a refusal for room (the default pauses writes 1 s).
        config.commits.noRoomRetryMilliseconds = 0
        let service = try await NumberService.open(
            store: store, provider: NoProvider(), config: config, logger: quietLogger)
        let account = try await service.createAccount(name: "A", currency: "USD")
        let server = NumberServer(
            configuration: NumberServerConfiguration(port: 0), transport: .plaintextForTesting, router: RPCRouter(),
            logger: quietLogger)
        let readiness = Readiness(server: server, service: service)
        #expect(readiness.livenessProblem() == nil, "not listening yet: not ready, but alive")
        store.refuseForRoom()
        let full = await #expect(throws: NumberError.self) {
            _ = try await service.addFunds(accountId: account.id, amount: 1)
        }
        #expect(full?.reason == .storeFull, "\(String(describing: full))")
        #expect(readiness.livenessProblem() == nil, "a full disk: writes resume by themselves, a restart frees nothing")
        _ = try await service.addFunds(accountId: account.id, amount: 1)
        store.failNextCommits(1)
        await #expect(throws: NumberError.self) { _ = try await service.addFunds(accountId: account.id, amount: 1) }
        let problem = try #require(readiness.livenessProblem())
        #expect(problem.contains("store stopped taking writes") && problem.contains("restart"), "\(problem)")
        #expect(Readiness.livenessProblem(storeFailure: nil) == nil)
        // What /healthz answers with it.
        let answer = MetricsEndpoint.answer(
            method: .GET, uri: "/healthz", metrics: { [] }, readiness: { nil }, liveness: { problem })
        #expect(answer == .init(.serviceUnavailable, "not alive: \(problem)\n"))
    }
}
