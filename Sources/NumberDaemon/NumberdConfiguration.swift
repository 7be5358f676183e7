import Foundation
import Logging
import NumberAPI
import NumberCore
import NumberServer
import NumberTLS

/// Everything `numberd` can be told, with the embedded defaults: no flags at all gives a working service on
/// `127.0.0.1:7443` with a JSON store and TLS material in the default data directory and an in-process Twilio
/// simulator. Values come from flags, then `NUMBERD_*` environment variables, then an optional JSON config file.
public struct NumberdConfiguration: Sendable {
    /// RPC listen address. Flag `--listen`, env `NUMBERD_LISTEN`, file `listen`. Default `127.0.0.1:7443`.
    public var listen: HostAndPort
    /// The data directory (store, TLS material, admin key). Flag `--data-dir`, env `NUMBERD_DATA_DIR`, file
    /// `data-dir`. Default `$XDG_DATA_HOME/numberd` or `~/.local/share/numberd`.
    public var dataDirectory: String
    /// Prometheus text endpoint (`GET /metrics`), nil = off. Flag `--metrics-listen` (`off`, in any case, disables),
    /// env `NUMBERD_METRICS_LISTEN`, file `metrics-listen`. Default `127.0.0.1:9464`.
    public var metricsListen: HostAndPort?
    /// Where numbers come from: Twilio itself when credentials are configured (`TWILIO_ACCOUNT_SID` with
    /// `TWILIO_AUTH_TOKEN`, or with `TWILIO_API_KEY_SID` + `TWILIO_API_KEY_SECRET`; each secret also as
    /// `<NAME>_FILE` or a systemd credential: ``TwilioSecrets``), else the in-process simulator. `simulator-seed`
    /// given with credentials refuses the start (``checkSimulatorSeed(_:configuration:)``).
    public var provider: Provider
    /// Where the Twilio secret came from (its variable, `_FILE` variable or credential), for the log and for SIGHUP
    /// (only a secret from a file or credential can change while numberd runs).
    package var twilioSecretSources: [String] = []
    /// The environment the Twilio credentials were resolved from (the `TWILIO_` variables, their `_FILE` paths and
    /// `CREDENTIALS_DIRECTORY`): SIGHUP resolves them again from it (``TwilioCredentialReload``).
    package var twilioCredentialEnvironment: [String: String] = [:]
    /// Bind the data directory to `provider` even though it is bound to another provider account
    /// (``ProviderBinding``): only for numbers moved to that account. Flag `--rebind-provider` only (not the environment
    /// or the config file, where it would stay set and disarm the check for good). Default false.
    public var rebindProvider: Bool
    /// The server certificate chain and key (PEM files); nil = generated in the data directory from a local CA.
    public var tlsCertificate: (chain: String, key: String)?
    /// A CA file: when set, clients must present a certificate it issued (mutual TLS). Default off.
    public var clientCAFile: String?
    /// Where online backups go (`numbers backup`, the RPC CreateBackup:
    /// ``NumberCore/FileNumberStore/backup(into:kept:including:now:checkingRoot:ended:)``), each a folder
    /// `backup-<UTC time>` holding `store/` and `provider.json`. Flag `--backup-dir`, env `NUMBERD_BACKUP_DIR`, file
    /// `backup-dir`; not the store folder or inside it (a start compares the paths as written, each backup with
    /// symbolic links resolved). Default `<data-dir>/backups`.
    public var backupDirectory: String
    /// How many backups are kept in ``backupDirectory``: after a backup, older ones beyond this many are removed.
    /// Flag `--backups-kept`, env `NUMBERD_BACKUPS_KEPT`, file `backups-kept`, 1...1000. Default 7.
    public var backupsKept: Int
    /// How numberd looks at ``backupDirectory`` (resolving its links, listing it): only ever on the store's backup
    /// queue. Tests hand in one that blocks, as a backup disk that stalls does.
    package var backupDirectoryProbe = BackupDirectoryProbe.system
    /// How often due renewals and grace-period releases run, 1...86400 s. Default 60 s. A tick runs billing again
    /// while more is due (each run decides at most 500 actions), up to ``billingRunsPerTickMax`` runs.
    public var billingIntervalSeconds: Int
    /// How long a past-due number is kept (its owner can still pay) before it is released. Flag `--grace-period`,
    /// env `NUMBERD_GRACE_PERIOD`, file `grace-period`, 0...7776000 s (90 days). Default 604800 s (7 days).
    public var gracePeriodSeconds: Int
    /// How often open purchase intents are reconciled with the provider (also once at start), 1...86400 s. Default
    /// 60 s.
    public var reconcileIntervalSeconds: Int
    /// How often a snapshot is written (also once at shutdown), 1...86400 s. Default 300 s.
    public var snapshotIntervalSeconds: Int
    /// Largest snapshot file written or read (`JournalOptions.Limits.snapshotBytesMax`; default and maximum
    /// 4 GiB − 2, about 4.8 million owned numbers). Flag `--snapshot-bytes-max`, env `NUMBERD_SNAPSHOT_BYTES_MAX`,
    /// file `snapshot-bytes-max`; `numberd verify` takes it too.
    public var snapshotBytesMax: Int
    /// An open purchase that the provider does not fully hold is left for a later pass rather than voided until this
    /// long after its last buy ended (after numberd's start, for one an earlier process left open): a buy sent
    /// before a crash or timeout may still land (``NumberServiceConfig/Reconcile/inFlightHorizonSeconds``). Flag/env
    /// `NUMBERD_RECONCILE_IN_FLIGHT_HORIZON`, file `reconcile-in-flight-horizon`, 0...86400 s. Default 600 s.
    public var reconcileInFlightHorizonSeconds: Int
    /// How long a number of a purchase that reconciliation voided (its buy may still land at Twilio) is watched by
    /// the orphan sweep, which runs after each reconciliation and releases it at Twilio if it appears with nobody
    /// owning it. Flag `--orphan-watch`, env `NUMBERD_ORPHAN_WATCH`, file `orphan-watch`, 0...2592000 s (0 = off; on,
    /// at least the in-flight horizon + 3600 s, the window in which other purchases of the number are refused). Default
    /// 86400 s, or that window when a horizon makes it longer.
    public var orphanWatchSeconds: Int
    /// How often the provider audit runs (``NumberCore/NumberService/auditProvider(recheckAfter:)``: every number the
    /// provider account owns compared with the store, twice `providerAuditRecheckSeconds` apart; differences logged
    /// at warning and exported as `numberd_provider_audit_differences{kind}`). Flag `--provider-audit-interval`, env
    /// `NUMBERD_PROVIDER_AUDIT_INTERVAL`, file `provider-audit-interval`, 0...604800 s (0 = off). Default 21600 s
    /// (6 h); the first audit runs 10 minutes after the start (``providerAuditFirstRunSeconds``).
    public var providerAuditIntervalSeconds: Int
    /// How long the audit waits between its two listings (the provider's lists lag its purchases and releases by
    /// seconds, so a shorter wait reports numbers in flight). Flag `--provider-audit-recheck`, 10...3600 s. Default
    /// 60 s.
    public var providerAuditRecheckSeconds: Int
    /// When the first audit runs after a start: this, or one interval if that is shorter. 600 s.
    public static let providerAuditFirstRunSeconds = 600
    /// How far the clock may be ahead, when numberd starts, of the latest time the data records anything at
    /// (``NumberCore/CoreState/latestRecordedTime``) or a numberd running on it saw (its `clock` file, written at start,
    /// every minute and at shutdown); further, the start is refused: a clock far ahead (booted before
    /// NTP set it) would renew every number once for each month skipped and expire every idempotency key, so a lost
    /// answer retried after the restart would be credited again. After a real outage that long, start once with a
    /// larger value. Flag `--clock-lead-max`, env `NUMBERD_CLOCK_LEAD_MAX`, file `clock-lead-max`, 0...315360000 s
    /// (0 turns the check off). Default 2678400 s (31 days: at most one missed billing cycle without the operator).
    /// A clock behind the data at the start may be corrected by as much while numberd runs (``ServiceClock``; 0: any);
    /// otherwise a running numberd follows no step of the wall clock over ``ServiceClock/stepMaxSeconds``.
    public var clockLeadMaxSeconds: Int
    /// Connection limits of the RPC server. Of them, `connectionsMax` is flag `--connections-max` (env
    /// `NUMBERD_CONNECTIONS_MAX`, file `connections-max`), `connectionsPerAddressMax` (default 1000, loopback
    /// exempt) flag `--connections-per-address-max` (env `NUMBERD_CONNECTIONS_PER_ADDRESS_MAX`, file
    /// `connections-per-address-max`), and `partialFrameBytesMax` (the server-wide budget of bytes in partially
    /// received frames, default 256 MiB, at least one whole largest request frame: 65,548 bytes, for the server's
    /// 64 KiB MAX_MESSAGE_PAYLOAD) flag `--partial-frame-bytes-max` (env `NUMBERD_PARTIAL_FRAME_BYTES_MAX`, file
    /// `partial-frame-bytes-max`).
    public var connectionLimits: NumberServerConfiguration.ConnectionLimits
    /// Per-account rate limits and purchase cap: flag `--rate-limit` (calls per second, the burst twice that,
    /// ``rateLimitRange``), env `NUMBERD_RATE_LIMIT`, file `rate-limit`; flag `--purchase-cap` (numbers per hour,
    /// ``purchaseCapRange``), env `NUMBERD_PURCHASE_CAP`, file `purchase-cap`. SIGHUP reads the file's again
    /// (``SettingsReload``).
    public var rateLimits: RateLimiter.Limits
    /// How prices are made from Twilio's monthly cost (``NumberCore/PricingPolicy``; the core's `pricing`): flag
    /// `--pricing-markup-percent` (``pricingMarkupPercentRange``, default 15), `--pricing-minimum-monthly-fee` and
    /// `--pricing-default-setup-fee` (minor units, ``pricingFeeRange``, defaults 100 and 0), `--pricing-setup-fees`
    /// (`COUNTRY/TYPE=FEE` entries, ``setupFees(parsing:)``, which replace the default table `US/toll_free=200`); each
    /// also `NUMBERD_PRICING_…` and the file's key of its name. Checked as the core checks a policy
    /// (``checkPricing(_:)``). Read at start only: the core built at start holds it (a reload names a changed one as
    /// needing a restart). Numbers owned keep the fees they were bought at.
    public var pricing: PricingPolicy
    /// Graceful shutdown waits this long for open calls, 1...86400 s. Default 30 s.
    public var drainTimeoutSeconds: Int
    /// The https:// base URL of a `twilio-sim` to use as Twilio when real credentials are configured (e.g. on
    /// loopback, its state outliving numberd restarts): the three APIs are under it as the simulator serves them,
    /// `/api`, `/pricing` and `/trunking` (``TwilioConfiguration/Endpoints/simulator(at:)``); nil = Twilio's own
    /// hosts. Env `NUMBERD_TWILIO_BASE_URL`, file `twilio-base-url`. Default nil. It and the two below need Twilio
    /// credentials: a start given any of them without is refused (``checkTwilioEndpoint(_:provider:)``).
    public var twilioBaseURL: String?
    /// A PEM CA file to trust for the Twilio endpoints instead of the system store (with `twilioBaseURL`). Env
    /// `NUMBERD_TWILIO_CA_FILE`, file `twilio-ca-file`; with Twilio credentials a file that cannot be read or holds no
    /// PEM certificate refuses the start (``checkCAFile(_:key:)``). Default nil.
    public var twilioCAFile: String?
    /// The whole-request timeout of a Twilio call (or of one to the in-process simulator). Env
    /// `NUMBERD_TWILIO_TIMEOUT_MS`, file `twilio-timeout-ms`, 100...120 000. Default 15 000 ms
    /// (``TwilioConfiguration/httpDefaults``).
    public var twilioRequestTimeoutMilliseconds: Int
    /// Regulatory Bundles approved for the Twilio account, by ISO country and number type (`GB/toll_free`) or by
    /// country (`GB`, for its types without one of their own) → Bundle SID (`BU` + 32 hex), sent with every purchase of
    /// such a number (``NumberCore/TwilioConfiguration/regulatoryBundles``): Twilio refuses most numbers outside the US
    /// and Canada without one (21649, answered PROVIDER_MISCONFIGURED). Flag `--twilio-bundles GB=BU…` (repeatable),
    /// env `NUMBERD_TWILIO_BUNDLES`, file `twilio-bundles` (a string, or an object `{"GB": "BU…"}`): `KEY=SID`
    /// entries separated by commas. The in-process simulator takes them as approved. Default none.
    public var twilioBundles: [String: String]
    /// The lowest level logged (to standard error). Flag `--log-level`, env `NUMBERD_LOG_LEVEL`, file `log-level`:
    /// trace, debug, info, notice, warning, error or critical; anything else is refused. Default info. SIGHUP reads
    /// the file's again (``SettingsReload``), as it does `rate-limit` and `purchase-cap`.
    public var logLevel: Logger.Level
    /// Where the settings came from: the flags and `NUMBERD_` variables given at start and the config file's values
    /// as the start read them. SIGHUP reads the file again and resolves it under the same precedence (a flag or
    /// variable given at start keeps winning over the file): ``SettingsReload``.
    package var origin = Origin()

    /// The places settings are read from, in order of precedence: the flags, the `NUMBERD_` variables, the config file.
    package struct Origin: Sendable {
        /// The flags given (by name, without `--`).
        package var flags: [String: String] = [:]
        /// The environment's `NUMBERD_` variables.
        package var environment: [String: String] = [:]
        /// The config file's values (empty without a file).
        package var file: [String: String] = [:]
        /// The whole environment the start resolved its settings under, less the Twilio credentials' variables
        /// (`TWILIO_…`, `CREDENTIALS_DIRECTORY`): SIGHUP resolves the file again under it, so the checks that depend on
        /// more than the `NUMBERD_` variables — the default data directory from `XDG_DATA_HOME` or `HOME`, and so
        /// `backup-dir`'s check against the store — compare the paths the start compared. The Twilio secret is read
        /// again by its own reload (``TwilioCredentialReload``), which keeps the one in use when it cannot be read: a
        /// secret file removed after the start must not stop a change of the log level.
        package var startEnvironment: [String: String] = [:]

        /// Nothing given: the embedded defaults.
        package init() {}

        /// `flags` and `environment` (its `NUMBERD_` variables name the overrides; the rest but the Twilio credentials
        /// is kept for a reload), and the config file they name (flag `--config`, else `NUMBERD_CONFIG`), read now.
        package init(flags: [String: String], environment: [String: String]) throws {
            self.flags = flags
            self.environment = environment.filter { $0.key.hasPrefix("NUMBERD_") }
            startEnvironment = environment.filter { name, _ in
                !name.hasPrefix("TWILIO_") && name != "CREDENTIALS_DIRECTORY"
            }
            if let configPath {
                guard !configPath.isEmpty else {
                    throw ConfigurationError(
                        "config must name a file, not an empty value: an empty NUMBERD_CONFIG (a compose file's unset "
                            + "variable) counts as set; unset it to run without a config file")
                }
                file = try NumberdConfiguration.loadFile(configPath)
            }
        }

        /// The config file's path, nil when numberd runs without one.
        package var configPath: String? { flags["config"] ?? environment["NUMBERD_CONFIG"] }

        /// Where a value of `key` that wins over the config file was given (`--key` or `NUMBERD_KEY`), or nil.
        package func override(of key: String) -> String? {
            if flags[key] != nil { return "--" + key }
            let variable = Self.variable(key)
            return environment[variable] != nil ? variable : nil
        }

        /// A setting by its flag name: the flag, else `NUMBERD_<NAME>`, else the config file.
        func value(_ key: String) -> String? {
            flags[key] ?? environment[Self.variable(key)] ?? file[key]
        }

        /// `NUMBERD_<NAME>` of the flag `key`.
        static func variable(_ key: String) -> String {
            "NUMBERD_" + key.uppercased().replacingOccurrences(of: "-", with: "_")
        }
    }

    /// Every key a `--config` file may hold: the flags' names, and the settings that have no flag. Any other key is
    /// refused, naming it (a misspelt `rate_limit` would otherwise leave the default in force unnoticed).
    public static let fileKeys: Set<String> = [
        "listen", "data-dir", "metrics-listen", "tls-cert", "tls-key", "client-ca", "simulator-seed", "rate-limit",
        "purchase-cap", "connections-max", "connections-per-address-max", "partial-frame-bytes-max",
        "unsent-reply-bytes-max",
        "billing-interval", "grace-period", "reconcile-interval",
        "snapshot-interval", "snapshot-bytes-max", "drain-timeout", "reconcile-in-flight-horizon", "orphan-watch",
        "provider-audit-interval", "provider-audit-recheck", "log-level", "clock-lead-max", "twilio-base-url",
        "twilio-ca-file", "twilio-timeout-ms", "twilio-bundles", "backup-dir", "backups-kept", "pricing-markup-percent",
        "pricing-minimum-monthly-fee", "pricing-default-setup-fee", "pricing-setup-fees",
    ]

    /// `NUMBERD_` variables that name no setting but that numberd or its tests read themselves: the crash tests' armed
    /// point (``NumberCore/CrashPoint``, read by numberd), and the knobs of the crash, fault and fixture tests.
    static let variablesReadElsewhere: Set<String> = [
        CrashPoint.environmentVariable, "NUMBERD_CRASH_CYCLES", "NUMBERD_CRASH_SEED", "NUMBERD_SAGA_CRASH_HITS",
        "NUMBERD_FAULT_MODES", "NUMBERD_FAULT_PURCHASES", "NUMBERD_WRITE_STORE_FIXTURE",
    ]

    /// The flags read from the command line only: kept in the environment or a config file, each would stay on
    /// unnoticed.
    static let commandLineOnlyKeys: Set<String> = ["rebind-provider", "allow-core-dumps"]

    /// The `NUMBERD_` variables of `environment` that numberd does not read, each with why, for the start's warning.
    /// A config file's unknown key is refused, but a variable only warned about: a test's children inherit the test's
    /// variables, and a misspelt one (`NUMBERD_RATE_LIMT`) otherwise left the default in force without a word.
    package static func ignoredVariables(in environment: [String: String]) -> [String: String] {
        let settings = Set(fileKeys.map(Origin.variable)).union(["NUMBERD_CONFIG"])
        var ignored: [String: String] = [:]
        for name in environment.keys where name.hasPrefix("NUMBERD_") {
            guard !settings.contains(name), !variablesReadElsewhere.contains(name) else { continue }
            if let key = commandLineOnlyKeys.first(where: { Origin.variable($0) == name }) {
                ignored[name] = "--\(key) is read from the command line only"
            } else {
                ignored[name] = "it names no setting (misspelt?)"
            }
        }
        return ignored
    }

    /// The provider of numbers.
    public enum Provider: Sendable, Hashable {
        /// The in-process Twilio simulator on loopback, with a deterministic inventory from `seed`.
        case simulator(seed: UInt64)
        /// Twilio's API with these credentials.
        case twilio(TwilioCredentials)
    }

    /// A `host:port` pair.
    public struct HostAndPort: Sendable, Hashable, CustomStringConvertible {
        /// Host name or IP.
        public var host: String
        /// Port (0 = any free port).
        public var port: Int

        /// Creates a pair.
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        /// Parses `host:port` (IPv6 as `[::1]:7443`), the value of the setting `key` (`listen`, `metrics-listen`),
        /// which an error names: "'localhost' is not host:port" alone did not say which of the settings it was.
        public init(parsing text: String, setting key: String) throws {
            guard !text.isEmpty else {
                throw ConfigurationError(
                    "\(key) must be host:port, not an empty value (an empty --\(key), config file value or "
                        + "\(Origin.variable(key)), e.g. a compose file's unset variable, counts as set): drop it for "
                        + "the default")
            }
            let pattern = text.hasPrefix("[") ? "]:" : ":"
            guard let range = text.range(of: pattern, options: .backwards), let port = Int(text[range.upperBound...]),
                (0...65535).contains(port)
            else {
                throw ConfigurationError(
                    "\(key) '\(text)' is not host:port (a port 0...65535 after the host, IPv6 as [::1]:port)")
            }
            var host = String(text[..<range.lowerBound])
            if host.hasPrefix("[") { host.removeFirst() }
            guard !host.isEmpty else { throw ConfigurationError("\(key) '\(text)' has no host") }
            self.init(host: host, port: port)
        }

        /// `host:port`.
        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    /// The journal limits the store is opened with: the defaults with what this configuration sets
    /// (`snapshotBytesMax`). What is valid on disk depends on them (a snapshot larger than `snapshotBytesMax` cannot
    /// be read), so `numberd verify` checks a data directory under the same ones.
    public var journalLimits: JournalOptions.Limits {
        var limits = JournalOptions.Limits.defaults
        limits.snapshotBytesMax = snapshotBytesMax
        return limits
    }

    /// How often the server certificate is checked while serving (also once at start): a generated one due for renewal
    /// is re-issued and new connections use it; an operator's near its end is logged. Default 3600 s.
    public var certificateCheckIntervalSeconds: Int

    /// A certificate is renewed (generated) or warned about (`--tls-cert`) when it expires within this: 30 days.
    /// Generated server certificates last 398 days (`CertificateValidity.leafDefaults`), the local CA 10 years.
    public static let certificateRenewalWindowSeconds: Int64 = CertificateValidity.renewalWindowSeconds

    /// How often a running numberd writes the time it has got to (the data directory's `clock` file, also at start
    /// and at shutdown), which the next start's clock check compares with, and which dates the start of the next
    /// downtime (``Downtimes``: a crash counts at most this much of the run before it as downtime): 60 s.
    public static let clockMarkIntervalSeconds = 60

    /// Most billing runs one billing tick makes while more is due (at 500 actions a run: 500,000 renewals).
    public static let billingRunsPerTickMax = 1_000

    /// `rate-limit`, calls per second per account (the burst is twice it): at least 0.5, so the burst holds one call,
    /// and at most 1 000 000 000 (in effect no limit, for load tests).
    public static let rateLimitRange: ClosedRange<Double> = 0.5...1_000_000_000
    /// `purchase-cap`, numbers per hour per account: at least 1 (a cap below one number would refuse every purchase
    /// for ever), at most 1 000 000 000 (in effect no cap).
    public static let purchaseCapRange: ClosedRange<Double> = 1...1_000_000_000
    /// `pricing-markup-percent`: 0...10000, as the core takes a markup (``NumberCore/NumberServiceConfig/validate()``).
    public static let pricingMarkupPercentRange: ClosedRange<Int> = 0...10_000
    /// `pricing-minimum-monthly-fee`, `pricing-default-setup-fee` and each fee of `pricing-setup-fees`, minor units:
    /// 0 up to the largest fee the core charges (``NumberCore/PricingPolicy/feeMax``, 100 000 000).
    public static let pricingFeeRange: ClosedRange<Int64> = 0...PricingPolicy.defaults.feeMax
    /// The pricing settings, which ``checkPricing(_:)`` names.
    static let pricingKeys = [
        "pricing-markup-percent", "pricing-minimum-monthly-fee", "pricing-default-setup-fee", "pricing-setup-fees",
    ]

    /// `0.5...1000000000`: a range as the flags take it.
    static func rangeText(_ range: ClosedRange<Double>) -> String {
        func text(_ value: Double) -> String {
            value == value.rounded() ? String(Int(value)) : String(value)
        }
        return "\(text(range.lowerBound))...\(text(range.upperBound))"
    }

    /// The embedded defaults.
    public init(dataDirectory: String = NumberdConfiguration.defaultDataDirectory()) {
        listen = HostAndPort(host: "127.0.0.1", port: 7443)
        self.dataDirectory = dataDirectory
        backupDirectory = dataDirectory + "/backups"
        backupsKept = 7
        metricsListen = HostAndPort(host: "127.0.0.1", port: 9464)
        provider = .simulator(seed: 1)
        rebindProvider = false
        tlsCertificate = nil
        clientCAFile = nil
        billingIntervalSeconds = 60
        gracePeriodSeconds = Int(NumberServiceConfig.Billing.defaults.gracePeriodSeconds)
        reconcileIntervalSeconds = 60
        snapshotIntervalSeconds = 300
        certificateCheckIntervalSeconds = 3600
        snapshotBytesMax = JournalOptions.Limits.defaults.snapshotBytesMax
        reconcileInFlightHorizonSeconds = 600
        orphanWatchSeconds = 86_400
        providerAuditIntervalSeconds = 21_600
        providerAuditRecheckSeconds = 60
        clockLeadMaxSeconds = 2_678_400
        connectionLimits = .defaults
        rateLimits = .defaults
        pricing = .defaults
        drainTimeoutSeconds = 30
        twilioBaseURL = nil
        twilioCAFile = nil
        twilioRequestTimeoutMilliseconds = TwilioConfiguration.httpDefaults.timeouts.totalMilliseconds
        twilioBundles = [:]
        logLevel = .info
    }

    /// The data directory when none is configured (`LocalDefaults.dataDirectory`, shared with the CLI).
    public static func defaultDataDirectory(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> String {
        LocalDefaults.dataDirectory(environment: environment)
    }

    /// Applies, in order of precedence, explicit `flags` (already parsed, nil = not given), then the environment,
    /// then the JSON config file (path from the flag or `NUMBERD_CONFIG`), over the defaults. What the start resolves:
    /// it also refuses Twilio endpoint settings without Twilio credentials (``checkTwilioEndpoint(_:provider:)``), and
    /// a simulator seed with them (``checkSimulatorSeed(_:configuration:)``).
    public static func resolve(
        flags: [String: String], environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> NumberdConfiguration {
        let origin = try Origin(flags: flags, environment: environment)
        let configuration = try resolve(origin, environment: environment)
        try checkTwilioEndpoint(origin, provider: configuration.provider)
        try checkSimulatorSeed(origin, configuration: configuration)
        return configuration
    }

    /// Refuses `simulator-seed` given with Twilio credentials, the mirror of ``checkTwilioEndpoint(_:provider:)``. The
    /// credentials used to win in silence: a developer with Twilio's variables exported who ran
    /// `numberd --simulator-seed 7 --data-dir /tmp/fresh` for a load run bought real numbers at Twilio. Checked at
    /// start only: SIGHUP's reload resolves without the credentials' variables, and the provider is made at start.
    static func checkSimulatorSeed(_ origin: Origin, configuration: NumberdConfiguration) throws {
        guard case .twilio(let credentials) = configuration.provider, origin.value("simulator-seed") != nil else {
            return
        }
        let seed = "simulator-seed (\(origin.override(of: "simulator-seed") ?? "the config file"))"
        let secret = configuration.twilioSecretSources.joined(separator: ", ")
        let twilio =
            "Twilio credentials (TWILIO_ACCOUNT_SID \(credentials.accountSid)"
            + (secret.isEmpty ? ")" : ", the secret from \(secret))")
        throw ConfigurationError(
            "\(seed) set with \(twilio): numberd would ignore the seed and use Twilio itself, buying real numbers. "
                + "Unset the Twilio credentials (the TWILIO_ variables, their _FILE forms, systemd credentials) to run "
                + "the in-process simulator, or unset simulator-seed to use Twilio")
    }

    /// The settings of the way to Twilio, which only a numberd with Twilio credentials uses: the in-process simulator
    /// is reached at its own loopback address, trusted through the data directory's CA, with the default timeout.
    static let twilioEndpointKeys = ["twilio-base-url", "twilio-ca-file", "twilio-timeout-ms"]

    /// Refuses ``twilioEndpointKeys`` given without Twilio credentials. They used to be ignored: a numberd pointed at a
    /// separate twilio-sim without its credentials ran the in-process simulator instead, and bound the data directory
    /// to it (`provider.json`), so the start that then had them was refused as another account's. Checked at start
    /// only: SIGHUP's reload resolves without the credentials' variables (``Origin/startEnvironment``), and these
    /// settings are read at start only anyway.
    static func checkTwilioEndpoint(_ origin: Origin, provider: Provider) throws {
        guard case .simulator = provider else { return }
        let given = twilioEndpointKeys.filter { origin.value($0) != nil }
        guard !given.isEmpty else { return }
        let named = given.map { "\($0) (\(origin.override(of: $0) ?? "the config file"))" }.joined(separator: ", ")
        let them = given.count == 1 ? "it" : "them"
        throw ConfigurationError(
            "\(named) set without Twilio credentials: numberd would ignore \(them) and use its in-process simulator, "
                + "binding the data directory to that simulator. Set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (for a "
                + "twilio-sim, the account sid and auth token it prints), or TWILIO_API_KEY_SID and "
                + "TWILIO_API_KEY_SECRET; or unset \(them) to use the in-process simulator")
    }

    /// ``resolve(flags:environment:)`` with the config file already read (`origin`): SIGHUP's reload checks a file it
    /// read again with every check of the start (``SettingsReload``), under the start's environment
    /// (``Origin/startEnvironment``).
    package static func resolve(_ origin: Origin, environment: [String: String]) throws -> NumberdConfiguration {
        let value = origin.value
        var configuration = try storage(value, environment: environment, resolvingLinks: false)
        configuration.origin = origin
        if let listen = value("listen") { configuration.listen = try HostAndPort(parsing: listen, setting: "listen") }
        if let metrics = value("metrics-listen") {
            // `off` in any case: `OFF` was refused as "not host:port".
            configuration.metricsListen =
                metrics.lowercased() == "off" ? nil : try HostAndPort(parsing: metrics, setting: "metrics-listen")
        }
        if let metrics = configuration.metricsListen, metrics.port != 0, metrics.port == configuration.listen.port {
            let wildcards: Set<String> = ["0.0.0.0", "::", "[::]", ""]
            if metrics.host == configuration.listen.host || wildcards.contains(metrics.host)
                || wildcards.contains(configuration.listen.host)
            {
                // Found probing the start: the bind failure said another process may hold the port.
                throw ConfigurationError(
                    "metrics-listen \(metrics) is the address listen (\(configuration.listen)) takes: give the metrics "
                        + "endpoint a port of its own (default 9464), or off")
            }
        }
        let chain = try path("tls-cert", from: value, naming: "file")
        let privateKey = try path("tls-key", from: value, naming: "file")
        if let chain, let privateKey {
            configuration.tlsCertificate = (chain, privateKey)
        } else if chain != nil || privateKey != nil {
            throw ConfigurationError("tls-cert and tls-key go together")
        }
        configuration.clientCAFile = try path("client-ca", from: value, naming: "file")
        if let seed = value("simulator-seed") {
            guard let parsed = UInt64(seed) else { throw ConfigurationError("simulator-seed must be a number") }
            configuration.provider = .simulator(seed: parsed)
        }
        let (twilioEnvironment, secretSources) = try TwilioSecrets.resolve(environment)
        do {
            if let credentials = try TwilioCredentials.fromEnvironment(twilioEnvironment) {
                configuration.provider = .twilio(credentials)
                configuration.twilioSecretSources = secretSources
                configuration.twilioCredentialEnvironment = environment.filter { name, _ in
                    name.hasPrefix("TWILIO_") || name == "CREDENTIALS_DIRECTORY"
                }
            }
        } catch {
            throw ConfigurationError("Twilio credentials: \(error)")
        }
        try configuration.applyTwilioEndpoint(value)
        if let rebind = origin.flags["rebind-provider"] {
            guard let parsed = ["true": true, "1": true, "false": false, "0": false][rebind] else {
                throw ConfigurationError("rebind-provider must be true or false")
            }
            configuration.rebindProvider = parsed
        }
        if let parsed = try seconds("billing-interval", from: value, in: intervalSecondsRange) {
            configuration.billingIntervalSeconds = parsed
        }
        if let parsed = try seconds("grace-period", from: value, in: 0...7_776_000) {
            configuration.gracePeriodSeconds = parsed
        }
        if let parsed = try seconds("reconcile-interval", from: value, in: intervalSecondsRange) {
            configuration.reconcileIntervalSeconds = parsed
        }
        if let parsed = try seconds("snapshot-interval", from: value, in: intervalSecondsRange) {
            configuration.snapshotIntervalSeconds = parsed
        }
        if let parsed = try seconds("reconcile-in-flight-horizon", from: value, in: 0...86_400) {
            configuration.reconcileInFlightHorizonSeconds = parsed
        }
        if let parsed = try seconds("orphan-watch", from: value, in: 0...2_592_000) {
            // On, the watch covers the window in which a voided purchase's request may still land (the horizon and an
            // hour): a shorter one would lift the block on other purchases of its number too early.
            let window = Int(
                NumberService.lateBuySeconds(horizon: Int64(configuration.reconcileInFlightHorizonSeconds)))
            guard parsed == 0 || parsed >= window else {
                throw ConfigurationError(
                    "orphan-watch must be 0 (off) or at least reconcile-in-flight-horizon + 3600 s (\(window) s)")
            }
            configuration.orphanWatchSeconds = parsed
        } else {
            // Not given: the default day, or the window if a horizon raised it past that.
            configuration.orphanWatchSeconds = max(
                configuration.orphanWatchSeconds,
                Int(NumberService.lateBuySeconds(horizon: Int64(configuration.reconcileInFlightHorizonSeconds))))
        }
        if let parsed = try seconds("provider-audit-interval", from: value, in: 0...604_800) {
            configuration.providerAuditIntervalSeconds = parsed
        }
        if let parsed = try seconds("provider-audit-recheck", from: value, in: 10...3_600) {
            configuration.providerAuditRecheckSeconds = parsed
        }
        if let parsed = try seconds("clock-lead-max", from: value, in: 0...315_360_000) {
            configuration.clockLeadMaxSeconds = parsed
        }
        if let parsed = try seconds("drain-timeout", from: value, in: intervalSecondsRange) {
            configuration.drainTimeoutSeconds = parsed
        }
        if let max = value("connections-max") {
            guard let parsed = Int(max), parsed > 0 else {
                throw ConfigurationError("connections-max must be positive")
            }
            configuration.connectionLimits.connectionsMax = parsed
        }
        if let max = value("connections-per-address-max") {
            guard let parsed = Int(max), parsed > 0 else {
                throw ConfigurationError("connections-per-address-max must be positive")
            }
            configuration.connectionLimits.connectionsPerAddressMax = parsed
        }
        // Server-wide byte budgets, at least one whole largest frame each: below it every request that size not read
        // in one burst would be refused (the largest request the server takes, its MAX_MESSAGE_PAYLOAD), and one large
        // answer to a client slow to read would close its connection (the largest a client takes by default, 4 MiB).
        let budgets: [(String, WritableKeyPath<NumberServerConfiguration.ConnectionLimits, Int>, Int, String)] = [
            (
                "partial-frame-bytes-max", \.partialFrameBytesMax, configuration.connectionLimits.largestFrameBytes,
                "one whole largest request frame"
            ),
            (
                "unsent-reply-bytes-max", \.unsentReplyBytesMax,
                NumberServerConfiguration.ConnectionLimits.largestResponseFrameBytes, "one whole 4 MiB response frame"
            ),
        ]
        for (key, limit, least, frame) in budgets {
            guard let bytes = value(key) else { continue }
            guard let parsed = Int(bytes), parsed >= least else {
                throw ConfigurationError("\(key) must be at least \(least) bytes (\(frame))")
            }
            configuration.connectionLimits[keyPath: limit] = parsed
        }
        // Finite and within sane bounds: `Double` also reads "inf", "nan" and 1e-18, which made buckets NaN or a retry
        // time past any integer (numberd trapped on the first call refused). Below the floors a bucket never holds one
        // call (the burst is twice the rate) or one number, so every call or purchase would be refused for ever.
        if let rate = value("rate-limit") {
            guard let parsed = Double(rate), Self.rateLimitRange.contains(parsed) else {
                throw ConfigurationError(
                    "rate-limit must be \(Self.rangeText(Self.rateLimitRange)) calls per second, not '\(rate)'")
            }
            configuration.rateLimits.callsPerSecond = parsed
            configuration.rateLimits.callsBurst = parsed * 2
        }
        if let cap = value("purchase-cap") {
            guard let parsed = Double(cap), Self.purchaseCapRange.contains(parsed) else {
                throw ConfigurationError(
                    "purchase-cap must be \(Self.rangeText(Self.purchaseCapRange)) numbers per hour, not '\(cap)'")
            }
            configuration.rateLimits.purchasedNumbersPerHour = parsed
        }
        try configuration.applyPricing(value)
        if let level = value("log-level") {
            guard let parsed = Logger.Level(rawValue: level) else {
                let names = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
                throw ConfigurationError("log-level '\(level)' is not one of \(names)")
            }
            configuration.logLevel = parsed
        }
        return configuration
    }

    /// Only what decides where the data is and how it is read and backed up (`data-dir`, `snapshot-bytes-max`,
    /// `backup-dir`, `backups-kept`), from the same
    /// places and with the same precedence as ``resolve(flags:environment:)``: what `numberd verify` needs, so that a
    /// setting it does not use (a half-set Twilio credential in the environment) does not stop it. The offline
    /// commands' own: `backup-dir` is checked against the store with symbolic links resolved.
    public static func resolveStorage(
        flags: [String: String], environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> NumberdConfiguration {
        try storage(
            try Origin(flags: flags, environment: environment).value, environment: environment, resolvingLinks: true)
    }

    /// The defaults with the data directory and the snapshot limit applied. `backup-dir` is compared with the store
    /// with symbolic links resolved when `resolvingLinks` (the offline commands), else as written: a start and a
    /// reload look at nothing in the backup directory, whose disk may stall (a hard-mounted NFS share that is down)
    /// and would hold them up, and the stop after them; each backup checks the resolved paths again on the store's
    /// backup queue (``writeBackup(of:)``).
    private static func storage(
        _ value: (String) -> String?, environment: [String: String], resolvingLinks: Bool
    ) throws -> NumberdConfiguration {
        var configuration = NumberdConfiguration(
            dataDirectory: try path("data-dir", from: value, naming: "folder")
                ?? defaultDataDirectory(environment: environment))
        if let bytes = value("snapshot-bytes-max") {
            let limit = JournalOptions.Limits.snapshotBytesLimit
            guard let parsed = Int(bytes), (1...limit).contains(parsed) else {
                throw ConfigurationError("snapshot-bytes-max must be 1...\(limit) bytes")
            }
            configuration.snapshotBytesMax = parsed
        }
        if let folder = try path("backup-dir", from: value, naming: "folder") {
            configuration.backupDirectory = folder
        }
        try checkBackupDirectory(
            configuration.backupDirectory, dataDirectory: configuration.dataDirectory,
            resolve: resolvingLinks ? { resolvedPath($0) } : { lexicalPath($0) })
        if let kept = value("backups-kept") {
            guard let parsed = Int(kept), (1...1_000).contains(parsed) else {
                throw ConfigurationError("backups-kept must be 1...1000")
            }
            configuration.backupsKept = parsed
        }
        return configuration
    }

    /// The path setting `key` (nil when not given). An empty one is refused by name: `NUMBERD_DATA_DIR=` (a compose
    /// file's `${DATA_DIR}` unset) overrode the config file with "", and the start then failed at the file system's
    /// root with no word of the setting. `what` is what the path names (a folder, a file).
    private static func path(_ key: String, from value: (String) -> String?, naming what: String) throws -> String? {
        guard let path = value(key) else { return nil }
        guard !path.isEmpty else {
            throw ConfigurationError(
                "\(key) must name a \(what), not an empty value: an empty \(Origin.variable(key)) (a compose file's "
                    + "unset variable) counts as set; unset it, or drop the empty value, for the default")
        }
        return path
    }

    /// The largest CA file ``checkCAFile(_:key:)`` reads: 8 MiB (the system's whole bundle is about 200 KiB).
    public static let caFileBytesMax = 8 << 20

    /// Refuses a CA file libcurl could not use: one that cannot be opened or read, that is no regular file, larger
    /// than ``caFileBytesMax``, or that holds no PEM certificate (or a block that cannot be read). libcurl reads it
    /// only at a request, so without this check numberd started ready and every Twilio call failed
    /// (CURLE_SSL_CACERT_BADFILE).
    static func checkCAFile(_ path: String, key: String) throws {
        let setting = "\(key) \(path) (\(Origin.variable(key)) or the config file's \(key))"
        // Opened without waiting, read only when a regular file, at most the limit (``readBoundedFile``).
        let read: [UInt8]?
        do throws(BoundedFileError) {
            read = try readBoundedFile(path, bytesMax: caFileBytesMax)
        } catch {
            switch error.kind {
            case .notRegularFile: throw ConfigurationError("\(setting) is not a regular file")
            case .tooLarge: throw ConfigurationError("\(setting) is larger than 8 MiB: not a CA file")
            case .unreadable(let code):
                throw ConfigurationError("\(setting) cannot be read: \(String(cString: strerror(code)))")
            case .notText: throw ConfigurationError("\(setting) is not UTF-8 text")
            }
        }
        guard let bytes = read else {
            throw ConfigurationError("\(setting) cannot be opened: \(String(cString: strerror(ENOENT)))")
        }
        // Its first certificate only: libcurl reads the whole bundle, without numberd's cap on a chain's length.
        let text = String(decoding: bytes, as: UTF8.self)
        let end = "-----END CERTIFICATE-----"
        guard let begin = text.range(of: "-----BEGIN CERTIFICATE-----"),
            let close = text.range(of: end, range: begin.upperBound..<text.endIndex)
        else {
            throw ConfigurationError("\(setting) holds no PEM certificate: every Twilio request would fail")
        }
        do {
            _ = try CertificateSummary(certificatePEM: String(text[begin.lowerBound..<close.upperBound]) + "\n")
        } catch {
            throw ConfigurationError(
                "\(setting) holds no PEM certificate that can be read (\(error)): every Twilio request would fail")
        }
    }

    /// Refuses a backup directory that is the store folder or inside it: a backup folder there would be a folder the
    /// store does not know among its files. `resolve` makes each path comparable: ``resolvedPath(_:)`` (symbolic links
    /// resolved as far as the folders exist, which may block on the backup directory's disk) or ``lexicalPath(_:)``
    /// (the text alone).
    static func checkBackupDirectory(
        _ backups: String, dataDirectory: String, resolve: (String) -> String
    ) throws {
        let store = resolve(dataDirectory + "/store")
        let resolved = resolve(backups)
        guard resolved != store, !resolved.hasPrefix(store + "/") else {
            throw ConfigurationError("backup-dir must not be the store folder \(store) or inside it")
        }
    }

    /// `path` absolute (against the working directory) with `.`, `..` and repeated slashes taken out by its text
    /// alone: nothing on the file system is looked at (not even whether the path is a folder, as `URL` would).
    static func lexicalPath(_ path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        var parts: [Substring] = []
        for part in absolute.split(separator: "/") where part != "." {
            if part == ".." {
                _ = parts.popLast()
            } else {
                parts.append(part)
            }
        }
        return "/" + parts.joined(separator: "/")
    }

    /// `path` absolute and standardized, its longest existing leading part with symbolic links resolved (`realpath`).
    static func resolvedPath(_ path: String) -> String {
        var existing = URL(fileURLWithPath: path).standardizedFileURL.path
        var rest: [String] = []
        while existing != "/", !FileManager.default.fileExists(atPath: existing) {
            rest.insert((existing as NSString).lastPathComponent, at: 0)
            existing = (existing as NSString).deletingLastPathComponent
        }
        guard let real = realpath(existing, nil) else { return ([existing] + rest).joined(separator: "/") }
        defer { free(real) }
        return ([String(cString: real)] + rest).joined(separator: "/").replacingOccurrences(of: "//", with: "/")
    }

    /// The Twilio endpoint overrides: a base URL (https only), a CA file, a request timeout.
    private mutating func applyTwilioEndpoint(_ value: (String) -> String?) throws {
        if let base = value("twilio-base-url") {
            guard let url = URL(string: base), let scheme = url.scheme?.lowercased(), url.host != nil else {
                throw ConfigurationError("twilio-base-url '\(base)' is not an https:// URL")
            }
            // The adapter's HTTP client refuses every request that is not https:// (TLS verified): a plain http base
            // URL would start and then fail each Twilio call.
            guard scheme == "https" else {
                throw ConfigurationError(
                    "twilio-base-url '\(base)' is not https://: numberd reaches Twilio only over HTTPS. For a "
                        + "twilio-sim, start it with --tls-generate DIR (and set twilio-ca-file to "
                        + "DIR/twilio-sim-ca.pem) or with --tls-cert and --tls-key, and give its https:// URL")
            }
            // A twilio-sim's base: each API lives under its own path below it (`Endpoints.simulator(at:)`), so the URL
            // itself has none, and Twilio's own hosts are never named here (without a base URL numberd uses them).
            let path = URLComponents(string: base)?.percentEncodedPath
            guard path == "" || path == "/", url.query == nil, url.fragment == nil, url.user == nil else {
                throw ConfigurationError(
                    "twilio-base-url '\(base)' must be a twilio-sim's https://host:port with no path (the first URL "
                        + "twilio-sim prints)")
            }
            guard let host = url.host?.lowercased(), host != "twilio.com", !host.hasSuffix(".twilio.com") else {
                throw ConfigurationError(
                    "twilio-base-url '\(base)' names Twilio itself: leave it unset to use Twilio (it is for a twilio-sim)"
                )
            }
            twilioBaseURL = base.hasSuffix("/") ? String(base.dropLast()) : base
        }
        twilioCAFile = try Self.path("twilio-ca-file", from: value, naming: "file")
        // Checked only for Twilio, which reads it for every new connection (the in-process simulator is trusted through the
        // data directory's CA): a file that cannot be used would let numberd start ready and then fail each Twilio
        // call. SIGHUP's reload resolves without the Twilio credentials, so a file moved later does not stop it.
        if case .twilio = provider, let file = twilioCAFile { try Self.checkCAFile(file, key: "twilio-ca-file") }
        if let timeout = value("twilio-timeout-ms") {
            guard let parsed = Int(timeout), (100...120_000).contains(parsed) else {
                throw ConfigurationError("twilio-timeout-ms must be 100...120000")
            }
            twilioRequestTimeoutMilliseconds = parsed
        }
        if let bundles = value("twilio-bundles") { twilioBundles = try Self.bundles(parsing: bundles) }
    }

    /// `COUNTRY=BU…` or `COUNTRY/TYPE=BU…` (TYPE local, mobile or toll_free) entries separated by commas (blanks and line breaks around them ignored): each country an ISO
    /// 3166-1 alpha-2 code in upper case, at most once; each SID `BU` and 32 hex digits, as Twilio issues them. Blank
    /// text (or `{}` in a file) is none: how an environment variable clears a file's setting.
    static func bundles(parsing text: String) throws -> [String: String] {
        var bundles: [String: String] = [:]
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return bundles }
        let usage =
            "twilio-bundles takes COUNTRY=BUNDLE_SID or COUNTRY/TYPE=BUNDLE_SID entries (TYPE local, mobile or "
            + "toll_free) separated by commas, like GB=BU" + "0123456789abcdef" + "0123456789abcdef"
        for entry in text.split(separator: ",", omittingEmptySubsequences: false) {
            let entry = entry.trimmingCharacters(in: .whitespacesAndNewlines)
            let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2 else {
                throw ConfigurationError("\(usage): '\(entry)' is not COUNTRY=SID or COUNTRY/TYPE=SID")
            }
            let (key, sid) = (parts[0], parts[1])
            // COUNTRY or COUNTRY/TYPE: Twilio approves a Bundle for one number type of one country; a country's own
            // entry serves its types without one.
            let keyParts = key.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let country = keyParts[0]
            guard Self.isCountryCode(country) else {
                throw ConfigurationError(
                    "twilio-bundles: '\(country)' is not an ISO 3166-1 alpha-2 country code in upper case (like GB)")
            }
            if keyParts.count == 2, NumberType(rawValue: keyParts[1]) == nil {
                throw ConfigurationError(
                    "twilio-bundles: '\(keyParts[1])' in \(key) is not a number type (local, mobile or toll_free)")
            }
            guard sid.utf8.count == 34, sid.hasPrefix("BU"), sid.utf8.dropFirst(2).allSatisfy(Self.isHexDigit) else {
                throw ConfigurationError(
                    "twilio-bundles: '\(sid)' for \(key) is not a Bundle SID (BU followed by 32 hex digits)")
            }
            guard bundles.updateValue(sid, forKey: key) == nil else {
                throw ConfigurationError("twilio-bundles: \(key) is given more than once")
            }
        }
        return bundles
    }

    /// The pricing settings applied to ``pricing``, then the policy checked as the core checks it.
    private mutating func applyPricing(_ value: (String) -> String?) throws {
        let fees = Self.pricingFeeRange
        if let parsed = try Self.integer(
            "pricing-markup-percent", from: value, in: Self.pricingMarkupPercentRange, unit: "percent")
        {
            pricing.markupPercent = parsed
        }
        if let parsed = try Self.integer("pricing-minimum-monthly-fee", from: value, in: fees, unit: "minor units") {
            pricing.minimumMonthlyFee = parsed
        }
        if let parsed = try Self.integer("pricing-default-setup-fee", from: value, in: fees, unit: "minor units") {
            pricing.defaultSetupFee = parsed
        }
        if let table = value("pricing-setup-fees") { pricing.setupFees = try Self.setupFees(parsing: table) }
        try Self.checkPricing(pricing)
    }

    /// `COUNTRY/TYPE=FEE` entries separated by commas (blanks and line breaks around them ignored), keyed as
    /// ``NumberCore/PricingPolicy/quote(_:)`` looks fees up (`US/toll_free`): each country an ISO 3166-1 alpha-2 code
    /// in upper case, each type a number type (`local`, `toll_free`, `mobile`), each key at most once, each fee minor
    /// units within ``pricingFeeRange``. Blank text is an empty table (every number takes `pricing-default-setup-fee`):
    /// the setting replaces the default table, it does not add to it.
    static func setupFees(parsing text: String) throws -> [String: Int64] {
        var fees: [String: Int64] = [:]
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return fees }
        let types = NumberCore.NumberType.allCases.map(\.rawValue).joined(separator: ", ")
        let range = "\(pricingFeeRange.lowerBound)...\(pricingFeeRange.upperBound)"
        for entry in text.split(separator: ",", omittingEmptySubsequences: false) {
            let entry = entry.trimmingCharacters(in: .whitespacesAndNewlines)
            let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let key = parts[0]
            let keyParts = key.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2, keyParts.count == 2 else {
                throw ConfigurationError(
                    "pricing-setup-fees takes COUNTRY/TYPE=FEE entries (TYPE \(types); FEE in minor units) separated "
                        + "by commas, like US/toll_free=200,GB/toll_free=150: '\(entry)' is not COUNTRY/TYPE=FEE")
            }
            let (country, type, fee) = (keyParts[0], keyParts[1], parts[1])
            guard Self.isCountryCode(country) else {
                throw ConfigurationError(
                    "pricing-setup-fees: '\(country)' in '\(entry)' is not an ISO 3166-1 alpha-2 country code in upper "
                        + "case (like GB)")
            }
            guard NumberCore.NumberType(rawValue: type) != nil else {
                throw ConfigurationError(
                    "pricing-setup-fees: '\(type)' in '\(entry)' is not a number type (\(types))")
            }
            guard let parsed = Int64(fee), pricingFeeRange.contains(parsed) else {
                throw ConfigurationError(
                    "pricing-setup-fees: the fee in '\(entry)' must be \(range) minor units, not '\(fee)'")
            }
            guard fees.updateValue(parsed, forKey: key) == nil else {
                throw ConfigurationError("pricing-setup-fees: \(key) is given more than once ('\(entry)')")
            }
        }
        return fees
    }

    /// Refuses a pricing policy the core would refuse (``NumberCore/NumberServiceConfig/validate()``): a setting
    /// refused at start (exit 64) or by a reload, naming the pricing settings, rather than a core that fails to open.
    package static func checkPricing(_ pricing: PricingPolicy) throws {
        var service = NumberServiceConfig.defaults
        service.pricing = pricing
        let problems = service.validate()
        guard problems.isEmpty else {
            throw ConfigurationError(
                "the pricing settings (\(pricingKeys.joined(separator: ", "))) are refused: "
                    + problems.joined(separator: "; "))
        }
    }

    /// Whether `text` is an ISO 3166-1 alpha-2 country code as settings take it: two ASCII letters in upper case.
    private static func isCountryCode(_ text: String) -> Bool {
        text.utf8.count == 2 && text.utf8.allSatisfy { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }

    /// The setting `key` as a number of seconds within `range` (nil when not given), or an error naming it, the
    /// range and the value given (a start refused, or a SIGHUP reload logged as invalid, says which setting to fix).
    private static func seconds(
        _ key: String, from value: (String) -> String?, in range: ClosedRange<Int>
    ) throws -> Int? {
        try integer(key, from: value, in: range, unit: "seconds")
    }

    /// The setting `key` as a whole number of `unit` within `range` (nil when not given), or an error naming it, the
    /// range and the value given.
    private static func integer<Value: FixedWidthInteger>(
        _ key: String, from value: (String) -> String?, in range: ClosedRange<Value>, unit: String
    ) throws -> Value? {
        guard let text = value(key) else { return nil }
        guard let parsed = Value(text), range.contains(parsed) else {
            throw ConfigurationError("\(key) must be \(range.lowerBound)...\(range.upperBound) \(unit), not '\(text)'")
        }
        return parsed
    }

    /// The range of `billing-interval`, `reconcile-interval`, `snapshot-interval` and `drain-timeout`: 1...86400 s.
    static let intervalSecondsRange = 1...86_400

    /// The largest config file read: 1 MiB.
    package static let configFileBytesMax = 1 << 20

    /// A config file a reload does not read: not a regular file (a pipe, a FIFO, a device). ``SettingsReload`` says
    /// there is no file to read again.
    package struct NotARegularFile: Error, CustomStringConvertible, Sendable {
        /// The config file's path.
        package var path: String
        package var description: String { "config file \(path) is not a regular file" }
    }

    /// The config file's values (numbers as text), refusing a file that is no JSON object of at most 1 MiB or that
    /// holds an unknown key or a `true` or `false` (``isJSONBoolean(_:)``). With `regularOnly` (SIGHUP's reload)
    /// anything but a regular file throws ``NotARegularFile``; at start a pipe (`--config <(…)`) is read too.
    package static func loadFile(_ path: String, regularOnly: Bool = false) throws -> [String: String] {
        let data = try readConfigFile(path, regularOnly: regularOnly)
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ConfigurationError("config file \(path) is not a JSON object")
        }
        var values: [String: String] = [:]
        for (key, value) in object.sorted(by: { $0.key < $1.key }) {
            guard fileKeys.contains(key) else {
                throw ConfigurationError(
                    "config file \(path): unknown key '\(key)' (keys: \(fileKeys.sorted().joined(separator: ", ")))")
            }
            switch value {
            case let text as String: values[key] = text
            case let number as NSNumber where isJSONBoolean(number):
                // No key takes a boolean; its `stringValue` is "1" or "0", so `"grace-period": true` was one second.
                throw ConfigurationError(
                    "config file \(path): \(key) must be a string or a number, not \(number.boolValue)")
            case let number as NSNumber: values[key] = number.stringValue
            case let bundles as [String: Any] where key == "twilio-bundles":
                // {"GB": "BU…"}: the same entries as the string form, which checks them.
                var entries: [String] = []
                for (country, sid) in bundles.sorted(by: { $0.key < $1.key }) {
                    guard let sid = sid as? String else {
                        throw ConfigurationError("config file \(path): twilio-bundles.\(country) must be a string")
                    }
                    entries.append("\(country)=\(sid)")
                }
                values[key] = entries.joined(separator: ",")
            default:
                throw ConfigurationError(
                    "config file \(path): \(key) must be a string or a number"
                        + (key == "twilio-bundles" ? " (or an object of countries to Bundle SIDs)" : ""))
            }
        }
        return values
    }

    /// Whether `number`, from `JSONSerialization`, was a JSON `true` or `false` rather than a number. Foundation gives
    /// booleans as `NSNumber` of type `c` (char), on Linux as on Darwin, and numbers as integer or double types, never
    /// `c`. `value is Bool` cannot tell them apart: on Linux an `NSNumber` 1 or 0 casts to `Bool` too.
    static func isJSONBoolean(_ number: NSNumber) -> Bool {
        String(cString: number.objCType) == "c"
    }

    /// The config file's bytes, at most ``configFileBytesMax``. Opened with `O_NONBLOCK`, so a named FIFO no process
    /// writes to is not waited for (its open would block for ever: SIGHUP's handler, then the shutdown, stuck behind
    /// it), and checked by `fstat` of what was opened, so a file replaced between a check and the open cannot slip
    /// through. A regular file larger than the limit is refused by its size without a byte read; whatever its size
    /// says, at most one byte past the limit is read (a file growing meanwhile, a pipe). The read is bounded, so a
    /// reload on the cooperative pool holds a thread for at most 1 MiB of reading.
    static func readConfigFile(_ path: String, regularOnly: Bool) throws -> Data {
        func failure(_ what: String) -> ConfigurationError {
            ConfigurationError("cannot \(what) config file \(path): \(String(cString: strerror(errno)))")
        }
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { throw failure("open") }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw failure("read") }
        switch status.st_mode & S_IFMT {
        case S_IFREG:
            guard status.st_size <= configFileBytesMax else {
                throw ConfigurationError(
                    "config file \(path) is larger than 1 MiB (\(status.st_size) bytes): not a configuration")
            }
        case S_IFIFO where !regularOnly:
            // A pipe at start (`--config <(…)`): its writer is there, so wait for what it writes, as before. A named
            // FIFO without a writer reads as empty and is refused.
            let flags = fcntl(descriptor, F_GETFL)
            guard flags >= 0, fcntl(descriptor, F_SETFL, flags & ~O_NONBLOCK) == 0 else { throw failure("read") }
        default:
            if regularOnly { throw NotARegularFile(path: path) }
            throw ConfigurationError("config file \(path) is not a regular file or a pipe")
        }
        guard let bytes = readBounded(descriptor, limit: configFileBytesMax + 1) else { throw failure("read") }
        guard bytes.count <= configFileBytesMax else {
            throw ConfigurationError("config file \(path) holds more than 1 MiB: not a configuration")
        }
        return Data(bytes)
    }
}

/// A configuration value that cannot be used, said in one line.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    /// What is wrong.
    public var description: String

    init(_ description: String) { self.description = description }
}

extension NumberdConfiguration {
    /// Writes a backup of `store` (this configuration's, open) into ``backupDirectory``, keeping ``backupsKept``: its
    /// `store/` and the data directory's `provider.json` (which Twilio account the numbers are owned at): what
    /// `numbers backup` (CreateBackup) asks for and `numberd restore` puts back.
    ///
    /// Nothing here looks at the backup directory (a `URL` made without saying it is a folder would `stat` it): every
    /// look — `backup-dir` checked against the store with symbolic links resolved (``backupDirectoryProbe``), then
    /// the backup — runs on the store's backup queue, so a stalled backup disk holds up only backups, whose callers
    /// can stop waiting. `ended` gets the backup's outcome where it ends, also after its caller stopped waiting
    /// (``NumberCore/FileNumberStore/backup(into:kept:including:now:checkingRoot:ended:)``).
    public func writeBackup(
        of store: FileNumberStore,
        ended: (@Sendable (Result<FileNumberStore.Backup, any Error>) -> Void)? = nil
    ) async throws -> FileNumberStore.Backup {
        let (backups, data, probe) = (backupDirectory, dataDirectory, backupDirectoryProbe)
        return try await store.backup(
            into: URL(fileURLWithPath: backupDirectory, isDirectory: true), kept: backupsKept,
            including: [
                URL(fileURLWithPath: DataDirectory(root: dataDirectory).providerBinding),
                URL(fileURLWithPath: DataDirectory(root: dataDirectory).legacyBindingMarker),
            ],
            checkingRoot: { _ in
                try Self.checkBackupDirectory(backups, dataDirectory: data) { path in
                    path == backups ? probe.resolve(path) : Self.resolvedPath(path)
                }
            },
            ended: ended)
    }
}
