/// Limits and settings of a ``CurlHTTPClient``.
///
/// Every limit is a named field with a documented default; ``defaults`` suits calls to a REST API such as Twilio's.
///
/// ```swift
/// var configuration = HTTPClientConfiguration.defaults
/// configuration.tls.caFilePath = "/var/lib/numberd/simulator-ca.pem"
/// let client = try CurlHTTPClient(configuration: configuration)
/// ```
public struct HTTPClientConfiguration: Sendable, Hashable {
    /// Timeouts applied to every transfer.
    public struct Timeouts: Sendable, Hashable {
        /// Longest time to resolve the name, connect and finish the TLS handshake. Default 5 000 ms.
        public var connectMilliseconds: Int
        /// Longest time for a whole transfer (connect included) unless the request sets its own. Default 30 000 ms.
        public var totalMilliseconds: Int
        /// A request that must not be sent twice (``HTTPRequest/allowsSilentResend`` false) reuses a kept-alive
        /// connection only if it has been idle for less than this many seconds, so that a server closing it for
        /// idleness just as the request goes out (which fails the request: it is never sent again) stays rare; 0
        /// opens a new connection for each. Default 20 s (well under the 60 s idle timeout of common load balancers).
        public var nonRepeatableReuseIdleSeconds: Int
        /// Longest time a request waits in the queue for a transfer slot; past it, it fails `.queueTimeout` without
        /// having been sent (the transfer's own timeouts start only when it leaves the queue, so a full queue behind
        /// slow transfers held a request for minutes, long after its caller stopped waiting). Checked at least once a
        /// second. Default 10 000 ms.
        public var queueWaitMilliseconds: Int

        /// Creates timeouts.
        public init(
            connectMilliseconds: Int, totalMilliseconds: Int, nonRepeatableReuseIdleSeconds: Int = 20,
            queueWaitMilliseconds: Int = 10_000
        ) {
            self.connectMilliseconds = connectMilliseconds
            self.totalMilliseconds = totalMilliseconds
            self.nonRepeatableReuseIdleSeconds = nonRepeatableReuseIdleSeconds
            self.queueWaitMilliseconds = queueWaitMilliseconds
        }

        /// 5 s to connect, 30 s in total.
        public static let defaults = Timeouts(connectMilliseconds: 5_000, totalMilliseconds: 30_000)
    }

    /// Bounds on work in flight and on sizes.
    public struct Limits: Sendable, Hashable {
        /// Transfers running at once on the client's thread; more requests wait in the queue. Default 16.
        public var concurrentTransfersMax: Int
        /// Requests waiting for a transfer slot; one more fails at once with `.queueFull`. Default 1 024.
        public var queuedRequestsMax: Int
        /// Largest response body accepted; a larger one aborts the transfer with `.responseTooLarge`. Default 8 MiB.
        public var responseBodyLengthMax: Int
        /// Largest total size of response header lines accepted. Default 64 KiB.
        public var responseHeadersLengthMax: Int
        /// Largest request body accepted by ``CurlHTTPClient/execute(_:)``. Default 8 MiB.
        public var requestBodyLengthMax: Int
        /// Idle connections kept open in the connection cache for reuse. Default 16.
        public var idleConnectionsMax: Int

        /// Creates limits.
        public init(
            concurrentTransfersMax: Int,
            queuedRequestsMax: Int,
            responseBodyLengthMax: Int,
            responseHeadersLengthMax: Int,
            requestBodyLengthMax: Int,
            idleConnectionsMax: Int
        ) {
            self.concurrentTransfersMax = concurrentTransfersMax
            self.queuedRequestsMax = queuedRequestsMax
            self.responseBodyLengthMax = responseBodyLengthMax
            self.responseHeadersLengthMax = responseHeadersLengthMax
            self.requestBodyLengthMax = requestBodyLengthMax
            self.idleConnectionsMax = idleConnectionsMax
        }

        /// 16 transfers, 1 024 queued, 8 MiB bodies, 64 KiB of headers, 16 idle connections.
        public static let defaults = Limits(
            concurrentTransfersMax: 16,
            queuedRequestsMax: 1_024,
            responseBodyLengthMax: 8 << 20,
            responseHeadersLengthMax: 64 << 10,
            requestBodyLengthMax: 8 << 20,
            idleConnectionsMax: 16
        )
    }

    /// How the server's certificate is checked. Verification of the chain and of the host name is always on.
    public struct TLS: Sendable, Hashable {
        /// PEM file of the CA certificates to trust instead of the system store (e.g. the simulator's CA);
        /// `nil` uses the system store. Default `nil`. Read for each new connection, so a file replaced in place is
        /// trusted from the next one on.
        public var caFilePath: String?

        /// Creates TLS settings.
        public init(caFilePath: String?) {
            self.caFilePath = caFilePath
        }

        /// The system trust store.
        public static let defaults = TLS(caFilePath: nil)
    }

    /// Timeouts applied to every transfer.
    public var timeouts: Timeouts
    /// Bounds on work in flight and on sizes.
    public var limits: Limits
    /// Trust settings.
    public var tls: TLS
    /// `User-Agent` header sent with every request unless the request sets one. Default `numberd-curlhttp/1`.
    public var userAgent: String
    /// Whether the proxy named by the environment (`https_proxy`, `HTTPS_PROXY`, `ALL_PROXY`, with `NO_PROXY`) is
    /// used, as libcurl does by default. Default true (a deployment may reach Twilio through a proxy); false for a
    /// server on this machine, such as the in-process simulator, which a proxy in the environment would otherwise
    /// be asked to reach.
    public var usesEnvironmentProxy: Bool
    /// The proxy every request goes through, in libcurl's `CURLOPT_PROXY` form (`http://proxy.example:3128`), in
    /// place of the environment's: when set, neither the proxy variables nor `NO_PROXY` are read, whatever
    /// ``usesEnvironmentProxy`` says. Requests reach their https:// server through a `CONNECT` tunnel, TLS still
    /// end to end with the server. `""` means no proxy at all. Default `nil`: the environment decides.
    public var proxy: String?

    /// Creates a configuration.
    public init(
        timeouts: Timeouts, limits: Limits, tls: TLS, userAgent: String, usesEnvironmentProxy: Bool = true,
        proxy: String? = nil
    ) {
        self.timeouts = timeouts
        self.limits = limits
        self.tls = tls
        self.userAgent = userAgent
        self.usesEnvironmentProxy = usesEnvironmentProxy
        self.proxy = proxy
    }

    /// The defaults of every sub-configuration.
    public static let defaults = HTTPClientConfiguration(
        timeouts: .defaults,
        limits: .defaults,
        tls: .defaults,
        userAgent: "numberd-curlhttp/1"
    )

    /// Traps on values no client can run with (a programmer error, not bad input).
    func validate() {
        precondition(timeouts.connectMilliseconds > 0, "connectMilliseconds must be positive")
        precondition(timeouts.nonRepeatableReuseIdleSeconds >= 0, "nonRepeatableReuseIdleSeconds must not be negative")
        precondition(timeouts.totalMilliseconds > 0, "totalMilliseconds must be positive")
        precondition(timeouts.queueWaitMilliseconds > 0, "queueWaitMilliseconds must be positive")
        precondition(limits.concurrentTransfersMax > 0, "concurrentTransfersMax must be positive")
        precondition(limits.queuedRequestsMax >= 0, "queuedRequestsMax must not be negative")
        precondition(limits.responseBodyLengthMax >= 0, "responseBodyLengthMax must not be negative")
        precondition(limits.responseHeadersLengthMax > 0, "responseHeadersLengthMax must be positive")
        precondition(limits.requestBodyLengthMax >= 0, "requestBodyLengthMax must not be negative")
        precondition(limits.idleConnectionsMax > 0, "idleConnectionsMax must be positive")
    }
}
