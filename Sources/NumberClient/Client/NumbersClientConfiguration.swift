import Foundation
import NIOCore
import NumberAPI
import NumberTLS
import NumberWire

/// How a `NumbersClient` reaches numberd. Every limit has a documented default.
///
/// A `NumbersClient` reads the CA file of ``trustRoots`` and the files of ``clientCertificate`` once, when it is
/// made: they are compiled into one TLS context that every connection it opens, reconnects included, shares (files
/// read and parsed per connection would cost each reconnect, and could catch one half rewritten). A CA or client
/// certificate rotated on disk therefore takes effect only in a new `NumbersClient`: make one with the same
/// configuration, move the calls to it, and close the old one (its calls in flight fail with it).
public struct NumbersClientConfiguration: Sendable {
    /// Server host name or IP (also the name its certificate must carry unless `serverHostname` is set).
    public var host: String
    /// Server port. Default 7443.
    public var port: Int
    /// The API key (`nk_…`), sent as `authorization: Bearer …`; nil for calls that need none (HealthCheck).
    public var apiKey: String?
    /// The CA(s) the server certificate must chain to.
    public var trustRoots: TLSTrustRoots
    /// The name checked against the server certificate; default `host`.
    public var serverHostname: String?
    /// A client certificate for mutual TLS, if the server wants one.
    public var clientCertificate: (chain: TLSCertificateSource, key: TLSPrivateKeySource)?
    /// Connections kept to the server; calls spread over them (each to the one carrying fewest, below the server's
    /// concurrent-call limit; when all are at it and the pool is below this size, a call waits for another being
    /// made, or for room on any of them — a call on them ending, or another coming up —, whichever comes first,
    /// rather than queue behind them). Default 1 (one connection carries 100 calls).
    public var connectionPoolSize: Int
    /// TCP connect timeout, and then the limit on the wait for the server's SETTINGS once the TLS handshake is done
    /// (a connection carries calls only after them). Default 5 s. The TLS handshake between has its own
    /// (``handshakeTimeout``). A call waits for a connection being made only until its own deadline or cancellation;
    /// the attempt goes on for the pool.
    public var connectTimeout: TimeAmount
    /// The TLS handshake's limit, between the TCP connect and the server's SETTINGS. Default 10 s.
    public var handshakeTimeout: Duration = .seconds(10)
    /// Deadline of a call that sets none. Default 30 s.
    public var defaultTimeout: TimeAmount
    /// Calls one connection holds, not yet sent, while it cannot send them: the server's concurrent-call limit (its
    /// SETTINGS; numberd's is 100) is reached, or a PING checks a silent connection. Each waits at most until its own
    /// deadline; one more fails at once with `RESOURCE_EXHAUSTED` / `CLIENT_QUEUE_FULL`, never sent and not retried.
    /// At least 0 (0: no call waits). Default 10 000.
    public var queuedCallsMax = Self.queuedCallsMaxDefault
    /// The default ``queuedCallsMax``.
    public static let queuedCallsMaxDefault = 10_000
    /// Calls the pool holds while they wait for a connection being made (none up yet, or every one at the server's
    /// concurrent-call limit while the pool grows: see ``connectionPoolSize``). Each waits at most until its own
    /// deadline; one more fails at once with `RESOURCE_EXHAUSTED` / `CLIENT_QUEUE_FULL`, never sent and not retried
    /// (a call that waited before and retries after a failed connect joins the line anew, and may be refused so; a
    /// keyed one whose earlier attempt may have run then says `outcome=unknown`, with its key).
    /// At least 1. Default 100 000.
    public var poolWaitingCallsMax = Self.poolWaitingCallsMaxDefault
    /// The default ``poolWaitingCallsMax``.
    public static let poolWaitingCallsMaxDefault = 100_000
    /// Retries of calls that are safe to retry.
    public var retry: RetryPolicy
    /// How a connection that no longer carries anything is noticed and dropped.
    public var liveness: LivenessPolicy
    /// What this client advertises (its receive limits).
    public var settings: ConnectionSettings

    /// When and how often failed calls are tried again.
    public struct RetryPolicy: Sendable, Hashable {
        /// Attempts in all, including the first. Default 3.
        public var attemptsMax: Int
        /// Delay before the first retry, doubled each time with full jitter. Default 50 ms.
        public var initialBackoff: TimeAmount
        /// Largest delay between attempts. Default 2 s.
        public var backoffMax: TimeAmount
        /// Retries of a keyed call (PurchaseNumbers, AddFunds, AdjustBalance, ReleaseNumber, AdoptNumber) answered `ABORTED` / `REQUEST_IN_PROGRESS` after an
        /// earlier attempt of it may have reached the server: that attempt is still running there, so the call
        /// waits for it (same backoff, never past the call's deadline) instead of failing. At most this many, on
        /// top of `attemptsMax`. Default 10. The backoff goes on from the call's earlier retries, at least the one
        /// after its lost attempt: with the default backoff these waits are drawn below 100 ms, 200 ms, … 1.6 s, then
        /// 2 s five times — about 6.5 s on average, 13.1 s at most; more only after more retries before them, never
        /// over 10 × `backoffMax` (20 s).
        public var inProgressRetriesMax: Int
        /// Whether a call the server refused for the moment, before doing anything — `RESOURCE_EXHAUSTED` /
        /// `RATE_LIMITED` (tried again once its `retryAfterMs` has passed), `PURCHASES_BUSY`, `CHANGES_BUSY`,
        /// `SEARCHES_BUSY`, `STATEMENTS_BUSY` or `STORE_BUSY` (the account's purchases, releases and trunk changes,
        /// searches waiting for Twilio, statements being read, or writes waiting for numberd's disk) — is tried again,
        /// within `attemptsMax` and the call's deadline, whatever its method: nothing was done. A wait that would pass
        /// the deadline throws the refusal at once. (`PURCHASE_CAP` and `STORE_FULL` refuse for
        /// minutes: left to the caller.) Default true.
        public var retriesWhenBusy: Bool
        /// Retries of a call that saw its server go away (a restart, a rolling upgrade, a crash) and then cannot
        /// connect: the server is not listening yet, so the call waits for it (same backoff, never past the call's
        /// deadline) instead of spending its attempts in the first 150 ms. The server went away when the call's
        /// connection was lost (the request sent or not), a GOAWAY refused the call, or the server answered it as
        /// never started (`UNAVAILABLE` / `SHUTTING_DOWN`, …), or the client saw a connection to it go away within
        /// the 60 s before a call's connect failed (a call started during a drain). Only calls that may be tried again
        /// at all wait: a call that is neither a read nor keyed, lost after it was sent, still ends at once with its
        /// outcome unknown. A call whose every connect is refused, with nothing gone away before, spends its attempts
        /// as before.
        /// At most this many, on top of `attemptsMax`. Default 10: with the default backoff, after a lost connection
        /// (whose own retry drew below the first bound, 50 ms) about 6.5 s on average, 13.1 s at most; for a call whose
        /// first connect failed after a drain, about 5.6 s on average, 11.2 s at most; never over 10 × `backoffMax`
        /// (20 s).
        public var restartRetriesMax: Int

        /// Creates a policy.
        public init(
            attemptsMax: Int = 3, initialBackoff: TimeAmount = .milliseconds(50), backoffMax: TimeAmount = .seconds(2),
            inProgressRetriesMax: Int = 10, retriesWhenBusy: Bool = true, restartRetriesMax: Int = 10
        ) {
            self.attemptsMax = attemptsMax
            self.initialBackoff = initialBackoff
            self.backoffMax = backoffMax
            self.inProgressRetriesMax = inProgressRetriesMax
            self.retriesWhenBusy = retriesWhenBusy
            self.restartRetriesMax = restartRetriesMax
        }

        /// No retries.
        public static let none = RetryPolicy(
            attemptsMax: 1, inProgressRetriesMax: 0, retriesWhenBusy: false, restartRetriesMax: 0)
    }

    /// How the client notices a connection whose path or server is gone — a network partition, a NAT or firewall
    /// that dropped the flow, a server frozen or wedged — which TCP alone reports only after about 15 minutes (never,
    /// while the server's kernel still acknowledges): until then every call sent on it would fail at its deadline.
    public struct LivenessPolicy: Sendable, Hashable {
        /// When a call's deadline passes on a connection that received nothing since that call started (the earliest
        /// start among the calls expiring then; for a call still queued here behind calls open on the connection, since
        /// it was queued), the client sends a PING (at most one unanswered, one a second at most); if nothing at all
        /// arrives within this time after it, the connection is taken for dead: its open calls fail `UNAVAILABLE` /
        /// `CONNECTION_LOST` with `outcome=unknown` (they were sent), and the next call opens a new connection.
        /// Default 5 s (the default `connectTimeout`). Must be positive (``validate()``; the initializer traps).
        public var pingTimeout: TimeAmount
        /// Idle time after which the kernel starts TCP keepalive probes on a connection (`SO_KEEPALIVE`,
        /// `TCP_KEEPIDLE`, whole seconds, at least 1), so an idle connection to a peer that is gone ends too; nil:
        /// no keepalive. Default 30 s.
        public var tcpKeepaliveIdle: TimeAmount?
        /// Time between keepalive probes (`TCP_KEEPINTVL`, whole seconds, at least 1). Default 10 s.
        public var tcpKeepaliveInterval: TimeAmount
        /// How long data sent, or keepalive probes, may go unacknowledged before the kernel ends the connection
        /// (`TCP_USER_TIMEOUT`, milliseconds; with the keepalive defaults an idle connection to a vanished peer ends
        /// about 40 s after its last packet); nil: the kernel's default (about 15 minutes of retransmissions).
        /// Default 30 s.
        public var tcpUserTimeout: TimeAmount?

        /// Creates a policy.
        public init(
            pingTimeout: TimeAmount = .seconds(5), tcpKeepaliveIdle: TimeAmount? = .seconds(30),
            tcpKeepaliveInterval: TimeAmount = .seconds(10), tcpUserTimeout: TimeAmount? = .seconds(30)
        ) {
            self.pingTimeout = pingTimeout
            self.tcpKeepaliveIdle = tcpKeepaliveIdle
            self.tcpKeepaliveInterval = tcpKeepaliveInterval
            self.tcpUserTimeout = tcpUserTimeout
            do throws(ConfigurationError) {
                try validate()
            } catch {
                preconditionFailure("\(error.under("liveness"))")
            }
        }

        /// The defaults above.
        public static let defaults = LivenessPolicy()
    }

    /// Creates a configuration; traps on a value the client cannot work with (``validate()``, which
    /// `NumbersClient(configuration:)` runs again, and throws).
    public init(
        host: String = "127.0.0.1", port: Int = 7443, apiKey: String? = nil, trustRoots: TLSTrustRoots,
        serverHostname: String? = nil, connectionPoolSize: Int = 1, connectTimeout: TimeAmount = .seconds(5),
        defaultTimeout: TimeAmount = .seconds(30), retry: RetryPolicy = RetryPolicy(),
        liveness: LivenessPolicy = .defaults, settings: ConnectionSettings = .defaults
    ) {
        self.host = host
        self.port = port
        self.apiKey = apiKey
        self.trustRoots = trustRoots
        self.serverHostname = serverHostname
        self.connectionPoolSize = connectionPoolSize
        self.connectTimeout = connectTimeout
        self.defaultTimeout = defaultTimeout
        self.retry = retry
        self.liveness = liveness
        self.settings = settings
        do throws(ConfigurationError) {
            try validate()
        } catch {
            preconditionFailure("\(error)")
        }
    }
}

extension NumbersClientConfiguration {
    /// The local default server as `numberd` with no flags sets it up: `127.0.0.1:7443`, trusting
    /// `<data-dir>/tls/ca.pem`, with the admin key from `<data-dir>/admin.key` when it is readable (the data
    /// directory is `$NUMBERD_DATA_DIR`, else `$XDG_DATA_HOME/numberd`, else `~/.local/share/numberd`). Throws when
    /// that file is one group or others may read (``localAdminKey(host:caPath:environment:)``).
    ///
    /// The key is for that server only: a configuration pointed at another `host` or `trustRoots` must set `apiKey`
    /// itself (``localAdminKey(host:caPath:environment:)`` says when the local key may go there).
    ///
    /// ```swift
    /// let balance = try await withNumbersClient(try .localDefault()) { try await $0.getBalance(.init(accountId: id)) }
    /// ```
    public static func localDefault(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(SecretFileError) -> NumbersClientConfiguration {
        let dataDirectory = LocalDefaults.dataDirectory(environment: environment)
        let caPath = LocalDefaults.caCertificate(dataDirectory: dataDirectory)
        return NumbersClientConfiguration(
            host: "127.0.0.1", port: 7443,
            apiKey: try localAdminKey(host: "127.0.0.1", caPath: caPath, environment: environment),
            trustRoots: .file(caPath))
    }

    /// The local data directory's admin key (`<data-dir>/admin.key`, when this user can read it) for a server at
    /// `host` whose certificate is checked against the CA file `caPath`; nil unless `host` is this machine's loopback
    /// (``LocalDefaults/isLoopback(host:)``) and `caPath` is that data directory's own CA (`tls/ca.pem`). So the key
    /// goes only to a server on this machine that holds the local CA's private key, which sits beside `admin.key`:
    /// not to another host, nor through a loopback port forwarded to one (`ssh -L`) with that host's CA.
    ///
    /// The file is read as every key file is (``SecretFile``): one group or others may read or write (a copy,
    /// `install -m 644`) is refused with the advice `chmod 600 <path>`, not used — the admin key can do anything,
    /// and such a file gives it to every local user. numberd makes its own file 0600 at each start.
    public static func localAdminKey(
        host: String, caPath: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(SecretFileError) -> String? {
        try localAdminKey(
            host: host, caPath: caPath, dataDirectory: LocalDefaults.dataDirectory(environment: environment))
    }

    /// The same for the data directory `dataDirectory` (a tool given `--data-dir`).
    public static func localAdminKey(
        host: String, caPath: String, dataDirectory: String
    ) throws(SecretFileError) -> String? {
        let localCA = LocalDefaults.caCertificate(dataDirectory: dataDirectory)
        func canonical(_ path: String) -> String {
            URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
        }
        guard LocalDefaults.isLoopback(host: host), canonical(caPath) == canonical(localCA) else { return nil }
        let path = LocalDefaults.adminKeyFile(dataDirectory: dataDirectory)
        // Missing, or not this user's to read (numberd runs as another): no local key, as before.
        guard FileManager.default.isReadableFile(atPath: path) else { return nil }
        return try SecretFile.read(path, name: "the local admin key")
    }

    /// A client certificate given as files, as the bundled tools take it: `certPath` and `keyPath` (their `--cert` and
    /// `--cert-key` flags), else `NUMBERS_CERT` and `NUMBERS_CERT_KEY` (each flag over its variable), PEM files read
    /// when the client's TLS context is made; nil when neither is given. Throws, with the text a usage error shows,
    /// when one comes without the other or a path names no file: a numberd under `--client-ca` would refuse the
    /// handshake, which a client could only report as a connect failure.
    public static func clientCertificateFiles(
        certPath: String?, keyPath: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ClientCertificateFilesError) -> (chain: TLSCertificateSource, key: TLSPrivateKeySource)? {
        let chain = certPath ?? environment["NUMBERS_CERT"]
        let key = keyPath ?? environment["NUMBERS_CERT_KEY"]
        guard let chain, let key else {
            guard chain == nil, key == nil else {
                throw ClientCertificateFilesError(
                    message: "--cert and --cert-key (or NUMBERS_CERT and NUMBERS_CERT_KEY) go together: give the "
                        + "client certificate and its private key, or neither")
            }
            return nil
        }
        for (path, name) in [(chain, "--cert"), (key, "--cert-key")]
        where !FileManager.default.fileExists(atPath: path) {
            throw ClientCertificateFilesError(message: "no file at \(path) (\(name))")
        }
        return (.file(chain), .file(key))
    }

    /// Why ``clientCertificateFiles(certPath:keyPath:environment:)`` refused its paths.
    public struct ClientCertificateFilesError: Error, Sendable {
        public var message: String
    }
}
