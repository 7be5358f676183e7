import ArgumentParser
import Foundation
import Logging
import Metrics
import NumberCore
import NumberDaemon
import NumberTLS
import Prometheus
import ServiceLifecycle

/// `numberd`: the phone-number service. With no flags it runs on its embedded defaults.
@main
struct NumberdCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "numberd",
        abstract: "The numberd phone-number service (nrpc/1 over TLS).",
        discussion: """
            With no flags: data in $XDG_DATA_HOME/numberd (or ~/.local/share/numberd), TLS from a generated local CA, \
            the Twilio simulator on loopback unless TWILIO_ACCOUNT_SID with TWILIO_AUTH_TOKEN (or \
            TWILIO_API_KEY_SID/TWILIO_API_KEY_SECRET) is set (each secret better as TWILIO_AUTH_TOKEN_FILE / \
            TWILIO_API_KEY_SECRET_FILE, a file of mode 0600, or the systemd credential twilio-auth-token / \
            twilio-api-key-secret), RPC on 127.0.0.1:7443, metrics on 127.0.0.1:9464, core dumps off. Every flag but \
            --rebind-provider and --allow-core-dumps also reads NUMBERD_<FLAG> and the config file (a JSON object of \
            the flags' names; an unknown key is refused). Durations are in seconds.
            """,
        // `numberd --version`: the same string HealthCheck reports.
        version: Numberd.version,
        subcommands: [Serve.self, Verify.self, BackupStopped.self, Restore.self],
        defaultSubcommand: Serve.self)

    /// Every subcommand's start: standard descriptors that were closed at exec are opened on `/dev/null` before
    /// anything opens a file, or the store's first files would take their numbers and log lines would go into the
    /// journal (``StandardDescriptors``).
    static func main() async {
        StandardDescriptors.openClosedOnDevNull()
        // Before libcurl or a TLS context initializes OpenSSL: an exit with connections open must not free it under
        // them (``OpenSSLProcess``).
        OpenSSLProcess.initialize()
        await main(nil)
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the service (the default).")

    @Option(help: "RPC listen address host:port (default 127.0.0.1:7443).") var listen: String?
    @Option(
        name: .customLong("data-dir"),
        help: "Data directory (env NUMBERD_DATA_DIR; default $XDG_DATA_HOME/numberd or ~/.local/share/numberd).")
    var dataDir: String?
    @Option(
        name: .customLong("metrics-listen"),
        help: """
            Prometheus endpoint (and /healthz, /readyz) host:port, or off (default 127.0.0.1:9464: loopback, which \
            Kubernetes httpGet probes do not reach; give 0.0.0.0:9464 there, or use exec probes).
            """)
    var metricsListen: String?
    @Option(help: "A JSON config file of the same keys as the flags.") var config: String?
    @Option(name: .customLong("tls-cert"), help: "Server certificate chain PEM (default: generated).") var tlsCert:
        String?
    @Option(name: .customLong("tls-key"), help: "Server private key PEM.") var tlsKey: String?
    @Option(name: .customLong("client-ca"), help: "Require client certificates from this CA (mutual TLS).")
    var clientCA: String?
    @Option(
        name: .customLong("simulator-seed"),
        help: "Seed of the simulator's inventory (default 1); refused with Twilio credentials, which would win.")
    var simulatorSeed: String?
    @Option(
        name: .customLong("rate-limit"),
        help: "Calls per second per account, 0.5...1000000000; the burst is twice it (default 500).")
    var rateLimit: String?
    @Option(
        name: .customLong("purchase-cap"), help: "Numbers an account may buy per hour, 1...1000000000 (default 100).")
    var purchaseCap: String?
    @Option(
        name: .customLong("pricing-markup-percent"),
        help: """
            Markup over Twilio's monthly cost of a number, percent, 0...10000 (default 15). The pricing settings are \
            read at start only (SIGHUP does not change them) and set the prices searches show and purchases charge \
            from then on; numbers owned keep the fees they were bought at.
            """)
    var pricingMarkupPercent: String?
    @Option(
        name: .customLong("pricing-minimum-monthly-fee"),
        help: "Lowest monthly fee, minor units (cents of USD), 0...100000000 (default 100); read at start only.")
    var pricingMinimumMonthlyFee: String?
    @Option(
        name: .customLong("pricing-default-setup-fee"),
        help: """
            Setup fee of a number whose country and type --pricing-setup-fees does not list, minor units, \
            0...100000000 (default 0); read at start only.
            """)
    var pricingDefaultSetupFee: String?
    @Option(
        name: .customLong("pricing-setup-fees"),
        help: """
            Setup fees by country and number type: COUNTRY/TYPE=FEE entries separated by commas (an ISO country code \
            in upper case; TYPE local, mobile or toll_free; FEE minor units, 0...100000000), e.g. \
            US/toll_free=200,GB/toll_free=150. It REPLACES the default table (US/toll_free=200) rather than adding to \
            it: list every fee wanted; an empty value leaves none. Read at start only.
            """)
    var pricingSetupFees: String?
    @Option(
        name: .customLong("connections-max"),
        help: """
            Connections open at once (default 10000); lowered at start, with a warning, to what the open-files \
            limit holds beside 1024 descriptors (a quarter of a smaller limit) kept for everything else.
            """)
    var connectionsMax: String?
    @Option(
        name: .customLong("connections-per-address-max"),
        help: "Connections open at once from one remote IP address; loopback is exempt (default 1000).")
    var connectionsPerAddressMax: String?
    @Option(
        name: .customLong("partial-frame-bytes-max"),
        help: """
            Bytes held in partially received frames (and HEADERS waiting for their MESSAGE) across all \
            connections; a connection that would pass it is refused (default 268435456, 256 MiB; at least 65548).
            """)
    var partialFrameBytesMax: String?
    @Option(
        name: .customLong("unsent-reply-bytes-max"),
        help: """
            Reply bytes written to clients that do not read them, across all connections (beyond 64 KiB each); a \
            connection that would pass it is closed (default 268435456, 256 MiB; at least 4194316).
            """)
    var unsentReplyBytesMax: String?
    @Option(name: .customLong("billing-interval"), help: "Seconds between billing runs, 1...86400 (default 60).")
    var billingInterval: String?
    @Option(
        name: .customLong("grace-period"),
        help: "Seconds a past-due number is kept before it is released, 0...7776000 (default 604800, 7 days).")
    var gracePeriod: String?
    @Option(
        name: .customLong("reconcile-interval"), help: "Seconds between reconciliations, 1...86400 (default 60).")
    var reconcileInterval: String?
    @Option(name: .customLong("snapshot-interval"), help: "Seconds between snapshots, 1...86400 (default 300).")
    var snapshotInterval: String?
    @Option(
        name: .customLong("snapshot-bytes-max"),
        help: "Largest snapshot file written or read, bytes (default and maximum 4294967294, ~4.8M numbers).")
    var snapshotBytesMax: String?
    @Option(
        name: .customLong("drain-timeout"),
        help: """
            Seconds a graceful shutdown waits for calls, 1...86400 (default 30); a purchase, release or trunk change \
            already at Twilio holds the stop until it ends.
            """)
    var drainTimeout: String?
    @Option(
        name: .customLong("reconcile-in-flight-horizon"),
        help: """
            Seconds after its last buy (or numberd's start) a purchase Twilio does not fully hold is left for a \
            later reconciliation, 0...86400 (default 600).
            """)
    var reconcileInFlightHorizon: String?
    @Option(
        name: .customLong("orphan-watch"),
        help: """
            Seconds a voided purchase's numbers are watched at Twilio, released if they land, 0...2592000, 0 = off; \
            on, at least --reconcile-in-flight-horizon + 3600 (default 86400, or the horizon + 3600 when longer).
            """)
    var orphanWatch: String?
    @Option(
        name: .customLong("provider-audit-interval"),
        help: """
            Seconds between audits comparing every number Twilio owns with the store (differences logged and in \
            metrics), 0...604800, 0 = off (default 21600).
            """)
    var providerAuditInterval: String?
    @Option(
        name: .customLong("provider-audit-recheck"),
        help: "Seconds between an audit's two listings of Twilio's numbers, 10...3600 (default 60).")
    var providerAuditRecheck: String?
    @Option(
        name: .customLong("clock-lead-max"),
        help: """
            Seconds the clock may be ahead of the latest time the data records at start, else the start is refused \
            (a clock far ahead renews every number and expires idempotency keys), 0...315360000, 0 = off \
            (default 2678400, 31 days).
            """)
    var clockLeadMax: String?
    @Option(
        name: .customLong("twilio-bundles"),
        help: """
            COUNTRY=BUNDLE_SID or COUNTRY/TYPE=BUNDLE_SID (BU + 32 hex; TYPE local, mobile or toll_free): the \
            regulatory Bundle approved in Twilio's console to send with purchases of that country's numbers, or of \
            that type only (a type's own entry wins over its country's; Twilio refuses most non-US/CA numbers \
            without one); repeatable, or comma-separated (default: none).
            """)
    var twilioBundles: [String] = []
    @Option(
        name: .customLong("backup-dir"),
        help: "Where `numbers backup` writes backups on this host; not in the store (default <data-dir>/backups).")
    var backupDir: String?
    @Option(
        name: .customLong("backups-kept"),
        help: "Backups kept; older ones are removed after a backup, 1...1000 (default 7).")
    var backupsKept: String?
    @Option(
        name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (default info).")
    var logLevel: String?
    @Flag(
        name: .customLong("rebind-provider"),
        help: """
            Bind the data directory to the configured provider account although provider.json names another: only \
            when its numbers were moved there (flag only, not read from the environment or the config file).
            """)
    var rebindProvider = false
    @Flag(
        name: .customLong("allow-core-dumps"),
        help: """
            Leave core dumps on (by default numberd turns them off at start: a core holds the Twilio secret, the API \
            keys of calls in flight and the TLS private keys). Flag only, not read from the environment or the \
            config file.
            """)
    var allowCoreDumps = false

    func run() async throws {
        // SIGHUP's default action ends the process; a reload or a closed terminal must not. Ignored at once, then
        // trapped before the start (the journal's replay and the start snapshot, possibly minutes at a million
        // numbers): a reload asked for meanwhile is held and carried out once the services run, not thrown away.
        signal(SIGHUP, SIG_IGN)
        let hangUps = await HangUpSignals.trap()
        // A write to a pipe nobody reads (a supervisor gone, `numberd | head -0`) fails with EPIPE instead of killing
        // numberd: the banner is written before NIO's first socket, which is when NIO ignores SIGPIPE itself.
        signal(SIGPIPE, SIG_IGN)
        // A file size limit (`ulimit -f`, systemd's `LimitFSIZE=`) reached by a journal write fails that write with
        // EFBIG, which the store handles as no room (refused, nothing written, reads go on), instead of killing numberd.
        signal(SIGXFSZ, SIG_IGN)
        // First, before any secret is read: from here on a crash dumps no core.
        if !allowCoreDumps {
            do {
                try CoreDumps.disable()
            } catch {
                throw NumberdCommand.usageError("\(error)", of: Serve.self)
            }
        }
        let flags: [String: String?] = [
            "listen": listen, "data-dir": dataDir, "metrics-listen": metricsListen, "config": config,
            "tls-cert": tlsCert,
            "tls-key": tlsKey, "client-ca": clientCA, "simulator-seed": simulatorSeed, "rate-limit": rateLimit,
            "purchase-cap": purchaseCap, "connections-max": connectionsMax,
            "connections-per-address-max": connectionsPerAddressMax,
            "partial-frame-bytes-max": partialFrameBytesMax, "unsent-reply-bytes-max": unsentReplyBytesMax,
            "billing-interval": billingInterval,
            "grace-period": gracePeriod,
            "reconcile-interval": reconcileInterval, "snapshot-interval": snapshotInterval,
            "snapshot-bytes-max": snapshotBytesMax,
            "drain-timeout": drainTimeout,
            "reconcile-in-flight-horizon": reconcileInFlightHorizon, "orphan-watch": orphanWatch,
            "provider-audit-interval": providerAuditInterval, "provider-audit-recheck": providerAuditRecheck,
            "rebind-provider": rebindProvider ? "true" : nil, "clock-lead-max": clockLeadMax, "log-level": logLevel,
            "twilio-bundles": twilioBundles.isEmpty ? nil : twilioBundles.joined(separator: ","),
            "backup-dir": backupDir, "backups-kept": backupsKept, "pricing-markup-percent": pricingMarkupPercent,
            "pricing-minimum-monthly-fee": pricingMinimumMonthlyFee,
            "pricing-default-setup-fee": pricingDefaultSetupFee, "pricing-setup-fees": pricingSetupFees,
        ]
        let configuration: NumberdConfiguration
        do {
            configuration = try NumberdConfiguration.resolve(flags: flags.compactMapValues { $0 })
        } catch {
            throw NumberdCommand.usageError("\(error)", of: Serve.self)
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        // The store's failure counters at 0 from the start, in this registry, before the first failure.
        CoreMetrics.createStoreSeries()
        // Standard error through a bounded queue and a thread of its own: a reader that stops reading costs log lines
        // (counted), not service.
        let standardError = QueuedLogStream(metrics: MetricsSystem.factory)
        // One level for every logger, read at each line: SIGHUP changes it (the config file's `log-level`), and loggers
        // copied into long-lived objects at start follow.
        let logLevel = SharedLogLevel(configuration.logLevel)
        LoggingSystem.bootstrap { label in
            QueuedLogHandler(label: label, stream: standardError, level: logLevel)
        }
        // The last lines are written before the exit, unless standard error is not being read.
        defer { standardError.flush(timeout: .seconds(2)) }
        let logger = Logger(label: "numberd")

        let numberd = try await Numberd.prepare(
            configuration, logger: logger, metrics: registry, logLevel: logLevel, hangUps: hangUps)
        var listen = configuration.listen
        // Port 0 asks for any free port: the banner names the one `prepare` bound, which clients need.
        if listen.port == 0, let port = try? await numberd.server.listeningAddress().port { listen.port = port }
        let banner = numberd.banner(listen: listen, standardOutputIsTerminal: isatty(STDOUT_FILENO) == 1)
        // Unbuffered, so the banner reaches a pipe or a file at once.
        try? FileHandle.standardOutput.write(contentsOf: Data(banner.utf8))
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: numberd.services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        do {
            try await group.run()
        } catch {
            await numberd.close()
            throw error
        }
        await numberd.close()
    }
}

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check every invariant of a data directory offline and print what is wrong (exit 1 if anything).",
        discussion: """
            Checks under the limits numberd opens the directory with: give it the same --snapshot-bytes-max (or \
            NUMBERD_SNAPSHOT_BYTES_MAX, or the same --config file) as the service, or a snapshot the service cannot \
            read passes here. Run it as numberd's user: a data directory or store of another user is refused. Exit 0 \
            sound, 1 problems found, the store cannot be read, or it is lost (admin.key, clock or provider.json \
            shows the directory served, \
            its store holds no journal or snapshot: as the start refuses it), 2 no store, 3 not checked though \
            nothing was found wrong (no room for the copy its replay needs; or a running numberd removed files as \
            they were read, three times over: stop it, or verify a backup), 64 a setting refused.
            """)

    @OptionGroup var storage: StorageOptions

    func run() async throws {
        let configuration = try storage.resolve(for: Self.self)
        let directory = DataDirectory(root: configuration.dataDirectory)
        let store = directory.store
        do {
            // First, as `numberd backup` does: another user's data directory (mode 0700) reads as having no store,
            // which a monitoring job takes for a fresh directory (exit 2) rather than for a check that did not run.
            try directory.requireOwnedByThisUser(doing: "verify")
            try directory.requireStoreIsThisUsers(doing: "verify")
        } catch {
            print("numberd verify: refused: \(error)")
            throw ExitCode(1)
        }
        // As the start: a directory that served (its admin.key) whose store is missing or holds nothing lost its
        // store (a volume not mounted) — neither sound nor "no store", which monitoring reads as a fresh directory.
        do {
            try directory.checkStoreIsThere()
        } catch {
            print("numberd verify: \(error)")
            throw ExitCode(1)
        }
        // Only a store that is not there is "no store"; one this user may not reach or read (a folder on the way it
        // cannot search, a store without read permission) is a failure with its reason.
        var status = stat()
        if stat(store, &status) != 0 {
            let error = errno
            guard error == ENOENT || error == ENOTDIR else {
                print("numberd verify: cannot read \(store): \(String(cString: strerror(error)))")
                throw ExitCode(1)
            }
            print("numberd verify: no store at \(store)")
            throw ExitCode(2)
        }
        guard access(store, R_OK | X_OK) == 0 else {
            print("numberd verify: cannot read \(store): \(String(cString: strerror(errno)))")
            throw ExitCode(1)
        }
        let limits = configuration.journalLimits
        print("numberd verify: \(store) (snapshot-bytes-max \(limits.snapshotBytesMax))")
        let report = await verifyDataDirectory(URL(fileURLWithPath: store), limits: limits)
        if report.inUse {
            print(
                "numberd verify: warning: a running numberd holds this directory; files may change while they are "
                    + "read, so a problem at the newest segment or snapshot may be a write in progress")
        }
        // Not "problems found": an operator told so might restore an older backup over a sound store.
        if report.journal.changedTooFast, let notFinished = report.notFinished {
            print("numberd verify: NOT CHECKED: \(notFinished)")
            throw ExitCode(3)
        }
        print("format: \(Self.describe(report.journal.format))")
        for problem in report.journal.problems { print("journal: \(problem)") }
        for violation in report.violations { print("invariant: \(violation)") }
        for warning in report.warnings { print("warning: \(warning)") }
        if let error = report.replayError { print("replay: \(error)") }
        if let state = report.state {
            print(
                "state: \(state.accounts.count) accounts, \(state.numbers.count) numbers, "
                    + "\(state.transactions.values.reduce(0) { $0 + $1.count }) transactions, \(state.intents.count) open intents, "
                    + "\(state.routeRequests.count) open trunk changes, \(state.adoptionRoutes.count) adoption routings held"
            )
        }
        if let notFinished = report.notFinished {
            guard report.foundProblems else {
                print("numberd verify: NOT CHECKED: \(notFinished)")
                throw ExitCode(3)
            }
            print("replay: not run: \(notFinished)")
        }
        print(report.isSound ? "numberd verify: OK" : "numberd verify: PROBLEMS FOUND")
        if !report.isSound { throw ExitCode(1) }
    }

    /// The store's format as `numberd verify` prints it, with the newest this numberd reads.
    static func describe(_ format: JournalVerificationReport.FormatFinding) -> String {
        let reads = "this numberd reads store formats up to \(StoreFormat.current.format)"
        switch format {
        case .recorded(let found):
            return "\(found.format), opened by numberd of format \(found.readers) or later (\(reads))"
        case .absent:
            return "no FORMAT file: a store from before it, format 1 (numberd adds it at its next start; \(reads))"
        case .damaged:
            return "FORMAT damaged, see below (\(reads))"
        }
    }
}

struct Restore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put a backup's store in place of a stopped numberd's (the old store is kept beside it).",
        discussion: """
            BACKUP is a folder `numbers backup` wrote (it holds store/). Refused, changing nothing, while a numberd \
            runs on the data directory, when the backup does not verify, when its provider.json names another \
            Twilio account than the data directory's, or when store/ holds nothing in a data directory that has \
            served (its volume not mounted: mount it; if the store was lost, remove the empty folder). The replaced \
            store is kept as store.replaced-<time>. Twilio is ahead of any backup: after the start, the provider \
            audit lists the numbers to settle. Exit 0 restored, 1 refused or failed, 64 a setting refused.
            """)

    @Argument(help: "The backup folder (backup-<time>, holding store/).") var backup: String
    @OptionGroup var storage: StorageOptions

    func run() async throws {
        let configuration = try storage.resolve(for: Self.self)
        let directory = DataDirectory(root: configuration.dataDirectory)
        print("numberd restore: \(backup) into \(directory.store)")
        let report: BackupRestore.Report
        do {
            report = try await BackupRestore(backup: backup, into: directory, limits: configuration.journalLimits).run()
        } catch let refusal as BackupRestore.Refusal where !refusal.changedNothing {
            print("numberd restore: FAILED after the swap: \(refusal)")
            throw ExitCode(1)
        } catch {
            print("numberd restore: refused, nothing changed: \(error)")
            throw ExitCode(1)
        }
        print("state: \(report.accounts) accounts, \(report.numbers) numbers")
        if let replaced = report.replacedStore { print("the store it replaced: \(replaced) (remove it when done)") }
        if report.providerBindingCopied { print("provider.json: copied from the backup") }
        print(
            "numberd restore: OK. Twilio is ahead of the backup: once numberd runs, the provider audit (logs, "
                + "numberd_provider_audit_differences) lists numbers bought or released since it was taken")
    }
}

struct BackupStopped: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Back up a stopped numberd's data directory, as `numbers backup` does a running one's.",
        discussion: """
            Writes backup-<time>/ (store/ with a snapshot of everything committed, and provider.json) into the backup \
            directory, keeping the newest --backups-kept, as CreateBackup does; `numberd restore` puts it back. It \
            opens the store as a start does (a torn tail is cut off, a snapshot written if the newest is behind), \
            so it is refused, changing nothing: while a numberd runs on the data directory (use `numbers backup` \
            then); for a data directory or store of another user (run it as numberd's user: files written as another \
            could not be opened by numberd); and for a store of another format than this numberd writes (opening it \
            would upgrade it: back it up with the numberd that wrote it, or copy the stopped directory with cp -a). \
            Exit 0 written, 1 refused or failed, 2 no store, 64 a setting out of range.
            """)

    @OptionGroup var storage: StorageOptions
    @Option(
        name: .customLong("backup-dir"),
        help: "Where backups go (default <data-dir>/backups; not inside store/).") var backupDir: String?
    @Option(
        name: .customLong("backups-kept"),
        help: "Newest backups kept there, 1...1000 (default 7).") var backupsKept: String?

    func run() async throws {
        // As `serve`: a file size limit fails a write (EFBIG) instead of killing the command half-way.
        signal(SIGXFSZ, SIG_IGN)
        let configuration = try storage.resolve(
            for: Self.self, adding: ["backup-dir": backupDir, "backups-kept": backupsKept])
        let directory = DataDirectory(root: configuration.dataDirectory)
        do {
            // First: another user's directory (mode 0700) reads as having no store.
            try directory.requireOwnedByThisUser(doing: "backup")
            try directory.requireStoreIsThisUsers(doing: "backup")
        } catch {
            print("numberd backup: refused, nothing changed: \(error)")
            throw ExitCode(1)
        }
        let hasRecords: Bool
        do {
            // A lost store (admin.key beside a store/ holding nothing) is refused as the start refuses it.
            try directory.checkStoreIsThere()
            hasRecords = try directory.storeHasRecords()
        } catch {
            print("numberd backup: refused, nothing changed: \(error)")
            throw ExitCode(1)
        }
        guard hasRecords else {
            print("numberd backup: no store at \(directory.store) (no journal or snapshot): nothing to back up")
            throw ExitCode(2)
        }
        let storeURL = URL(fileURLWithPath: directory.store)
        do {
            let recorded = try FileNumberStore.recordedFormat(directory: storeURL) ?? .legacy
            guard recorded == .current else {
                // Older: opening it would upgrade it. Newer: this numberd cannot read it at all.
                let why =
                    recorded.format < StoreFormat.current.format
                    ? "opening it would upgrade it" : "this numberd cannot read a newer store"
                print(
                    "numberd backup: refused, nothing changed: the store is of format \(recorded.format), this numberd "
                        + "writes \(StoreFormat.current.format) and \(why): back it up with the numberd that wrote "
                        + "it, or copy the stopped data directory (cp -a)")
                throw ExitCode(1)
            }
        } catch let error as JournalError {
            print("numberd backup: refused, nothing changed: \(error)")
            throw ExitCode(1)
        }
        var options = FileNumberStore.Options.defaults
        options.journal.limits = configuration.journalLimits
        var logger = Logger(label: "numberd.backup")
        logger.logLevel = .warning
        options.journal.logger = logger
        // A failed write or sync fails the backup (exit 1) instead of ending the process; the store's files stay as
        // a crash would leave them, which the next start recovers.
        options.journal.fatal = { _ in }
        let store: FileNumberStore
        do {
            store = try FileNumberStore.open(directory: storeURL, options: options)
        } catch let error as JournalError where error.code == .locked {
            print(
                "numberd backup: refused, nothing changed: \(directory.root) is in use (a running numberd: back it up "
                    + "with `numbers backup`; or another numberd backup or restore)")
            throw ExitCode(1)
        } catch {
            print("numberd backup: refused: the store cannot be opened: \(error)")
            throw ExitCode(1)
        }
        let recovery = store.recovery
        if !recovery.tornFiles.isEmpty { print("the store's torn tail was cut off and kept: \(recovery.tornFiles)") }
        if !recovery.damagedSnapshots.isEmpty {
            print("damaged snapshots were set aside: \(recovery.damagedSnapshots)")
        }
        let result: Result<FileNumberStore.Backup, any Error>
        do {
            result = .success(try await configuration.writeBackup(of: store))
        } catch {
            result = .failure(error)
        }
        await store.close()
        switch result {
        case .success(let backup):
            print(
                "numberd backup: OK \(backup.path) (snapshot of seq \(backup.seq), \(backup.snapshotBytes) bytes, "
                    + (backup.linked ? "linked" : "copied") + ")")
            for removed in backup.removed { print("removed the older backup \(removed)") }
        case .failure(let error):
            print("numberd backup: FAILED, nothing written: \(error)")
            throw ExitCode(1)
        }
    }
}

/// Where the data is and how it is read, for the commands that work on a stopped numberd's data directory (`verify`,
/// `backup`, `restore`): the same flags, `NUMBERD_` variables and config file as the service.
struct StorageOptions: ParsableArguments {
    @Option(
        name: .customLong("data-dir"),
        help: "Data directory (env NUMBERD_DATA_DIR; default $XDG_DATA_HOME/numberd or ~/.local/share/numberd).")
    var dataDir: String?
    @Option(
        name: .customLong("snapshot-bytes-max"),
        help: "Largest snapshot file read, bytes, as numberd runs with (default and maximum 4294967294).")
    var snapshotBytesMax: String?
    @Option(help: "numberd's JSON config file: its data-dir and snapshot-bytes-max apply (flags win).")
    var config: String?

    /// The storage settings (``NumberdConfiguration/resolveStorage(flags:environment:)``), with `command`'s own
    /// storage flags `adding`; a usage error of `command` if invalid.
    func resolve(
        for command: any ParsableCommand.Type, adding extra: [String: String?] = [:]
    ) throws -> NumberdConfiguration {
        var flags: [String: String?] = ["data-dir": dataDir, "snapshot-bytes-max": snapshotBytesMax, "config": config]
        flags.merge(extra) { own, _ in own }
        do {
            return try NumberdConfiguration.resolveStorage(flags: flags.compactMapValues { $0 })
        } catch {
            throw NumberdCommand.usageError("\(error)", of: command)
        }
    }
}

extension NumberdCommand {
    /// A setting out of range that `command` finds once it runs (its settings are resolved there), said as
    /// ArgumentParser says a usage error it finds, with `command`'s usage line, exit 64. Thrown as a ValidationError
    /// from `run()` it came with the root's line, `Usage: numberd <subcommand>` (an operator's walk).
    static func usageError(_ message: String, of command: any ParsableCommand.Type) -> ExitCode {
        let usage = usageString(for: command)
        // The command's words at the usage line's start: `numberd backup`, `numberd serve`.
        let name = usage.split(separator: " ").prefix { !"[<-".contains($0.first ?? "-") }.joined(separator: " ")
        FileHandle.standardError.write(
            Data("Error: \(message)\nUsage: \(usage)\n  See '\(name) --help' for more information.\n".utf8))
        return .validationFailure
    }
}
