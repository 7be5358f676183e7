import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import NumberAPI
import NumberClient
import Synchronization

/// `numbers-load run`: RPC load (closed or open loop) with a workload mix, or the raw TLS transport.
struct RunLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Apply load and report latency percentiles, throughput and outcomes (default).")

    @OptionGroup var target: TargetOptions
    @Option(help: "closed (connections x concurrency workers) or open (a fixed --rate).") var mode: Mode = .closed
    @Option(parsing: .unconditional, help: "TLS connections (1...1024).") var connections = 1
    @Option(parsing: .unconditional, help: "Closed loop: calls in flight per connection (1...10000).") var concurrency =
        64
    @Option(
        parsing: .unconditional,
        help: """
            Open loop: operations per second (1...1000000); each is one call, except a purchase: a search when its \
            candidate pool is empty, the purchase and its release (2 to 5 calls).
            """)
    var rate: Double = 1000
    @Option(
        name: .customLong("outstanding-max"), parsing: .unconditional,
        help: "Open loop: operations in flight at most (1...100000).")
    var outstandingMax = 10_000
    @Flag(
        name: .customLong("allow-provider-charges"),
        help: """
            Run although the data directory's numberd buys at Twilio (its provider.json), or it cannot tell while the \
            run buys with its admin key: funds in that ledger, real numbers paid to Twilio.
            """)
    var allowProviderCharges = false
    @Option(
        help: """
            Weights of search, purchase, list, get, balance (adding up to 1...10000): each run of as many operations \
            as the weights add up to holds each one its weight's times, interleaved (per worker in closed loop).
            """)
    var mix = "list=40,balance=40,get=20"
    @Option(parsing: .unconditional, help: "Seconds measured (0.1...3600).") var duration: Double = 10
    @Option(parsing: .unconditional, help: "Seconds of load before measuring (0...600).") var warmup: Double = 2
    @Option(
        name: .customLong("timeout-ms"), parsing: .unconditional,
        help: "Per-call deadline in milliseconds (1...600000).")
    var timeoutMilliseconds: Int64 = 5000
    @Option(
        name: .customLong("calls-max"), parsing: .unconditional,
        help: """
            Calls in all at most, whatever the duration (default: no bound; at least the calls one operation of \
            --mix may make, 5 for a purchase; not with --compare-raw, whose baseline it does not bound). A run it \
            ends measures up to there and says so.
            """)
    var callsMax: Int?
    @Option(
        name: .customLong("max-error-fraction"), parsing: .unconditional,
        help: """
            Measured calls that may fail, with operations due never made (NOT_SENT, NO_CANDIDATE; each counted \
            once), as a fraction of both (0...1, default 0.01; 1 lets any fail): beyond it, as with no call sent or \
            none OK, the run exits 3 after its report.
            """)
    var maxErrorFraction = 0.01
    @Option(parsing: .unconditional, help: "Accounts the harness creates and spreads calls over (1...1000).")
    var accounts = 8
    @Option(
        name: .customLong("owned-numbers"), parsing: .unconditional,
        help: "Numbers each account buys before the run (0...50).")
    var ownedNumbers = 2
    @Option(help: "Country searched and bought in.") var country = "US"
    @Option(name: .customLong("json-report"), help: "Write the report as JSON to this file.") var jsonReport: String?
    @Flag(help: "No progress line.") var quiet = false
    @Option(
        name: .customLong("report-every"), parsing: .unconditional,
        help: "Seconds per progress line and per interval kept in the report (0.1...3600, default 1; 60 for a soak).")
    var reportEvery: Double = 1
    @Flag(
        name: .customLong("no-pin"),
        help: "Run the calls on Swift's cooperative pool instead of each connection's event loop.")
    var noPin = false
    @Flag(
        name: .customLong("compare-raw"),
        help: """
            Then run the raw TLS request/response transport at the same sizes and depth (a child raw-server; \
            at most 100 in flight per connection, the calls numberd runs at once); closed loop only.
            """)
    var compareRaw = false
    @Option(
        name: .customLong("fsync-probe-dir"),
        help: "Measure serial write+fdatasync per second in this directory first (same file system as the store).")
    var fsyncProbeDir: String?
    @Option(
        name: .customLong("fsync-probe-seconds"), parsing: .unconditional,
        help: "How long the fsync probe runs, 1...600 seconds (default 2; longer evens out a busy disk).")
    var fsyncProbeSeconds: Double = 2
    @Option(
        name: .customLong("server-pid"), parsing: .unconditional, help: "Report this server process's RSS at the end.")
    var serverPID: Int32?
    @Option(
        name: .customLong("journal-dir"),
        help: "numberd's store directory (<data-dir>/store): report the journal records the run appended.")
    var journalDir: String?

    enum Mode: String, ExpressibleByArgument, Sendable {
        case closed, open
    }

    /// Calls in flight at most: the open loop's `--outstanding-max`, and the closed loop's `--connections` x
    /// `--concurrency` (one worker task each: 1024 x 10,000 made 10.24 M tasks).
    static let inFlightMax = 100_000
    /// Descriptors the open-files limit keeps beyond the load connections: the admin connection, the event loops,
    /// pipes and files.
    static let descriptorsReserved = 64

    func validate() throws {
        guard (1...1024).contains(connections) else { throw ValidationError("--connections must be 1...1024") }
        guard (1...10_000).contains(concurrency) else { throw ValidationError("--concurrency must be 1...10000") }
        guard mode == .open || connections * concurrency <= Self.inFlightMax else {
            throw ValidationError(
                "--connections x --concurrency must be at most \(Self.inFlightMax) in closed loop (one worker each), "
                    + "not \(connections * concurrency)")
        }
        guard (1...1_000_000).contains(rate) else { throw ValidationError("--rate must be 1...1000000") }
        guard (1...Self.inFlightMax).contains(outstandingMax) else {
            throw ValidationError("--outstanding-max: 1...\(Self.inFlightMax)")
        }
        guard (0.1...3600).contains(duration) else { throw ValidationError("--duration must be 0.1...3600") }
        guard (0...600).contains(warmup) else { throw ValidationError("--warmup must be 0...600") }
        guard (0.1...3600).contains(reportEvery) else { throw ValidationError("--report-every must be 0.1...3600") }
        guard (1...600_000).contains(timeoutMilliseconds) else {
            throw ValidationError("--timeout-ms must be 1...600000")
        }
        guard (callsMax ?? 1) >= 1 else { throw ValidationError("--calls-max must be positive") }
        guard (0...1).contains(maxErrorFraction) else { throw ValidationError("--max-error-fraction must be 0...1") }
        // The raw side runs closed loop at --concurrency (its maximum): against a fixed --rate the ratio means nothing.
        guard !(compareRaw && mode == .open) else {
            throw ValidationError(
                "--compare-raw compares closed-loop throughput (the raw transport's maximum at --concurrency); "
                    + "use it with --mode closed, not with --mode open")
        }
        guard (1...600).contains(fsyncProbeSeconds) else {
            throw ValidationError("--fsync-probe-seconds must be 1...600")
        }
        guard (1...LoadFixture.accountsMax).contains(accounts) else {
            throw ValidationError("--accounts must be 1...\(LoadFixture.accountsMax)")
        }
        guard (0...LoadFixture.ownedNumbersMax).contains(ownedNumbers) else {
            throw ValidationError("--owned-numbers must be 0...\(LoadFixture.ownedNumbersMax)")
        }
        // A get reads one of its account's own numbers, so it needs one: 0 was made 1 without a word, and a run
        // meant to buy nothing bought a number per account.
        let workload = try WorkloadMix(parsing: mix)
        guard ownedNumbers > 0 || !workload.includes(.get) else {
            throw ValidationError(
                "--mix has get, which reads the accounts' own numbers: --owned-numbers must be 1 or more")
        }
        if let callsMax {
            try Self.checkCallsMax(callsMax, workload: workload, compareRaw: compareRaw)
        }
        // Figures read at the end of the run: one that cannot be read now is refused, not found missing afterwards.
        if let serverPID, ProcessStatus.cpuSeconds(pid: serverPID) == nil {
            throw ValidationError(
                "--server-pid \(serverPID): /proc/\(serverPID)/stat cannot be read (no such process?)")
        }
        if let fsyncProbeDir {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: fsyncProbeDir, isDirectory: &isDirectory),
                isDirectory.boolValue
            else {
                throw ValidationError("--fsync-probe-dir \(fsyncProbeDir): no such directory")
            }
        }
        if let journalDir, JournalProbe.lastSeq(directory: journalDir) == nil {
            throw ValidationError(
                "--journal-dir \(journalDir): no journal whose last seq can be read (numberd's <data-dir>/store)")
        }
        _ = try target.address()
        _ = try target.clientCertificate()
    }

    /// Refuses `connections` that the open-files limit (`openFilesLimit`, 0 when it cannot be read) cannot hold with
    /// ``descriptorsReserved`` to spare: past it connects fail (EMFILE), which the run counts as the server's errors.
    /// `flag` names the option that asked for them (`numbers-load connections` checks its `--count` here too).
    static func checkConnections(_ connections: Int, openFilesLimit: Int, flag: String = "--connections") throws {
        guard openFilesLimit > 0, connections > openFilesLimit - descriptorsReserved else { return }
        throw ValidationError(
            "\(flag) \(connections) does not fit the open-files limit \(openFilesLimit) (\(descriptorsReserved) "
                + "descriptors kept for the rest): raise the hard limit (ulimit -Hn) or use fewer connections")
    }

    /// Refuses a `--calls-max` given with `--compare-raw`, or below the calls one operation of the mix may make
    /// (``WorkloadMix/callsPerOperationMax``: 5 for a purchase). The raw baseline ran the whole `--warmup` and
    /// `--duration` whatever `--calls-max` said; and a budget below a purchase's calls stopped each worker that picked
    /// one, silently.
    static func checkCallsMax(_ callsMax: Int, workload: WorkloadMix, compareRaw: Bool) throws {
        guard !compareRaw else {
            throw ValidationError(
                "--calls-max does not bound --compare-raw's baseline, which runs the whole --warmup and --duration: "
                    + "bound a run with --compare-raw by --duration")
        }
        let needed = workload.callsPerOperationMax
        guard callsMax >= needed else {
            throw ValidationError(
                "--calls-max \(callsMax) is below the \(needed) calls one operation of --mix \(workload) may make (a "
                    + "purchase: up to \(CandidatePool.refillAttemptsMax) searches, the purchase and its release)")
        }
    }

    /// Refuses (a usage error) a run that would charge a real provider account, unless `--allow-provider-charges`:
    /// the data directory that chose the target (``TargetOptions/usesDataDirectory``) binds its numberd to Twilio
    /// (`provider.json`), or has no readable binding while the admin key is its own and the run buys numbers
    /// (`--owned-numbers` above 0, or purchases in the mix). The defaults (127.0.0.1:7443 and the local data
    /// directory's admin key) are a production set-up's: a run there made 8 accounts funded with 1 M USD each in its
    /// ledger and bought real numbers at Twilio. With `--key` and `--ca` given and no `--data-dir`, the operator chose
    /// the target: nothing is checked.
    func checkProviderCharges(_ workload: WorkloadMix) throws {
        guard !allowProviderCharges, target.usesDataDirectory else { return }
        let binding = target.dataDirectory + "/provider.json"
        let kind = target.providerKind()
        if kind == "twilio" {
            throw ValidationError(
                "\(binding) binds this numberd to Twilio: the run would fund its accounts in that ledger and buy real "
                    + "numbers, paid to Twilio. Target a numberd run with the simulator, or pass "
                    + "--allow-provider-charges")
        }
        if kind == nil, target.keyFromDataDirectory, ownedNumbers > 0 || workload.includes(.purchase) {
            throw ValidationError(
                "\(binding) cannot be read, so whether this numberd buys at Twilio is unknown, and the run would buy "
                    + "numbers with its admin key: pass --allow-provider-charges, or run with --owned-numbers 0 and "
                    + "no purchase in --mix")
        }
    }

    func run() async throws {
        try Self.checkConnections(connections, openFilesLimit: OpenFilesLimit.raiseToHard())
        let workload = try WorkloadMix(parsing: mix)
        let adminKey = try target.adminKey()
        try checkProviderCharges(workload)
        if let jsonReport { try ReportFile.prepare(jsonReport) }
        let timeout = TimeAmount.milliseconds(timeoutMilliseconds)
        // Set-up and measurement run in a task of their own, which the first SIGINT, SIGTERM or SIGHUP cancels (the
        // drivers stop, calls in flight end CANCELLED): the clean-up below then runs as after any failure. Killed
        // outright by the signal, the run left its accounts, keys and numbers behind, billed every month. Installed
        // before the fsync probe, which the signal stops too: killed during it, the run left the probe's file.
        Interruption.shared.install()
        var fsyncs: Double?
        if let directory = fsyncProbeDir {
            fsyncs = try FsyncProbe(directory: directory, seconds: fsyncProbeSeconds).run {
                Interruption.shared.firstSignal != nil
            }
            if let interrupted = Interruption.shared.exitCode {
                log("interrupted (signal \(interrupted - 128)) during the fsync probe: nothing was made yet")
                throw ExitCode(interrupted)
            }
            log(String(format: "serial write+fdatasync in %@: %.1f /s", directory, fsyncs!))
        }
        let admin = try NumbersClient(
            configuration: target.clientConfiguration(apiKey: adminKey, timeout: .seconds(30)))
        let fixture = LoadFixture(
            accounts: accounts, ownedNumbers: ownedNumbers, country: country,
            runID: String(UInt32.random(in: 0...UInt32.max), radix: 36))
        // Leave nothing bought behind (against a numberd with real Twilio credentials it is paid every month): what
        // the set-up and the run made is settled at the end, also when a step fails part-way.
        let leftovers = Leftovers()
        let measuring = Task {
            try await setUpAndMeasure(workload, admin: admin, fixture: fixture, leftovers: leftovers)
        }
        Interruption.shared.onFirstSignal { measuring.cancel() }
        let measured = await measuring.result
        // Whether the signal cut the measured window short: one after it (during the clean-up or the raw comparison)
        // leaves its figures whole, not marked.
        let signalWhileMeasuring = Interruption.shared.firstSignal
        // Before the leftovers are settled, whose releases are records of the tear-down, not of the run.
        let seqAfter = journalDir.flatMap { JournalProbe.lastSeq(directory: $0) }
        if let signal = Interruption.shared.firstSignal {
            log("interrupted (signal \(signal)): settling what the run made; a second signal exits at once")
        }
        log("settling what the run made: \(leftovers.pending)")
        let unsettled = await leftovers.settle(client: admin) { log($0) }
        await admin.close()
        if !unsettled.isEmpty {
            log("\(unsettled.count) thing(s) this run made may still be owned or valid: see the lines above")
        }
        if let interrupted = Interruption.shared.exitCode {
            // The figures of a window cut short, when it had begun: printed and written, marked, not compared.
            switch measured {
            case .success(let result) where !result.windowBegan:
                // Drivers stopped in the warm-up: no window, no figure (it read "measured 0.001 s").
                log("interrupted during the warm-up (\(result.report.warmupCalls) calls): nothing was measured")
            case .success(let result):
                var cutShort = result.report
                cutShort.unsettled = unsettled
                cutShort.interruptedBySignal = signalWhileMeasuring
                try publish(cutShort)
            case .failure(let error):
                log("\(error)")
            }
            throw ExitCode(interrupted)
        }
        var (final, seqBefore, _) = try measured.get()
        final.unsettled = unsettled
        if let before = seqBefore, let after = seqAfter, after >= before {
            final.journalRecordsAppended = Int(after - before)
        } else if let journalDir {
            let (first, last) = (seqBefore.map { "\($0)" } ?? "nothing", seqAfter.map { "\($0)" } ?? "nothing")
            log("no journal records figure: the last seq in \(journalDir) read \(first) before the run, \(last) after")
        }
        final.serialFsyncsPerSecond = fsyncs
        if let serverPID {
            final.serverRSSMiB = ProcessStatus.residentMiB(pid: serverPID)
            if final.serverRSSMiB == nil { log("no server RSS: /proc/\(serverPID)/status could not be read") }
        }
        // The RPC figures are printed and written before the raw comparison starts: a baseline that fails or is
        // interrupted cannot lose them.
        try publish(final)
        // Then the exit status says whether the run measured anything: the raw comparison only follows a run that did.
        let verdict = LoadVerdict(final, maxErrorFraction: maxErrorFraction)
        if let failure = verdict.measurementFailure {
            log("no figure: \(failure)" + (compareRaw ? "; the raw TLS comparison is not run" : ""))
        }
        if verdict.exitCode != 0 { throw ExitCode(verdict.exitCode) }
        guard compareRaw else { return }
        let rpc = final
        let baseline = Task {
            try await RawComparisonRun(
                target: target, connections: connections, concurrency: concurrency, duration: duration,
                warmup: warmup, timeout: timeout, rpc: rpc
            ).run(log: log)
        }
        // The first signal now cancels the comparison, which kills its child raw-server at once. It only cancelled
        // the measurement, already over: the signal did nothing, and a second one exited before the report, leaving
        // the child running.
        Interruption.shared.onFirstSignal { baseline.cancel() }
        let compared = await baseline.result
        if let interrupted = Interruption.shared.exitCode {
            log("interrupted (signal \(interrupted - 128)): raw TLS comparison stopped (the RPC report is complete)")
            throw ExitCode(interrupted)
        }
        switch compared {
        case .success(let comparison): final.rawComparison = comparison
        case .failure(let error): final.rawComparisonFailure = "\(error)"
        }
        try publishRawComparison(final)
    }

    /// The usage error (exit 64) for a set-up call numberd refused for `--country` (not a country with telephone
    /// numbers, or not a code at all): only numberd knows the list, and the walk of the harness found `--country XX`
    /// exiting 1, as for a failure of the run. Nil for any other error.
    static func countryRefused(_ error: any Error, country: String) -> ValidationError? {
        guard let refused = error as? RPCError, refused.code == .invalidArgument, refused.details["field"] == "country"
        else { return nil }
        return ValidationError("--country \(country) was refused by numberd: \(refused.message)")
    }

    /// Sets up the accounts, samples the wire sizes and runs the measured window; returns its report, the journal's
    /// last seq before it (with `--journal-dir`) and whether the window began (not when the drivers stopped in the
    /// warm-up).
    private func setUpAndMeasure(
        _ workload: WorkloadMix, admin: NumbersClient, fixture: LoadFixture, leftovers: Leftovers
    ) async throws -> (report: LoadReport, seqBefore: UInt64?, windowBegan: Bool) {
        let timeout = TimeAmount.milliseconds(timeoutMilliseconds)
        let prepared: [LoadAccount]
        do {
            prepared = try await fixture.prepare(admin: admin, leftovers: leftovers) { log($0) }
        } catch {
            if let refused = Self.countryRefused(error, country: country) { throw refused }
            throw HarnessError(message: "setting up accounts through the admin API failed: \(error)")
        }
        // Set-up's calls, not the load's: a --timeout-ms of a few milliseconds (a test of the deadline path) failed
        // the whole run here, before anything was measured.
        let wireSizes: WireSizes
        do {
            wireSizes = try await WireSizes.sample(
                client: admin, account: prepared[0], country: country, timeout: max(timeout, .seconds(30)))
        } catch {
            if let refused = Self.countryRefused(error, country: country) { throw refused }
            throw HarnessError(message: "sampling the wire sizes of the calls (set-up) failed: \(error)")
        }
        var clients: [NumbersClient] = []
        do {
            let configuration = try loadClientConfiguration(timeout: timeout)
            for _ in 0..<connections { clients.append(try NumbersClient(configuration: configuration)) }
            // Calls run where their connection's I/O runs (EventLoopTaskExecutor) unless --no-pin: no thread hop per
            // call.
            let executors = try await Self.connect(clients, pinned: !noPin)
            let seqBefore = journalDir.flatMap(JournalProbe.lastSeq(directory:))
            let (report, windowBegan) = await measure(
                workload, clients: clients, executors: executors, accounts: prepared, wireSizes: wireSizes,
                leftovers: leftovers)
            for client in clients { await client.close() }
            return (report, seqBefore, windowBegan)
        } catch {
            for client in clients { await client.close() }
            throw error
        }
    }

    /// Connects every load client before the measured window, pinned or not (`--no-pin` connected none: a refused
    /// connection showed as calls failing CONNECT_FAILED in the window, not as a set-up failure); returns for each the
    /// executor its calls run on, its connection's event loop, or nil for the cooperative pool when not `pinned`.
    static func connect(_ clients: [NumbersClient], pinned: Bool) async throws -> [EventLoopTaskExecutor?] {
        var executors: [EventLoopTaskExecutor?] = []
        for (index, client) in clients.enumerated() {
            let executor: EventLoopTaskExecutor
            do {
                executor = try await client.preferredTaskExecutor()
            } catch {
                throw HarnessError(message: "load connection \(index + 1) of \(clients.count) failed: \(error)")
            }
            executors.append(pinned ? executor : nil)
        }
        return executors
    }

    /// The configuration of each load connection's client: ``TargetOptions/clientConfiguration(apiKey:timeout:)``,
    /// holding unsent as many calls as the run may have in flight on one connection — `--concurrency` in closed loop,
    /// `--outstanding-max` in open loop (spread round robin, but a slow connection can hold more than its share) —,
    /// at least the client's default. numberd runs 100 at once per connection; with the default 10,000 waiting
    /// beyond that, an `--outstanding-max` above it made the harness refuse its own calls `CLIENT_QUEUE_FULL`, in
    /// no time, counted as the server's errors.
    func loadClientConfiguration(timeout: TimeAmount) throws -> NumbersClientConfiguration {
        var configuration = try target.clientConfiguration(apiKey: nil, timeout: timeout)
        configuration.queuedCallsMax = max(
            NumbersClientConfiguration.queuedCallsMaxDefault, mode == .closed ? concurrency : outstandingMax)
        return configuration
    }

    /// Prints the summary and writes the JSON report, then fails the run if the raw comparison failed: a failure of
    /// the baseline that follows the RPC run must not lose the RPC figures already measured.
    func publish(_ report: LoadReport) throws {
        print(report.summary())
        try writeAndCheck(report)
    }

    /// After ``publish(_:)`` printed the RPC summary before the baseline ran: prints the raw comparison's lines and
    /// writes the JSON report again, now with them, then fails the run if the comparison failed.
    func publishRawComparison(_ report: LoadReport) throws {
        print(report.rawComparisonLines().joined(separator: "\n"))
        try writeAndCheck(report)
    }

    private func writeAndCheck(_ report: LoadReport) throws {
        if let jsonReport { try report.write(to: jsonReport) }
        if let failure = report.rawComparisonFailure {
            throw HarnessError(message: "the raw TLS comparison failed (the RPC report is complete): \(failure)")
        }
    }

    /// Runs the drivers with a progress line; returns the report of the measured window.
    private func measure(
        _ workload: WorkloadMix, clients: [NumbersClient], executors: [EventLoopTaskExecutor?],
        accounts: [LoadAccount], wireSizes: WireSizes, leftovers: Leftovers
    ) async -> (LoadReport, windowBegan: Bool) {
        let startedAt = Date()
        let start = NIODeadline.now()
        let measureFrom = start + .nanoseconds(Int64(warmup * 1e9))
        let end = measureFrom + .nanoseconds(Int64(duration * 1e9))
        let recorder = LatencyRecorder(measureFrom: measureFrom, measureUntil: end)
        let plan = LoadPlan(
            clients: clients, executors: executors, accounts: accounts, mix: workload,
            runner: WorkloadRunner(
                recorder: recorder, candidates: CandidatePool(), leftovers: leftovers, wireSizes: wireSizes,
                country: country, timeout: .milliseconds(timeoutMilliseconds)),
            start: start, measureFrom: measureFrom, end: end, callsMax: callsMax)
        let (mode, concurrency, rate, outstandingMax) = (self.mode, self.concurrency, self.rate, self.outstandingMax)
        let cpu = CPUWindow(serverPID: serverPID, from: measureFrom)
        let intervals = IntervalLog()
        let (reportEvery, serverPID) = (self.reportEvery, self.serverPID)
        let driversEnded = await withTaskGroup(of: Void.self) { group -> NIODeadline in
            group.addTask { await cpu.sampleAtStart() }
            group.addTask {
                await ProgressReporter(
                    recorder: recorder, start: start, end: end, every: reportEvery, serverPID: serverPID, quiet: quiet,
                    intervals: intervals
                ).run()
            }
            // The instant the drivers stopped starting work, not once their last calls ended.
            let stopped: NIODeadline
            switch mode {
            case .closed: stopped = await ClosedLoopDriver(concurrency: concurrency).run(plan)
            case .open: stopped = await OpenLoopDriver(rate: rate, outstandingMax: outstandingMax).run(plan).stoppedAt
            }
            group.cancelAll()
            return stopped
        }
        let seconds = Self.measuredSeconds(from: measureFrom, to: end, driversEnded: driversEnded)
        ProgressReporter.tail(
            of: recorder, start: start, measureFrom: measureFrom, intervals: intervals, serverPID: serverPID)
        let merged = recorder.snapshot()
        let spent = cpu.spent()
        if let serverPID, spent.server == nil {
            log("no server CPU per call: /proc/\(serverPID)/stat could not be read over the window")
        }
        let okCalls = UInt64(merged.outcomes["OK"] ?? 0)
        let (address, _) = (try? target.address()) ?? ("?", 0)
        let report = LoadReport(
            startedAt: startedAt, target: "\(address):\((try? target.address().port) ?? 0)", mode: mode.rawValue,
            mix: workload.description, connections: clients.count,
            concurrencyPerConnection: mode == .closed ? concurrency : nil, targetRate: mode == .open ? rate : nil,
            warmupSeconds: warmup, durationSeconds: seconds, timeoutMilliseconds: timeoutMilliseconds,
            accounts: accounts.count, warmupCalls: merged.warmupCalls,
            total: LoadReport.figures(merged.total, outcomes: merged.outcomes, seconds: seconds),
            byOperation: Dictionary(
                uniqueKeysWithValues: merged.byOperation.map { operation, histogram in
                    (
                        operation.rawValue,
                        LoadReport.figures(
                            histogram, outcomes: merged.outcomesByOperation[operation] ?? [:], seconds: seconds)
                    )
                }),
            averageRequestBytes: merged.averageWireBytes.request,
            averageResponseBytes: merged.averageWireBytes.response,
            harnessCPUMicrosPerCall: LoadReport.microsPerCall(spent.harness, calls: merged.sentCalls),
            serverCPUMicrosPerCall: LoadReport.microsPerCall(spent.server, calls: merged.sentCalls),
            harnessCPUMicrosPerOKCall: LoadReport.microsPerCall(spent.harness, calls: okCalls),
            serverCPUMicrosPerOKCall: LoadReport.microsPerCall(spent.server, calls: okCalls),
            callsMaxReached: plan.budget.wasSpent ? callsMax : nil, intervals: intervals.all,
            finishedInWindow: merged.finishedInWindow,
            finishedCallsPerSecond: seconds > 0 ? Double(merged.finishedInWindow) / seconds : 0)
        return (report, driversEnded > measureFrom)
    }
}

/// A line on stderr (progress and set-up; stdout carries the summary only).
func log(_ line: String) {
    try? FileHandle.standardError.write(contentsOf: Data(("numbers-load: " + line + "\n").utf8))
}

/// A run that cannot go on; printed as one line.
struct HarnessError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// CPU seconds of this process and the server between the start of the measured window and now.
final class CPUWindow: Sendable {
    private let serverPID: Int32?
    private let from: NIODeadline
    private let start = Mutex<(harness: Double?, server: Double?)>((nil, nil))

    init(serverPID: Int32?, from: NIODeadline) {
        self.serverPID = serverPID
        self.from = from
    }

    /// Waits for the measured window to open, then reads both processes' CPU time.
    func sampleAtStart() async {
        let wait = from - .now()
        if wait > .zero { try? await Task.sleep(nanoseconds: UInt64(wait.nanoseconds)) }
        let harness = ProcessStatus.cpuSeconds(pid: getpid())
        let server = serverPID.flatMap(ProcessStatus.cpuSeconds(pid:))
        start.withLock { $0 = (harness, server) }
    }

    /// CPU seconds used since `sampleAtStart`.
    func spent() -> (harness: Double?, server: Double?) {
        let begin = start.withLock { $0 }
        let harness = begin.harness.flatMap { before in ProcessStatus.cpuSeconds(pid: getpid()).map { $0 - before } }
        let server = begin.server.flatMap { before in
            serverPID.flatMap(ProcessStatus.cpuSeconds(pid:)).map { $0 - before }
        }
        return (harness, server)
    }
}

extension RunLoad {
    /// The seconds rates divide by: the measured calls are those due in the window, so the window — not the time
    /// until the last of them ended (one call running into its deadline at the end stretched it by that deadline) —,
    /// or up to where the drivers stopped starting work when `--calls-max` (or an interruption) stopped the run before
    /// `end`.
    static func measuredSeconds(from start: NIODeadline, to end: NIODeadline, driversEnded: NIODeadline) -> Double {
        max(0.001, Double((min(end, driversEnded) - start).nanoseconds) / 1e9)
    }
}
