import NIOCore
import Testing

@testable import numbers_load

@Suite("LoadReport: unsent open-loop calls are in the latency, not in the calls made or the errors")
struct LoadReportTests {
    @Test("10 OK, 2 failed and 3 unsent calls over 2 s")
    func unsentArithmetic() {
        let from = NIODeadline.uptimeNanoseconds(1_000_000_000)
        let recorder = LatencyRecorder(measureFrom: from)
        for index in 0..<15 {
            let outcome = index < 10 ? "OK" : index < 12 ? "UNAVAILABLE" : LatencyRecorder.notSent
            // The unsent calls waited 900 ms until the end of the run; the others took 1 ms.
            let took: TimeAmount = index < 12 ? .milliseconds(1) : .milliseconds(900)
            recorder.record(stripe: index, operation: .list, intended: from, end: from + took, outcome: outcome)
        }
        let merged = recorder.snapshot()
        let figures = LoadReport.figures(merged.total, outcomes: merged.outcomes, seconds: 2)
        #expect(figures.calls == 12)
        #expect(figures.callsPerSecond == 6)
        #expect(figures.errors == 2)
        #expect(figures.unsent == 3)
        #expect(figures.latencyMicros.max >= 900_000, "the unsent calls' wait is in the percentiles")
        #expect(merged.errors == 2)
        #expect(merged.sentCalls == 12)
        #expect(recorder.takeInterval().measured.calls == 12, "the progress interval counts calls made")

        var report = LoadReport.fixture()
        report.total = figures
        #expect(report.summary().contains("12 calls, 6.0 calls/s, 2 errors, 3 due but not sent;"))
        #expect(report.summary().contains("NOT_SENT 3"))
    }
}

@Suite("LoadReport: a run whose measured calls were all unsent has no per-call figures made up")
struct LoadReportUnsentRunTests {
    @Test("calls due in the warm-up but never sent are not warm-up calls")
    func unsentWarmupCallsAreNotCounted() {
        let from = NIODeadline.uptimeNanoseconds(1_000_000_000)
        let recorder = LatencyRecorder(measureFrom: from)
        let early = from - .milliseconds(100)
        recorder.record(stripe: 0, operation: .list, intended: early, end: from, outcome: "OK")
        recorder.record(stripe: 1, operation: .list, intended: early, end: from, outcome: LatencyRecorder.notSent)
        #expect(recorder.snapshot().warmupCalls == 1)
    }

    @Test("CPU per call: per sent call, and none when no call was sent (it used to divide by 1)")
    func cpuPerCall() {
        #expect(LoadReport.microsPerCall(0.5, calls: 1000) == 500)
        #expect(LoadReport.microsPerCall(0.66, calls: 0) == nil)
        #expect(LoadReport.microsPerCall(nil, calls: 1000) == nil)
    }
}

/// Failed calls counted as throughput, also in the RPC/raw ratio: a server that mostly refused (rate limited) looked
/// as fast as one that served.
@Suite("LoadReport: the RPC/raw ratio and the OK calls/s count the calls served, not the refused ones")
struct LoadReportOKCallsTests {
    /// `count` calls of `operation` over 1 s, the first `ok` of them OK and the others refused.
    static func figures(_ operation: Operation, count: Int, ok: Int) -> LoadReport.Figures {
        let from = NIODeadline.uptimeNanoseconds(1_000_000_000)
        let recorder = LatencyRecorder(measureFrom: from)
        for index in 0..<count {
            recorder.record(
                stripe: index, operation: operation, intended: from, end: from + .milliseconds(1),
                outcome: index < ok ? "OK" : "RESOURCE_EXHAUSTED/RATE_LIMITED")
        }
        let merged = recorder.snapshot()
        return LoadReport.figures(merged.total, outcomes: merged.outcomes, seconds: 1)
    }

    @Test("1,000 calls of which 990 failed, against 1,000 raw messages/s: a ratio of 0.01, with a warning")
    func ratioCountsOKCallsOnly() {
        let rpc = Self.figures(.list, count: 1000, ok: 10)
        let raw = Self.figures(.raw, count: 1000, ok: 1000)
        #expect(rpc.callsPerSecond == 1000, "calls/s as before: every call made")
        #expect(rpc.okCallsPerSecond == 10)
        #expect(raw.okCallsPerSecond == 1000)
        let ratio = LoadReport.RawComparison.ratio(rpc: rpc, raw: raw)
        #expect(abs(ratio - 0.01) < 1e-12, "\(ratio)")
        #expect(LoadReport.RawComparison.ratio(rpc: rpc, raw: Self.figures(.raw, count: 0, ok: 0)) == 0)

        var report = LoadReport.fixture()
        report.total = rpc
        report.rawComparison = LoadReport.RawComparison(
            requestBytes: 184, responseBytes: 391, raw: raw, rpcToRawRatio: ratio)
        let summary = report.summary()
        #expect(summary.contains("1000 calls, 1000.0 calls/s, 990 errors;"), "the calls/s line is as it was")
        #expect(summary.contains("total OK  10 calls, 10.0 calls/s"))
        #expect(
            summary.contains(
                "RPC (OK calls) / raw TLS messages per second: 0.01 (warning: 990 calls failed: the ratio counts only "
                    + "the OK ones)"))

        report.total = Self.figures(.list, count: 1000, ok: 1000)
        #expect(report.summary().contains("RPC (OK calls) / raw TLS messages per second: 0.01"))
        // Whole seconds as given; an interrupted run's window to the millisecond (it printed 2.884432081 s).
        #expect(
            report.summary().contains("warm-up 0 s (0 calls), measured 1 s, deadline 5000 ms"), "\(report.summary())")
        report.durationSeconds = 2.884432081
        report.warmupSeconds = 0.5
        #expect(report.summary().contains("warm-up 0.5 s (0 calls), measured 2.884 s,"), "\(report.summary())")
        #expect(!report.summary().contains("warning"), "no error, no warning")
    }

    /// CPU per call divided by every call sent, refusals included: a server that mostly refused looked cheap per call.
    @Test("CPU per call is also given per OK call, with the ratio's warning when calls failed")
    func cpuPerOKCall() {
        var report = LoadReport.fixture()
        report.total = Self.figures(.list, count: 1000, ok: 10)
        report.harnessCPUMicrosPerCall = 10
        report.serverCPUMicrosPerCall = 20
        report.harnessCPUMicrosPerOKCall = 1000
        report.serverCPUMicrosPerOKCall = 2000
        let summary = report.summary()
        #expect(
            summary.contains(
                "CPU per call: harness 10.0 µs, server 20.0 µs; per OK call: harness 1000.0 µs, server 2000.0 µs "
                    + "(warning: 990 calls failed: per call counts them"),
            "\(summary)")

        report.total = Self.figures(.list, count: 1000, ok: 1000)
        report.harnessCPUMicrosPerOKCall = 10
        report.serverCPUMicrosPerOKCall = 20
        #expect(report.summary().contains("per OK call: harness 10.0 µs, server 20.0 µs"))
        #expect(!report.summary().contains("warning"), "no error, no warning")
    }

    @Test("only OK calls count towards the wire bytes per call the raw baseline sends")
    func wireBytesOfOKCallsOnly() async {
        let clock = FakeClock()
        let recorder = LatencyRecorder(measureFrom: clock.now)
        let runner = WorkloadRunner(
            recorder: recorder, candidates: CandidatePool(), leftovers: Leftovers(),
            wireSizes: WireSizes(sizes: [.list: (request: 100, response: 400), .balance: (request: 90, response: 90)]),
            country: "US", timeout: .seconds(5), now: { clock.now })
        let client = StubLoadClient(clock: clock, durations: [:], failing: [.balance])
        let account = LoadAccount(id: "ACC_load0", authorization: "Bearer nk_test", numberIds: [])
        var random = FastRandom(seed: 1)
        await runner.perform(.list, client: client, account: account, stripe: 0, intended: clock.now, random: &random)
        await runner.perform(
            .balance, client: client, account: account, stripe: 1, intended: clock.now, random: &random)
        let merged = recorder.snapshot()
        #expect(merged.errors == 1)
        #expect(merged.sizedCalls == 1, "the failed balance call is not in the average")
        #expect(merged.averageWireBytes.request == 100 && merged.averageWireBytes.response == 400)
    }

    /// A purchase's candidate search asks for 50 numbers, the mix's search for 20: counted at the mix's size, its
    /// response bytes were about half what went on the wire.
    @Test("a purchase's candidate search counts its own sampled size, not the mix's search's")
    func candidateSearchHasItsOwnSize() async {
        let clock = FakeClock()
        let recorder = LatencyRecorder(measureFrom: clock.now)
        var sizes = WireSizes(sizes: [.search: (request: 10, response: 20)])
        sizes.candidateSearch = (request: 12, response: 50)
        let runner = WorkloadRunner(
            recorder: recorder, candidates: CandidatePool(), leftovers: Leftovers(), wireSizes: sizes,
            country: "US", timeout: .seconds(5), now: { clock.now })
        let client = StubLoadClient(clock: clock, durations: [:])
        let account = LoadAccount(id: "ACC_load0", authorization: "Bearer nk_test", numberIds: [])
        var random = FastRandom(seed: 1)
        await runner.perform(
            .search, client: client, account: account, stripe: 0, intended: clock.now, random: &random)
        await runner.perform(
            .purchase, client: client, account: account, stripe: 1, intended: clock.now, random: &random)
        #expect(client.calls(.search) == 2 && client.calls(.purchase) == 1)
        let merged = recorder.snapshot()
        #expect(merged.sizedCalls == 2, "the two searches; the purchase and its release are not sampled")
        #expect(merged.averageWireBytes.request == 11 && merged.averageWireBytes.response == 35)
    }
}

/// A purchase that got no candidate was counted as a purchase call, though no call was made.
@Suite("LoadReport: a purchase without a candidate is an outcome, not a call")
struct LoadReportNoCandidateTests {
    @Test("NO_CANDIDATE is in the outcomes and latencies, not in the calls, calls/s, errors or interval")
    func noCandidateIsNotACall() {
        let from = NIODeadline.uptimeNanoseconds(1_000_000_000)
        let recorder = LatencyRecorder(measureFrom: from)
        for index in 0..<4 {
            recorder.record(
                stripe: index, operation: .purchase, intended: from, end: from + .milliseconds(2),
                outcome: index < 3 ? "OK" : LatencyRecorder.noCandidate)
        }
        let merged = recorder.snapshot()
        let figures = LoadReport.figures(merged.total, outcomes: merged.outcomes, seconds: 1)
        #expect(figures.calls == 3)
        #expect(figures.callsPerSecond == 3)
        #expect(figures.errors == 0)
        #expect(figures.outcomes[LatencyRecorder.noCandidate] == 1)
        #expect(figures.latencyMicros.max >= 2000)
        #expect(merged.sentCalls == 3)
        #expect(merged.errors == 0)
        #expect(recorder.takeInterval().measured.calls == 3)
    }
}

/// `--rate` counts operations (a purchase operation makes 2 to 5 calls) but the help and the summary called it
/// calls/s, so an open-loop purchase run seemed to send a third of the calls it did.
@Suite("LoadReport: the open loop's rate is in operations per second")
struct LoadReportOperationRateTests {
    @Test("the summary says operations/s for the target rate; --rate's help says what an operation is")
    func targetRateInOperations() {
        var report = LoadReport.fixture()
        report.mode = "open"
        report.concurrencyPerConnection = nil
        report.targetRate = 500
        #expect(report.summary().contains("target 500.0 operations/s"), "\(report.summary())")
        #expect(!report.summary().contains("target 500.0 calls/s"))
        let help = RunLoad.helpMessage(includeHidden: false, columns: 1_000)
        #expect(help.contains("operations per second"), "\(help)")
        #expect(help.contains("operations in flight"), "\(help)")
    }

    @Test("an interrupted run's report says so; a raw comparison names its depth")
    func interruptedAndDepth() {
        var report = LoadReport.fixture()
        #expect(!report.summary().contains("interrupted"))
        report.interruptedBySignal = 2
        #expect(report.summary().contains("interrupted by signal 2"))
        report.rawComparison = LoadReport.RawComparison(
            requestBytes: 184, responseBytes: 391, raw: report.total, rpcToRawRatio: 1, depth: 100)
        #expect(report.summary().contains("(184 B out / 391 B back, depth 100)"), "\(report.summary())")
    }
}
