import NumberAPI
import NumberClient
import NumberCore
import NumberServer
import Synchronization
import TestSupport
import Testing

/// numberd's disk fallen behind, seen by a client over TLS: past the core's cap on writes waiting for the disk, a call's
/// new work is answered `RESOURCE_EXHAUSTED` / `STORE_BUSY` with `max`, nothing changed, and once the disk has caught
/// up the same call goes through.
@Suite("STORE_BUSY over the wire")
struct StoreBusyOverTLSTests {
    /// An in-memory store whose commits wait while it is held: a disk whose `fdatasync` stalls.
    final class StalledStore: NumberStore {
        let inner = InMemoryNumberStore()
        private let held = Mutex((on: false, waiting: [@Sendable () -> Void]()))

        func load() async throws -> CoreState { try await inner.load() }

        func commit(_ events: [CoreEvent], completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
            let pass: @Sendable () -> Void = { [inner] in inner.commit(events, completion: completion) }
            let now = held.withLock { held in
                guard held.on else { return true }
                held.waiting.append(pass)
                return false
            }
            if now { pass() }
        }

        func hold() { held.withLock { $0.on = true } }

        func release() {
            let waiting = held.withLock { held in
                held.on = false
                defer { held.waiting = [] }
                return held.waiting
            }
            for pass in waiting { pass() }
        }

        var holding: Int { held.withLock { $0.waiting.count } }
    }

    @Test(
        "one write in flight and one waiting at a cap of one: AddFunds is STORE_BUSY with max=1, nothing added; the same call goes through once the disk catches up"
    )
    func refusedThenRetried() async throws {
        let tls = try TestTLS()
        let store = StalledStore()
        var config = NumberServiceConfig.defaults
        config.commits.queuedDecisionsMax = 1
        let service = try await NumberService.open(
            store: store, provider: FailingProvider(failure: ProviderError(.unavailable, message: "unused")),
            config: config, logger: quietLogger)
        defer { store.release() }
        let account = try await service.createAccount(name: "A", currency: "USD")
        let admin = try await service.createApiKey(name: "admin", scope: .admin, accountId: nil)
        var router = RPCRouter()
        NumbersAPI(service: service, rateLimiter: RateLimiter(limits: .defaults)).register(into: &router)
        try await withTestServer(router: router, tls: tls) { _, port in
            var once = tls.clientConfiguration(port: port, apiKey: admin.secret)
            once.retry.retriesWhenBusy = false
            try await withNumbersClient(once) { client in
                store.hold()
                let add = { @Sendable (amount: Int64) in
                    try await client.addFunds(AddFundsRequest(accountId: account.id, amount: amount, currency: "USD"))
                }
                let inFlight = Task { try await add(1) }
                try await ConnectionLimitTests.waitUntil { store.holding == 1 }
                try #require(store.holding == 1, "the first write never reached the store")
                let waiting = Task { try await add(2) }
                try await ConnectionLimitTests.waitUntil {
                    service.decisionState().transactions[account.id]?.count == 2
                }
                let refused = await #expect(throws: RPCError.self) { try await add(4) }
                #expect(
                    refused?.code == .resourceExhausted && refused?.reason == "STORE_BUSY",
                    "\(String(describing: refused))")
                #expect(refused?.details["max"] == "1" && refused?.details["outcome"] == nil)
                #expect(service.decisionState().transactions[account.id]?.count == 2, "nothing added")
                // Caught up, the same call goes through (the client's retries of STORE_BUSY: BusyRetryTests).
                store.release()
                _ = try await (inFlight.value, waiting.value)
                #expect(try await add(4).balance == 7)
                #expect(try service.balance(accountId: account.id).balance == 7)
            }
        }
    }
}
