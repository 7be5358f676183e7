import Foundation
import NIOCore
import Synchronization

/// Every `every` seconds while a run goes on, and once where the measured window begins (``nextTick(after:every:measureFrom:)``): a line to stderr (elapsed time, phase, calls/s, errors, p99 of the
/// interval, server RSS) and, in the measured window, an `IntervalFigures` kept for the report (a soak run's
/// minute-by-minute p99 and memory). A warm-up line shows the warm-up's own calls (it showed 0 calls/s and 0 errors,
/// as if nothing ran, however many calls failed).
struct ProgressReporter {
    let recorder: LatencyRecorder
    let start: NIODeadline
    let end: NIODeadline
    let every: Double
    let serverPID: Int32?
    let quiet: Bool
    let intervals: IntervalLog

    /// Runs until `end` or cancellation.
    func run() async {
        // From the run's start: calls made before this task began are in the first interval, so is their time.
        var last = start
        while !Task.isCancelled, NIODeadline.now() < end {
            let tick = Self.nextTick(after: last, every: every, measureFrom: recorder.measureFrom)
            let wait = (tick - NIODeadline.now()).nanoseconds
            if wait > 0 { try? await Task.sleep(nanoseconds: UInt64(wait)) }
            let now = NIODeadline.now()
            // The warm-up's last interval ends where the measured window begins: the measured calls since, a few
            // milliseconds' worth, go into the next interval, which counts from there.
            let boundary = tick == recorder.measureFrom
            let interval = recorder.takeInterval(keepingMeasured: boundary)
            let measuring = !boundary && now >= recorder.measureFrom
            let callsPerSecond = Self.callsPerSecond(
                measuredCalls: interval.measured.calls, from: last, to: now, measureFrom: recorder.measureFrom)
            // A warm-up line's interval lies wholly before the measured window: its calls over its whole length.
            let warmupCallsPerSecond = Self.callsPerSecond(
                measuredCalls: interval.warmup.calls, from: last, to: now, measureFrom: last)
            last = boundary ? recorder.measureFrom : now
            let rss = serverPID.flatMap(ProcessStatus.residentMiB(pid:))
            let elapsed = Double((now - start).nanoseconds) / 1e9
            if measuring {
                intervals.append(
                    IntervalFigures(
                        endSeconds: elapsed, calls: interval.measured.calls, callsPerSecond: callsPerSecond,
                        errors: interval.measured.errors, p99Micros: interval.measured.p99Micros, serverRSSMiB: rss))
            }
            guard !quiet else { continue }
            let line = Self.line(
                elapsed: elapsed, measuring: measuring,
                calls: measuring ? interval.measured : interval.warmup,
                callsPerSecond: measuring ? callsPerSecond : warmupCallsPerSecond, serverRSSMiB: rss)
            try? FileHandle.standardError.write(contentsOf: Data((line + "\n").utf8))
        }
    }

    /// One progress line: the phase (`warm-up` or `measure`) and that phase's calls of the interval.
    static func line(
        elapsed: Double, measuring: Bool, calls: LatencyRecorder.IntervalCalls, callsPerSecond: Double,
        serverRSSMiB rss: Double?
    ) -> String {
        var line = String(format: "[%6.1fs] ", elapsed) + (measuring ? "measure" : "warm-up")
        line += String(format: "%9.0f calls/s", callsPerSecond)
        line += "  errors \(calls.errors)  p99 \(Format.micros(calls.p99Micros))"
        if let rss { line += String(format: "  server RSS %.1f MiB", rss) }
        return line
    }
}

extension ProgressReporter {
    /// Appends to `intervals` the measured calls recorded since the last interval, once every call has ended (the
    /// drivers returned): without it, under overload, the calls due in the window that ended after its end (a deep
    /// closed loop's last in flight, an open loop's queue) were in no interval, and the intervals did not add up to
    /// the total. Their rate is over the time from the last interval's end (or the window's start) to `now`; nothing
    /// is appended when no such call was recorded.
    static func tail(
        of recorder: LatencyRecorder, start: NIODeadline, measureFrom: NIODeadline, intervals: IntervalLog,
        serverPID: Int32?, now: NIODeadline = .now()
    ) {
        let left = recorder.takeInterval().measured
        guard left.calls > 0 else { return }
        let from = intervals.all.last.map { start + .nanoseconds(Int64($0.endSeconds * 1e9)) } ?? measureFrom
        intervals.append(
            IntervalFigures(
                endSeconds: Double((now - start).nanoseconds) / 1e9, calls: left.calls,
                callsPerSecond: callsPerSecond(
                    measuredCalls: left.calls, from: from, to: now, measureFrom: measureFrom),
                errors: left.errors, p99Micros: left.p99Micros,
                serverRSSMiB: serverPID.flatMap(ProcessStatus.residentMiB(pid:)), tail: true))
    }

    /// When the interval begun at `last` ends: `every` seconds on, or where the measured window begins
    /// (`measureFrom`) if that comes first. An interval straddling the warm-up's end was reported by its measured
    /// part alone: one call in the 6 ms of it after a warm-up's end read as 175 calls/s, in a run of 20 a second.
    static func nextTick(after last: NIODeadline, every: Double, measureFrom: NIODeadline) -> NIODeadline {
        let next = last + .nanoseconds(Int64(every * 1e9))
        return last < measureFrom && measureFrom < next ? measureFrom : next
    }

    /// The rate of an interval from `last` to `now` that holds `measuredCalls`. Only calls due from `measureFrom` on
    /// are counted, so an interval that straddles the end of the warm-up divides by its measured part only (dividing
    /// by the whole interval reported too low a rate for the first one); 0 before measuring starts.
    static func callsPerSecond(
        measuredCalls: UInt64, from last: NIODeadline, to now: NIODeadline, measureFrom: NIODeadline
    ) -> Double {
        let nanoseconds = (now - max(last, measureFrom)).nanoseconds
        guard nanoseconds > 0 else { return 0 }
        return Double(measuredCalls) / (Double(nanoseconds) / 1e9)
    }
}

/// One reporting interval of the measured window.
struct IntervalFigures: Codable, Sendable, Equatable {
    /// Seconds from the start of the run (warm-up included) to the end of the interval.
    var endSeconds: Double
    var calls: UInt64
    var callsPerSecond: Double
    var errors: Int
    var p99Micros: UInt64
    var serverRSSMiB: Double?
    /// True on the last entry only when it is the tail (``ProgressReporter``'s `tail`): the measured calls that ended
    /// after the last interval — in what was left of the window, shorter than `--report-every`, and after its end, as
    /// the calls in flight finished. Absent on the others.
    var tail: Bool?
}

/// The intervals reported so far.
final class IntervalLog: Sendable {
    private let entries = Mutex<[IntervalFigures]>([])

    func append(_ figures: IntervalFigures) { entries.withLock { $0.append(figures) } }
    var all: [IntervalFigures] { entries.withLock { $0 } }
}

/// Number formatting for humans.
enum Format {
    /// "812µs", "3.41ms", "1.20s".
    static func micros(_ value: UInt64) -> String {
        if value < 1000 { return "\(value)µs" }
        if value < 1_000_000 { return String(format: "%.2fms", Double(value) / 1000) }
        return String(format: "%.2fs", Double(value) / 1e6)
    }

    /// "45123.4".
    static func rate(_ value: Double) -> String { String(format: "%.1f", value) }
}
