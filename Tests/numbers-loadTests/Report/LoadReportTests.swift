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
        #expect(recorder.takeInterval().calls == 12, "the progress interval counts calls made")

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
