import Foundation
import NumberCore

#if canImport(Glibc)
import Glibc
#endif

/// One timed phase: `concurrency` tasks repeat an operation for `seconds`.
struct AdapterRun {
    struct Result {
        var operations: Int
        var seconds: Double
        var p50: Double
        var p99: Double
        var requests: Int
        var newConnections: Int

        var rate: Double { Double(operations) / seconds }
        /// Share of HTTP requests that went over a connection opened earlier.
        var reusedShare: Double { requests == 0 ? 0 : Double(max(0, requests - newConnections)) / Double(requests) }
    }

    /// Runs `operation(worker)` in `concurrency` tasks until `seconds` pass; any error ends the run with it.
    static func run(
        harness: SimulatorHarness, concurrency: Int, seconds: Double,
        operation: @escaping @Sendable (Int) async throws -> Void
    ) async throws -> Result {
        harness.clearRequestLog()
        let connectionsBefore = harness.acceptedConnections
        let start = now()
        let deadline = start + seconds
        let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    var mine: [Double] = []
                    while now() < deadline {
                        let began = now()
                        try await operation(worker)
                        mine.append(now() - began)
                    }
                    return mine
                }
            }
            return try await group.reduce(into: [Double]()) { $0 += $1 }.sorted()
        }
        let elapsed = now() - start
        return Result(
            operations: latencies.count, seconds: elapsed, p50: percentile(latencies, 0.5),
            p99: percentile(latencies, 0.99), requests: harness.loggedRequests,
            newConnections: harness.acceptedConnections - connectionsBefore)
    }

    static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    static func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
    }
}

/// A benchmark failure: the run exits non-zero with this message.
struct BenchmarkError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
