import Foundation
import Metrics

/// The core's metrics (swift-metrics; whatever backend the process bootstraps exports them, e.g. numberd's
/// Prometheus endpoint). Created lazily, after the process bootstrapped its backend.
package enum CoreMetrics {
    /// How long one group commit (one store call for several operations) took to be durable.
    static let storeCommitDuration = Timer(label: "numberd_store_commit_duration_seconds")
    /// Group commits made.
    static let storeCommits = Counter(label: "numberd_store_commits_total")
    /// Operations (batches) those commits carried: their ratio to commits is the mean group-commit size.
    static let storeCommittedOperations = Counter(label: "numberd_store_committed_operations_total")
    /// Failed commits (each stops writes: fail-stop).
    static let storeCommitFailures = Counter(label: "numberd_store_commit_failures_total")
    /// Decisions refused because the store had no room for a write (`STORE_FULL`: a full disk or quota), at the disk or
    /// during the pause after it; writes resume by themselves once there is room.
    static let storeNoRoomRefusals = Counter(label: "numberd_store_no_room_refusals_total")
    /// Decisions starting new work refused because too many writes waited for the store's disk (`STORE_BUSY`).
    static let storeBusyRefusals = Counter(label: "numberd_store_busy_refusals_total")
    /// Failed snapshots (each fails only itself: the journal holds every record and writes go on).
    static let storeSnapshotFailures = Counter(label: "numberd_store_snapshot_failures_total")

    /// Makes the store's failure counters, so that they read 0 from the start: an alert on `increase(…) > 0` needs a
    /// sample before the first failure (a counter made at its first increment shows 1 at its first sample, and misses
    /// it). Call once the metrics backend is bootstrapped.
    package static func createStoreSeries() {
        _ = [storeCommitFailures, storeNoRoomRefusals, storeBusyRefusals, storeSnapshotFailures]
    }

    /// Records one provider call: its latency (retries included) and outcome, made with `factory` (the process's
    /// bootstrapped backend unless a test gives its own).
    static func recordProviderCall(
        method: String, resource: String, outcome: String, seconds: Double,
        factory: any MetricsFactory = MetricsSystem.factory
    ) {
        let dimensions = [("method", method), ("resource", resource)]
        Timer(label: "numberd_twilio_call_duration_seconds", dimensions: dimensions, factory: factory)
            .recordNanoseconds(Int64(seconds * 1e9))
        Counter(label: "numberd_twilio_calls_total", dimensions: dimensions + [("outcome", outcome)], factory: factory)
            .increment()
    }

    /// `numberd_twilio_calls_in_flight{method,resource}`: the provider calls under way, from their first attempt to
    /// their outcome (retries and the waits between them included). A call that stays in it long past the adapter's
    /// timeouts never ended: with no request at Twilio meanwhile, a lost answer inside numberd.
    static func providerCallsInFlight(
        method: String, resource: String, factory: any MetricsFactory = MetricsSystem.factory
    ) -> Meter {
        Meter(
            label: "numberd_twilio_calls_in_flight", dimensions: [("method", method), ("resource", resource)],
            factory: factory)
    }

    /// Counts one retry of a provider request (a wait before another attempt) by why it was retried, one of a fixed
    /// set: how much of the provider's traffic is numberd's own retrying, while the calls' outcomes show only how
    /// each call ended.
    static func recordProviderRetry(reason: String, factory: any MetricsFactory = MetricsSystem.factory) {
        Counter(label: "numberd_twilio_retries_total", dimensions: [("reason", reason)], factory: factory).increment()
    }
}
