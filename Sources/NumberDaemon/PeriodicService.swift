import Logging
import Metrics
import ServiceLifecycle

/// Runs `action` every `intervalSeconds` until graceful shutdown, then `final` once (e.g. the last snapshot).
/// Each run is logged with what it did and counted in metrics (`numberd_background_runs_total{service,outcome}`,
/// `numberd_background_items_total{service,item}`); a failing run is logged and the next one comes on time. An action
/// that did part of its work and could not do the rest throws ``IncompleteRun``: counted as `error`, what it did still
/// counted in its items.
struct PeriodicService: Service, CustomStringConvertible {
    /// Thrown by an action whose run did part of its work and could not do the rest (a reconciliation pass whose
    /// provider could not answer for some items): the run counts as `error` — an alert on failing runs must see it —
    /// and `metadata`, what it did, is logged and counted as a run's that did not fail.
    struct IncompleteRun: Error, CustomStringConvertible {
        /// Why the run is incomplete, in one line.
        var reason: String
        /// What the run did, as an action returns it.
        var metadata: Logger.Metadata

        var description: String { reason }
    }

    let name: String
    let intervalSeconds: Int
    let runAtStart: Bool
    let logger: Logger
    let action: @Sendable () async throws -> Logger.Metadata
    let final: (@Sendable () async throws -> Void)?
    /// When the first run comes, if not at start nor one interval after it: a long interval (the provider audit's
    /// 6 h) would otherwise never run in a numberd restarted more often than that.
    var firstRunAfterSeconds: Int? = nil
    /// The level of the line each run that did not fail logs: `debug` for a run frequent and uneventful enough (the
    /// clock mark's, every minute) that an `info` line each time would only crowd the log.
    var ranLevel: Logger.Level = .info
    /// Where its counters are made: numberd's registry (``OperationalGauges/factory``).
    var metrics: any MetricsFactory = MetricsSystem.factory

    /// Makes its `numberd_background_runs_total` series, `ok` and `error`, at 0 — at start, before its first run: a
    /// series that appeared only at its first increment gave Prometheus no sample before it, so an `increase(…) > 0`
    /// alert missed a service's first failure (and with it every failure of a service that fails at each run).
    func createRunSeries() {
        for outcome in ["ok", "error"] { _ = runs(outcome) }
    }

    /// How the service lifecycle's log lines name it (its default spelled out every field, the metrics factory's too).
    var description: String { "PeriodicService(\(name))" }

    func run() async throws {
        // A run and the sleeps between runs are cancelled at graceful shutdown (the start's run too: a reconciliation
        // against a provider that does not answer could hold a stop for as long as its pass takes); the final action
        // runs after.
        try? await cancelWhenGracefulShutdown {
            if runAtStart { await tick() }
            var wait = firstRunAfterSeconds ?? intervalSeconds
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(wait))
                await tick()
                wait = intervalSeconds
            }
        }
        if let final {
            do {
                try await final()
                logger.info("final \(name) done")
            } catch {
                logger.error("final \(name) failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// What a run did (renewed, released, committed, voided...), counted per item in
    /// `numberd_background_items_total`: the positive integers its metadata gives as strings. Anything else — levels
    /// and sizes a run gives as `.stringConvertible` (what is left open, a snapshot's bytes) — is only logged: added up
    /// run after run, a level would count the same open item once per run.
    static func itemCounts(_ metadata: Logger.Metadata) -> [(item: String, count: Int)] {
        metadata.compactMap { item, value in
            guard case .string(let text) = value, let count = Int(text), count > 0 else { return nil }
            return (item, count)
        }
    }

    private func tick() async {
        do {
            let metadata = try await action()
            logger.log(level: ranLevel, "\(name) ran", metadata: metadata)
            runs("ok").increment()
            countItems(metadata)
        } catch let incomplete as IncompleteRun {
            var metadata = incomplete.metadata
            metadata["error"] = "\(incomplete.reason)"
            logger.warning("\(name) ran, incomplete", metadata: metadata)
            runs("error").increment()
            countItems(incomplete.metadata)
        } catch is CancellationError where Task.isCancelled {
            // The stop cut it short (a certificate check's file reads stuck on a stalled mount, say): not a failure.
            logger.info("\(name) cut short by the stop")
        } catch {
            logger.error("\(name) failed", metadata: ["error": "\(error)"])
            runs("error").increment()
        }
    }

    private func runs(_ outcome: String) -> Counter { Self.runs(of: name, outcome, factory: metrics) }

    /// The `numberd_background_runs_total` series of `service`'s runs with `outcome` (`ok`, `error`): also counted by
    /// the provider audits an operator asks for, outside this service.
    static func runs(of service: String, _ outcome: String, factory: any MetricsFactory) -> Counter {
        Counter(
            label: "numberd_background_runs_total", dimensions: [("service", service), ("outcome", outcome)],
            factory: factory)
    }

    private func countItems(_ metadata: Logger.Metadata) {
        for (item, count) in Self.itemCounts(metadata) {
            Counter(
                label: "numberd_background_items_total", dimensions: [("service", name), ("item", item)],
                factory: metrics
            ).increment(by: count)
        }
    }
}
