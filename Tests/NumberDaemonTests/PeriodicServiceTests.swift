import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization
import Testing

@testable import NumberDaemon

/// The background runs' driver: a stop reaches the run in progress, the start's run too.
@Suite("PeriodicService")
struct PeriodicServiceTests {
    @Test("a graceful shutdown cancels the start's run (not counted as failed), then the final action runs")
    func shutdownCancelsTheStartRun() async throws {
        let events = Mutex<[String]>([])
        let registry = PrometheusCollectorRegistry()
        var service = PeriodicService(
            name: "test", intervalSeconds: 3_600, runAtStart: true, logger: quietLogger,
            action: {
                events.withLock { $0.append("started") }
                // A pass against a provider that does not answer: two minutes, unless cancelled (long enough to tell,
                // short enough that the old way fails the expectations below instead of hanging).
                do {
                    try await Task.sleep(for: .seconds(120))
                } catch {
                    events.withLock { $0.append("cancelled") }
                    throw error
                }
                return [:]
            },
            final: { events.withLock { $0.append("final") } })
        service.metrics = PrometheusMetricsFactory(registry: registry)
        service.createRunSeries()
        let group = ServiceGroup(services: [service], logger: quietLogger)
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let deadline = ContinuousClock.now + .seconds(60)
            while events.withLock({ $0.isEmpty }), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(5))
            }
            await group.triggerGracefulShutdown()
            try await tasks.next()
        }
        #expect(events.withLock { $0 } == ["started", "cancelled", "final"])
        #expect(ContinuousClock.now - started < .seconds(100), "not the two minutes the run would have taken")
        // Cut short by the stop: no failed run for the alerts to see.
        let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        #expect(text.contains(#"numberd_background_runs_total{service="test",outcome="error"} 0"#), "\(text)")
    }
}
