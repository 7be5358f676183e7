import Foundation
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
}
