import NIOCore
import NumberAPI
import NumberClient
import NumberServer
import Prometheus
import TestSupport
import Testing

/// `numberd_calls_in_flight{method}` counts the calls whose handler runs now, until it has returned: a call the
/// connection answered at its deadline while its work goes on (a purchase or release at Twilio runs to its end) still
/// counts, and one that never leaves shows as a series above 0 — which `numberd_calls_total`, counted at the answer,
/// cannot show.
@Suite("Calls in flight are counted by method until their handler returns")
struct CallsInFlightMetricsTests {
    /// The value of `numberd_calls_in_flight{method="…"}` in `registry`, nil while the series is absent.
    static func inFlight(_ method: String, in registry: PrometheusCollectorRegistry) -> Int? {
        let prefix = "numberd_calls_in_flight{method=\"\(method)\"} "
        let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) else { return nil }
        return Double(line.dropFirst(prefix.count)).map { Int($0) }
    }

    /// Waits (60 s at most: a loaded machine can be slow) until `method`'s series reads `value`; whether it did.
    static func waitFor(_ value: Int, _ method: String, in registry: PrometheusCollectorRegistry) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if inFlight(method, in: registry) == value { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return inFlight(method, in: registry) == value
    }

    @Test("a call past its deadline counts until its handler returns; a finished one does not")
    func countedUntilTheHandlerReturns() async throws {
        let gate = Gate()
        let (started, signal) = AsyncStream.makeStream(of: Void.self)
        var router = RPCRouter()
        router.register(NumbersMethods.healthCheck) { _, _ in HealthCheckResponse(status: .serving, version: "test") }
        router.register(NumbersMethods.getAccount) { request, _ in
            signal.yield()
            await gate.wait()
            return GetAccountResponse(account: Account(id: request.accountId))
        }
        let tls = try TestTLS()
        let registry = PrometheusCollectorRegistry()
        let server = NumberServer(
            configuration: NumberServerConfiguration(port: 0), transport: .tls(tls.serverContext), router: router,
            logger: quietLogger, metricsFactory: PrometheusMetricsFactory(registry: registry))
        let getAccount = NumbersMethods.getAccount.path
        let healthCheck = NumbersMethods.healthCheck.path
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { group.cancelAll() }
            let port = try await server.listeningAddress().port!
            try await withNumbersClient(tls.clientConfiguration(port: port)) { client in
                // A finished call leaves its series at 0.
                _ = try await client.healthCheck(HealthCheckRequest())
                #expect(try await Self.waitFor(0, healthCheck, in: registry))

                // Held in its handler past its deadline: the client hears DEADLINE_EXCEEDED, the call still counts.
                let held = Task {
                    try await client.getAccount(
                        GetAccountRequest(accountId: "ACC_1"), options: CallOptions(timeout: .seconds(5)))
                }
                for await _ in started { break }
                #expect(Self.inFlight(getAccount, in: registry) == 1)
                let ended = await held.result
                guard case .failure(let error as RPCError) = ended else {
                    Issue.record("the held call ended \(ended), not with its deadline")
                    gate.open()
                    return
                }
                #expect(error.code == .deadlineExceeded)
                #expect(
                    Self.inFlight(getAccount, in: registry) == 1, "answered at its deadline, its handler still runs")

                gate.open()
                #expect(try await Self.waitFor(0, getAccount, in: registry))
            }
            // A series for each method called, none for the others.
            let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
            let series = text.split(separator: "\n").filter { $0.hasPrefix("numberd_calls_in_flight{") }
            #expect(series.count == 2, "\(series)")
        }
    }
}
