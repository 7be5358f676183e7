import NumberAPI
import NumberClient
import NumberCore
import NumberServer
import TestSupport
import Testing

/// Once a commit fails, the service takes no more writes until a restart (which recovers from the journal). HealthCheck
/// said SERVING all the same, so a supervisor's health probe kept a server that refused every purchase, credit and
/// release; it now says NOT_SERVING.
@Suite("HealthCheck and a stopped store")
struct StoreFailureHealthTests {
    @Test("HealthCheck is NOT_SERVING once the store has stopped taking writes")
    func notServingAfterAFailedCommit() async throws {
        let tls = try TestTLS()
        let store = InMemoryNumberStore()
        let service = try await NumberService.open(
            store: store, provider: FailingProvider(failure: ProviderError(.unavailable, message: "unused")),
            logger: quietLogger)
        let account = try await service.createAccount(name: "A", currency: "USD")
        var router = RPCRouter()
        NumbersAPI(service: service, rateLimiter: RateLimiter(limits: .defaults)).register(into: &router)
        try await withTestServer(router: router, tls: tls) { _, port in
            try await withNumbersClient(tls.clientConfiguration(port: port)) { client in
                let before = try await client.healthCheck(HealthCheckRequest())
                #expect(before.status == .serving)
                store.failNextCommits(1)
                await #expect(throws: NumberError.self) {
                    _ = try await service.addFunds(accountId: account.id, amount: 1)
                }
                let after = try await client.healthCheck(HealthCheckRequest())
                #expect(after.status == .notServing)
            }
        }
    }
}
