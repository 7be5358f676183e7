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
