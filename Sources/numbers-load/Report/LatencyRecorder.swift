import Histogram
import NIOCore
import Synchronization

/// Latencies (microseconds, HdrHistogram, 3 significant digits) and outcome counts of every measured call, safe to
/// record into from many tasks: callers are spread over a fixed number of stripes, each behind its own lock, so
/// recording is nearly uncontended and the memory is bounded whatever the number of workers.
final class LatencyRecorder: Sendable {
    /// Stripes (locks); workers pick one by index.
    static let stripeCount = 8
    /// Largest latency tracked: 80 minutes, longer than any run can make a call wait from its intended send (warm-up
    /// 600 s + duration 3,600 s + deadline 600 s, the options' limits), so nothing is clamped.
    static let latencyMaxMicros: UInt64 = 4_800_000_000
    /// The outcome of an open-loop call that was due but never sent: in the latency histograms (from when it was due
    /// to when the run stopped), counted as unsent, neither a call made nor an error.
    static let notSent = "NOT_SENT"
    /// The outcome of a purchase operation that got no candidate number to buy (the pool stayed empty through its
    /// refills): no purchase call was made, so, like `notSent`, it is in the latency histograms (its wait for a
    /// candidate) and the outcomes, neither a call made nor an error.
    static let noCandidate = "NO_CANDIDATE"

    /// Whether `outcome` is that of a call never made (`notSent`, `noCandidate`).
    static func isUnmade(_ outcome: String) -> Bool { outcome == notSent || outcome == noCandidate }

    struct Stripe {
        var total = LatencyRecorder.makeHistogram()
        var byOperation: [Operation: Histogram<UInt64>] = [:]
        var outcomes: [String: Int] = [:]
        var outcomesByOperation: [Operation: [String: Int]] = [:]
        var errors = 0
        /// Calls recorded as `notSent` (in `total` and the outcomes, not in the interval).
        var unsent = 0
        /// Purchases recorded as `noCandidate` (likewise).
        var noCandidates = 0
        /// Since the last progress line.
        var interval = LatencyRecorder.makeHistogram()
        var intervalErrors = 0
        /// The warm-up's calls since the last progress line (made, not measured), which it shows marked as warm-up.
        var warmupInterval = LatencyRecorder.makeHistogram()
        var warmupIntervalErrors = 0
        /// Calls due during the warm-up that were sent (not measured).
        var warmupCalls = 0
        /// Calls made (a warm-up's too) that finished inside the measured window: what the server got through in it,
        /// whatever was due. The measured calls are those due in it, finished when they finish (after the window for
        /// the last ones); when more are due than the server serves (queues growing), they outnumber these.
        var finishedInWindow = 0
        /// Frame bytes of the measured calls recorded with wire sizes (OK calls of sampled operations), and how many
        /// calls those are (the divisor of the average bytes per call).
        var requestBytes = 0
        var responseBytes = 0
        var sizedCalls = 0

        /// Measured calls that were sent (whatever their outcome).
        var sentCalls: UInt64 { total.totalCount - UInt64(unsent + noCandidates) }

        /// Average frame bytes per call over the calls with sampled sizes; 0 when there were none.
        var averageWireBytes: (request: Double, response: Double) {
            guard sizedCalls > 0 else { return (0, 0) }
            return (Double(requestBytes) / Double(sizedCalls), Double(responseBytes) / Double(sizedCalls))
        }
    }

    private let stripes: [LockedStripe]
    /// Calls that started before this instant are warm-up and not measured.
    let measureFrom: NIODeadline
    /// Calls due at or after this instant (the window's end) are not recorded at all: an operation started before
    /// the end makes its later calls after it (a purchase's, its release), and those counted in a window that rates
    /// divide by its length only. The planned end, or the earlier stop ``endWindow(at:)`` set.
    var measureUntil: NIODeadline { .uptimeNanoseconds(windowEnd.load(ordering: .relaxed)) }
    private let windowEnd: Atomic<UInt64>

    init(measureFrom: NIODeadline, measureUntil: NIODeadline = .distantFuture) {
        self.measureFrom = measureFrom
        self.windowEnd = Atomic(measureUntil.uptimeNanoseconds)
        self.stripes = (0..<Self.stripeCount).map { _ in LockedStripe() }
    }

    /// The run stopped before its planned end (`--calls-max` refused an operation due at `instant`, or an interruption
    /// stopped the open loop's dispatcher then): the window, which rates divide by, ends there, and the later calls of
    /// operations started before it are left out as they are at the planned end. Never moves the end later.
    func endWindow(at instant: NIODeadline) {
        _ = windowEnd.min(instant.uptimeNanoseconds, ordering: .relaxed)
    }

    static func makeHistogram() -> Histogram<UInt64> {
        Histogram(
            lowestDiscernibleValue: 1, highestTrackableValue: latencyMaxMicros, numberOfSignificantValueDigits: .three)
    }

    /// A histogram of the recorder's shape, only asked which values it tells apart.
    private static let shape = makeHistogram()

    /// The latency recorded for a call due at `intended` that ended at `end`: microseconds, at least 1, at most
    /// `latencyMaxMicros`.
    static func micros(from intended: NIODeadline, to end: NIODeadline) -> UInt64 {
        UInt64(max(1, min(Int64(latencyMaxMicros), (end - intended).nanoseconds / 1000)))
    }

    /// Whether the histograms record `first` and `second` as the same value (3 significant digits).
    static func equivalent(_ first: UInt64, _ second: UInt64) -> Bool {
        shape.valuesAreEquivalent(first, second)
    }

    /// Records one call that was due at `intended` (its send time in closed loop, its scheduled time in open loop)
    /// and finished at `end`. `outcome` is "OK" or "CODE/REASON"; `wireBytes` the request and response frame bytes,
    /// nil when not known or not those sampled (a failed call: it is then left out of the average bytes per call). A
    /// call never made (`notSent`, `noCandidate`) stays out of the interval, whose figures are of calls made. One due
    /// at or after `measureUntil` is not recorded.
    func record(
        stripe index: Int, operation: Operation, intended: NIODeadline, end: NIODeadline, outcome: String,
        wireBytes: (request: Int, response: Int)? = nil
    ) {
        guard intended < measureUntil else { return }
        let micros = Self.micros(from: intended, to: end)
        let measured = intended >= measureFrom
        let unmade = Self.isUnmade(outcome)
        let isError = outcome != "OK" && !unmade
        let finishedInWindow = !unmade && end >= measureFrom && end < measureUntil
        stripes[index % Self.stripeCount].state.withLock { stripe in
            if finishedInWindow { stripe.finishedInWindow += 1 }
            guard measured else {
                guard !unmade else { return }
                stripe.warmupCalls += 1
                _ = stripe.warmupInterval.record(micros)
                if isError { stripe.warmupIntervalErrors += 1 }
                return
            }
            _ = stripe.total.record(micros)
            _ = stripe.byOperation[operation, default: Self.makeHistogram()].record(micros)
            if outcome == Self.notSent {
                stripe.unsent += 1
            } else if outcome == Self.noCandidate {
                stripe.noCandidates += 1
            } else {
                _ = stripe.interval.record(micros)
            }
            stripe.outcomes[outcome, default: 0] += 1
            stripe.outcomesByOperation[operation, default: [:]][outcome, default: 0] += 1
            if let wireBytes {
                stripe.requestBytes += wireBytes.request
                stripe.responseBytes += wireBytes.response
                stripe.sizedCalls += 1
            }
            if isError {
                stripe.errors += 1
                stripe.intervalErrors += 1
            }
        }
    }

    /// Records `count` operations of `operation` that were due in the measured window but never sent (`notSent`),
    /// all with the latency `micros`: what `record` does for each, at once (``OpenLoopDriver`` records a stalled
    /// dispatcher's unsent operations in bulk).
    func recordUnsent(stripe index: Int, operation: Operation, micros: UInt64, count: Int) {
        guard count > 0 else { return }
        stripes[index % Self.stripeCount].state.withLock { stripe in
            _ = stripe.total.record(micros, count: UInt64(count))
            _ = stripe.byOperation[operation, default: Self.makeHistogram()].record(micros, count: UInt64(count))
            stripe.unsent += count
            stripe.outcomes[Self.notSent, default: 0] += count
            stripe.outcomesByOperation[operation, default: [:]][Self.notSent, default: 0] += count
        }
    }

    /// The calls made in one progress interval, of one phase.
    struct IntervalCalls: Sendable, Equatable {
        var calls: UInt64 = 0
        var errors = 0
        var p99Micros: UInt64 = 0
    }

    /// The interval since the last call, of the measured window and of the warm-up apart (an interval that straddles
    /// the warm-up's end has some of each): calls, errors, p99 (µs). Resets the interval — but for its measured calls
    /// when `keepingMeasured` (the warm-up's last interval: the measured calls since go into the next one).
    func takeInterval(keepingMeasured: Bool = false) -> (measured: IntervalCalls, warmup: IntervalCalls) {
        var merged = Self.makeHistogram()
        var warmup = Self.makeHistogram()
        var errors = 0
        var warmupErrors = 0
        for stripe in stripes {
            stripe.state.withLock { stripe in
                merged.add(stripe.interval)
                warmup.add(stripe.warmupInterval)
                errors += stripe.intervalErrors
                warmupErrors += stripe.warmupIntervalErrors
                if !keepingMeasured {
                    stripe.interval.reset()
                    stripe.intervalErrors = 0
                }
                stripe.warmupInterval.reset()
                stripe.warmupIntervalErrors = 0
            }
        }
        func figures(_ histogram: Histogram<UInt64>, errors: Int) -> IntervalCalls {
            IntervalCalls(
                calls: histogram.totalCount, errors: errors,
                p99Micros: histogram.totalCount == 0 ? 0 : histogram.valueAtPercentile(99))
        }
        return (figures(merged, errors: errors), figures(warmup, errors: warmupErrors))
    }

    /// Everything recorded, merged.
    func snapshot() -> Stripe {
        var merged = Stripe()
        for stripe in stripes {
            stripe.state.withLock { stripe in
                merged.total.add(stripe.total)
                for (operation, histogram) in stripe.byOperation {
                    merged.byOperation[operation, default: Self.makeHistogram()].add(histogram)
                }
                merged.outcomes.merge(stripe.outcomes, uniquingKeysWith: +)
                for (operation, counts) in stripe.outcomesByOperation {
                    merged.outcomesByOperation[operation, default: [:]].merge(counts, uniquingKeysWith: +)
                }
                merged.errors += stripe.errors
                merged.unsent += stripe.unsent
                merged.noCandidates += stripe.noCandidates
                merged.warmupCalls += stripe.warmupCalls
                merged.finishedInWindow += stripe.finishedInWindow
                merged.requestBytes += stripe.requestBytes
                merged.responseBytes += stripe.responseBytes
                merged.sizedCalls += stripe.sizedCalls
            }
        }
        return merged
    }
}

/// One stripe behind its lock (a class, since a `Mutex` cannot be copied into an array).
private final class LockedStripe: Sendable {
    let state = Mutex(LatencyRecorder.Stripe())
}

/// A counter shared by tasks.
final class SharedCounter: Sendable {
    let value = Atomic<Int>(0)
}
