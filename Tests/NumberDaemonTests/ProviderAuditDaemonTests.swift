import Foundation
import Logging
import NumberAPI
import NumberClient
import NumberCore
import NumberDaemon
import Prometheus
import TestSupport
import Testing
import TwilioSimulator

/// numberd runs the provider audit on its own (`--provider-audit-interval`): a number bought behind its back shows up
/// in its log, and a number it holds that the provider lost too; GetProviderAudit (`numbers audit`) answers the last
/// audit's findings.
@Suite("numberd: the periodic provider audit", .serialized)
struct ProviderAuditDaemonTests {
    /// A numberd whose audits run every `interval` seconds (0: only when asked), their listings `recheck` apart,
    /// logging into `lines`, its metrics in `registry`.
    static func withAuditing(
        interval: Int, recheck: Int, lines: CapturingLogHandler.Lines = .init(),
        registry: PrometheusCollectorRegistry = .init(), _ body: (RunningNumberd) async throws -> Void
    ) async throws {
        try await withNumberd(
            logger: Logger(label: "numberd-e2e") { _ in CapturingLogHandler(lines: lines) }, metrics: registry,
            configure: {
                $0.providerAuditIntervalSeconds = interval
                $0.providerAuditRecheckSeconds = recheck
            }, body)
    }

    @Test("a number bought in the provider's console and one released there are logged by the periodic audit")
    func periodicAuditReportsDifferences() async throws {
        let lines = CapturingLogHandler.Lines()
        let registry = PrometheusCollectorRegistry()
        try await Self.withAuditing(interval: 1, recheck: 0, lines: lines, registry: registry) { numberd in
            let phones = numberd.simulator.engine.availableNumbers(country: "US", type: .local, limit: 2)
                .map(\.phoneNumber)
            try #require(phones.count == 2)
            // Held through numberd, then released at Twilio behind its back.
            let held = try await withNumbersClient(numberd.client()) { admin in
                let account = try await makeAccount(admin, name: "Audited", funds: 100_000)
                return try await admin.purchaseNumbers(
                    PurchaseNumbersRequest(accountId: account.id, country: "US", numbers: [phones[0]])
                ).numbers[0].number
            }
            try await numberd.releaseAtProvider(sid: try #require(numberd.simulator.engine.ownedNumbers.first).sid)
            // Bought at Twilio behind numberd's back.
            let consoleSid = try await numberd.buyAtProvider(phones[1])

            let deadline = ContinuousClock.now + .seconds(60)
            var report: CapturingLogHandler.Line?
            while report == nil, ContinuousClock.now < deadline {
                report = lines.all.first { $0.message == "provider-audit ran" && $0.metadata["unowned"] == "1" }
                try await Task.sleep(for: .milliseconds(50))
            }
            let ran = try #require(report, "\(lines.all.filter { $0.message.contains("audit") })")
            #expect(ran.metadata["missing"] == "1")
            #expect(ran.metadata["provider_numbers"] == "1" && ran.metadata["held_numbers"] == "1")
            let differences = lines.all.filter { $0.message == "the provider and the store disagree about a number" }
            #expect(
                differences.contains {
                    $0.metadata["kind"] == "unowned" && $0.metadata["number"] == phones[1]
                        && $0.metadata["provider_sid"] == consoleSid
                })
            #expect(
                differences.contains {
                    $0.metadata["kind"] == "missing" && $0.metadata["number"] == phones[0]
                        && $0.metadata["number_id"] == held.id
                })
            // The gauges an alert watches, in numberd's own registry.
            let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
            #expect(text.contains(#"numberd_provider_audit_differences{kind="unowned"} 1"#), "\(text)")
            #expect(text.contains(#"numberd_provider_audit_differences{kind="missing"} 1"#))
            // Made by the first audit that succeeded (absent before it, never 0), and set by each one.
            let succeeded = OperationalMetricsTests.value(
                "numberd_provider_audit_last_success_timestamp_seconds", in: text)
            #expect((succeeded ?? 0) > Date().timeIntervalSince1970 - 600, "\(text)")
            #expect(text.contains("numberd_clock_jump_seconds 0"), "billing ran with the clock in step")
            #expect(text.contains("numberd_clock_held_seconds 0"), "and not held")

            // The same findings over the API.
            let audit = try await withNumbersClient(numberd.client()) { admin in
                try await admin.getProviderAudit(GetProviderAuditRequest())
            }
            #expect(audit.providerNumbers == 1 && audit.heldNumbers == 1 && audit.trunksCompared, "\(audit)")
            #expect(
                audit.counts.map(\.kind) == ProviderAuditReport.Difference.Kind.allCases.map(\.rawValue),
                "every kind, in order")
            #expect(audit.counts.first { $0.kind == "unowned" }?.count == 1)
            #expect(
                audit.differences.contains {
                    $0.kind == "unowned" && $0.phoneNumber == phones[1] && $0.providerSid == consoleSid
                        && $0.numberId.isEmpty
                }, "\(audit.differences)")
            #expect(
                audit.differences.contains {
                    $0.kind == "missing" && $0.phoneNumber == phones[0] && $0.numberId == held.id
                        && !$0.accountId.isEmpty
                }, "\(audit.differences)")
        }
    }

    @Test("RunProviderAudit starts an audit now (periodic ones off); a second while it runs is AUDIT_IN_PROGRESS")
    func runOnDemand() async throws {
        try await withNumberd(configure: {
            $0.providerAuditIntervalSeconds = 0
            $0.providerAuditRecheckSeconds = 1
        }) { numberd in
            let phone = try #require(
                numberd.simulator.engine.availableNumbers(country: "US", type: .local, limit: 1).first?.phoneNumber)
            let consoleSid = try await numberd.buyAtProvider(phone)
            try await withNumbersClient(numberd.client()) { admin in
                let started = try await admin.runProviderAudit(RunProviderAuditRequest())
                #expect(started.recheckSeconds == 1 && abs(started.startedAt.timeIntervalSinceNow) < 600)
                let busy = await #expect(throws: RPCError.self) {
                    _ = try await admin.runProviderAudit(RunProviderAuditRequest())
                }
                #expect(busy?.code == .aborted && busy?.reason == "AUDIT_IN_PROGRESS", "\(String(describing: busy))")
                let deadline = ContinuousClock.now + .seconds(60)
                var audit: GetProviderAuditResponse?
                var lastError: (any Error)?
                while audit == nil, ContinuousClock.now < deadline {
                    do {
                        audit = try await admin.getProviderAudit(GetProviderAuditRequest())
                    } catch {
                        lastError = error
                        try await Task.sleep(for: .milliseconds(100))
                    }
                }
                let found = try #require(audit, "no audit finished: \(String(describing: lastError))")
                #expect(
                    found.differences.contains {
                        $0.kind == "unowned" && $0.phoneNumber == phone && $0.providerSid == consoleSid
                    }, "\(found.differences)")
                // Finished: another may start.
                #expect(try await admin.runProviderAudit(RunProviderAuditRequest()).recheckSeconds == 1)
            }
        }
    }

    @Test("GetProviderAudit before any audit finished: FAILED_PRECONDITION / NO_AUDIT_YET, saying when one runs")
    func noAuditYet() async throws {
        try await withNumberd(configure: {
            $0.providerAuditIntervalSeconds = 0
            $0.providerAuditRecheckSeconds = 3
        }) { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                let error = await #expect(throws: RPCError.self) {
                    try await admin.getProviderAudit(GetProviderAuditRequest())
                }
                #expect(
                    error?.code == .failedPrecondition && error?.reason == "NO_AUDIT_YET",
                    "\(String(describing: error))")
                #expect(error?.message.contains("the first periodic one runs some minutes after") == true)
                #expect(error?.message.contains("RunProviderAudit starts one now") == true)
                #expect(error?.details["running"] == "false")
                // An operator's run under way (its second listing 3 s after the first): said so, not "some minutes"
                // (found walking the operator's flows).
                _ = try await admin.runProviderAudit(RunProviderAuditRequest())
                let running = await #expect(throws: RPCError.self) {
                    try await admin.getProviderAudit(GetProviderAuditRequest())
                }
                #expect(running?.reason == "NO_AUDIT_YET", "\(String(describing: running))")
                #expect(running?.message.contains("one is running now") == true, "\(String(describing: running))")
                #expect(running?.details["running"] == "true")
            }
        }
    }

    /// An operator's walk: with Twilio down, `numbers audit --run` said "started", the failure went to a warning line
    /// only, `numbers audit` went on showing the audit before it as the latest, and no metric counted it.
    @Test("a RunProviderAudit that fails is said by GetProviderAudit and counted as a failed background run")
    func failedRunIsSaid() async throws {
        let registry = PrometheusCollectorRegistry()
        try await Self.withAuditing(interval: 0, recheck: 1, registry: registry) { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                /// The audit as GetProviderAudit answers it once `done` says so (at most 60 s).
                func awaitAudit(
                    _ done: (Result<GetProviderAuditResponse, any Error>) -> Bool
                ) async throws -> Result<GetProviderAuditResponse, any Error> {
                    let deadline = ContinuousClock.now + .seconds(60)
                    while true {
                        let answer: Result<GetProviderAuditResponse, any Error>
                        do {
                            answer = .success(try await admin.getProviderAudit(GetProviderAuditRequest()))
                        } catch {
                            answer = .failure(error)
                        }
                        if done(answer) || ContinuousClock.now > deadline { return answer }
                        try await Task.sleep(for: .milliseconds(100))
                    }
                }
                func failedRuns() -> Double? {
                    OperationalMetricsTests.value(
                        #"numberd_background_runs_total{service="provider-audit",outcome="error"}"#,
                        in: String(decoding: registry.emitToBuffer(), as: UTF8.self))
                }
                /// Polls `failedRuns()` (counted after the failure is published) until it is `count`, at most 60 s.
                func failedRunsReach(_ count: Double) async throws -> Bool {
                    let deadline = ContinuousClock.now + .seconds(60)
                    while failedRuns() != count, ContinuousClock.now < deadline {
                        try await Task.sleep(for: .milliseconds(50))
                    }
                    return failedRuns() == count
                }
                // At 0 before any audit, periodic audits off: an increase sees the first failure.
                #expect(failedRuns() == 0, "\(String(describing: failedRuns()))")
                // Twilio's listings refused (a 400 the adapter does not retry): the first audit cannot finish, and
                // NO_AUDIT_YET says so.
                let refusing = try FaultRule.parse("listNumbers:error:20005:400")
                numberd.simulator.engine.addFault(refusing)
                _ = try await admin.runProviderAudit(RunProviderAuditRequest())
                let none = try await awaitAudit {
                    guard case .failure(let error as RPCError) = $0 else { return false }
                    return error.details["lastFailure"] != nil
                }
                guard case .failure(let noneYet as RPCError) = none else {
                    Issue.record("an audit finished with Twilio's listings refused: \(none)")
                    return
                }
                #expect(noneYet.reason == "NO_AUDIT_YET" && noneYet.details["lastFailedAt"] != nil, "\(noneYet)")
                #expect(noneYet.message.contains("; the last one failed: "), "\(noneYet)")
                #expect(try await failedRunsReach(1), "\(String(describing: failedRuns()))")
                numberd.simulator.engine.clearFaults()
                _ = try await admin.runProviderAudit(RunProviderAuditRequest())
                let first = try await awaitAudit { (try? $0.get()) != nil }.get()
                #expect(first.lastFailedAt == nil && first.lastFailure.isEmpty && first.runningSince == nil)
                // A later one refused: said beside the first's findings, which are older than it.
                numberd.simulator.engine.addFault(refusing)
                _ = try await admin.runProviderAudit(RunProviderAuditRequest())
                let failed = try await awaitAudit { (try? $0.get())?.lastFailedAt != nil }.get()
                #expect(failed.finishedAt == first.finishedAt, "the findings shown are still the first audit's")
                #expect(!failed.lastFailure.isEmpty && failed.lastFailedAt! > first.finishedAt, "\(failed)")
                #expect(try await failedRunsReach(2), "\(String(describing: failedRuns()))")
                // One that finishes after it clears it.
                numberd.simulator.engine.clearFaults()
                _ = try await admin.runProviderAudit(RunProviderAuditRequest())
                let again = try await awaitAudit { (try? $0.get())?.finishedAt != first.finishedAt }.get()
                #expect(again.lastFailedAt == nil && again.lastFailure.isEmpty, "\(again)")
            }
        }
    }

    /// A review: numberd's stop shut the provider's client down under an audit an operator asked for, which then
    /// failed — logged at error, counted as a failed run, kept as the last failure — though the README says a run a
    /// stop cuts short counts as neither. The stop now cancels it first.
    @Test("an audit asked for that numberd's stop cuts short is neither a failure nor counted")
    func stopCutsAnAskedAuditShort() async throws {
        let lines = CapturingLogHandler.Lines()
        let registry = PrometheusCollectorRegistry()
        try await Self.withAuditing(interval: 0, recheck: 10, lines: lines, registry: registry) { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                _ = try await admin.runProviderAudit(RunProviderAuditRequest())
            }
        }
        // The stop came within its 10 s between listings; the audit's end is logged once its task sees it.
        let deadline = ContinuousClock.now + .seconds(30)
        while !lines.all.contains(where: { $0.message.hasPrefix("provider audit (asked for)") }),
            ContinuousClock.now < deadline
        {
            try await Task.sleep(for: .milliseconds(50))
        }
        let ended = lines.all.filter { $0.message.hasPrefix("provider audit (asked for)") }
        #expect(ended.map(\.message) == ["provider audit (asked for) cut short by the stop"], "\(ended)")
        let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        for outcome in ["ok", "error"] {
            let series = #"numberd_background_runs_total{service="provider-audit",outcome=""# + outcome + #""}"#
            #expect(OperationalMetricsTests.value(series, in: text) == 0, "\(outcome): \(text)")
        }
    }

    @Test("the audit's settings: interval 0...604800 (0 = off), recheck 10...3600; the defaults")
    func configuration() throws {
        let defaults = try NumberdConfiguration.resolve(flags: [:], environment: [:])
        #expect(defaults.providerAuditIntervalSeconds == 21_600 && defaults.providerAuditRecheckSeconds == 60)
        let set = try NumberdConfiguration.resolve(
            flags: ["provider-audit-interval": "0", "provider-audit-recheck": "3600"], environment: [:])
        #expect(set.providerAuditIntervalSeconds == 0 && set.providerAuditRecheckSeconds == 3_600)
        #expect(throws: (any Error).self) {
            _ = try NumberdConfiguration.resolve(flags: ["provider-audit-interval": "604801"], environment: [:])
        }
        for recheck in ["-1", "9", "3601"] {
            #expect(throws: (any Error).self) {
                _ = try NumberdConfiguration.resolve(flags: ["provider-audit-recheck": recheck], environment: [:])
            }
        }
    }
}
