import NIOCore
import NumberAPI
import NumberClient
import Prometheus
import Testing

@testable import NumberServer

/// A client whose pool is below its size tries to open another connection in the background; against a numberd at
/// `connectionsMax` or `connectionsPerAddressMax` each attempt is accepted and closed at once. Before, the next call
/// made the next attempt as soon as the last had failed: thousands of accepts and closes a second from one busy
/// client. Failed attempts now back the pool off (100 ms doubling to 30 s) while a connection carries its calls.
@Suite("Client: refused background connects back off", .serialized)
struct ClientConnectBackoffTests {
    let tls: TestTLS

    init() throws { tls = try TestTLS() }

    /// The value of `numberd_connections_refused_per_address_total` in `registry`, nil while it is absent.
    static func refusedPerAddress(in registry: PrometheusCollectorRegistry) -> Int? {
        let prefix = "numberd_connections_refused_per_address_total "
        let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) else { return nil }
        let value = line.dropFirst(prefix.count)
        return Int(value) ?? Double(value).map { Int($0) }
    }

    @Test("a pool of 2 against one connection per address: 200 sequential calls, a handful of refused connects")
    func refusedConnectsBackOff() async throws {
        // Loopback is exempt from the per-address limit outside the tests: turned off to reach it from 127.0.0.1.
        var limits = NumberServerConfiguration.ConnectionLimits(connectionsPerAddressMax: 1)
        limits.loopbackExempt = false
        let registry = PrometheusCollectorRegistry()
        let server = NumberServer(
            configuration: NumberServerConfiguration(port: 0, connection: limits), transport: .tls(tls.serverContext),
            router: abuseRouter(), logger: quietLogger, metricsFactory: PrometheusMetricsFactory(registry: registry))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { group.cancelAll() }
            let port = try await server.listeningAddress().port!
            var configuration = tls.clientConfiguration(port: port)
            configuration.connectionPoolSize = 2
            let client = try NumbersClient(configuration: configuration)
            let started = ContinuousClock.now
            do {
                for _ in 0..<200 { _ = try await client.healthCheck(HealthCheckRequest()) }
            } catch {
                await client.close()
                throw error
            }
            let took = ContinuousClock.now - started
            await client.close()
            let refused = Self.refusedPerAddress(in: registry) ?? 0
            // The pool did try for its second connection, and was refused.
            #expect(refused >= 1, "no connection was refused: the pool never tried for a second one")
            // With the backoff, about log2(run / 100 ms) + 1 attempts: 5 or so for a run of a second, 10 for one a
            // loaded machine stretches to 20 s. Before, one after each failure: a hundred or more.
            #expect(refused <= 15, "\(refused) connections refused in \(took)")
        }
    }
}
