import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import NumberAPI
import NumberClient
import Testing

@testable import numbers_load

@Suite("RunLoad: options that cannot give a meaningful figure are refused")
struct RunLoadTests {
    @Test("the defaults, as BENCHMARKS.md's harness reference gives them")
    func defaults() throws {
        let run = try RunLoad.parse([])
        #expect(run.connections == 1 && run.concurrency == 64 && run.rate == 1000 && run.outstandingMax == 10_000)
        #expect(run.duration == 10 && run.warmup == 2 && run.timeoutMilliseconds == 5000 && run.callsMax == nil)
        #expect(run.accounts == 8 && run.ownedNumbers == 2 && run.reportEvery == 1 && run.fsyncProbeSeconds == 2)
        #expect(run.maxErrorFraction == 0.01 && run.mix == "list=40,balance=40,get=20")
    }

    /// Each bounded option: both ends of its range taken, a value past either refused with a usage error.
    @Test(
        "each option's range is exact at both ends",
        arguments: [
            ("--connections", "1", "1024", "0", "1025"), ("--concurrency", "1", "10000", "0", "10001"),
            ("--rate", "1", "1000000", "0.5", "1000001"), ("--outstanding-max", "1", "100000", "0", "100001"),
            ("--duration", "0.1", "3600", "0.09", "3600.5"), ("--warmup", "0", "600", "-1", "600.5"),
            ("--timeout-ms", "1", "600000", "0", "600001"), ("--accounts", "1", "1000", "0", "1001"),
            ("--owned-numbers", "0", "50", "-1", "51"), ("--report-every", "0.1", "3600", "0.09", "3600.5"),
            ("--fsync-probe-seconds", "1", "600", "0.5", "600.5"), ("--max-error-fraction", "0", "1", "-0.1", "1.1"),
        ])
    func optionRanges(flag: String, low: String, high: String, under: String, over: String) {
        // One connection and one call in flight, and no get (it needs an owned number): only `flag` is at its edge.
        let others = ["--mix", "list=1"] + (flag == "--connections" ? ["--concurrency", "1"] : [])
        for value in [low, high] {
            #expect(throws: Never.self, "\(flag) \(value)") { _ = try RunLoad.parse(others + ["\(flag)=\(value)"]) }
        }
        for value in [under, over] {
            #expect(throws: (any Error).self, "\(flag) \(value)") {
                _ = try RunLoad.parse(others + ["\(flag)=\(value)"])
            }
        }
    }

    /// A walk of the harness: `--concurrency -5` (a space, not `=`) read `-5` as an option and said the value was
    /// missing; a negative number is a value, refused for its range.
    @Test("a negative number after a space is the option's value, refused for its range, not a missing value")
    func negativeValues() throws {
        for (flag, value, message) in [
            ("--concurrency", "-5", "--concurrency must be 1...10000"), ("--warmup", "-1", "--warmup must be 0...600"),
            ("--owned-numbers", "-1", "--owned-numbers must be"), ("--timeout-ms", "-1", "--timeout-ms must be"),
            ("--max-error-fraction", "-0.1", "--max-error-fraction must be"), ("--rate", "-3", "--rate must be"),
        ] {
            let error = try #require(#expect(throws: (any Error).self) { try RunLoad.parse([flag, value]) })
            let text = RunLoad.message(for: error)
            #expect(text.contains(message) && !text.contains("Missing value"), "\(flag) \(value): \(text)")
        }
        for (flag, value, message) in [
            ("--count", "-5", "--count must be 1...100000"), ("--hold", "-1", "--hold must be 0...280"),
            ("--concurrency", "-2", "--concurrency must be 1...1024"),
        ] {
            let error = try #require(#expect(throws: (any Error).self) { try ConnectionsCommand.parse([flag, value]) })
            let text = ConnectionsCommand.message(for: error)
            #expect(text.contains(message) && !text.contains("Missing value"), "\(flag) \(value): \(text)")
        }
    }

    @Test("a set-up refused for the country is a usage error; any other refusal is not")
    func countryRefusal() {
        let country = RPCError(
            code: .invalidArgument, message: "XX is not an ISO 3166-1 alpha-2 code", reason: "INVALID_FIELD",
            details: ["field": "country"])
        let refused = RunLoad.countryRefused(country, country: "XX")
        #expect(refused?.message == "--country XX was refused by numberd: XX is not an ISO 3166-1 alpha-2 code")
        let other = RPCError(
            code: .invalidArgument, message: "limit too large", reason: "INVALID_FIELD", details: ["field": "limit"])
        #expect(RunLoad.countryRefused(other, country: "US") == nil)
        let unavailable = RPCError(code: .unavailable, message: "down", reason: "CONNECT_FAILED")
        #expect(RunLoad.countryRefused(unavailable, country: "US") == nil)
    }

    @Test("--compare-raw with --mode open is a usage error: the raw side's maximum against a fixed rate means nothing")
    func compareRawRefusesOpenLoop() throws {
        let error = #expect(throws: (any Error).self) {
            try RunLoad.parse(["--mode", "open", "--rate", "500", "--compare-raw"])
        }
        #expect(RunLoad.message(for: try #require(error)).contains("--compare-raw"))
        _ = try RunLoad.parse(["--mode", "closed", "--compare-raw"])
        _ = try RunLoad.parse(["--mode", "open", "--rate", "500"])
    }
}

/// `--outstanding-max` above what one connection's client holds unsent (numberd runs 100 calls at once on it, the
/// client queued 10,000 more) made the harness refuse its own calls `CLIENT_QUEUE_FULL`, in no time, counted among the
/// server's errors; and `--compare-raw` kept `--concurrency` raw messages in flight where numberd ran 100 calls.
@Suite("RunLoad: the load clients and the raw baseline match the depth the run can have")
struct RunLoadDepthTests {
    /// A data directory with a CA file, which the client configuration checks exists.
    static func dataDirectory() throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("load-depth-\(UUID())").path
        try FileManager.default.createDirectory(atPath: folder + "/tls", withIntermediateDirectories: true)
        try Data("local CA".utf8).write(to: URL(fileURLWithPath: folder + "/tls/ca.pem"))
        return folder
    }

    @Test("each load connection holds unsent every call the run may have in flight on it, at least the default")
    func queuedCallsCoverTheRun() throws {
        let folder = try Self.dataDirectory()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let open = try RunLoad.parse([
            "--data-dir", folder, "--mode", "open", "--rate", "500", "--outstanding-max", "50000",
        ])
        #expect(try open.loadClientConfiguration(timeout: .seconds(1)).queuedCallsMax >= 50_000)
        let closed = try RunLoad.parse(["--data-dir", folder, "--concurrency", "64"])
        let configuration = try closed.loadClientConfiguration(timeout: .seconds(1))
        #expect(configuration.queuedCallsMax == NumbersClientConfiguration.queuedCallsMaxDefault)
        #expect(
            configuration.retry == NumbersClientConfiguration.RetryPolicy.none,
            "still one attempt per call: a load test sees every failure")
    }

    @Test("the raw baseline's depth: --concurrency, at most the 100 calls numberd runs at once on a connection")
    func rawDepth() {
        #expect(RawComparisonRun.depth(concurrency: 1) == 1)
        #expect(RawComparisonRun.depth(concurrency: 64) == 64)
        #expect(RawComparisonRun.depth(concurrency: 100) == 100)
        #expect(RawComparisonRun.depth(concurrency: 1000) == 100)
    }
}

@Suite("RunLoad.publish: the RPC report is printed and written even when the raw comparison after it failed")
struct RunLoadPublishTests {
    @Test("a failed raw comparison still writes the JSON report, marked failed, then fails the run")
    func failedRawComparisonKeepsTheReport() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numbers-load-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("report.json").path
        let command = try RunLoad.parse(["--compare-raw", "--json-report", path])
        var report = LoadReport.fixture()
        report.rawComparisonFailure = "the child server did not report its port"
        #expect(report.summary().contains("raw TLS comparison failed: the child server did not report its port"))

        #expect(throws: HarnessError.self) { try command.publish(report) }

        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let written = try decoder.decode(LoadReport.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(written.total.calls == 1000)
        #expect(written.rawComparison == nil)
        #expect(written.rawComparisonFailure == "the child server did not report its port")
    }

    /// With `--compare-raw` the RPC report is published before the baseline starts (an interruption there lost it),
    /// then the baseline's lines are printed and the JSON report written again with them.
    @Test("the raw comparison published after the RPC report: the JSON report rewritten with it, a failure thrown")
    func rawComparisonPublishedAfter() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numbers-load-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("report.json").path
        let command = try RunLoad.parse(["--compare-raw", "--json-report", path])
        var report = LoadReport.fixture()
        try command.publish(report)
        let failure = "the raw connection closed before the run started"
        report.rawComparisonFailure = failure
        #expect(report.rawComparisonLines() == ["raw TLS comparison failed: \(failure)"])
        #expect(throws: HarnessError.self) { try command.publishRawComparison(report) }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let written = try decoder.decode(LoadReport.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(written.total.calls == 1000)
        #expect(written.rawComparisonFailure == failure)
    }

    @Test("without a failure, publishing writes the report and does not throw")
    func publishWithoutFailure() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numbers-load-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("report.json").path
        try RunLoad.parse(["--json-report", path]).publish(LoadReport.fixture())
        #expect(FileManager.default.fileExists(atPath: path))
    }
}

/// The review of the session's diff: the `numbers` CLI sends the local admin key only to a server with the local CA,
/// but `numbers-load` sent it to any loopback server — also one that `--ca` names, behind a forwarded port.
@Suite("numbers-load's admin key")
struct LoadAdminKeyTests {
    @Test("the local admin key goes only with the local CA; an explicit key goes anywhere")
    func localKeyOnlyWithTheLocalCA() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("load-key-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createDirectory(atPath: folder + "/tls", withIntermediateDirectories: true)
        try Data("nk_local\n".utf8).write(to: URL(fileURLWithPath: folder + "/admin.key"))
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: folder + "/admin.key")
        try Data("local CA".utf8).write(to: URL(fileURLWithPath: folder + "/tls/ca.pem"))
        try Data("their CA".utf8).write(to: URL(fileURLWithPath: folder + "/other-ca.pem"))
        let local = try TargetOptions.parse(["--data-dir", folder])
        #expect(try local.adminKey() == "nk_local")
        let other = try TargetOptions.parse(["--data-dir", folder, "--ca", folder + "/other-ca.pem"])
        #expect(throws: (any Error).self) { try other.adminKey() }
        let explicit = try TargetOptions.parse([
            "--data-dir", folder, "--ca", folder + "/other-ca.pem", "--key", "nk_x",
        ])
        #expect(try explicit.adminKey() == "nk_x")
        // One that group or others may read is refused, as the `numbers` CLI refuses it, with the chmod to fix it.
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: folder + "/admin.key")
        let refused = #expect(throws: ValidationError.self) { try local.adminKey() }
        #expect(refused?.message.contains("chmod 600 \(folder)/admin.key") == true, "\(String(describing: refused))")
    }

    @Test("rates divide by the measured window: not stretched by a call ending late, cut where --calls-max stopped")
    func measuredSeconds() {
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        let end = start + .seconds(10)
        // The last calls ended 5 s after the window (a deadline): still 10 s.
        #expect(RunLoad.measuredSeconds(from: start, to: end, driversEnded: end + .seconds(5)) == 10)
        // The cap stopped the drivers 2.5 s in.
        #expect(RunLoad.measuredSeconds(from: start, to: end, driversEnded: start + .milliseconds(2_500)) == 2.5)
        // Stopped during the warm-up: no measured time, and no division by zero.
        #expect(RunLoad.measuredSeconds(from: start, to: end, driversEnded: start - .seconds(1)) == 0.001)
    }
}

/// The defaults (127.0.0.1:7443 and the local data directory's admin key) are a production set-up's: a run there made
/// 8 accounts funded with 1 M USD each in its ledger and bought real numbers at Twilio; `--owned-numbers 0` with get
/// in the mix bought one per account all the same.
@Suite("RunLoad: a run that would charge a real provider account is refused")
struct RunLoadProviderTests {
    /// A data directory with a CA, an admin key and, when `provider` is given, a `provider.json` of that kind (as
    /// numberd writes it).
    static func dataDirectory(provider: String?) throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("load-provider-\(UUID())").path
        try FileManager.default.createDirectory(atPath: folder + "/tls", withIntermediateDirectories: true)
        try Data("local CA".utf8).write(to: URL(fileURLWithPath: folder + "/tls/ca.pem"))
        try Data("nk_local\n".utf8).write(to: URL(fileURLWithPath: folder + "/admin.key"))
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: folder + "/admin.key")
        if let provider {
            let binding = "{\"accountSid\":\"AC0123456789abcdef0123456789abcdef\",\"kind\":\"\(provider)\"}\n"
            try Data(binding.utf8).write(to: URL(fileURLWithPath: folder + "/provider.json"))
        }
        return folder
    }

    /// Parses `arguments` and makes the check `run()` makes before anything is sent.
    static func check(_ arguments: [String]) throws {
        let command = try RunLoad.parse(arguments)
        try command.checkProviderCharges(try WorkloadMix(parsing: command.mix))
    }

    @Test("a data directory bound to Twilio: refused (exit 64) without --allow-provider-charges, passed with it")
    func twilioIsRefused() throws {
        let folder = try Self.dataDirectory(provider: "twilio")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let refused = #expect(throws: ValidationError.self) { try Self.check(["--data-dir", folder]) }
        #expect(refused?.message.contains("--allow-provider-charges") == true, "\(String(describing: refused))")
        #expect(RunLoad.exitCode(for: try #require(refused)) == ExitCode.validationFailure)
        // Buying nothing does not make it safe: the accounts are funded in that ledger all the same.
        #expect(throws: ValidationError.self) {
            try Self.check(["--data-dir", folder, "--owned-numbers", "0", "--mix", "list=1"])
        }
        // An explicit key, but the data directory's CA: still that numberd.
        #expect(throws: ValidationError.self) { try Self.check(["--data-dir", folder, "--key", "nk_x"]) }
        try Self.check(["--data-dir", folder, "--allow-provider-charges"])
    }

    @Test("the simulator passes; no readable binding is refused only when the run buys with the directory's key")
    func simulatorAndUnreadableBinding() throws {
        let simulator = try Self.dataDirectory(provider: "simulator")
        defer { try? FileManager.default.removeItem(atPath: simulator) }
        try Self.check(["--data-dir", simulator])
        let none = try Self.dataDirectory(provider: nil)
        defer { try? FileManager.default.removeItem(atPath: none) }
        #expect(throws: ValidationError.self) { try Self.check(["--data-dir", none]) }
        #expect(throws: ValidationError.self) {
            try Self.check(["--data-dir", none, "--owned-numbers", "0", "--mix", "list=1,purchase=1"])
        }
        try Self.check(["--data-dir", none, "--owned-numbers", "0", "--mix", "list=1"])
        try Self.check(["--data-dir", none, "--key", "nk_x"])
        try Self.check(["--data-dir", none, "--allow-provider-charges"])
        // --key and --ca without --data-dir: the operator chose the target, nothing is read.
        try Self.check(["--key", "nk_x", "--ca", none + "/tls/ca.pem"])
    }

    @Test("--owned-numbers 0 with get in the mix is a usage error instead of a number bought per account")
    func getNeedsOwnedNumbers() throws {
        // The default mix has get.
        let error = #expect(throws: (any Error).self) { try RunLoad.parse(["--owned-numbers", "0"]) }
        #expect(RunLoad.message(for: try #require(error)).contains("--owned-numbers must be 1 or more"))
        #expect(throws: (any Error).self) { try RunLoad.parse(["--owned-numbers", "0", "--mix", "list=1,get=1"]) }
        _ = try RunLoad.parse(["--owned-numbers", "0", "--mix", "list=1,get=0"])
        _ = try RunLoad.parse(["--owned-numbers", "1", "--mix", "get=1"])
    }
}

/// Closed loop ran one task per connection and slot, uncapped (`--connections 1024 --concurrency 10000`: 10.24 M
/// tasks), and `run` kept the soft open-files limit (often 1024), so connections past it failed as the server's errors.
@Suite("RunLoad: the run's size fits its limits")
struct RunLoadSizeTests {
    @Test("closed loop: --connections x --concurrency above 100,000 is a usage error; open loop does not use it")
    func closedLoopWorkersAreCapped() throws {
        let error = #expect(throws: (any Error).self) {
            try RunLoad.parse(["--connections", "1024", "--concurrency", "10000"])
        }
        #expect(RunLoad.message(for: try #require(error)).contains("--connections x --concurrency"))
        _ = try RunLoad.parse(["--connections", "10", "--concurrency", "10000"])
        _ = try RunLoad.parse(["--mode", "open", "--connections", "1024", "--concurrency", "10000"])
    }

    @Test("--connections above the open-files limit less 64 is a usage error naming the limit")
    func connectionsFitTheOpenFilesLimit() throws {
        let refused = #expect(throws: ValidationError.self) {
            try RunLoad.checkConnections(1000, openFilesLimit: 1024)
        }
        #expect(refused?.message.contains("open-files limit 1024") == true, "\(String(describing: refused))")
        try RunLoad.checkConnections(960, openFilesLimit: 1024)
        try RunLoad.checkConnections(1024, openFilesLimit: 1_048_576)
        // A limit that cannot be read (0) refuses nothing.
        try RunLoad.checkConnections(1024, openFilesLimit: 0)
    }
}

/// Flags whose bounds or figures could not hold were found out only at the end of the run, or never: a --calls-max
/// below a purchase's calls stopped every worker that picked one, a --json-report in a missing directory lost the
/// report after the run, a --server-pid or --journal-dir that could not be read left its figure out without a word.
@Suite("RunLoad: flags refused before the run sets anything up")
struct RunLoadFlagTests {
    @Test("--calls-max below the calls one operation of the mix may make is refused (a purchase makes up to 5)")
    func callsMaxCoversAnOperation() throws {
        let error = #expect(throws: (any Error).self) {
            try RunLoad.parse(["--mix", "list=1,purchase=1", "--owned-numbers", "0", "--calls-max", "4"])
        }
        #expect(RunLoad.message(for: try #require(error)).contains("--calls-max 4 is below the 5 calls"))
        _ = try RunLoad.parse(["--mix", "list=1,purchase=1", "--owned-numbers", "0", "--calls-max", "5"])
        // A purchase weighted 0 is never picked.
        _ = try RunLoad.parse(["--mix", "list=1,purchase=0", "--owned-numbers", "0", "--calls-max", "1"])
        #expect(try WorkloadMix(parsing: "purchase=1").callsPerOperationMax == 5)
        #expect(try WorkloadMix(parsing: "list=1,balance=3").callsPerOperationMax == 1)
    }

    @Test("--calls-max with --compare-raw is refused: the baseline ran the whole --duration whatever it said")
    func callsMaxNotWithCompareRaw() throws {
        let error = #expect(throws: (any Error).self) { try RunLoad.parse(["--compare-raw", "--calls-max", "200"]) }
        #expect(RunLoad.message(for: try #require(error)).contains("--calls-max does not bound --compare-raw"))
        _ = try RunLoad.parse(["--compare-raw", "--duration", "2"])
        _ = try RunLoad.parse(["--calls-max", "200"])
    }

    @Test("--max-error-fraction is 0...1, 0.01 by default")
    func maxErrorFractionRange() throws {
        #expect(throws: (any Error).self) { try RunLoad.parse(["--max-error-fraction", "1.5"]) }
        #expect(try RunLoad.parse([]).maxErrorFraction == 0.01)
        #expect(try RunLoad.parse(["--max-error-fraction", "1"]).maxErrorFraction == 1)
    }

    @Test("--server-pid without a readable /proc/<pid>/stat is refused at start; a live process passes")
    func serverPIDReadable() throws {
        let error = #expect(throws: (any Error).self) { try RunLoad.parse(["--server-pid", "\(Int32.max)"]) }
        #expect(RunLoad.message(for: try #require(error)).contains("/proc/\(Int32.max)/stat cannot be read"))
        _ = try RunLoad.parse(["--server-pid", "\(getpid())"])
    }

    /// The harness probe: these exited 1 (`errno 2` after set-up; nothing about RSS at all) where `run` refuses what
    /// it cannot read at start.
    @Test("--fsync-probe-dir that is no directory, and connections --server-pid of no process, are refused at start")
    func probeDirectoryAndConnectionsPID() throws {
        let error = #expect(throws: (any Error).self) { try RunLoad.parse(["--fsync-probe-dir", "/nonexistent-dir"]) }
        #expect(RunLoad.message(for: try #require(error)).contains("--fsync-probe-dir /nonexistent-dir: no such"))
        #expect(throws: (any Error).self) { try RunLoad.parse(["--fsync-probe-dir", "/etc/hostname"]) }
        _ = try RunLoad.parse(["--fsync-probe-dir", FileManager.default.temporaryDirectory.path])
        let pid = #expect(throws: (any Error).self) { try ConnectionsCommand.parse(["--server-pid", "\(Int32.max)"]) }
        #expect(ConnectionsCommand.message(for: try #require(pid)).contains("its RSS cannot be read"))
        _ = try ConnectionsCommand.parse(["--server-pid", "\(getpid())"])
    }

    @Test("--journal-dir whose last seq cannot be read is refused at start; a journal's directory passes")
    func journalDirReadable() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("load-journal-\(UUID())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let error = #expect(throws: (any Error).self) { try RunLoad.parse(["--journal-dir", folder]) }
        #expect(RunLoad.message(for: try #require(error)).contains("--journal-dir \(folder): no journal"))
        #expect(throws: (any Error).self) { try RunLoad.parse(["--journal-dir", folder + "/missing"]) }
        try Data("{\"seq\":1}\n{\"seq\":7}\n".utf8).write(
            to: URL(fileURLWithPath: folder + "/journal-00000000000000000001.jsonl"))
        _ = try RunLoad.parse(["--journal-dir", folder])
    }

    @Test("a --json-report file that cannot be written is a usage error; one that can is created, or emptied, first")
    func reportFilePrepared() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("load-report-\(UUID())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let refused = #expect(throws: ValidationError.self) { try ReportFile.prepare(folder + "/missing/report.json") }
        #expect(refused?.message.contains("--json-report \(folder)/missing/report.json") == true)
        #expect(RunLoad.exitCode(for: try #require(refused)) == ExitCode.validationFailure)
        let path = folder + "/report.json"
        try ReportFile.prepare(path)
        #expect(FileManager.default.fileExists(atPath: path))
        // An earlier run's report must not pass for this run's when this one ends without writing its own.
        try Data("{\"tool\":\"numbers-load\"}".utf8).write(to: URL(fileURLWithPath: path))
        try ReportFile.prepare(path)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)).isEmpty)
    }
}

/// `--no-pin` connected no client before the measured window: a refused connection showed as calls failing
/// CONNECT_FAILED in the window instead of a set-up failure.
@Suite("RunLoad: every load client connects before the measured window")
struct RunLoadConnectTests {
    @Test("a refused load connection fails the set-up, pinned or not (--no-pin)", arguments: [false, true])
    func refusedConnectionFailsSetUp(pinned: Bool) async throws {
        // A port that was just free: bound, then closed.
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(listener.localAddress?.port)
        try await listener.close()
        let client = try NumbersClient(
            configuration: NumbersClientConfiguration(
                host: "127.0.0.1", port: port, trustRoots: .system, retry: .none))
        let error = await #expect(throws: HarnessError.self) {
            _ = try await RunLoad.connect([client], pinned: pinned)
        }
        #expect(error?.message.contains("load connection 1 of 1 failed") == true, "\(String(describing: error))")
        await client.close()
    }
}
