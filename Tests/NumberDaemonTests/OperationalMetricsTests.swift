import Foundation
import NumberCore
import Prometheus
import Testing

@testable import NumberDaemon

/// What the on-call sees of a running numberd on its metrics listener: which build runs since when, the open work the
/// background runs left (levels, as gauges), when the last snapshot succeeded and how large it is, when the served
/// certificate ends, and the health and readiness probes. Before, none of these were exported: a stuck purchase or
/// a snapshot that stopped being written showed only in the logs.
@Suite("What the on-call sees")
struct OperationalMetricsTests {
    /// The value of the unlabelled metric `name` in Prometheus text, if it is there.
    static func value(_ name: String, in text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.dropFirst(name.count + 1))
        }
        return nil
    }

    /// Waits (up to 60 s: the background runs' first ticks on a loaded machine) until `ready` holds for the
    /// registry's text, and returns that text (the last one read when it never did).
    static func metrics(
        _ registry: PrometheusCollectorRegistry, until ready: (String) -> Bool
    ) async throws -> String {
        let deadline = ContinuousClock.now + .seconds(60)
        var text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        while !ready(text), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        }
        return text
    }

    @Test("a running numberd exports its build, start, levels, snapshot and certificate; probes answer on the listener")
    func runningNumberd() async throws {
        let started = Date().timeIntervalSince1970.rounded(.down)
        let registry = PrometheusCollectorRegistry()
        nonisolated(unsafe) var stopped: Numberd?
        try await withNumberd(
            metrics: registry,
            configure: {
                $0.metricsListen = .init(host: "127.0.0.1", port: 0)
                $0.snapshotIntervalSeconds = 1
            }
        ) { running in
            let port = try #require(try await running.numberd.metricsListeningAddress()?.port)
            let health = try await HealthEndpointTests.get("/healthz", port: port)
            #expect(health.hasPrefix("HTTP/1.1 200 OK") && health.hasSuffix("ok\n"), "\(health)")
            let ready = try await HealthEndpointTests.get("/readyz", port: port)
            #expect(ready.hasPrefix("HTTP/1.1 200 OK") && ready.hasSuffix("ready\n"), "\(ready)")
            #expect(running.numberd.readinessProblem() == nil)

            // The admin key made at start is a record: a periodic snapshot (every second here) writes it.
            let text = try await Self.metrics(registry) { text in
                (Self.value("numberd_last_snapshot_bytes", in: text) ?? 0) > 0
                    && Self.value("numberd_open_purchase_intents", in: text) != nil
                    && Self.value("numberd_pending_releases", in: text) != nil
            }
            let now = Date().timeIntervalSince1970
            #expect(text.contains("numberd_build_info{version=\"\(Numberd.version)\"} 1.0"), "\(text)")
            let start = try #require(Self.value("numberd_start_time_seconds", in: text))
            #expect(start >= started && start <= now, "\(start)")
            for level in [
                "numberd_open_purchase_intents", "numberd_oldest_open_purchase_intent_age_seconds",
                "numberd_pending_releases", "numberd_oldest_pending_release_age_seconds", "numberd_orphan_watches",
                "numberd_open_route_requests", "numberd_oldest_open_route_request_age_seconds",
                "numberd_adoption_routes_held", "numberd_store_no_room_since_timestamp_seconds",
            ] {
                #expect(Self.value(level, in: text) == 0, "\(level) in \(text)")
            }
            let snapshotAt = try #require(Self.value("numberd_last_snapshot_timestamp_seconds", in: text))
            #expect(snapshotAt >= started && snapshotAt <= now + 1, "\(snapshotAt)")
            let bytes = try #require(Self.value("numberd_last_snapshot_bytes", in: text))
            let store = running.dataDirectory + "/store"
            let sizes = try FileManager.default.contentsOfDirectory(atPath: store)
                .filter { $0.hasPrefix("snapshot-") && $0.hasSuffix(".json") }
                .map { try FileManager.default.attributesOfItem(atPath: store + "/" + $0)[.size] as? Int ?? -1 }
            #expect(sizes.contains(Int(bytes)), "\(bytes) not among the snapshots' sizes \(sizes)")
            // The generated server certificate lasts 398 days.
            let notAfter = try #require(Self.value("numberd_tls_certificate_not_after_timestamp_seconds", in: text))
            #expect(abs(notAfter - (now + 398 * 86_400)) < 2 * 86_400, "\(notAfter)")

            let scraped = try await HealthEndpointTests.get("/metrics", port: port)
            #expect(scraped.hasPrefix("HTTP/1.1 200 OK") && scraped.contains("numberd_build_info"), "\(scraped)")
            stopped = running.numberd
        }
        #expect(stopped?.readinessProblem()?.contains("stopped") == true)
    }

    @Test("an audit that compared no trunks leaves the trunk kinds' gauges as the last audit that did set them")
    func auditWithoutTrunksKeepsTrunkGauges() {
        let registry = PrometheusCollectorRegistry()
        let gauges = OperationalGauges(factory: PrometheusMetricsFactory(registry: registry))
        var compared = ProviderAuditReport()
        compared.providerTrunks = 3
        compared.counts[.trunkMissing] = 1
        compared.counts[.unowned] = 2
        gauges.record(compared, at: Date())
        var notCompared = ProviderAuditReport()
        notCompared.providerTrunks = nil
        gauges.record(notCompared, at: Date())
        let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        #expect(text.contains(#"numberd_provider_audit_differences{kind="trunk_missing"} 1"#), "\(text)")
        #expect(text.contains(#"numberd_provider_audit_differences{kind="unowned"} 0"#), "\(text)")
    }

    @Test("the gauges read what they are given: levels, the oldest intent's age, the snapshot, the certificate")
    func gauges() throws {
        let registry = PrometheusCollectorRegistry()
        let gauges = OperationalGauges(factory: PrometheusMetricsFactory(registry: registry))
        let now = Date(timeIntervalSince1970: 1_736_937_000)
        var levels = WorkLevels()
        levels.openPurchaseIntents = 3
        levels.oldestOpenPurchaseIntentCreatedAt = now.addingTimeInterval(-3_700)
        levels.pendingReleases = 2
        levels.oldestPendingReleaseRequestedAt = now.addingTimeInterval(-90_000)
        levels.orphanWatches = 5
        levels.openRouteRequests = 4
        levels.oldestOpenRouteRequestAt = now.addingTimeInterval(-7_200)
        levels.adoptionRoutes = 6
        gauges.record(levels, now: now)
        gauges.record(FileNumberStore.SnapshotStatus(seq: 9, bytes: 4_096, confirmedAt: now))
        gauges.recordCertificate(notAfterSeconds: 1_800_000_000)
        let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        #expect(Self.value("numberd_open_purchase_intents", in: text) == 3)
        #expect(Self.value("numberd_oldest_open_purchase_intent_age_seconds", in: text) == 3_700)
        #expect(Self.value("numberd_pending_releases", in: text) == 2)
        #expect(Self.value("numberd_oldest_pending_release_age_seconds", in: text) == 90_000)
        #expect(Self.value("numberd_orphan_watches", in: text) == 5)
        #expect(Self.value("numberd_open_route_requests", in: text) == 4)
        #expect(Self.value("numberd_oldest_open_route_request_age_seconds", in: text) == 7_200)
        #expect(Self.value("numberd_adoption_routes_held", in: text) == 6)
        #expect(Self.value("numberd_last_snapshot_timestamp_seconds", in: text) == 1_736_937_000)
        #expect(Self.value("numberd_last_snapshot_bytes", in: text) == 4_096)
        #expect(Self.value("numberd_tls_certificate_not_after_timestamp_seconds", in: text) == 1_800_000_000)
        // Settled: the levels go back to zero (a level is replaced, never added to).
        gauges.record(WorkLevels(), now: now)
        let settled = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        #expect(Self.value("numberd_open_purchase_intents", in: settled) == 0)
        #expect(Self.value("numberd_oldest_open_purchase_intent_age_seconds", in: settled) == 0)
        #expect(Self.value("numberd_oldest_pending_release_age_seconds", in: settled) == 0)
        #expect(Self.value("numberd_oldest_open_route_request_age_seconds", in: settled) == 0)
    }

    /// A backup named under a clock that was ahead made the gauge read the future after every restart, so the
    /// "backups stopped" alert on its age could not fire until that time came.
    @Test("the last backup's time read at start leaves out backups named ahead of the clock")
    func lastBackupLeavesOutNamesAhead() {
        let registry = PrometheusCollectorRegistry()
        let gauges = OperationalGauges(factory: PrometheusMetricsFactory(registry: registry))
        let now = Date(timeIntervalSince1970: 1_796_083_200)
        let written = FileNumberStore.backupPrefix + FileNumberStore.timestamp(now.addingTimeInterval(-3_600))
        let ahead = FileNumberStore.backupPrefix + FileNumberStore.timestamp(now.addingTimeInterval(86_400))
        #expect(gauges.recordNewestBackup(among: [ahead, written, "notes.txt"], now: now) == [ahead])
        let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        #expect(Self.value("numberd_last_backup_timestamp_seconds", in: text) == 1_796_079_600, "\(text)")
    }

    @Test("a billing tick counts what its runs did as items, not the grace releases it left for later")
    func deferredReleasesAreNotCounted() {
        var report = BillingReport()
        report.renewed = 2
        report.releasesDeferred = 5
        let metadata = Numberd.billingMetadata(report)
        let counted = Dictionary(uniqueKeysWithValues: PeriodicService.itemCounts(metadata).map { ($0.item, $0.count) })
        #expect(counted == ["renewed": 2])
        #expect(metadata["releases_deferred"]?.description == "5", "still in the run's log line")
    }

    @Test("a reconcile run counts what it did as items, never what is left open")
    func levelsAreNotCounted() {
        var report = ReconcileReport()
        report.committed = ["PIN_1"]
        report.unresolved = ["PIN_2", "PIN_3"]
        report.routesSettled = ["NUM_1", "NUM_2"]
        report.adoptionRoutesEnded = ["+14155550101", "+14155550102", "+14155550103"]
        var orphans = OrphanSweepReport()
        orphans.pending = ["+14155550100"]
        var levels = WorkLevels()
        levels.openPurchaseIntents = 2
        levels.pendingReleases = 1
        levels.openRouteRequests = 4
        levels.adoptionRoutes = 5
        let metadata = Numberd.reconcileMetadata(report, orphans, levels)
        let counted = Dictionary(uniqueKeysWithValues: PeriodicService.itemCounts(metadata).map { ($0.item, $0.count) })
        #expect(counted == ["committed": 1, "routes_settled": 2, "adoption_routes_ended": 3])
        // Still in the run's log line.
        #expect(metadata["unresolved"]?.description == "2" && metadata["orphans_watched"]?.description == "1")
        #expect(metadata["open_intents"]?.description == "2" && metadata["pending_releases"]?.description == "1")
        #expect(metadata["open_route_requests"]?.description == "4")
        #expect(metadata["adoption_routes_held"]?.description == "5")
    }
}
