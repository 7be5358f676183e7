import Foundation
import Logging
import Metrics
import NIOCore
import NIOPosix
import NumberAPI
import NumberCore
import NumberServer
import NumberTLS
import Prometheus
import ServiceLifecycle
import Synchronization
import TwilioSimulator

/// numberd assembled from its configuration, ready to run as a ServiceLifecycle group.
///
/// ```swift
/// let numberd = try await Numberd.prepare(configuration, logger: logger)
/// let group = ServiceGroup(services: numberd.services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
/// try await group.run()
/// await numberd.close()
/// ```
public final class Numberd: Sendable {
    /// numberd's version: what HealthCheck reports, `numberd --version` prints and `numberd_build_info` carries.
    public static let version = NumberdVersion.current

    /// The services, in start order; graceful shutdown stops them in reverse (the RPC server drains first, billing
    /// and reconciliation end before the final snapshot is written, and the clock is marked last).
    public let services: [any Service]
    /// The RPC server (its `listeningAddress()` tells the port when `listen` used port 0).
    public let server: NumberServer
    /// The core.
    public let service: NumberService
    /// The data directory's layout.
    public let dataDirectory: DataDirectory
    /// The operator's server certificate chain served (`--tls-cert`), nil when numberd serves the one it generated from
    /// the data directory's CA: the banner names which CA clients trust.
    public let operatorCertificateFile: String?
    /// The admin key this start created (the first start of a data directory, or one whose `admin.key` no longer
    /// works), else nil.
    public let createdAdminKey: CreatedAdminKey?
    /// The in-process Twilio simulator, in the default run.
    public var simulator: TwilioSimulator? { resources.simulator }
    /// The in-process simulator's certificate, in the default run.
    var simulatorCertificate: SimulatorCertificate? { resources.simulatorCertificate }
    /// What `prepare` opened, closed by ``close()``.
    private let resources: Resources
    /// Where the metrics endpoint listens; nil when there is none.
    private let metricsAddress: SocketAddress?
    /// SIGHUP's reload of the Twilio secret; nil with the in-process simulator (its credentials are made at start).
    private let twilioReload: TwilioCredentialReload?
    /// SIGHUP's reading of the config file (the log level, the per-account limits).
    private let settingsReload: SettingsReload

    private init(
        services: [any Service], server: NumberServer, service: NumberService, dataDirectory: DataDirectory,
        operatorCertificateFile: String?, createdAdminKey: CreatedAdminKey?, resources: Resources,
        metricsAddress: SocketAddress?, twilioReload: TwilioCredentialReload?, settingsReload: SettingsReload
    ) {
        self.operatorCertificateFile = operatorCertificateFile
        self.twilioReload = twilioReload
        self.settingsReload = settingsReload
        self.services = services
        self.server = server
        self.service = service
        self.dataDirectory = dataDirectory
        self.createdAdminKey = createdAdminKey
        self.resources = resources
        self.metricsAddress = metricsAddress
    }

    /// The provider audit an operator asked for, while it runs (``Resources/askedAudit``).
    final class AskedAudit: Sendable {
        private let task = Mutex<Task<ProviderAuditReport, any Error>?>(nil)

        func set(_ audit: Task<ProviderAuditReport, any Error>) { task.withLock { $0 = audit } }

        func cancel() { task.withLock { $0?.cancel() } }
    }

    /// What a start opens, in the order it opens them; closed newest first, by ``close()`` or by a `prepare` that
    /// fails part way (each resource opened so far).
    struct Resources: Sendable {
        /// The store (the data directory's lock).
        let store: FileNumberStore
        /// The in-process simulator (its port, its journal).
        var simulator: TwilioSimulator?
        /// The in-process simulator's certificate, which the certificate check renews (nothing to close).
        var simulatorCertificate: SimulatorCertificate?
        /// The provider's HTTP client.
        var provider: TwilioProvider?
        /// The RPC server, its socket bound (``NumberServer/bind()``).
        var server: NumberServer?
        /// The metrics endpoint's socket.
        var metricsListener: (any Channel)?

        /// The provider audit an operator asked for (RunProviderAudit), while it runs: cancelled first at close, before
        /// the provider's client shuts down under it (its failure then was logged and counted as the audit's).
        let askedAudit = AskedAudit()

        /// Closes each, newest first. A listener that its service already served (and closed) is left alone.
        func close() async {
            askedAudit.cancel()
            if let metricsListener { try? await metricsListener.close() }
            await server?.close()
            await provider?.shutdown()
            try? await simulator?.shutdown()
            await store.close()
        }
    }

    /// Where the metrics endpoint (`/metrics`, `/healthz`, `/readyz`) listens (useful with port 0: `prepare` binds
    /// it); nil when numberd runs without one (`metricsListen` off, or no registry given to
    /// ``prepare(_:logger:metrics:)``).
    public func metricsListeningAddress() async throws -> SocketAddress? {
        metricsAddress
    }

    /// What SIGHUP does for the Twilio secret (``TwilioCredentialReload``): reads it again from its file or systemd
    /// credential and, if it changed and Twilio accepts it, sends it from now on. `environment` replaces the start's
    /// (tests). Nil with the in-process simulator, whose credentials are not reloaded.
    package func reloadTwilioCredentials(
        environment: [String: String]? = nil
    ) async -> TwilioCredentialReload.Outcome? {
        await twilioReload?.reload(environment: environment)
    }

    /// What SIGHUP does with the config file (``SettingsReload``): reads it again and applies a changed log level, rate
    /// limit or purchase cap.
    @discardableResult
    package func reloadSettings() -> SettingsReload.Outcome {
        settingsReload.reload()
    }

    /// The level numberd's loggers log at now (the start's until a reload changes it).
    package var logLevel: Logger.Level { settingsReload.logLevel.level }

    /// The per-account limits in force (the start's until a reload changes them).
    package var rateLimits: RateLimiter.Limits { settingsReload.rateLimiter.limits }

    /// The credentials the Twilio adapter sends now (the start's until a reload rotates them).
    package var twilioCredentials: TwilioCredentials? {
        resources.provider?.credentials
    }

    /// Why numberd is not ready for traffic now (what `GET /readyz` answers 503 with); nil when it is.
    public func readinessProblem() -> String? {
        Readiness(server: server, service: service).problem()
    }

    /// Why numberd should be restarted now (what `GET /healthz` answers 503 with); nil while it is alive.
    public func livenessProblem() -> String? {
        Readiness(server: server, service: service).livenessProblem()
    }

    /// Raises the open-files limit (lowering `connectionsMax` to what it holds), then prepares the data directory, the
    /// store (which takes the directory's lock), TLS (generated material checked and renewed under that lock), the
    /// provider and the core, in that order, builds the services and binds the RPC and metrics listeners (accepting
    /// nothing until the services run): a taken port fails the start here, before any service has asked the provider
    /// anything. When it throws, what it opened is closed again. `logLevel` is the level `logger`'s handler follows
    /// (``QueuedLogHandler``), which SIGHUP changes; without it a reload changes a level no logger reads. `hangUps` is
    /// SIGHUP trapped before this start (``HangUpSignals``): a reload asked for meanwhile runs once the services do;
    /// without it SIGHUP is trapped when they run.
    public static func prepare(
        _ configuration: NumberdConfiguration, logger: Logger, metrics: PrometheusCollectorRegistry? = nil,
        logLevel: SharedLogLevel? = nil, hangUps: HangUpSignals? = nil
    ) async throws -> Numberd {
        let gauges = OperationalGauges(
            factory: metrics.map { PrometheusMetricsFactory(registry: $0) } ?? MetricsSystem.factory)
        gauges.recordStart(version: version, at: Date())
        // A config file's unknown key refuses the start; a variable cannot (a test's children inherit the test's), so
        // one that names no setting — NUMBERD_RATE_LIMT, leaving the default in force — is named here.
        let ignored = NumberdConfiguration.ignoredVariables(in: configuration.origin.environment).sorted {
            $0.key < $1.key
        }
        for (variable, reason) in ignored {
            logger.warning(
                "a NUMBERD_ environment variable is ignored",
                metadata: ["variable": "\(variable)", "reason": "\(reason)"])
        }
        // Before anything is opened: a policy set in code (the settings' were checked when resolved) that the core
        // would refuse is a configuration error, as the settings' are, not a core that fails to open.
        try NumberdConfiguration.checkPricing(configuration.pricing)
        var connectionLimits = configuration.connectionLimits
        connectionLimits.connectionsMax = try FileDescriptorLimit.prepare(
            connectionsMax: connectionLimits.connectionsMax, logger: logger)
        let directory = DataDirectory(root: configuration.dataDirectory)
        try directory.prepare()
        // Before its key is read (and kept, when it works): a key others can read is no longer the owner's alone.
        if let loosened = try directory.tightenAdminKey() {
            logger.warning(
                "admin.key was accessible by group or others: its mode is now 0600",
                metadata: ["file": "\(directory.adminKeyFile)", "mode": "\(String(loosened, radix: 8))"])
        }

        var storeOptions = FileNumberStore.Options.defaults
        storeOptions.journal.limits = configuration.journalLimits
        // Decided before the open, which records a FORMAT in a store that has none (a store with one was written by
        // a numberd that also keeps provider.json, so a missing binding there was lost), and kept on disk until the
        // binding is written: a start refused after the open must not leave the next one a store that reads as lost.
        let legacy = try ProviderBinding.markLegacy(directory)
        // The store first: opening it takes the data directory's lock, so a second numberd on the same directory stops
        // here — before the simulator's start-up compaction rewrites the files the running one is appending to, and
        // before the TLS material is generated or renewed (two first starts at once could mix two CAs' files).
        let store = try FileNumberStore.open(directory: URL(fileURLWithPath: directory.store), options: storeOptions)
        // A `numberd verify` killed mid-run leaves its copy of the store beside it: the room it took would stop every
        // snapshot (and then the journal, at a full disk).
        for path in VerifyCopy.removeLeftovers(besides: URL(fileURLWithPath: directory.store)) {
            logger.notice("removed the store copy of a verify that did not finish", metadata: ["path": "\(path)"])
        }
        // So does a `numberd restore` killed mid-copy (its `store.restore-<time>`).
        for path in BackupRestore.removeLeftovers(of: directory) {
            logger.notice("removed the store copy of a restore that did not finish", metadata: ["path": "\(path)"])
        }
        // From here on a start that fails closes what it opened, newest first: a supervisor's next attempt (or a
        // caller's next prepare in this process) finds the lock, the simulator's port and the listeners free.
        var resources = Resources(store: store)
        do {
            return try await assemble(
                configuration, logger: logger, metrics: metrics, gauges: gauges, connectionLimits: connectionLimits,
                directory: directory, legacy: legacy,
                logLevel: logLevel ?? SharedLogLevel(configuration.logLevel), hangUps: hangUps, resources: &resources)
        } catch {
            await resources.close()
            throw error
        }
    }

    /// `prepare`'s work once the store is open: each resource it opens goes into `resources` as soon as it is open.
    private static func assemble(
        _ configuration: NumberdConfiguration, logger: Logger, metrics: PrometheusCollectorRegistry?,
        gauges: OperationalGauges, connectionLimits: NumberServerConfiguration.ConnectionLimits,
        directory: DataDirectory, legacy: Bool, logLevel: SharedLogLevel, hangUps: HangUpSignals?,
        resources: inout Resources
    ) async throws -> Numberd {
        let store = resources.store
        let (latestRecorded, holdsProviderResources, violations) = await store.inspect {
            ($0.latestRecordedTime, $0.holdsProviderResources, $0.checkInvariants())
        }
        let latest = [latestRecorded, directory.readClockMark()].compactMap { $0 }.max()
        // A state whose own rules do not hold (a ledger that does not add up, a number without its debit...) is not
        // served: every write would build on it. Replay already refuses a record that does not fit; this catches
        // what a snapshot holds.
        try checkInvariants(violations, directory: configuration.dataDirectory)
        // Under the lock, before anything uses the clock (certificates, billing, key expiry) or acts at the provider
        // (the simulator's start, reconciliation).
        let now = Date()
        try checkClock(latest, now: now, configuration, logger: logger)
        // Before the clock mark moves on: a start that fails between the two records the same downtime again, merged.
        // Kept as far back as a grace period or an idempotency key's life (both count uptime only) can reach.
        let downtimes = recordDowntime(
            directory, since: latest, now: now,
            graceSeconds: max(
                Int64(configuration.gracePeriodSeconds), NumberServiceConfig.defaults.idempotency.ttlSeconds),
            logger: logger)
        // Not a reason to refuse the start (a full disk would make it a crash loop, as for the snapshot below): the
        // mark is advanced again every minute, and until then the next start compares with the older mark.
        // Only once the file holds this start's downtime: a mark past it with the file lacking it would make the next
        // start forget it (the clock's minute writes it and moves the mark once it can).
        do {
            try keepDowntimes(downtimes, directory, thenMarkAt: now)
        } catch {
            logger.warning("clock mark not advanced at start", metadata: ["error": "\(error)"])
        }
        try ProviderBinding(configuration.provider).check(
            directory, holdsProviderResources: holdsProviderResources, legacy: legacy,
            rebind: configuration.rebindProvider, logger: logger)
        let certificates = try ServerCertificates.start(
            configuration, directory, nowSeconds: Int64(Date().timeIntervalSince1970), logger: logger)
        gauges.recordCertificate(notAfterSeconds: certificates.notAfterSeconds)
        let provider = try await makeProvider(configuration, directory, logger: logger, resources: &resources)
        resources.provider = provider
        let simulatorCertificate = resources.simulatorCertificate
        // Before serving (a no-op after a clean stop): after a crash the journal tail since the last snapshot is folded
        // into a new one, so crash after crash never makes each start replay more, even when every run is killed
        // before a periodic snapshot could finish. A snapshot that cannot be written — a state larger than
        // `snapshotBytesMax`, a full disk or quota, no descriptor, an I/O error — still starts (the journal holds every
        // record; the next periodic snapshot tries again), with an error in the log: refusing would turn a full disk
        // into a crash loop that never frees it. Only a stopped journal (`failed`) ends the start.
        do {
            try await store.writeSnapshot()
        } catch let error as JournalError where error.code == .failed || error.code == .closed {
            throw error
        } catch {
            logger.error(
                "start-up snapshot not written; serving from the journal, the next periodic snapshot tries again",
                metadata: ["error": "\(error)"])
        }
        gauges.record(store.lastSnapshot)
        // On the backup queue, not waited for: a backup directory whose disk stalls (a hard-mounted NFS share that is
        // down) held up the start, and then the stop. A backup asked for meanwhile runs after it, as it would anyway.
        let (backupDirectory, probe) = (configuration.backupDirectory, configuration.backupDirectoryProbe)
        store.enqueueOnBackupQueue {
            let ahead = gauges.recordNewestBackup(among: probe.list(backupDirectory))
            guard !ahead.isEmpty else { return }
            logger.warning(
                "backups named later than now (a clock that was ahead) are left out of the last backup's time",
                metadata: ["backups": "\(ahead.joined(separator: ","))"])
        }
        var serviceConfig = NumberServiceConfig.defaults
        serviceConfig.reconcile.inFlightHorizonSeconds = Int64(configuration.reconcileInFlightHorizonSeconds)
        serviceConfig.reconcile.orphanWatchSeconds = Int64(configuration.orphanWatchSeconds)
        serviceConfig.billing.gracePeriodSeconds = Int64(configuration.gracePeriodSeconds)
        serviceConfig.billing.downtimes = downtimes
        serviceConfig.pricing = configuration.pricing
        // Every decision's time: never before what the data already records, never ahead of the time that passed.
        let clock = ServiceClock(leadMaxSeconds: configuration.clockLeadMaxSeconds, floor: latest)
        let service = try await NumberService.open(
            store: store, provider: provider, clock: clock, config: serviceConfig, logger: logger)
        // A clock that started behind the data and is corrected now reveals how long numberd was stopped: counted as
        // downtime from then on (before any reading returns the corrected time), and written to the `downtimes` file
        // by the clock's next minute, before the mark moves past it (`keepDowntimes`).
        clock.onCorrection { [service] interval in
            service.noteDowntime(interval)
            logger.notice(
                "the clock was corrected after a start behind the data: numberd was stopped longer than the start knew",
                metadata: [
                    "from": "\(interval.start.formatted(.iso8601))", "to": "\(interval.end.formatted(.iso8601))",
                    "down_seconds": "\(Int64(interval.duration))",
                ])
        }
        let createdAdminKey = try await bootstrapAdminKey(service, directory, logger: logger)

        var router = RPCRouter()
        // HealthCheck says NOT_SERVING while the server drains (the server is made after its router, hence the box).
        let serverBox = Mutex<NumberServer?>(nil)
        let rateLimiter = RateLimiter(limits: configuration.rateLimits)
        NumbersAPI(
            service: service, rateLimiter: rateLimiter, version: version,
            isServing: { serverBox.withLock { $0?.servingState } == .serving },
            backup: {
                // Counted where the backup ends, not here: a caller that stops waiting (its deadline, a client gone, a
                // stop's drain) gets CancellationError at once while the backup goes on, and counted here a backup
                // written (or failed) after that was never counted, nor its time recorded.
                try await configuration.writeBackup(of: store, ended: { gauges.recordBackup($0) })
            },
            runProviderAudit: { [askedAudit = resources.askedAudit] in
                let recheck = configuration.providerAuditRecheckSeconds
                guard let audit = service.startProviderAudit(recheckAfter: .seconds(recheck)) else { return nil }
                askedAudit.set(audit)
                // Recorded and logged as a periodic audit's; a stop cancels it (it changes nothing).
                Task {
                    // Counted as the periodic audits' runs are (an operator's walk: a failed `audit --run` showed in
                    // no metric, so the "background run failing" alert could not see it).
                    let runs = { PeriodicService.runs(of: "provider-audit", $0, factory: gauges.factory).increment() }
                    do {
                        let report = try await audit.value
                        // Its success is the periodic audits' only while they run: with them off, nothing is to
                        // watch, and a timestamp would make the "audits stopped" alert fire for ever after it.
                        let counts = Self.record(
                            report, gauges: gauges, logger: logger,
                            stampSuccess: configuration.providerAuditIntervalSeconds > 0)
                        logger.notice("provider audit ran (asked for)", metadata: counts)
                        runs("ok")
                    } catch  where audit.isCancelled {
                        logger.info("provider audit (asked for) cut short by the stop")
                    } catch {
                        logger.error("provider audit (asked for) failed", metadata: ["error": "\(error)"])
                        runs("error")
                    }
                }
                return (Int64(recheck), clock.now())
            }
        ).register(into: &router)
        let server = NumberServer(
            configuration: NumberServerConfiguration(
                host: configuration.listen.host, port: configuration.listen.port,
                connection: connectionLimits,
                drainTimeout: .seconds(Int64(configuration.drainTimeoutSeconds))),
            transport: .reloadableTLS(certificates.context), router: router, logger: logger,
            metricsFactory: gauges.factory)
        serverBox.withLock { $0 = server }

        // The hourly check and a SIGHUP's: the same work, and the gauge of the certificate served follows either (also
        // after a failed check: the certificate served is still the one new connections get). The in-process
        // simulator's certificate is checked too, first: a failure of either check leaves the other done.
        let checkCertificates: @Sendable () throws -> Logger.Metadata = {
            defer { gauges.recordCertificate(notAfterSeconds: certificates.notAfterSeconds) }
            let nowSeconds = Int64(Date().timeIntervalSince1970)
            let simulatorRenewed = Result { try simulatorCertificate?.check(nowSeconds: nowSeconds) }
            var metadata = try certificates.check(nowSeconds: nowSeconds)
            if let renewed = try simulatorRenewed.get() { metadata["simulator_renewed"] = renewed ? "1" : "0" }
            return metadata
        }
        // The service's time, not a time the wall clock jumped to (the next start would take it for how far time got);
        // read first: a reading that reveals a correction adds its downtime to those counted.
        let markClock: @Sendable () throws -> Void = {
            let now = clock.now()
            try keepDowntimes(service.countedDowntimes, directory, thenMarkAt: now)
        }
        var services: [any Service] = [
            // How far time got, so that the next start tells a clock far ahead from a long quiet run, and dates the
            // start of its downtime to the minute (grace periods do not count downtime: `recordDowntime`). First, so
            // that a stop marks it last: after billing and reconciliation, which stop before it, have ended.
            PeriodicService(
                name: "clock", intervalSeconds: NumberdConfiguration.clockMarkIntervalSeconds, runAtStart: false,
                logger: logger,
                action: {
                    // Every minute, whatever `--billing-interval` (a day, say): the alerts on these gauges see a step
                    // of the wall clock, or a hold, within a minute.
                    if let step = Self.recordClock(clock, gauges: gauges) {
                        logger.error(
                            "the wall clock stepped away from the time that passed; numberd keeps time by the boot clock until it is set right or numberd restarts",
                            metadata: [
                                "step_seconds": "\(Int(step))", "step_max": "\(ServiceClock.stepMaxSeconds)",
                                "time": "\(clock.now().formatted(.iso8601))",
                            ])
                    }
                    // Off the pool (``FileWork``): a data directory's disk that stalls holds the clock's lane, not a
                    // thread serving the reads numberd answers from memory. A mark a stop stopped waiting for still
                    // ends, before the final one (same lane); a failure of it is said.
                    try await FileWork.Lane.clock.run(markClock) { result in
                        if case .failure(let error) = result {
                            logger.warning(
                                "the clock's minute mark, ended after the stop stopped waiting for it, failed",
                                metadata: ["error": "\(error)"])
                        }
                    }
                    return [:]
                },
                final: { try await FileWork.Lane.clock.runToEnd(markClock) },
                ranLevel: .debug),
            // The start snapshot is written in prepare, before serving.
            PeriodicService(
                name: "snapshot", intervalSeconds: configuration.snapshotIntervalSeconds, runAtStart: false,
                logger: logger,
                action: {
                    try await store.writeSnapshotIfDue()
                    let snapshot = store.lastSnapshot
                    gauges.record(snapshot)
                    // Sizes, not events: not strings, so PeriodicService does not count them.
                    return ["bytes": .stringConvertible(snapshot?.bytes ?? 0)]
                },
                final: { try await store.writeSnapshot() }),
            PeriodicService(
                name: "billing", intervalSeconds: configuration.billingIntervalSeconds, runAtStart: true,
                logger: logger,
                action: {
                    // At the start's run too, before the clock's first minute; the minute logs a step.
                    _ = Self.recordClock(clock, gauges: gauges)
                    let report = try await service.runBillingUntilCaughtUp(
                        runsMax: NumberdConfiguration.billingRunsPerTickMax)
                    // Releases it started may be left pending at the provider.
                    gauges.record(service.workLevels(), now: clock.now())
                    return billingMetadata(report)
                }, final: nil),
            PeriodicService(
                name: "reconcile", intervalSeconds: configuration.reconcileIntervalSeconds, runAtStart: true,
                logger: logger,
                action: {
                    let report = await service.reconcile()
                    let orphans = await service.sweepOrphans()
                    let levels = service.workLevels()
                    // Before the work levels, which a reader may wait for as the sign that this run set its gauges.
                    gauges.storeNoRoomSince.set(store.noRoomSince?.timeIntervalSince1970 ?? 0)
                    gauges.record(levels, now: clock.now())
                    let metadata = reconcileMetadata(report, orphans, levels)
                    // Neither pass throws: items the provider could not answer for stay open for the next pass. Such a
                    // run is still a failed one for the alerts: while Twilio is down every run is. Not one a stop cut
                    // short (its provider calls end cancelled).
                    if let reason = reconcileFailure(report, orphans), !Task.isCancelled {
                        throw PeriodicService.IncompleteRun(reason: reason, metadata: metadata)
                    }
                    return metadata
                }, final: nil),
            // Checked at start above; a long-running numberd renews a generated certificate before it expires.
            PeriodicService(
                name: "certificates", intervalSeconds: configuration.certificateCheckIntervalSeconds,
                runAtStart: false, logger: logger,
                action: { try await FileWork.Lane.certificates.run(checkCertificates) }, final: nil),
        ]
        var twilioReload: TwilioCredentialReload?
        if case .twilio = configuration.provider {
            twilioReload = TwilioCredentialReload(
                provider: provider, environment: configuration.twilioCredentialEnvironment,
                sources: configuration.twilioSecretSources, gauges: gauges, logger: logger)
            services.append(TwilioCredentialCheck(provider: provider, logger: logger))
        }
        let settingsReload = SettingsReload(
            origin: configuration.origin, logLevel: logLevel, rateLimiter: rateLimiter, gauges: gauges, logger: logger)
        services.append(
            HangUpReload(
                reloadSettings: { _ = settingsReload.reload() }, checkCertificates: checkCertificates,
                reloadTwilioCredentials: { [twilioReload] in _ = await twilioReload?.reload() }, logger: logger,
                trapped: hangUps))
        if configuration.providerAuditIntervalSeconds > 0 {
            let recheck = Duration.seconds(configuration.providerAuditRecheckSeconds)
            services.append(
                PeriodicService(
                    name: "provider-audit", intervalSeconds: configuration.providerAuditIntervalSeconds,
                    runAtStart: false, logger: logger,
                    action: {
                        do {
                            return try await Self.auditProvider(
                                service, recheckAfter: recheck, gauges: gauges, logger: logger)
                        } catch let error as ProviderAuditError where error.alreadyRunning {
                            // One an operator asked for (RunProviderAudit) is running: this run has nothing to do.
                            return ["skipped": .stringConvertible("an audit asked for is running")]
                        }
                    },
                    final: nil,
                    firstRunAfterSeconds: min(
                        configuration.providerAuditIntervalSeconds, NumberdConfiguration.providerAuditFirstRunSeconds)))
        }
        // The listeners last, bound before any service runs: the start's billing and reconciliation act at the
        // provider at once, and a port held by another process used to fail the group only after they had begun —
        // their requests cut mid-way, each an outcome left for a later reconciliation, at every restart of a loop.
        // Bound here, a taken port ends the start before anything is asked of the provider. They accept nothing until
        // their services run (the kernel queues connections meanwhile).
        resources.server = server
        do {
            try await server.bind()
        } catch {
            throw listenError(error, address: configuration.listen, flag: "--listen")
        }
        var metricsAddress: SocketAddress?
        if let metricsListen = configuration.metricsListen, let metrics {
            var endpoint = MetricsEndpoint(
                host: metricsListen.host, port: metricsListen.port, registry: metrics, logger: logger)
            let readiness = Readiness(server: server, service: service)
            endpoint.readiness = { readiness.problem() }
            endpoint.liveness = { readiness.livenessProblem() }
            let listener: any Channel
            do {
                listener = try await endpoint.bind()
            } catch {
                throw listenError(error, address: metricsListen, flag: "--metrics-listen")
            }
            resources.metricsListener = listener
            metricsAddress = listener.localAddress
            endpoint.bound = listener
            services.append(endpoint)
        }
        services.append(server)
        // The background runs count in numberd's registry, each outcome's series there at 0 before any run: the first
        // failure is then an increase.
        services = services.map { service -> any Service in
            guard var periodic = service as? PeriodicService else { return service }
            periodic.metrics = gauges.factory
            periodic.createRunSeries()
            return periodic
        }
        // An audit asked for counts there too, periodic audits on or off: its series at 0 as well.
        for outcome in ["ok", "error"] {
            _ = PeriodicService.runs(of: "provider-audit", outcome, factory: gauges.factory)
        }
        return Numberd(
            services: services, server: server, service: service, dataDirectory: directory,
            operatorCertificateFile: configuration.tlsCertificate?.chain, createdAdminKey: createdAdminKey,
            resources: resources, metricsAddress: metricsAddress, twilioReload: twilioReload,
            settingsReload: settingsReload)
    }

    /// A listener that could not be bound, said so that the operator knows which flag and that the provider was not
    /// asked anything.
    static func listenError(
        _ error: any Error, address: NumberdConfiguration.HostAndPort, flag: String
    ) -> ConfigurationError {
        let reason = (error as? IOError).map { "\(String(cString: strerror($0.errnoCode))) (errno \($0.errnoCode))" }
        return ConfigurationError(
            "cannot listen on \(address) (\(flag)): \(reason ?? "\(error)"). Another process may hold the port "
                + "(another numberd?), or the address is not this machine's; numberd stopped before asking the "
                + "provider anything")
    }

    /// A billing tick's log line: what its runs did as strings (counted in `numberd_background_items_total`); the
    /// grace releases left for later (the provider stopped answering) as a level, logged, not counted: counted, each
    /// tick of a Twilio outage added the same numbers again (200 deferred numbers, ~11,000 "items" an hour).
    static func billingMetadata(_ report: BillingReport) -> Logger.Metadata {
        [
            "renewed": "\(report.renewed)", "past_due": "\(report.markedPastDue)",
            "released": "\(report.released)", "release_failures": "\(report.releaseFailures)",
            "releases_deferred": .stringConvertible(report.releasesDeferred),
            "expired_keys": "\(report.expiredKeys)", "more": "\(report.more)",
        ]
    }

    /// A reconcile run's log line: what the pass did as strings (counted in `numberd_background_items_total`), what
    /// is left open as levels (`.stringConvertible`: logged, not counted; the gauges show them).
    static func reconcileMetadata(
        _ report: ReconcileReport, _ orphans: OrphanSweepReport, _ levels: WorkLevels
    ) -> Logger.Metadata {
        [
            "committed": "\(report.committed.count)", "voided": "\(report.voided.count)",
            "releases": "\(report.releasesCompleted.count)", "orphans_released": "\(orphans.released.count)",
            "routes_settled": "\(report.routesSettled.count)",
            "adoption_routes_ended": "\(report.adoptionRoutesEnded.count)",
            "unresolved": .stringConvertible(report.unresolved.count),
            "provider_failures": .stringConvertible(report.providerFailures + orphans.providerFailures),
            "orphans_watched": .stringConvertible(orphans.pending.count),
            "open_intents": .stringConvertible(levels.openPurchaseIntents),
            "pending_releases": .stringConvertible(levels.pendingReleases),
            "open_route_requests": .stringConvertible(levels.openRouteRequests),
            "adoption_routes_held": .stringConvertible(levels.adoptionRoutes),
        ]
    }

    /// Why a reconcile run counts as failed, or nil: items the provider could not answer for (a look-up or a release
    /// that got no answer, which includes a pass that stopped asking after failures in a row) stay open for the next
    /// pass, and a run that could not settle them did not do its work.
    static func reconcileFailure(_ report: ReconcileReport, _ orphans: OrphanSweepReport) -> String? {
        let failures = report.providerFailures + orphans.providerFailures
        guard failures > 0 else { return nil }
        return
            "the provider gave no usable answer for \(failures) item(s) (unreachable, timing out, or refusing "
            + "numberd's credentials); they stay open for the next pass"
    }

    /// Runs the provider audit: sets its gauges (so an alert can watch it), logs each listed difference at warning,
    /// and returns the counts for the run's log line.
    static func auditProvider(
        _ service: NumberService, recheckAfter: Duration, gauges: OperationalGauges, logger: Logger
    ) async throws -> Logger.Metadata {
        record(try await service.auditProvider(recheckAfter: recheckAfter), gauges: gauges, logger: logger)
    }

    /// Sets an audit's gauges — its success's timestamp only when `stampSuccess` (periodic audits are on) —, logs each
    /// listed difference at warning (the report lists the first `differencesListedMax` of each kind; the rest are only
    /// counted, here too), and returns the counts for a log line.
    static func record(
        _ report: ProviderAuditReport, gauges: OperationalGauges, logger: Logger, stampSuccess: Bool = true
    ) -> Logger.Metadata {
        gauges.record(report, at: stampSuccess ? Date() : nil)
        // Trunks come first in the report.
        for difference in report.differences {
            guard !difference.isTrunk else {
                logger.warning(
                    "the provider and the store disagree about a trunk",
                    metadata: [
                        "kind": "\(difference.kind.rawValue)", "trunk_sid": "\(difference.providerSid)",
                        "trunk_id": "\(difference.trunkId ?? "-")", "account_id": "\(difference.accountId ?? "-")",
                    ])
                continue
            }
            logger.warning(
                "the provider and the store disagree about a number",
                metadata: [
                    "kind": "\(difference.kind.rawValue)", "number": "\(difference.phoneNumber)",
                    "provider_sid": "\(difference.providerSid)", "number_id": "\(difference.numberId ?? "-")",
                    "account_id": "\(difference.accountId ?? "-")", "intent_id": "\(difference.intentId ?? "-")",
                ])
        }
        // Levels, not things the run did: not strings, so PeriodicService does not add them to its item counters (the
        // same difference would be counted again at every audit).
        var metadata: Logger.Metadata = [
            "provider_numbers": .stringConvertible(report.providerNumbers),
            "held_numbers": .stringConvertible(report.heldNumbers),
        ]
        if let trunks = report.providerTrunks { metadata["provider_trunks"] = .stringConvertible(trunks) }
        for (kind, count) in report.counts { metadata[kind.rawValue] = .stringConvertible(count) }
        return metadata
    }

    /// What numberd prints on standard output once it is ready: where it serves, the CA clients trust (the data
    /// directory's `tls/ca.pem`, or with `--tls-cert` the CA that issued that file, which numberd does not know) and,
    /// when this start made an admin key, that key. Its secret only when standard output is a terminal (someone at the
    /// screen, as `swift run numberd`); otherwise — systemd's journal, a container's log, a pipe, all readable by
    /// others and often shipped elsewhere — the key's id and the file (mode 0600) that holds the secret.
    public func banner(listen: NumberdConfiguration.HostAndPort, standardOutputIsTerminal: Bool) -> String {
        var banner = ""
        if let created = createdAdminKey {
            if standardOutputIsTerminal {
                banner += "numberd: created an admin key (shown once, saved to \(dataDirectory.adminKeyFile)):\n"
                banner += "  \(created.secret)\n"
            } else {
                banner +=
                    "numberd: created an admin key \(created.id); its secret is in \(dataDirectory.adminKeyFile) "
                    + "(mode 0600), not printed: standard output is not a terminal\n"
            }
        }
        let trusted = operatorCertificateFile.map { "the CA that issued \($0)" } ?? dataDirectory.caCertificate
        banner += "numberd: serving nrpc/1 over TLS on \(listen); clients trust \(trusted)\n"
        return banner
    }

    /// Releases what `prepare` opened, newest first: the listeners (when their services did not run), the provider's
    /// HTTP client, the simulator, the store.
    public func close() async {
        await resources.close()
    }

    /// Refuses to serve a state that breaks the core's invariants, naming the first few and where to see them all.
    static func checkInvariants(_ violations: [Violation], directory: String) throws {
        guard !violations.isEmpty else { return }
        let shown = violations.prefix(5).map(\.description).joined(separator: "; ")
        let more = violations.count > 5 ? " (and \(violations.count - 5) more)" : ""
        throw ConfigurationError(
            "the data directory's state breaks \(violations.count) invariant(s), so numberd will not serve it: "
                + "\(shown)\(more). `numberd verify --data-dir \(directory)` lists them all; restore the "
                + "directory from a backup or repair it before starting")
    }

    /// Adds the time from `latest` (the latest time the data records, or a numberd running on it saw) to `now` to the
    /// data directory's `downtimes` and returns them: grace periods count only numberd's uptime. Neither a record
    /// that cannot be read (it starts again from this downtime) nor one that cannot be written (this run still uses
    /// it) refuses the start: a crash loop would not free either.
    static func recordDowntime(
        _ directory: DataDirectory, since latest: Date?, now: Date, graceSeconds: Int64, logger: Logger
    ) -> Downtimes {
        let kept: Downtimes
        if let read = directory.readDowntimes() {
            kept = read
        } else {
            logger.warning(
                "the downtimes file cannot be read; grace periods count from this start's downtime only",
                metadata: ["path": "\(directory.downtimes)"])
            kept = Downtimes()
        }
        guard let latest else { return kept }
        let recorded = kept.recording(from: latest, to: now, grace: graceSeconds)
        if latest < now {
            logger.info(
                "numberd was down since the data's latest time; grace periods running then end that much later",
                metadata: [
                    "latest": "\(latest.formatted(.iso8601))",
                    "down_seconds": "\(Int64(now.timeIntervalSince(latest)))",
                ])
        }
        guard recorded != kept else { return recorded }
        do {
            try directory.writeDowntimes(recorded)
        } catch {
            logger.warning("downtimes not recorded", metadata: ["error": "\(error)"])
        }
        return recorded
    }

    /// Writes the downtimes numberd counts (`counted`) to the `downtimes` file when it lacks any, then advances the
    /// clock mark to `now`: a downtime whose write failed at the start (a full disk) or when found while running is
    /// written again at the next minute, and the mark never moves past a downtime the file does not hold (the next start
    /// would date its own downtime from the mark, and forget that one). A write that fails throws, the mark unmoved.
    static func keepDowntimes(_ counted: Downtimes, _ directory: DataDirectory, thenMarkAt now: Date) throws {
        if !counted.intervals.isEmpty {
            // In whole seconds, as the file keeps them: compared with what it holds, not rewritten every minute.
            let seconds = { (date: Date) in Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down)) }
            let onDisk = directory.readDowntimes() ?? Downtimes()
            let kept = onDisk.including(
                counted.intervals.map { DateInterval(start: seconds($0.start), end: seconds($0.end)) })
            if kept != onDisk { try directory.writeDowntimes(kept) }
        }
        try directory.advanceClockMark(to: now)
    }

    /// Sets `numberd_clock_jump_seconds` (the wall clock's step from the time that passed while `clock` keeps time by
    /// the boot clock, else 0) and `numberd_clock_held_seconds` (``ServiceClock/heldSeconds()``) from `clock`, and
    /// returns the step (nil: in step). The clock's minute calls it, and so does each billing tick (at the start's run,
    /// before the minute's first): set by billing alone, with `--billing-interval 86400` a step showed up to a day
    /// late.
    static func recordClock(_ clock: ServiceClock, gauges: OperationalGauges) -> Double? {
        let step = clock.step()
        gauges.clockJump.set(step ?? 0)
        gauges.clockHeld.set(clock.heldSeconds())
        return step
    }

    /// Refuses a start whose clock is more than `clockLeadMaxSeconds` ahead of `latest` — the latest time the data
    /// records anything at, or a numberd running on it saw (the `clock` file, kept hourly) — before certificates,
    /// billing or key expiry act on it; a clock behind it is logged (``ServiceClock`` holds time at `latest` until the
    /// clock catches up).
    static func checkClock(
        _ latest: Date?, now: Date, _ configuration: NumberdConfiguration, logger: Logger
    ) throws {
        guard let latest else { return }
        let lead = now.timeIntervalSince(latest)
        let days = String(format: "%.1f", abs(lead) / 86_400)
        let stamps =
            "the clock reads \(now.formatted(.iso8601)), the data's latest record \(latest.formatted(.iso8601))"
        if lead < -300 {
            logger.warning(
                "the clock is behind the data's latest record: numberd's time stays at that record until the clock catches up",
                metadata: ["behind_days": "\(days)", "clock": "\(now)", "latest": "\(latest)"])
        }
        let most = configuration.clockLeadMaxSeconds
        guard most == 0 || lead <= Double(most) else {
            throw ConfigurationError(
                "\(stamps): \(days) days ahead, more than clock-lead-max (\(most) s). A clock that far ahead would "
                    + "renew every number for each month skipped and expire every idempotency key. Check the clock "
                    + "(NTP); if numberd really was stopped that long, start once with a larger --clock-lead-max")
        }
    }

    /// Where numberd reaches Twilio's three APIs: Twilio's own hosts, or a twilio-sim's prefixes below its base URL.
    package static func twilioEndpoints(_ configuration: NumberdConfiguration) -> TwilioConfiguration.Endpoints {
        configuration.twilioBaseURL.map { .simulator(at: $0) } ?? .twilio
    }

    /// Twilio itself, or the simulator on loopback over HTTPS with a certificate from the local CA (renewed by the
    /// certificate check: ``SimulatorCertificate``), reached through the same adapter and libcurl. The simulator goes
    /// into `resources` as soon as it runs: should the adapter not start, `prepare` closes it (its listener and journal
    /// stayed open for the life of the process).
    private static func makeProvider(
        _ configuration: NumberdConfiguration, _ directory: DataDirectory, logger: Logger,
        resources: inout Resources
    ) async throws -> TwilioProvider {
        switch configuration.provider {
        case .twilio(let credentials):
            var twilio = TwilioConfiguration(credentials: credentials)
            twilio.endpoints = Self.twilioEndpoints(configuration)
            twilio.http.tls.caFilePath = configuration.twilioCAFile
            twilio.http.timeouts.totalMilliseconds = configuration.twilioRequestTimeoutMilliseconds
            twilio.regulatoryBundles = configuration.twilioBundles
            logger.info(
                "using Twilio",
                metadata: [
                    "account": "\(credentials.accountSid)", "base": "\(configuration.twilioBaseURL ?? "twilio")",
                    "secret_from": "\(configuration.twilioSecretSources.joined(separator: ","))",
                ])
            return try TwilioProvider(configuration: twilio, logger: logger)
        case .simulator(let seed):
            let certificate = try SimulatorCertificate(directory: directory, logger: logger)
            resources.simulatorCertificate = certificate
            var simulatorConfiguration = SimulatorConfiguration.defaults
            simulatorConfiguration.seed = seed
            // The account SID follows the seed (the directory is bound to it: provider.json); the auth token is
            // drawn anew at every start and handed to the adapter in process only. Derived from the seed (1 by
            // default, and `twilio-sim --seed 1` prints it), any local user could compute it and release, buy or
            // reroute every customer's numbers through the simulator's loopback port.
            simulatorConfiguration.credentials = SimulatorCredentials(
                accountSid: SimulatorCredentials.generated(seed: seed).accountSid, authToken: Crypto.randomHex(16))
            simulatorConfiguration.stateFile = directory.simulatorState
            // numberd never reads the request log, which anyone reaching the port fills: 100 entries of a few KiB,
            // not the default 10 000. Not none: numberd's tests read the newest few (what a refused purchase asked).
            simulatorConfiguration.limits.requestLogEntriesMax = 100
            // The Bundles numberd is configured with stand for ones approved in Twilio's console.
            simulatorConfiguration.approvedBundles = configuration.twilioBundles.mapValues { [$0] }
            let simulator = try await TwilioSimulator.start(
                configuration: simulatorConfiguration,
                tls: .numberTLS(reloadable: certificate.context, caPEMPath: directory.caCertificate))
            resources.simulator = simulator
            logger.info(
                "no Twilio credentials: using the in-process Twilio simulator",
                metadata: ["url": "\(simulator.baseURL)"])
            let credentials = try TwilioCredentials.authToken(
                accountSid: simulator.credentials.accountSid, authToken: simulator.credentials.authToken)
            var twilio = TwilioConfiguration(credentials: credentials, endpoints: .simulator(at: simulator.baseURL))
            twilio.http.tls.caFilePath = directory.caCertificate
            // As for Twilio: the setting was taken and ignored here, so a test or a demo could not raise it.
            twilio.http.timeouts.totalMilliseconds = configuration.twilioRequestTimeoutMilliseconds
            twilio.http.usesEnvironmentProxy = false  // it is on loopback
            twilio.regulatoryBundles = configuration.twilioBundles
            return try TwilioProvider(configuration: twilio, logger: logger)
        }
    }

    /// Makes `admin.key` (0600) hold a working admin key: when it does not — the first start, every admin key
    /// revoked, the file removed, or a start that failed or crashed before the key was recorded — creates an admin
    /// key, writes it in place of the file and returns it (other keys are left as they are). Without this, revoking
    /// the last admin key left the revoked secret in the file and the new one only on standard output.
    ///
    /// The secret is written before the key is recorded: a start that fails (or crashes) between the two leaves a
    /// file whose key opens nothing, which the next start replaces, never a working admin key whose secret nobody
    /// holds. Recorded first, each start of a restart loop that could not write the file added one such key, and
    /// every one counts toward `apiKeysMax` until revoked. The store is open by then (its first journal segment is
    /// durable), so a file written ahead of its key does not make the next start take the store for lost.
    ///
    /// The key made is logged as every API key made is, at notice: `admin: API key created`, its actor `start`.
    ///
    /// The key is made even when `apiKeysMax` keys already work (one past it per start that makes one): refused, the
    /// start failed for good, since making room means revoking a key over the API, which a failed start never serves.
    static func bootstrapAdminKey(
        _ service: NumberService, _ directory: DataDirectory, logger: Logger
    ) async throws -> CreatedAdminKey? {
        let existing = directory.readAdminKey()
        if let existing, (try? service.authenticate(secret: existing))?.scope == .admin { return nil }
        let drawn = service.drawApiKey()
        try directory.writeAdminKey(drawn.secret)
        let created = try await service.createApiKey(
            drawn, name: "bootstrap admin", scope: .admin, accountId: nil, evenAtKeyLimit: true)
        // The `admin: API key created` notice every key the API makes gets (``NumberServer/NumbersAPI``'s audit), with
        // the start as its actor: logged at info, it was not the line the README promises, and under
        // `--log-level notice` a new admin key appeared without a word.
        let audited: Logger.Metadata = [
            "key": "\(created.key.id)", "scope": "\(created.key.scope.rawValue)", "account": "-", "actor": "start",
            "reason": .string(existing == nil ? "ADMIN_KEY_FILE_MISSING" : "ADMIN_KEY_NOT_WORKING"),
            "file": "\(directory.adminKeyFile)",
        ]
        NumbersAPI.auditNotice(logger, "API key created", audited)
        return CreatedAdminKey(id: created.key.id, secret: created.secret)
    }
}

/// An admin key made at start: its id, and its secret (also in `admin.key`).
public struct CreatedAdminKey: Sendable {
    /// The key's id (`KEY_…`), safe to log.
    public let id: String
    /// The secret (`nk_…`).
    public let secret: String
}
