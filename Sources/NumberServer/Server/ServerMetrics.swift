import Metrics
import NIOCore
import NumberAPI
import Synchronization

/// The server's metrics (swift-metrics; exported by whatever backend the process bootstraps, e.g. the Prometheus
/// text endpoint of `numberd`).
final class ServerMetrics: Sendable {
    private struct Key: Hashable {
        var method: String
        var status: Int32
    }

    private let calls = Mutex<[Key: (Counter, Timer)]>([:])
    /// Connections closed for breaking the framing rules.
    let protocolErrors = Counter(label: "numberd_protocol_errors_total")
    /// Connections open now.
    let connections = Meter(label: "numberd_connections")
    /// Connections refused because the limit was reached.
    let connectionsRefused = Counter(label: "numberd_connections_refused_total")

    /// Counts a finished call and records its latency.
    func recordCall(method: String, status: StatusCode, duration: TimeAmount) {
        let key = Key(method: method, status: status.rawValue)
        let (counter, timer) = calls.withLock { cache in
            if let existing = cache[key] { return existing }
            let dimensions = [("method", method), ("status", status.name)]
            let made = (
                Counter(label: "numberd_calls_total", dimensions: dimensions),
                Timer(label: "numberd_call_duration_seconds", dimensions: [("method", method)])
            )
            cache[key] = made
            return made
        }
        counter.increment()
        timer.recordNanoseconds(duration.nanoseconds)
    }
}
