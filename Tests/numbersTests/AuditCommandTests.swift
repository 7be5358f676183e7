import Foundation
import NumberAPI
import NumberServer
import Testing

@testable import numbers

/// `numbers audit`: what the CLI prints of the last provider audit, and its exit status before there is one.
@Suite("numbers audit")
struct AuditCommandTests {
    @Test("prints the audit's counts and each difference; exit 5 before the first audit, and for --run while one runs")
    func printsTheAudit() async throws {
        let calls = CallCounter()
        var router = RPCRouter()
        router.register(NumbersMethods.getProviderAudit) { _, _ in
            let call = calls.next()
            guard call == 1 else {
                throw RPCError(code: .failedPrecondition, message: "no audit yet", reason: "NO_AUDIT_YET")
            }
            return GetProviderAuditResponse(
                finishedAt: Date(timeIntervalSince1970: 1_796_098_500), providerNumbers: 12, heldNumbers: 11,
                trunksCompared: true, providerTrunks: 3,
                counts: [
                    ProviderAuditCount(kind: "unowned", count: 1), ProviderAuditCount(kind: "missing", count: 0),
                    ProviderAuditCount(kind: "trunk_unrecorded", count: 1),
                    ProviderAuditCount(kind: "purchase_stuck", count: 1),
                ],
                differences: [
                    ProviderAuditDifference(
                        kind: "trunk_unrecorded", phoneNumber: "",
                        providerSid: "TK" + String(repeating: "1", count: 32),
                        numberId: "", accountId: "", trunkId: "TRK_0123456789a"),
                    ProviderAuditDifference(
                        kind: "unowned", phoneNumber: "+14155550199",
                        providerSid: "PN" + String(repeating: "9", count: 32),
                        numberId: "", accountId: "", trunkId: ""),
                    ProviderAuditDifference(
                        kind: "purchase_stuck", phoneNumber: "+14155550701",
                        providerSid: "PN" + String(repeating: "7", count: 32), accountId: "ACC_0123456789a",
                        intentId: "PIN_0123456789a"),
                ])
        }
        let runs = CallCounter()
        router.register(NumbersMethods.runProviderAudit) { _, _ in
            let run = runs.next()
            guard run == 1 else {
                throw RPCError(code: .aborted, message: "a provider audit is running", reason: "AUDIT_IN_PROGRESS")
            }
            // numberd's clock, a month ahead of this machine's: the CLI says numberd's.
            return RunProviderAuditResponse(
                recheckSeconds: 60, startedAt: Date(timeIntervalSince1970: 1_799_107_200))  // 2027-01-05T00:00:00Z
        }
        try await withStubServer(router: router) { server in
            let connection = ["--server", "127.0.0.1:\(server.port)", "--ca", server.caFile, "--key", "nk_admin"]
            let shown = try await runNumbers(["audit"] + connection)
            #expect(shown.status == 0, "\(shown)")
            #expect(shown.stdout.contains("12 numbers at Twilio, 11 held, 3 trunks"), "\(shown.stdout)")
            #expect(shown.stdout.contains("unowned 1, trunk_unrecorded 1"), "\(shown.stdout)")
            #expect(shown.stdout.contains("trunk_unrecorded trunk TRK_0123456789a TK111"), "\(shown.stdout)")
            #expect(shown.stdout.contains("unowned +14155550199 PN999"), "\(shown.stdout)")
            #expect(shown.stdout.contains("purchase_stuck +14155550701 PN777"), "\(shown.stdout)")
            #expect(shown.stdout.contains("7 (PIN_0123456789a of ACC_0123456789a)"), "its purchase, its buyer")
            #expect(!shown.stdout.contains("counted, not listed"), "every difference listed: \(shown.stdout)")
            let started = try await runNumbers(["audit", "--run"] + connection)
            #expect(started.status == 0 && started.stdout.contains("listings are 60 s apart"), "\(started)")
            #expect(started.stdout.contains("provider audit started at 2027-01-05"), "\(started)")
            let running = try await runNumbers(["audit", "--run"] + connection)
            #expect(running.status == 5 && running.stderr.contains("AUDIT_IN_PROGRESS"), "\(running)")
            let none = try await runNumbers(["audit"] + connection)
            #expect(none.status == 5, "\(none)")
            #expect(none.stderr.contains("NO_AUDIT_YET"), "\(none.stderr)")
            #expect(none.stderr.contains("run one now: numbers audit --run"), "\(none.stderr)")
        }
    }

    /// The audit runs in the background at numberd whether or not its caller still waits: the advice says where it
    /// shows, not the default one for an unkeyed call (look at trunks, keys and accounts, revoke a key).
    @Test("audit --run whose deadline passes: exit 10, where a started audit shows, not the create advice")
    func runDeadlinePassed() async throws {
        let calls = CallCounter()
        var router = RPCRouter()
        router.register(NumbersMethods.runProviderAudit) { _, _ in
            _ = calls.next()
            try await Task.sleep(for: .seconds(60))
            return RunProviderAuditResponse(recheckSeconds: 60)
        }
        try await withStubServer(router: router) { server in
            let connection = ["--server", "127.0.0.1:\(server.port)", "--ca", server.caFile, "--key", "nk_admin"]
            // The deadline also covers the connection and its handshake: long enough for the call to be sent.
            let run = try await runNumbers(["audit", "--run"] + connection + UnknownOutcomeTests.deadline)
            #expect(run.status == 10, "\(run)")
            #expect(run.stderr.contains("DEADLINE_EXCEEDED"), "\(run.stderr)")
            #expect(run.stderr.contains("an audit may have started"), "\(run.stderr)")
            #expect(run.stderr.contains("numbers audit shows it once done"), "\(run.stderr)")
            #expect(run.stderr.contains("AUDIT_IN_PROGRESS (exit 5)"), "\(run.stderr)")
            #expect(!run.stderr.contains("revoke an API key"), "\(run.stderr)")
        }
        #expect(calls.next() == 2, "sent once, not retried")
    }

    /// A review: past the first 100 of all kinds together, the CLI said the rest "are in numberd's log", which logs
    /// only the listed ones; numberd now lists the first 100 of each kind and keeps no list of the rest.
    @Test("a kind with more differences than listed: how many are listed, and that the rest are only counted")
    func unlistedKinds() {
        let unowned = (0..<100).map {
            ProviderAuditDifference(kind: "unowned", phoneNumber: "+1415556\(String(format: "%04d", $0))")
        }
        let response = GetProviderAuditResponse(
            counts: [
                ProviderAuditCount(kind: "unowned", count: 150), ProviderAuditCount(kind: "missing", count: 1),
                ProviderAuditCount(kind: "purchase_stuck", count: 0),
            ],
            differences: unowned + [
                ProviderAuditDifference(kind: "missing", phoneNumber: "+14155550601", numberId: "NUM_0123456789a")
            ])
        #expect(
            Audit.unlisted(response) == [
                "  unowned: 100 of 150 listed; the other 50 are counted, not listed anywhere (nor in numberd's log): "
                    + "the next audit lists them once these are settled"
            ])
    }

    /// An operator's walk: with Twilio down an `audit --run` failed, and `numbers audit` went on showing the audit
    /// before it as the latest; one running was not said either.
    @Test("a later audit that failed, and one running: both said after the findings")
    func failedAndRunning() async throws {
        var router = RPCRouter()
        router.register(NumbersMethods.getProviderAudit) { _, _ in
            GetProviderAuditResponse(
                finishedAt: Date(timeIntervalSince1970: 1_796_098_500), providerNumbers: 2, heldNumbers: 2,
                counts: [ProviderAuditCount(kind: "unowned", count: 0)],
                runningSince: Date(timeIntervalSince1970: 1_796_099_100),
                lastFailedAt: Date(timeIntervalSince1970: 1_796_098_800),
                lastFailure: "list owned numbers: connect: could not connect")
        }
        try await withStubServer(router: router) { server in
            let connection = ["--server", "127.0.0.1:\(server.port)", "--ca", server.caFile, "--key", "nk_admin"]
            let run = try await runNumbers(["audit"] + connection)
            #expect(run.status == 0, "\(run)")
            #expect(
                run.stdout.contains("a later audit failed 2026-12-01T04:20:00Z (")
                    && run.stdout.contains(
                        "list owned numbers: connect: could not connect; the findings above are older than it"),
                "\(run.stdout)")
            #expect(run.stdout.contains("an audit is running, started 2026-12-01T04:25:00Z ("), "\(run.stdout)")
        }
    }

    @Test("the audit's age, roughly")
    func age() {
        let now = Date(timeIntervalSince1970: 1_796_098_500)
        #expect(Audit.age(since: now - 42, now: now) == "42 s")
        #expect(Audit.age(since: now - 17 * 60, now: now) == "17 min")
        #expect(Audit.age(since: now - 5 * 3_600, now: now) == "5 h")
        #expect(Audit.age(since: now - 3 * 86_400, now: now) == "3 d")
        #expect(Audit.age(since: now + 10, now: now) == "0 s", "a clock behind the server's")
    }

    /// `sid_differs` after a restore from an older backup: the SID Twilio has is most likely another customer's later
    /// purchase of the number. The advice was to release it in Twilio's console after `numbers release`, which threw
    /// that customer's number away; now it is adopted for its customer, and released at Twilio only if nobody should
    /// have it.
    @Test("the sid_differs advice: numbers release, then numbers adopt for its customer; Twilio's console only if none")
    func sidDiffersAdvice() throws {
        let paragraph = try #require(
            Audit.configuration.discussion.split(separator: "\n").first { $0.contains("sid_differs") })
        #expect(paragraph.contains("numbers release NUM_…"), "\(paragraph)")
        #expect(paragraph.contains("numbers adopt"), "\(paragraph)")
        #expect(paragraph.contains("orphan sweep ends its watch"), "\(paragraph)")
        #expect(paragraph.contains("only if no customer should have it"), "\(paragraph)")
        let adopt = try #require(paragraph.range(of: "numbers adopt"))
        let console = try #require(paragraph.range(of: "Twilio's console"))
        #expect(adopt.lowerBound < console.lowerBound, "adopting comes first: \(paragraph)")
    }
}
