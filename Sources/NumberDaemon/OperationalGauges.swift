import Foundation
import Metrics
import NumberCore

/// The levels the on-call watches, as gauges the background runs set when they read them: open work (reconcile and
/// billing runs), the newest snapshot (snapshot runs), the served certificate's end (certificate checks), a step of
/// the wall clock and time held (the clock's minute, and billing: ``Numberd/recordClock(_:gauges:)``), the provider
/// audit's differences, and what this process is (set once at start). Levels replace the last reading; what a run did
/// (renewed, released...) stays in `numberd_background_items_total`.
///
/// Every outcome's counter (a reload's, a backup's) is there at 0 from the start: Prometheus needs a sample before
/// the first increment to see it as one, so a counter that appeared only at its first event made an `increase(…) > 0`
/// alert miss that event.
struct OperationalGauges: Sendable {
    /// `numberd_open_purchase_intents`: purchases held but not yet committed or voided.
    let openPurchaseIntents: Meter
    /// `numberd_oldest_open_purchase_intent_age_seconds`: 0 when none is open.
    let oldestOpenPurchaseIntentAge: Meter
    /// `numberd_pending_releases`: releases requested and not yet done at the provider.
    let pendingReleases: Meter
    /// `numberd_oldest_pending_release_age_seconds`: 0 when none is pending.
    let oldestPendingReleaseAge: Meter
    /// `numberd_orphan_watches`: numbers the orphan sweep looks up at the provider.
    let orphanWatches: Meter
    /// `numberd_open_route_requests`: trunk changes whose outcome is not recorded yet (running, or left for
    /// reconciliation by a crash or a lost answer).
    let openRouteRequests: Meter
    /// `numberd_oldest_open_route_request_age_seconds`: 0 when none is open.
    let oldestOpenRouteRequestAge: Meter
    /// `numberd_adoption_routes_held`: adoptions' routings recorded and held (running, or until they can no longer
    /// land).
    let adoptionRoutes: Meter
    /// `numberd_last_snapshot_timestamp_seconds`: when a snapshot last succeeded (written, or found current); 0 until
    /// one did, which an alert on its age takes for long ago, as it should.
    let lastSnapshotTimestamp: Meter
    /// `numberd_last_snapshot_bytes`: the newest snapshot's size.
    let lastSnapshotBytes: Meter
    /// `numberd_tls_certificate_not_after_timestamp_seconds`: the end of the certificate new connections get.
    let certificateNotAfter: Meter
    /// `numberd_clock_jump_seconds`: how far the wall clock stepped from the time that passed (negative: behind) while
    /// ``ServiceClock`` keeps time by the boot clock, else 0.
    let clockJump: Meter
    /// `numberd_clock_held_seconds`: how far numberd's time is ahead of the wall clock while it holds time (a clock
    /// behind the data's latest record, or stepped back), else 0 (``ServiceClock/heldSeconds()``).
    let clockHeld: Meter
    /// `numberd_store_no_room_since_timestamp_seconds`: since when the store's writes find no room (a full disk), 0
    /// while they go through.
    let storeNoRoomSince: Meter
    /// Where they are made: numberd's Prometheus registry (tests give their own); the background runs' counters too.
    let factory: any MetricsFactory

    /// `numberd_backups_total{outcome}`'s outcomes (each made at 0 at start: one enum, so a new outcome cannot miss it).
    enum BackupOutcome: String, CaseIterable {
        case written, busy, failed
    }

    /// Gauges made by `factory` (numberd's Prometheus registry; tests give their own), and every outcome's counter at
    /// 0.
    init(factory: any MetricsFactory) {
        self.factory = factory
        openPurchaseIntents = Meter(label: "numberd_open_purchase_intents", factory: factory)
        oldestOpenPurchaseIntentAge = Meter(label: "numberd_oldest_open_purchase_intent_age_seconds", factory: factory)
        pendingReleases = Meter(label: "numberd_pending_releases", factory: factory)
        oldestPendingReleaseAge = Meter(label: "numberd_oldest_pending_release_age_seconds", factory: factory)
        orphanWatches = Meter(label: "numberd_orphan_watches", factory: factory)
        openRouteRequests = Meter(label: "numberd_open_route_requests", factory: factory)
        oldestOpenRouteRequestAge = Meter(label: "numberd_oldest_open_route_request_age_seconds", factory: factory)
        adoptionRoutes = Meter(label: "numberd_adoption_routes_held", factory: factory)
        lastSnapshotTimestamp = Meter(label: "numberd_last_snapshot_timestamp_seconds", factory: factory)
        lastSnapshotBytes = Meter(label: "numberd_last_snapshot_bytes", factory: factory)
        certificateNotAfter = Meter(label: "numberd_tls_certificate_not_after_timestamp_seconds", factory: factory)
        clockJump = Meter(label: "numberd_clock_jump_seconds", factory: factory)
        clockHeld = Meter(label: "numberd_clock_held_seconds", factory: factory)
        storeNoRoomSince = Meter(label: "numberd_store_no_room_since_timestamp_seconds", factory: factory)
        for outcome in SettingsReload.Outcome.allCases {
            _ = settingsReloads(outcome)
        }
        for outcome in TwilioCredentialReload.Outcome.allCases {
            _ = credentialReloads(outcome)
        }
        for outcome in BackupOutcome.allCases {
            _ = backups(outcome)
        }
    }

    /// Sets `numberd_provider_audit_differences{kind}` from `report` and, when `at` is given,
    /// `numberd_provider_audit_last_success_timestamp_seconds` to it: the differences are as of then, so an alert on
    /// them must also watch that audits still succeed. The timestamp is made here, at the first audit that succeeded:
    /// made at start it read 0 — an age of decades, which fired the "audits stopped" alert at every start, and for
    /// ever with audits off. `at` is nil for an audit asked for while periodic ones are off (nothing is to watch then).
    func record(_ report: ProviderAuditReport, at: Date?) {
        // An audit whose trunk listing failed compared no trunks: their kinds keep what the last audit that did found
        // (0 would clear a firing trunk_missing alert, or hide trunk differences for as long as the listing fails —
        // a key without Trunking access, say).
        let trunkKinds: Set<ProviderAuditReport.Difference.Kind> = [.trunkMissing, .trunkUnrecorded]
        for (kind, count) in report.counts where report.providerTrunks != nil || !trunkKinds.contains(kind) {
            Meter(label: "numberd_provider_audit_differences", dimensions: [("kind", kind.rawValue)], factory: factory)
                .set(count)
        }
        guard let at else { return }
        Meter(label: "numberd_provider_audit_last_success_timestamp_seconds", factory: factory)
            .set(at.timeIntervalSince1970)
    }

    /// Sets `numberd_build_info{version}` to 1 and `numberd_start_time_seconds` (once, at start).
    func recordStart(version: String, at start: Date) {
        Meter(label: "numberd_build_info", dimensions: [("version", version)], factory: factory).set(1)
        Meter(label: "numberd_start_time_seconds", factory: factory).set(start.timeIntervalSince1970)
    }

    /// Sets the open-work gauges from `levels`, the oldest intent's, pending release's and route request's ages as of
    /// `now`.
    func record(_ levels: WorkLevels, now: Date) {
        openPurchaseIntents.set(levels.openPurchaseIntents)
        oldestOpenPurchaseIntentAge.set(levels.oldestOpenPurchaseIntentAgeSeconds(at: now))
        pendingReleases.set(levels.pendingReleases)
        oldestPendingReleaseAge.set(levels.oldestPendingReleaseAgeSeconds(at: now))
        orphanWatches.set(levels.orphanWatches)
        openRouteRequests.set(levels.openRouteRequests)
        oldestOpenRouteRequestAge.set(levels.oldestOpenRouteRequestAgeSeconds(at: now))
        adoptionRoutes.set(levels.adoptionRoutes)
    }

    /// Sets the snapshot gauges; nothing before the first snapshot succeeded (both then read 0: an alert on the
    /// timestamp's age fires, as it should).
    func record(_ snapshot: FileNumberStore.SnapshotStatus?) {
        guard let snapshot else { return }
        lastSnapshotTimestamp.set(snapshot.confirmedAt.timeIntervalSince1970)
        lastSnapshotBytes.set(snapshot.bytes)
    }

    /// Sets the certificate gauge (nothing when the served context has no certificate to read).
    func recordCertificate(notAfterSeconds: Int64?) {
        guard let notAfterSeconds else { return }
        certificateNotAfter.set(notAfterSeconds)
    }

    /// Counts a SIGHUP's reload of the Twilio credentials: `numberd_twilio_credentials_reloads_total{outcome}`
    /// (``TwilioCredentialReload/Outcome``).
    func recordCredentialReload(_ outcome: TwilioCredentialReload.Outcome) {
        credentialReloads(outcome).increment()
    }

    /// Counts a backup (`numberd_backups_total{outcome}`: `written`, `busy`, `failed`) and, for one written, sets
    /// `numberd_last_backup_timestamp_seconds` to when it was asked for: an alert on its age finds backups that
    /// stopped.
    func recordBackup(_ result: Result<FileNumberStore.Backup, any Error>) {
        let outcome: BackupOutcome
        switch result {
        case .success(let backup):
            outcome = .written
            lastBackupTimestamp(backup.createdAt)
        case .failure(let error as JournalError) where error.code == .backupInProgress: outcome = .busy
        case .failure: outcome = .failed
        }
        backups(outcome).increment()
    }

    /// Sets `numberd_last_backup_timestamp_seconds` from the newest backup folder among `names`, the backup
    /// directory's (the time its name gives, to the millisecond), after a start: otherwise the gauge was absent after
    /// every restart until the next backup, so the "backups stopped" alert could never fire after a redeploy. Nothing
    /// when they hold no backup, or the directory could not be listed (nil): the gauge then stays absent, as before the
    /// first backup. Listed on the store's backup queue, off the start's way (``BackupDirectoryProbe``). A backup named
    /// later than `now` allows (``NumberCore/FileNumberStore/isNamedAhead(_:of:)``: written under a clock that was
    /// ahead) is left out, or the gauge would read the future and a "backups stopped" alert could not fire; their
    /// names are returned, for the caller to log.
    @discardableResult
    func recordNewestBackup(among names: [String]?, now: Date = Date()) -> [String] {
        var ahead: [String] = []
        var newest: Date?
        for name in names ?? [] {
            guard let time = FileNumberStore.backupTime(name) else { continue }
            if FileNumberStore.isNamedAhead(time, of: now) {
                ahead.append(name)
            } else if newest.map({ time > $0 }) ?? true {
                newest = time
            }
        }
        if let newest { lastBackupTimestamp(newest) }
        return ahead
    }

    /// Counts a SIGHUP's reading of the config file: `numberd_config_reloads_total{outcome}`
    /// (``SettingsReload/Outcome``).
    func recordSettingsReload(_ outcome: SettingsReload.Outcome) {
        settingsReloads(outcome).increment()
    }

    private func lastBackupTimestamp(_ date: Date) {
        Meter(label: "numberd_last_backup_timestamp_seconds", factory: factory).set(date.timeIntervalSince1970)
    }

    private func settingsReloads(_ outcome: SettingsReload.Outcome) -> Counter {
        Counter(label: "numberd_config_reloads_total", dimensions: [("outcome", outcome.rawValue)], factory: factory)
    }

    private func credentialReloads(_ outcome: TwilioCredentialReload.Outcome) -> Counter {
        Counter(
            label: "numberd_twilio_credentials_reloads_total", dimensions: [("outcome", outcome.rawValue)],
            factory: factory)
    }

    private func backups(_ outcome: BackupOutcome) -> Counter {
        Counter(label: "numberd_backups_total", dimensions: [("outcome", outcome.rawValue)], factory: factory)
    }
}
