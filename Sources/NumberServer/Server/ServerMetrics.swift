import Metrics
import NIOCore
import NumberAPI
import NumberTLS
import Synchronization

/// The server's metrics (swift-metrics; made by the factory the server is given — numberd's Prometheus registry, by
/// default the backend the process bootstrapped — and exported by it, e.g. the Prometheus text endpoint of `numberd`).
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

    /// Why a TLS handshake failed, as `numberd_tls_handshake_failures_total{reason}` says it: a fixed set, never the
    /// peer's or OpenSSL's words, so the series stay few.
    enum HandshakeFailure: String, CaseIterable {
        /// Not finished within the TLS handshake timeout (10 s).
        case timeout
        /// A certificate was refused: the client's by the server (mutual TLS: another CA, expired, none sent), or
        /// the server's by the client (its alert: unknown CA, expired, bad certificate).
        case certificate
        /// No protocol version, cipher or ALPN name in common, or bytes that are not TLS (plain HTTP).
        case protocolMismatch = "protocol"
        /// The client closed or reset the connection during the handshake without a word (a TCP health check, a port
        /// scan).
        case closed
        /// Anything else.
        case other

        /// The reason of `error`, fired while the handshake was running.
        init(_ error: TLSError) {
            switch error.code {
            case .handshakeTimeout:
                self = .timeout
            case .certificateVerificationFailed:
                self = .certificate
            case .handshakeFailed where error.openSSLErrors.isEmpty:
                // Only a close or a reset during the handshake fails it with nothing from OpenSSL.
                self = .closed
            case .handshakeFailed:
                // The client refused our certificate with an alert ("tlsv1 alert unknown ca", "sslv3 alert
                // certificate expired"), or sent none under mutual TLS ("peer did not return a certificate").
                let certificate = error.openSSLErrors.contains {
                    $0.contains("certificate") || $0.contains("unknown ca")
                }
                self = certificate ? .certificate : .protocolMismatch
            default:
                self = .other
            }
        }
    }

    private let calls = Mutex<[Key: CallHandles]>([:])
    /// `numberd_calls_in_flight{method}`, by method, made on first use.
    private let inFlight = Mutex<[String: Meter]>([:])
    /// Where the metrics are made: the process's bootstrapped backend unless a test gives its own.
    private let factory: any MetricsFactory
    /// Connections closed for breaking the framing rules.
    let protocolErrors: Counter
    /// Connections open now.
    let connections: Meter
    /// Connections refused because the limit was reached.
    let connectionsRefused: Counter
    /// Of those, connections refused because their remote address had `connectionsPerAddressMax` open.
    let connectionsRefusedPerAddress: Counter
    /// Connections refused because the server's budget of bytes in partially received frames could not take theirs.
    let partialFrameRefusals: Counter
    /// Connections closed because the server-wide budget of replies their clients do not read was spent.
    let unsentReplyRefusals: Counter
    /// Failed TLS handshakes by reason, every reason's series made at 0: a wrong `--client-ca` or an expired
    /// certificate fails every connection, and an `increase(…) > 0` alert needs a sample before the first.
    private let handshakeFailures: [HandshakeFailure: Counter]

    /// Makes every series with `factory` (default: the bootstrapped backend's).
    init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
        protocolErrors = Counter(label: "numberd_protocol_errors_total", factory: factory)
        connections = Meter(label: "numberd_connections", factory: factory)
        connectionsRefused = Counter(label: "numberd_connections_refused_total", factory: factory)
        connectionsRefusedPerAddress = Counter(label: "numberd_connections_refused_per_address_total", factory: factory)
        partialFrameRefusals = Counter(label: "numberd_partial_frame_refusals_total", factory: factory)
        unsentReplyRefusals = Counter(label: "numberd_unsent_reply_refusals_total", factory: factory)
        var handshakeFailures: [HandshakeFailure: Counter] = [:]
        for reason in HandshakeFailure.allCases {
            handshakeFailures[reason] = Counter(
                label: "numberd_tls_handshake_failures_total", dimensions: [("reason", reason.rawValue)],
                factory: factory)
        }
        self.handshakeFailures = handshakeFailures
    }

    /// Counts a failed TLS handshake.
    func recordHandshakeFailure(_ reason: HandshakeFailure) {
        handshakeFailures[reason]?.increment()
    }

    /// Counts a finished call and records its latency.
    func recordCall(method: String, status: StatusCode, duration: TimeAmount) {
        handles(for: Key(method: method, status: status.rawValue)).record(duration)
    }

    /// `numberd_calls_in_flight{method}`: the calls of `method` (a registered one: clients must not grow the label set)
    /// whose handler is running in the core now — from the start of the call's task (at once after the request
    /// arrived) until the handler returns, which for a purchase or release the connection answered at its deadline is
    /// when the work at Twilio ends, not the answer. In-memory reads, which run in the read that brought them, are not
    /// counted. A call that never leaves shows as a series that stays above 0.
    func callsInFlight(_ method: String) -> Meter {
        inFlight.withLock { cache in
            if let existing = cache[method] { return existing }
            let made = Meter(label: "numberd_calls_in_flight", dimensions: [("method", method)], factory: factory)
            cache[method] = made
            return made
        }
    }

    /// The series of `key`, made on first use. Connections keep what they got in a cache of their own, so the lock
    /// here is taken once per series and connection, not once per call.
    func handles(for key: Key) -> CallHandles {
        calls.withLock { cache in
            if let existing = cache[key] { return existing }
            let made = CallHandles(
                counter: Counter(
                    label: "numberd_calls_total",
                    dimensions: [("method", key.method), ("status", StatusCode(rawValue: key.status).name)],
                    factory: factory),
                timer: Timer(
                    label: "numberd_call_duration_seconds", dimensions: [("method", key.method)], factory: factory))
            cache[key] = made
            return made
        }
    }
}
