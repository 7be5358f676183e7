import Foundation
import NumberAPI
import NumberServer
import Testing

@testable import numbers

/// Edges of the command line: what `--json` keeps on stdout, how a declined question ends, and the connection
/// options refused as usage errors (exit 64) before anything is sent. The built `numbers` runs as a process against
/// a stub server (`swift build --build-tests` first).
@Suite("numbers: usage and the release question")
struct UsageErrorTests {
    /// A server whose numbers can be released; it records every release request.
    static func releasing(_ releases: Recorded<ReleaseNumberRequest>) -> RPCRouter {
        var router = RPCRouter()
        router.register(NumbersMethods.releaseNumber) { request, _ in
            releases.append(request)
            return ReleaseNumberResponse(
                message: request.dryRun ? "Would release" : "Number released", id: request.numberId,
                phoneNumber: "+14155550100")
        }
        return router
    }

    @Test("release --json: the question goes to stderr, stdout is the response's JSON alone")
    func questionOnStderr() async throws {
        let releases = Recorded<ReleaseNumberRequest>()
        try await withStubServer(router: Self.releasing(releases)) { server in
            let run = try await runNumbers(
                ["release", "NUM_1", "--json"] + UnknownOutcomeTests.connection(server), input: "yes\n")
            #expect(run.status == 0, "\(run)")
            #expect(run.stderr.contains("for good?"), "\(run.stderr)")
            let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
            #expect(object?["message"] as? String == "Number released", "\(run.stdout)")
        }
        #expect(releases.all.map(\.dryRun) == [true, false])
    }

    @Test("a release past the billing date: the question and the answer name the renewal charged first")
    func renewalChargeShown() async throws {
        let releases = Recorded<ReleaseNumberRequest>()
        let keys = Recorded<String?>()
        let cycleEnd = Date(timeIntervalSince1970: 1_772_323_200)  // 2026-03-01
        var router = RPCRouter()
        router.register(NumbersMethods.releaseNumber) { request, context in
            releases.append(request)
            keys.append(context.metadata["idempotency-key"])
            return ReleaseNumberResponse(
                message: request.dryRun ? "Dry run: nothing was released" : "Phone number released successfully",
                id: request.numberId, phoneNumber: "+14155550100",
                finalBilling: FinalBilling(
                    proratedRefund: 128, currency: "USD", description: "Prorated refund for 27 days remaining",
                    remainingDays: 27, daysInCycle: 28, renewalCharge: 133, nextBillingDate: cycleEnd),
                dryRun: request.dryRun)
        }
        try await withStubServer(router: router) { server in
            let run = try await runNumbers(
                ["release", "NUM_1"] + UnknownOutcomeTests.connection(server), input: "yes\n")
            #expect(run.status == 0, "\(run)")
            #expect(run.stderr.contains("Refund 1.28 USD after a charge of 1.33 USD"), "\(run.stderr)")
            #expect(run.stdout.contains("charged 1.33 USD first"), "\(run.stdout)")
            #expect(run.stdout.contains("refund 1.28 USD"), "\(run.stdout)")
            let dry = try await runNumbers(["release", "NUM_1", "--dry-run"] + UnknownOutcomeTests.connection(server))
            #expect(dry.stdout.contains("would charge 1.33 USD first"), "\(dry.stdout)")
            // Its time is the moment the refund is computed for: nothing was released then.
            #expect(dry.stdout.contains("Dry run: nothing was released: +14155550100 (NUM_1) as of "), "\(dry.stdout)")
            #expect(
                run.stdout.contains("Phone number released successfully: +14155550100 (NUM_1) at "), "\(run.stdout)")
        }
        // The release is held to the cycle the question showed, and sent under a key; the dry runs under none.
        #expect(releases.all.map(\.expectedNextBillingDate) == [nil, cycleEnd, nil])
        #expect(keys.all.map { $0 != nil } == [false, true, false], "\(keys.all)")
    }

    /// What numberd answers a dry run under the key of a release it made: that release's result.
    static func replayed(_ numberId: String) -> ReleaseNumberResponse {
        ReleaseNumberResponse(
            message: "Phone number released successfully", id: numberId, phoneNumber: "+14155550100",
            finalBilling: FinalBilling(proratedRefund: 57, currency: "USD", description: "Prorated refund"),
            replayed: true)
    }

    @Test("a rerun under --idempotency-key of a release already made: its result, no question, nothing sent again")
    func rerunUnderKey() async throws {
        let releases = Recorded<ReleaseNumberRequest>()
        let keys = Recorded<String?>()
        var router = RPCRouter()
        router.register(NumbersMethods.releaseNumber) { request, context in
            releases.append(request)
            keys.append(context.metadata["idempotency-key"])
            return Self.replayed(request.numberId)
        }
        try await withStubServer(router: router) { server in
            let run = try await runNumbers(
                ["release", "NUM_1", "--idempotency-key", "k-1"] + UnknownOutcomeTests.connection(server), input: "")
            #expect(run.status == 0, "\(run)")
            #expect(!run.stderr.contains("for good?"), "\(run.stderr)")
            #expect(run.stdout.contains("refund 0.57 USD"), "\(run.stdout)")
            #expect(run.stdout.contains("made earlier under this idempotency key"), "\(run.stdout)")
        }
        #expect(releases.all.map(\.dryRun) == [true] && keys.all == ["k-1"])
    }

    @Test(
        "a rerun under its key while the first release still runs: asked again until it answers, never released twice")
    func rerunWhileRunning() async throws {
        let releases = Recorded<ReleaseNumberRequest>()
        var router = RPCRouter()
        router.register(NumbersMethods.releaseNumber) { request, _ in
            releases.append(request)
            guard releases.all.count > 2 else {
                throw RPCError(
                    code: .aborted, message: "a request with this idempotency key is still in progress",
                    reason: "REQUEST_IN_PROGRESS")
            }
            return Self.replayed(request.numberId)
        }
        try await withStubServer(router: router) { server in
            let run = try await runNumbers(
                ["release", "NUM_1", "--idempotency-key", "k-1"] + UnknownOutcomeTests.connection(server), input: "")
            #expect(run.status == 0, "\(run)")
            #expect(run.stdout.contains("refund 0.57 USD"), "\(run.stdout)")
        }
        #expect(releases.all.map(\.dryRun) == [true, true, true], "only dry runs: the release was the first run's")
    }

    /// Takes about 50 s of its own (the CLI's real back-off: 0.2 s doubling to 3 s, 20 asks), sleeping, beside the rest.
    @Test("a rerun whose first release still runs after a minute of asking: exit 10 with its key, nothing released")
    func rerunGivesUp() async throws {
        let releases = Recorded<ReleaseNumberRequest>()
        var router = RPCRouter()
        router.register(NumbersMethods.releaseNumber) { request, _ -> ReleaseNumberResponse in
            releases.append(request)
            throw RPCError(
                code: .aborted, message: "a request with this idempotency key is still in progress",
                reason: "REQUEST_IN_PROGRESS")
        }
        try await withStubServer(router: router) { server in
            let run = try await runNumbers(
                ["release", "NUM_1", "--idempotency-key", "k-1"] + UnknownOutcomeTests.connection(server),
                input: "yes\n")
            #expect(run.status == 10, "\(run)")
            #expect(run.stderr.contains("REQUEST_IN_PROGRESS"), "\(run.stderr)")
            #expect(run.stderr.contains("--idempotency-key k-1"), "the key to run it again with: \(run.stderr)")
            #expect(!run.stderr.contains("for good?"), "no question while the first release runs: \(run.stderr)")
        }
        #expect(releases.all.count == 20, "asked 20 times (about a minute), then gave up: \(releases.all.count)")
        #expect(releases.all.filter { !$0.dryRun }.isEmpty, "only dry runs: the release was the first run's")
    }

    /// The release is held to what its question showed: the end of the paid cycle, or — a number going past due —
    /// none paid (`expect_no_paid_cycle`); `--yes` asks nothing, so it holds the release to nothing.
    @Test(
        "the billing moved after the question: PRICE_CHANGED is told as such, nothing released (exit 5)",
        arguments: [Date?(Date(timeIntervalSince1970: 1_769_904_000)), nil])
    func heldToTheQuestion(shown cycleEnd: Date?) async throws {
        let releases = Recorded<ReleaseNumberRequest>()
        var router = RPCRouter()
        router.register(NumbersMethods.releaseNumber) { request, _ in
            releases.append(request)
            guard request.dryRun else {
                throw RPCError(
                    code: .failedPrecondition, message: "the release would first charge $1.33",
                    reason: "PRICE_CHANGED", details: ["renewalCharge": "133", "currency": "USD"])
            }
            // A paid cycle ending at `cycleEnd`, or (nil) the number going past due: nothing charged or refunded.
            return ReleaseNumberResponse(
                message: "Dry run: nothing was released", id: request.numberId, phoneNumber: "+14155550100",
                finalBilling: FinalBilling(
                    proratedRefund: 0, currency: "USD", description: "Prorated refund for 0 days",
                    nextBillingDate: cycleEnd), dryRun: true)
        }
        try await withStubServer(router: router) { server in
            let run = try await runNumbers(
                ["release", "NUM_1"] + UnknownOutcomeTests.connection(server), input: "yes\n")
            #expect(run.status == 5, "\(run)")
            #expect(
                run.stderr.contains("not released: the number's billing changed after the question"),
                "\(run.stderr)")
            #expect(!run.stdout.contains("charge"), "\(run.stdout)")
            let unasked = try await runNumbers(["release", "NUM_1", "--yes"] + UnknownOutcomeTests.connection(server))
            #expect(unasked.status == 5, "\(unasked)")
        }
        #expect(releases.all.map(\.dryRun) == [true, false, true, false])
        #expect(releases.all.map(\.expectedNextBillingDate) == [nil, cycleEnd, nil, nil])
        #expect(releases.all.map(\.expectNoPaidCycle) == [false, cycleEnd == nil, false, false])
    }

    @Test("a declined question exits 1, 'not released', nothing released", arguments: ["no\n", ""])
    func declined(input: String) async throws {
        let releases = Recorded<ReleaseNumberRequest>()
        try await withStubServer(router: Self.releasing(releases)) { server in
            let run = try await runNumbers(["release", "NUM_1"] + UnknownOutcomeTests.connection(server), input: input)
            #expect(run.status == 1, "\(run)")
            #expect(run.stderr.contains("not released"), "\(run.stderr)")
            #expect(run.stdout.isEmpty, "\(run.stdout)")
        }
        #expect(releases.all.map(\.dryRun) == [true])
    }

    @Test(
        "a deadline or server out of range is a usage error (64), nothing sent",
        arguments: [
            ["--timeout", "0"], ["--timeout=-5"], ["--timeout", "86401"], ["--server", "127.0.0.1:70000"],
            ["--server", "127.0.0.1:0"], ["--server", ":7443"], ["--server", "localhost"], ["--server", "::1"],
            ["--server", "::1:7443"], ["--server", "[::1"], ["--server", "::1]:7443"], ["--server", "[]:7443"],
            ["--server", "[::1]"],
        ])
    func usageError(flags: [String]) async throws {
        let calls = Recorded<HealthCheckRequest>()
        var router = RPCRouter()
        router.register(NumbersMethods.healthCheck) { request, _ in
            calls.append(request)
            return HealthCheckResponse()
        }
        try await withStubServer(router: router) { server in
            let run = try await runNumbers(
                ["health", "--ca", server.caFile, "--key", "nk_test", "--server", "127.0.0.1:\(server.port)"] + flags)
            #expect(run.status == 64, "\(run)")
        }
        #expect(calls.all.isEmpty)
    }

    /// A bare IPv6 address used to be split at its last colon: `::1` went to host `:` on port 1.
    @Test("an IPv6 address outside brackets is a usage error (64) saying to bracket it, nothing sent")
    func bareIPv6() async throws {
        let run = try await runNumbers(["health", "--server", "::1", "--ca", "/dev/null", "--key", "nk_test"])
        #expect(run.status == 64, "\(run)")
        #expect(run.stderr.contains("[::1]:7443"), "\(run.stderr)")
        #expect(run.stderr.contains("brackets"), "\(run.stderr)")
    }

    @Test("[v6]:port is the host inside the brackets and the port; host:port as before")
    func bracketedIPv6() throws {
        let v6 = try GlobalOptions.parse(["--server", "[::1]:7443"]).serverAddress()
        #expect(v6.host == "::1" && v6.port == 7443, "\(v6)")
        let full = try GlobalOptions.parse(["--server", "[2001:db8::5]:443"]).serverAddress()
        #expect(full.host == "2001:db8::5" && full.port == 443, "\(full)")
        let v4 = try GlobalOptions.parse(["--server", "127.0.0.1:7443"]).serverAddress()
        #expect(v4.host == "127.0.0.1" && v4.port == 7443, "\(v4)")
    }

    /// A walk of the CLI: `--timeout -5` and `--page-size -5` (a space, not `=`) read `-5` as an option and said the
    /// value was missing. A negative number is the value, refused for its range (exit 64), nothing sent.
    @Test("a negative --timeout or --page-size after a space is a usage error naming the range, not a missing value")
    func negativeValues() async throws {
        for arguments in [
            ["accounts", "list", "--timeout", "-5"], ["transactions", "--page-size", "-5"],
            ["keys", "list", "--page-size", "-1"], ["list", "--page-size", "-5"],
        ] {
            let run = try await runNumbers(
                arguments + ["--server", "127.0.0.1:1", "--ca", "/dev/null", "--key", "nk_test", "--account", "ACC_1"])
            #expect(run.status == 64, "\(arguments): \(run)")
            #expect(!run.stderr.contains("Missing value"), "\(arguments): \(run.stderr)")
            let option = arguments[arguments.count - 2]
            #expect(run.stderr.contains("\(option) must be"), "\(arguments): \(run.stderr)")
        }
        #expect(try PageSizeOption.parse(["--page-size", "0"]).pageSize == 0)
        #expect(try PageSizeOption.parse(["--page-size", "500"]).pageSize == 500)
    }
}
