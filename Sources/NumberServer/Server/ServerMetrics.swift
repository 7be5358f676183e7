import Metrics
import NIOCore
import NumberAPI
import Synchronization

/// The server's metrics (swift-metrics; exported by whatever backend the process bootstraps, e.g. the Prometheus
/// text endpoint of `numberd`).
final class ServerMetrics: Sendable {
    /// One series: a method and a final status.
    struct Key: Hashable {
        var method: String
        var status: Int32
    }

    /// The metric objects of one series (they are Sendable and thread-safe themselves).
    struct CallHandles {
        let counter: Counter
        let timer: Timer

        func record(_ duration: TimeAmount) {
            counter.increment()
            timer.recordNanoseconds(duration.nanoseconds)
        }
    }

    private let calls = Mutex<[Key: CallHandles]>([:])
    /// Connections closed for breaking the framing rules.
    let protocolErrors = Counter(label: "numberd_protocol_errors_total")
    /// Connections open now.
    let connections = Meter(label: "numberd_connections")
    /// Connections refused because the limit was reached.
    let connectionsRefused = Counter(label: "numberd_connections_refused_total")
    /// Of those, connections refused because their remote address had `connectionsPerAddressMax` open.
    let connectionsRefusedPerAddress = Counter(label: "numberd_connections_refused_per_address_total")
    /// Connections refused because the server's budget of bytes in partially received frames could not take theirs.
    let partialFrameRefusals = Counter(label: "numberd_partial_frame_refusals_total")
    /// Connections closed because the server-wide budget of replies their clients do not read was spent.
    let unsentReplyRefusals = Counter(label: "numberd_unsent_reply_refusals_total")

    /// Counts a finished call and records its latency.
    func recordCall(method: String, status: StatusCode, duration: TimeAmount) {
        handles(for: Key(method: method, status: status.rawValue)).record(duration)
    }

    /// The series of `key`, made on first use. Connections keep what they got in a cache of their own, so the lock
    /// here is taken once per series and connection, not once per call.
    func handles(for key: Key) -> CallHandles {
        calls.withLock { cache in
            if let existing = cache[key] { return existing }
            let made = CallHandles(
                counter: Counter(
                    label: "numberd_calls_total",
                    dimensions: [("method", key.method), ("status", StatusCode(rawValue: key.status).name)]),
                timer: Timer(label: "numberd_call_duration_seconds", dimensions: [("method", key.method)]))
            cache[key] = made
            return made
        }
    }
}
