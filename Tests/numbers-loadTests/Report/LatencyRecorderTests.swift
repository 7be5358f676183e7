import NIOCore
import Testing

@testable import numbers_load

@Suite("LatencyRecorder: wire bytes per call are averaged over the calls whose sizes were sampled")
struct LatencyRecorderTests {
    let measureFrom = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test("purchases and releases, whose sizes are not sampled, do not count as zero-byte calls")
    func unsampledOperationsStayOutOfTheAverage() {
        let recorder = LatencyRecorder(measureFrom: measureFrom)
        var sizes = WireSizes()
        sizes.sizes[.list] = (request: 184, response: 391)
        sizes.sizes[.balance] = (request: 160, response: 40)
        let calls: [Operation] = [.list, .balance, .purchase, .release, .list, .purchase, .release, .balance]
        for (index, operation) in calls.enumerated() {
            recorder.record(
                stripe: index, operation: operation, intended: measureFrom, end: measureFrom + .milliseconds(1),
                outcome: "OK", wireBytes: sizes[operation])
        }
        let merged = recorder.snapshot()
        #expect(merged.total.totalCount == 8)
        #expect(merged.sizedCalls == 4)
        #expect(merged.averageWireBytes.request == Double(2 * 184 + 2 * 160) / 4)
        #expect(merged.averageWireBytes.response == Double(2 * 391 + 2 * 40) / 4)
    }

    @Test("no sampled call: the average is zero, not a division by zero")
    func noSampledCalls() {
        let recorder = LatencyRecorder(measureFrom: measureFrom)
        recorder.record(
            stripe: 0, operation: .purchase, intended: measureFrom, end: measureFrom + .milliseconds(1), outcome: "OK",
            wireBytes: WireSizes()[.purchase])
        #expect(recorder.snapshot().averageWireBytes.request == 0)
        #expect(recorder.snapshot().averageWireBytes.response == 0)
    }

    @Test("unsent operations recorded in bulk: the same counts, outcomes and percentiles as one at a time")
    func bulkUnsent() {
        let single = LatencyRecorder(measureFrom: measureFrom)
        let bulk = LatencyRecorder(measureFrom: measureFrom)
        let stopped = measureFrom + .milliseconds(250)
        for index in 0..<1000 {
            single.record(
                stripe: index, operation: .list, intended: measureFrom, end: stopped, outcome: LatencyRecorder.notSent)
        }
        bulk.recordUnsent(
            stripe: 3, operation: .list, micros: LatencyRecorder.micros(from: measureFrom, to: stopped), count: 1000)
        let (one, many) = (single.snapshot(), bulk.snapshot())
        #expect(many.unsent == 1000 && one.unsent == many.unsent)
        #expect(one.total.totalCount == many.total.totalCount)
        #expect(one.outcomes == many.outcomes)
        #expect(one.outcomesByOperation == many.outcomesByOperation)
        #expect(one.total.valueAtPercentile(99) == many.total.valueAtPercentile(99))
        #expect(one.byOperation[.list]?.totalCount == many.byOperation[.list]?.totalCount)
        #expect(many.sentCalls == 0 && many.errors == 0, "an unsent call is neither a call made nor an error")
        #expect(bulk.takeInterval().measured.calls == 0, "nor in the progress interval")
    }

    /// An operation started before the end makes its later calls (a purchase's, its release) after it: those were
    /// counted in a window whose rates divide by its length only.
    @Test("a call due at or after the window's end is not recorded; one due before it is, however late it ended")
    func callsDueAfterTheWindowAreLeftOut() {
        let until = measureFrom + .seconds(1)
        let recorder = LatencyRecorder(measureFrom: measureFrom, measureUntil: until)
        recorder.record(
            stripe: 0, operation: .purchase, intended: until - .milliseconds(1), end: until + .seconds(2),
            outcome: "OK")
        recorder.record(
            stripe: 1, operation: .release, intended: until, end: until + .milliseconds(5), outcome: "OK")
        recorder.record(
            stripe: 2, operation: .list, intended: until + .milliseconds(3), end: until + .milliseconds(4),
            outcome: "DEADLINE_EXCEEDED")
        let merged = recorder.snapshot()
        #expect(merged.total.totalCount == 1 && merged.outcomes == ["OK": 1] && merged.errors == 0)
        #expect(merged.byOperation[.release] == nil && merged.warmupCalls == 0)
    }

    /// The window's end stayed the planned one after `--calls-max` or an interruption stopped the open loop earlier:
    /// the later calls of the operations in flight then counted in a window that ended before them.
    @Test("a stop before the planned end ends the window there; a later one does not move it back")
    func earlyStopEndsTheWindow() {
        let until = measureFrom + .seconds(10)
        let recorder = LatencyRecorder(measureFrom: measureFrom, measureUntil: until)
        let stop = measureFrom + .seconds(1)
        recorder.endWindow(at: stop)
        recorder.endWindow(at: until)
        #expect(recorder.measureUntil == stop)
        recorder.record(
            stripe: 0, operation: .purchase, intended: stop - .milliseconds(1), end: stop + .seconds(1), outcome: "OK")
        recorder.record(stripe: 1, operation: .release, intended: stop, end: stop + .milliseconds(5), outcome: "OK")
        let merged = recorder.snapshot()
        #expect(merged.total.totalCount == 1 && merged.byOperation[.release] == nil)
    }

    /// The report's max was the histogram's `max`, the top of the bucket the largest latency fell in.
    @Test("the report's max latency is the largest recorded, not the top of its bucket")
    func maxIsTheLargestRecorded() {
        let recorder = LatencyRecorder(measureFrom: measureFrom)
        recorder.record(
            stripe: 0, operation: .list, intended: measureFrom, end: measureFrom + .microseconds(1_000_001),
            outcome: "OK")
        let merged = recorder.snapshot()
        #expect(merged.total.max > 1_000_001, "the bucket's top")
        #expect(LoadReport.Latency(merged.total).max == 1_000_001)
    }

    @Test("latencies the histograms cannot tell apart are equivalent; others are not")
    func equivalence() {
        #expect(LatencyRecorder.equivalent(1_000_000, 1_000_100))
        #expect(!LatencyRecorder.equivalent(1_000_000, 1_100_000))
        #expect(!LatencyRecorder.equivalent(10, 11))
    }
}

extension LatencyRecorderTests {
    /// A probe of the harness: 10,000 calls in flight for a 1 s window were reported as 10,002 calls/s while 99
    /// finished in it (p50 1.3 s), and an open loop at 20,000/s showed 5,001 calls/s against a server serving 2,500:
    /// calls/s counts the calls due in the window. What finished in it is now counted beside them.
    @Test("calls finished inside the window are counted, a warm-up's too; those after it, and unmade ones, are not")
    func finishedInWindow() {
        let end = measureFrom + .seconds(1)
        let recorder = LatencyRecorder(measureFrom: measureFrom, measureUntil: end)
        // Due in the window: 3 finish in it, 5 after it (queued behind the server).
        for index in 0..<8 {
            let finished = index < 3 ? measureFrom + .milliseconds(500) : end + .milliseconds(300)
            recorder.record(stripe: index, operation: .list, intended: measureFrom, end: finished, outcome: "OK")
        }
        // A warm-up call that finished in the window; one that finished before it.
        recorder.record(
            stripe: 0, operation: .list, intended: measureFrom - .milliseconds(10), end: measureFrom + .milliseconds(1),
            outcome: "OK")
        recorder.record(
            stripe: 1, operation: .list, intended: measureFrom - .milliseconds(10), end: measureFrom - .milliseconds(1),
            outcome: "OK")
        // Due and never sent: no call finished.
        recorder.record(
            stripe: 2, operation: .list, intended: measureFrom, end: measureFrom + .milliseconds(2),
            outcome: LatencyRecorder.notSent)
        let merged = recorder.snapshot()
        #expect(merged.sentCalls == 8 && merged.finishedInWindow == 4)
        var report = LoadReport.fixture()
        report.finishedInWindow = 99
        report.finishedCallsPerSecond = 99
        #expect(
            report.summary().contains("finished  99 calls in the window, 99.0 calls/s (warning: fewer than the 1000"))
        report.finishedInWindow = 995
        report.finishedCallsPerSecond = 995
        #expect(!report.summary().contains("warning: fewer"), "a steady run: no warning")
    }
}

extension LatencyRecorderTests {
    /// The harness probe: `--duration 10 --report-every 10` printed no interval table, which needed two intervals to
    /// tell their length.
    @Test("one interval of a 10 s window gets its table row; 1 s intervals none (they are in the JSON)")
    func singleLongInterval() {
        var report = LoadReport.fixture()
        report.durationSeconds = 10
        report.intervals = [
            IntervalFigures(endSeconds: 12, calls: 10_000, callsPerSecond: 1000, errors: 0, p99Micros: 900)
        ]
        #expect(report.summary().contains("interval  calls/s"), "\(report.summary())")
        report.durationSeconds = 1
        #expect(!report.summary().contains("interval  calls/s"))
    }
}
