import NIOCore
import Testing

@testable import numbers_load

@Suite("ProgressReporter: an interval's rate divides its measured calls by its measured time")
struct ProgressReporterTests {
    /// A run's schedule: warm-up ends 2.5 s in, progress every second.
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
    var measureFrom: NIODeadline { start + .milliseconds(2500) }

    @Test("the interval that straddles the end of the warm-up divides by its measured half second")
    func straddlingInterval() {
        let rate = ProgressReporter.callsPerSecond(
            measuredCalls: 500, from: start + .seconds(2), to: start + .seconds(3), measureFrom: measureFrom)
        #expect(rate == 1000)
    }

    @Test("an interval wholly inside the measured window divides by its whole length")
    func measuredInterval() {
        let rate = ProgressReporter.callsPerSecond(
            measuredCalls: 1000, from: start + .seconds(3), to: start + .seconds(4), measureFrom: measureFrom)
        #expect(rate == 1000)
    }

    /// Found walking numbers-load: the first measured interval, 6 ms long, read 175 calls/s at a rate of 20.
    @Test("the reporting interval that would straddle the warm-up's end ends there; the others last `every`")
    func tickAtTheMeasuredWindow() {
        #expect(
            ProgressReporter.nextTick(after: start + .seconds(2), every: 1, measureFrom: measureFrom) == measureFrom)
        #expect(
            ProgressReporter.nextTick(after: measureFrom, every: 1, measureFrom: measureFrom)
                == measureFrom + .seconds(1))
        #expect(
            ProgressReporter.nextTick(after: start + .seconds(1), every: 1, measureFrom: measureFrom)
                == start + .seconds(2))
        // A window beginning exactly on a tick: that tick, no extra one.
        #expect(
            ProgressReporter.nextTick(after: start + .milliseconds(1500), every: 1, measureFrom: measureFrom)
                == measureFrom)
        #expect(ProgressReporter.nextTick(after: start, every: 0.5, measureFrom: start) == start + .milliseconds(500))
    }

    @Test("the warm-up's last interval leaves its measured calls to the next one")
    func measuredCallsKeptAtTheBoundary() {
        let recorder = LatencyRecorder(measureFrom: measureFrom)
        recorder.record(
            stripe: 0, operation: .list, intended: start, end: start + .milliseconds(2), outcome: "OK")
        recorder.record(
            stripe: 1, operation: .list, intended: measureFrom, end: measureFrom + .milliseconds(1), outcome: "OK")
        let boundary = recorder.takeInterval(keepingMeasured: true)
        #expect(boundary.warmup.calls == 1 && boundary.measured.calls == 1)
        let next = recorder.takeInterval()
        #expect(next.warmup.calls == 0 && next.measured.calls == 1, "kept for the first measured interval")
        #expect(recorder.takeInterval().measured.calls == 0)
    }

    @Test("an interval that ends before or at the end of the warm-up has no rate")
    func warmupInterval() {
        #expect(
            ProgressReporter.callsPerSecond(
                measuredCalls: 0, from: start + .seconds(1), to: start + .seconds(2), measureFrom: measureFrom) == 0)
        #expect(
            ProgressReporter.callsPerSecond(
                measuredCalls: 0, from: start + .seconds(2), to: measureFrom, measureFrom: measureFrom) == 0)
    }
}

/// The progress line showed 0 calls/s and 0 errors through the whole warm-up, however many calls ran and failed: the
/// recorder kept no interval of warm-up calls.
@Suite("ProgressReporter: a warm-up line shows the warm-up's calls")
struct ProgressReporterWarmupTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
    var measureFrom: NIODeadline { start + .seconds(2) }

    @Test("warm-up calls are in the warm-up interval, apart from the measured one, and the line says warm-up")
    func warmupInterval() {
        let recorder = LatencyRecorder(measureFrom: measureFrom)
        for index in 0..<10 {
            let intended = start + .milliseconds(500)
            recorder.record(
                stripe: index, operation: .list, intended: intended, end: intended + .milliseconds(2),
                outcome: index < 8 ? "OK" : "RESOURCE_EXHAUSTED/RATE_LIMITED")
        }
        recorder.record(
            stripe: 0, operation: .list, intended: measureFrom, end: measureFrom + .milliseconds(1), outcome: "OK")
        let interval = recorder.takeInterval()
        #expect(interval.warmup.calls == 10 && interval.warmup.errors == 2)
        #expect(interval.warmup.p99Micros >= 2000)
        #expect(interval.measured.calls == 1 && interval.measured.errors == 0)
        let line = ProgressReporter.line(
            elapsed: 1, measuring: false, calls: interval.warmup, callsPerSecond: 10, serverRSSMiB: nil)
        #expect(line.contains("warm-up") && line.contains(" 10 calls/s") && line.contains("errors 2"), "\(line)")
        let next = recorder.takeInterval()
        #expect(next.warmup.calls == 0 && next.measured.calls == 0, "taking the interval resets both")
        #expect(recorder.snapshot().warmupCalls == 10, "still counted for the report")
    }
}

extension ProgressReporterTests {
    /// The harness walk: intervals counted calls when they ended, and the last was taken at the window's end, so the
    /// calls due in the window that ended after it (under overload, thousands in flight) were in none: the intervals
    /// did not add up to the total.
    @Test("the tail holds the measured calls that ended after the last interval: the intervals add up to the total")
    func tailCompletesTheIntervals() {
        let end = measureFrom + .seconds(2)
        let recorder = LatencyRecorder(measureFrom: measureFrom, measureUntil: end)
        let intervals = IntervalLog()
        func record(_ count: Int, due: NIODeadline, ended: NIODeadline, outcome: String = "OK") {
            for index in 0..<count {
                recorder.record(stripe: index, operation: .list, intended: due, end: ended, outcome: outcome)
            }
        }
        // Two 1 s intervals, each taken as the reporter does at its tick.
        for second in 0..<2 {
            let from = measureFrom + .seconds(Int64(second))
            record(100, due: from, ended: from + .milliseconds(500))
            intervals.append(
                IntervalFigures(
                    endSeconds: Double((from + .seconds(1) - start).nanoseconds) / 1e9,
                    calls: recorder.takeInterval().measured.calls, callsPerSecond: 100, errors: 0, p99Micros: 500_000))
        }
        // Due in the window's last instant, ended 1.5 s after it (3 of them failed); a call never sent is no call.
        record(40, due: end - .milliseconds(1), ended: end + .milliseconds(1500))
        record(3, due: end - .milliseconds(1), ended: end + .milliseconds(1500), outcome: "UNAVAILABLE/CONNECTION_LOST")
        recorder.recordUnsent(stripe: 0, operation: .list, micros: 10, count: 5)
        ProgressReporter.tail(
            of: recorder, start: start, measureFrom: measureFrom, intervals: intervals, serverPID: nil,
            now: end + .milliseconds(1500))
        let all = intervals.all
        let tail = all.last
        #expect(all.count == 3 && tail?.tail == true && all.dropLast().allSatisfy { $0.tail == nil })
        #expect(tail?.calls == 43 && tail?.errors == 3)
        #expect(tail?.callsPerSecond == 43 / 1.5, "over the time since the last interval's end")
        #expect(tail?.endSeconds == 6)
        let merged = recorder.snapshot()
        let total = LoadReport.figures(merged.total, outcomes: merged.outcomes, seconds: 2)
        #expect(all.reduce(0) { $0 + $1.calls } == total.calls, "the intervals add up to the calls made")
        // Nothing left: no tail.
        let after = IntervalLog()
        ProgressReporter.tail(of: recorder, start: start, measureFrom: measureFrom, intervals: after, serverPID: nil)
        #expect(after.all.isEmpty)
    }

    @Test("the summary's interval table marks the tail and keeps the intervals' own length")
    func tailInTheTable() {
        var report = LoadReport.fixture()
        report.durationSeconds = 10
        report.intervals = [
            IntervalFigures(endSeconds: 12, calls: 10_000, callsPerSecond: 1000, errors: 0, p99Micros: 900),
            IntervalFigures(
                endSeconds: 12.4, calls: 400, callsPerSecond: 1000, errors: 0, p99Micros: 900, tail: true),
        ]
        let summary = report.summary()
        #expect(summary.contains("interval  calls/s"), "one 10 s interval and a tail: a table\n\(summary)")
        #expect(summary.contains("     12s+"), "\(summary)")
        #expect(summary.contains("(+: the calls due in the window that ended after its last interval)"))
    }
}
