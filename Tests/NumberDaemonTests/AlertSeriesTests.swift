import Foundation
import Logging
import NumberAPI
import NumberClient
import NumberDaemon
import Prometheus
import TestSupport
import Testing
import TwilioSimulator

/// What README's alerts read, checked on a running numberd (an operations review): every outcome's counter is there
/// at 0 from the start (Prometheus needs a sample before the first increment, so `increase(…) > 0` missed the first
/// event of a counter that appeared with it); the provider audit's success timestamp is absent until an audit
/// succeeded (made at start it read 0, and the "audits stopped" alert fired at every start); the last backup's time
/// survives a restart; a reconcile run whose provider does not answer counts as `error`.
@Suite("numberd: the series the alerts read", .serialized)
struct AlertSeriesTests {
    /// The registry's text, line by line.
    static func lines(_ registry: PrometheusCollectorRegistry) -> [Substring] {
        String(decoding: registry.emitToBuffer(), as: UTF8.self).split(separator: "\n")
    }

    @Test("right after the start every outcome's counter is there at 0, each background service's ok and error too")
    func outcomeCountersFromTheStart() async throws {
        let registry = PrometheusCollectorRegistry()
        try await withNumberd(metrics: registry) { _ in
            let lines = Self.lines(registry)
            Self.checkReloadSeries(lines)
            for line in [
                #"numberd_backups_total{outcome="failed"} 0"#,
                #"numberd_backups_total{outcome="written"} 0"#,
                #"numberd_twilio_credentials_reloads_total{outcome="refused"} 0"#,
                #"numberd_background_runs_total{service="certificates",outcome="error"} 0"#,
                #"numberd_background_runs_total{service="certificates",outcome="ok"} 0"#,
                #"numberd_background_runs_total{service="provider-audit",outcome="error"} 0"#,
            ] {
                #expect(lines.contains(Substring(line)), "\(line) in \(lines)")
            }
        }
    }

    /// A start's reload series, also when a SIGHUP another suite sent this process (every in-process numberd traps
    /// it) reloaded this numberd in between: present, at 0 or 1 for `no_file`.
    static func checkReloadSeries(_ lines: [Substring]) {
        #expect(lines.contains(#"numberd_config_reloads_total{outcome="invalid"} 0"#), "\(lines)")
        let noFile = #"numberd_config_reloads_total{outcome="no_file"} "#
        #expect(lines.contains { $0 == noFile + "0" || $0 == noFile + "1" }, "\(lines)")
    }

    @Test("the audit's success timestamp: absent until an audit succeeded; never set by one asked for with audits off")
    func auditTimestampOnlyFromASuccess() async throws {
        let name = "numberd_provider_audit_last_success_timestamp_seconds"
        let registry = PrometheusCollectorRegistry()
        // The default interval: the first audit comes 10 minutes after the start.
        try await withNumberd(metrics: registry) { _ in
            let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
            #expect(OperationalMetricsTests.value(name, in: text) == nil, "\(text)")
        }

        let lines = CapturingLogHandler.Lines()
        let logger = Logger(label: "numberd-e2e") { _ in CapturingLogHandler(lines: lines) }
        let off = PrometheusCollectorRegistry()
        try await withNumberd(
            logger: logger, metrics: off,
            configure: {
                $0.providerAuditIntervalSeconds = 0
                $0.providerAuditRecheckSeconds = 0
            }
        ) { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                _ = try await admin.runProviderAudit(RunProviderAuditRequest())
            }
            // Logged once its gauges are set.
            let deadline = ContinuousClock.now + .seconds(60)
            while !lines.all.contains(where: { $0.message == "provider audit ran (asked for)" }),
                ContinuousClock.now < deadline
            {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(
                lines.all.contains { $0.message == "provider audit ran (asked for)" },
                "\(lines.all.filter { $0.message.contains("audit") })")
            let text = String(decoding: off.emitToBuffer(), as: UTF8.self)
            #expect(text.contains("numberd_provider_audit_differences{"), "the differences are set: \(text)")
            #expect(OperationalMetricsTests.value(name, in: text) == nil, "\(text)")
        }
    }

    @Test("the last backup's time survives a restart: read from the newest backup folder at start")
    func lastBackupAfterARestart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-alerts-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var created: Date?
        try await withNumberd(dataDirectory: directory) { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                created = try await admin.createBackup(CreateBackupRequest()).createdAt
            }
        }
        let registry = PrometheusCollectorRegistry()
        try await withNumberd(dataDirectory: directory, metrics: registry) { _ in
            // Read on the store's backup queue after the start, not on its way (a stalled backup disk held it up).
            var text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
            let deadline = ContinuousClock.now + .seconds(60)
            while OperationalMetricsTests.value("numberd_last_backup_timestamp_seconds", in: text) == nil,
                ContinuousClock.now < deadline
            {
                try await Task.sleep(for: .milliseconds(20))
                text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
            }
            let value = try #require(
                OperationalMetricsTests.value("numberd_last_backup_timestamp_seconds", in: text), "\(text)")
            // The folder's name gives the time to the millisecond.
            let expected = (try #require(created).timeIntervalSince1970 * 1000).rounded(.down) / 1000
            #expect(abs(value - expected) < 0.002, "\(value) against \(expected)")
        }
    }

    @Test("a reconcile run that gets no answer from the provider counts as error")
    func reconcileWithoutAnswersIsAnError() async throws {
        let registry = PrometheusCollectorRegistry()
        try await withNumberd(metrics: registry, configure: { $0.reconcileIntervalSeconds = 1 }) { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                let acme = try await makeAccount(admin, name: "Acme", funds: 10_000)
                try await withNumbersClient(numberd.client(key: acme.key)) { client in
                    let search = try await client.searchNumbers(
                        SearchNumbersRequest(country: "US", areaCode: "415", limit: 1))
                    let bought = try await client.purchaseNumbers(
                        PurchaseNumbersRequest(country: "US", numbers: [search.numbers[0].phoneNumber])
                    ).numbers[0].number
                    // Every DELETE's connection reset: the release is left in doubt, and each reconcile run that tries
                    // to finish it gets no answer either.
                    numberd.simulator.engine.addFault(try FaultRule.parse("releaseNumber:reset"))
                    let error = await #expect(throws: RPCError.self) {
                        try await client.releaseNumber(ReleaseNumberRequest(numberId: bought.id))
                    }
                    #expect(error?.reason == "OUTCOME_UNKNOWN", "\(String(describing: error))")
                }
            }
            let prefix = #"numberd_background_runs_total{service="reconcile",outcome="error"} "#
            func errors(_ text: String) -> Double? {
                text.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap {
                    Double($0.dropFirst(prefix.count))
                }
            }
            let text = try await OperationalMetricsTests.metrics(registry) { (errors($0) ?? 0) >= 1 }
            #expect((errors(text) ?? 0) >= 1, "\(text)")
        }
    }

    @Test("a numberd process's store failure counters read 0 from its start (they live in its global metrics)")
    func storeCountersFromTheStart() async throws {
        let port = try freeLoopbackPort()
        let child = try ServingChild(arguments: ["--log-level", "error", "--metrics-listen", "127.0.0.1:\(port)"])
        try await child.waitUntilServing()
        let connection = try await TCPConnection.connect(port: port)
        try await connection.send("GET /metrics HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
        _ = await connection.waitForClose(timeout: .seconds(30))
        let text = connection.text
        await child.stop()
        for name in [
            "numberd_store_commit_failures_total", "numberd_store_no_room_refusals_total",
            "numberd_store_busy_refusals_total", "numberd_store_snapshot_failures_total",
        ] {
            #expect(text.contains("\n\(name) 0\n"), "\(name) missing: \(text.prefix(2_000))")
        }
    }
}
