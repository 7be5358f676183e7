import Foundation
import NumberCore
import Prometheus
import Testing

@testable import NumberDaemon

/// What the on-call sees of numberd in its metrics: the open work the background runs left (levels, as gauges), when
/// the last snapshot succeeded and how large it is, when the served certificate ends. Before, none of these were
/// exported (a stuck purchase or a snapshot that stopped being written showed only in the logs), and the reconcile
/// run added what was left open into its item counters at every run.
@Suite("What the on-call sees")
struct OperationalMetricsTests {
    /// The value of the unlabelled metric `name` in Prometheus text, if it is there.
    static func value(_ name: String, in text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.dropFirst(name.count + 1))
        }
        return nil
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
        levels.orphanWatches = 5
        gauges.record(levels, now: now)
        gauges.record(FileNumberStore.SnapshotStatus(seq: 9, bytes: 4_096, confirmedAt: now))
        gauges.recordCertificate(notAfterSeconds: 1_800_000_000)
        let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        #expect(Self.value("numberd_open_purchase_intents", in: text) == 3)
        #expect(Self.value("numberd_oldest_open_purchase_intent_age_seconds", in: text) == 3_700)
        #expect(Self.value("numberd_pending_releases", in: text) == 2)
        #expect(Self.value("numberd_orphan_watches", in: text) == 5)
        #expect(Self.value("numberd_last_snapshot_timestamp_seconds", in: text) == 1_736_937_000)
        #expect(Self.value("numberd_last_snapshot_bytes", in: text) == 4_096)
        #expect(Self.value("numberd_tls_certificate_not_after_timestamp_seconds", in: text) == 1_800_000_000)
        // Settled: the levels go back to zero (a level is replaced, never added to).
        gauges.record(WorkLevels(), now: now)
        let settled = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        #expect(Self.value("numberd_open_purchase_intents", in: settled) == 0)
        #expect(Self.value("numberd_oldest_open_purchase_intent_age_seconds", in: settled) == 0)
    }

    @Test("a reconcile run counts what it did as items, never what is left open")
    func levelsAreNotCounted() {
        var report = ReconcileReport()
        report.committed = ["PIN_1"]
        report.unresolved = ["PIN_2", "PIN_3"]
        var orphans = OrphanSweepReport()
        orphans.pending = ["+14155550100"]
        var levels = WorkLevels()
        levels.openPurchaseIntents = 2
        levels.pendingReleases = 1
        let metadata = Numberd.reconcileMetadata(report, orphans, levels)
        let counted = Dictionary(uniqueKeysWithValues: PeriodicService.itemCounts(metadata).map { ($0.item, $0.count) })
        #expect(counted == ["committed": 1])
        // Still in the run's log line.
        #expect(metadata["unresolved"]?.description == "2" && metadata["orphans_watched"]?.description == "1")
        #expect(metadata["open_intents"]?.description == "2" && metadata["pending_releases"]?.description == "1")
    }
}
