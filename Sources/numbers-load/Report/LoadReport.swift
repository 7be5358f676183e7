import Foundation
import Histogram

/// The end-of-run report: written as JSON with `--json-report` and printed for humans.
struct LoadReport: Codable, Sendable {
    /// Latency percentiles in microseconds.
    struct Latency: Codable, Sendable {
        var p50: UInt64
        var p90: UInt64
        var p99: UInt64
        var p999: UInt64
        var max: UInt64
        var mean: Double

        init(_ histogram: Histogram<UInt64>) {
            let empty = histogram.totalCount == 0
            p50 = empty ? 0 : histogram.valueAtPercentile(50)
            p90 = empty ? 0 : histogram.valueAtPercentile(90)
            p99 = empty ? 0 : histogram.valueAtPercentile(99)
            p999 = empty ? 0 : histogram.valueAtPercentile(99.9)
            // The largest latency recorded, exactly: `max` is the top of its bucket, up to 0.1 % above it.
            max = empty ? 0 : histogram.maxRecorded
            mean = empty ? 0 : histogram.mean
        }
    }

    /// Figures of one operation (or of all together).
    struct Figures: Codable, Sendable {
        /// Calls sent and finished, whatever their outcome.
        var calls: UInt64
        /// `calls` per second of the measured window.
        var callsPerSecond: Double
        /// Calls that succeeded (`OK`) per second of the measured window: what the server served. A server that
        /// refuses most calls (rate limited) shows as many `callsPerSecond` as one that serves them; not this.
        var okCallsPerSecond: Double
        /// Calls that failed (unsent ones, and purchases that got no candidate, are not errors).
        var errors: Int
        /// Open loop: calls due in the window but never sent, because the dispatcher was behind or waiting at
        /// `--outstanding-max` when the run ended (`NOT_SENT` in `outcomes`).
        var unsent: Int
        /// Of the calls, the unsent ones (an unsent call counts from when it was due to the end of the run, a
        /// lower bound of its latency) and the purchases that got no candidate (their wait for one).
        var latencyMicros: Latency
        var outcomes: [String: Int]
    }

    /// The raw TLS request/response run at the same sizes and depth.
    struct RawComparison: Codable, Sendable {
        var requestBytes: Int
        var responseBytes: Int
        var raw: Figures
        /// RPC calls that succeeded per second divided by raw messages per second (``ratio(rpc:raw:)``).
        var rpcToRawRatio: Double
        /// Messages the raw side kept in flight per connection: `--concurrency`, at most the calls numberd runs at
        /// once on a connection (``RawComparisonRun/depth(concurrency:)``); nil in reports written before it was kept.
        var depth: Int?

        /// OK RPC calls per second over raw messages per second; 0 without raw messages. Failed calls are left out:
        /// a refusal (rate limited) costs the server far less than a call served, so counting it would let a server
        /// that mostly refuses look as fast as one that serves.
        static func ratio(rpc: Figures, raw: Figures) -> Double {
            raw.okCallsPerSecond == 0 ? 0 : rpc.okCallsPerSecond / raw.okCallsPerSecond
        }
    }

    var tool = "numbers-load"
    var startedAt: Date
    var target: String
    var mode: String
    var mix: String
    var connections: Int
    var concurrencyPerConnection: Int?
    /// Open loop: the target rate in operations per second (`--rate`; a purchase operation makes 2 to 5 calls). The
    /// field keeps its name, which says no unit.
    var targetRate: Double?
    var warmupSeconds: Double
    var durationSeconds: Double
    var timeoutMilliseconds: Int64
    var accounts: Int
    var warmupCalls: Int
    var total: Figures
    var byOperation: [String: Figures]
    /// Average frame bytes per measured call (request, response), over the OK calls of sampled operations only
    /// (purchase and release are not sampled; a failed call's answer is not the sampled one). The raw baseline sends
    /// and answers these sizes.
    var averageRequestBytes: Double
    var averageResponseBytes: Double
    var rawComparison: RawComparison?
    /// Why the raw comparison failed, when it did; the RPC figures are reported all the same.
    var rawComparisonFailure: String?
    /// Serial `write` + `fdatasync` per second on the probe directory's file system, same run.
    var serialFsyncsPerSecond: Double?
    /// Journal records appended from set-up's end to the run's end (warm-up included), with `--journal-dir`.
    var journalRecordsAppended: Int?
    /// CPU time per measured call (µs) of the harness and of the server (`--server-pid`), over the measured window:
    /// what a call costs whatever else the machine runs.
    var harnessCPUMicrosPerCall: Double?
    var serverCPUMicrosPerCall: Double?
    /// The same CPU time per measured OK call (µs): what a call served costs. A refusal (rate limited) costs far less
    /// than a call served, so with failed calls the figures per call above are lower than a call served costs.
    var harnessCPUMicrosPerOKCall: Double?
    var serverCPUMicrosPerOKCall: Double?
    /// What the run made (numbers bought, purchases in doubt, API keys, accounts) that may still be owned or valid
    /// after it settled them at its end, one line each (empty when everything was given back).
    var unsettled: [String] = []
    /// The signal (SIGINT 2, SIGTERM 15, SIGHUP 1) that cut the measured window short, when one came before it ended:
    /// the figures are of the window up to it, the raw comparison was not run, and the run exits 128 + its number
    /// after the clean-up. One that came later (during the clean-up or the raw comparison) leaves it nil.
    var interruptedBySignal: Int32?
    /// The `--calls-max` that ended the run before its duration, when it did: the figures are of the window up to the
    /// first operation the budget refused. nil when the time ended it.
    var callsMaxReached: Int?
    /// Server process figures when `--server-pid` was given.
    var serverRSSMiB: Double?
    /// The measured window interval by interval (`--report-every`).
    var intervals: [IntervalFigures] = []
    /// Calls made that finished inside the measured window (warm-up ones too), and those per second of it: the rate
    /// the server served. `total.callsPerSecond` counts the calls due in the window, which finish when they finish:
    /// the two agree in a steady run, and this one is lower when more were sent than served (queues growing: a deep
    /// closed loop's first second, an open loop above the server's rate). nil in reports written before it was kept.
    var finishedInWindow: Int?
    var finishedCallsPerSecond: Double?

    /// The figures of `histogram` (every call recorded, unsent ones and purchases without a candidate included) and
    /// its `outcomes` over `seconds`.
    static func figures(
        _ histogram: Histogram<UInt64>, outcomes: [String: Int], seconds: Double
    ) -> Figures {
        let unsent = outcomes[LatencyRecorder.notSent] ?? 0
        let unmade = outcomes.filter { LatencyRecorder.isUnmade($0.key) }.reduce(0) { $0 + $1.value }
        let calls = histogram.totalCount - UInt64(unmade)
        return Figures(
            calls: calls, callsPerSecond: Double(calls) / seconds,
            okCallsPerSecond: Double(outcomes["OK"] ?? 0) / seconds,
            errors: outcomes.filter { $0.key != "OK" && !LatencyRecorder.isUnmade($0.key) }.reduce(0) { $0 + $1.value },
            unsent: unsent, latencyMicros: Latency(histogram), outcomes: outcomes)
    }

    /// CPU `seconds` per call in microseconds; nil without a reading or without a call sent (a run whose calls were
    /// all unsent has no cost per call).
    static func microsPerCall(_ seconds: Double?, calls: UInt64) -> Double? {
        guard let seconds, calls > 0 else { return nil }
        return seconds * 1e6 / Double(calls)
    }

    /// Writes the report as pretty JSON.
    func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        try encoder.encode(self).write(to: URL(fileURLWithPath: path))
    }

    /// Seconds for the summary, to the millisecond without trailing zeros: `30`, `0.5`, `2.884` (an interrupted run's
    /// window printed as `2.884432081`).
    static func seconds(_ value: Double) -> String {
        var text = String(format: "%.3f", value)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    /// The human summary.
    func summary() -> String {
        var lines: [String] = []
        var shape = "\(mode) loop, \(connections) connection(s)"
        if let concurrencyPerConnection { shape += " x \(concurrencyPerConnection) in flight" }
        if let targetRate { shape += ", target \(Format.rate(targetRate)) operations/s" }
        lines.append("numbers-load against \(target): \(shape), mix \(mix)")
        lines.append(
            "warm-up \(Self.seconds(warmupSeconds)) s (\(warmupCalls) calls), measured \(Self.seconds(durationSeconds)) s, "
                + "deadline \(timeoutMilliseconds) ms")
        lines.append(row("total", total))
        // The calls/s above count failed calls too: what was served is this.
        lines.append("total OK  \(total.outcomes["OK"] ?? 0) calls, \(Format.rate(total.okCallsPerSecond)) calls/s")
        if let finishedInWindow, let finishedCallsPerSecond {
            var line =
                "finished  \(finishedInWindow) calls in the window, \(Format.rate(finishedCallsPerSecond)) calls/s"
            if Double(finishedInWindow) < 0.9 * Double(total.calls) {
                line +=
                    " (warning: fewer than the \(total.calls) due in it: more were sent than the server served, "
                    + "queues grew; this is the rate it served)"
            }
            lines.append(line)
        }
        for (name, figures) in byOperation.sorted(by: { $0.key < $1.key }) where byOperation.count > 1 {
            lines.append(row(name, figures))
        }
        lines.append(
            "outcomes: "
                + total.outcomes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        lines.append(
            String(
                format: "wire bytes per call: request %.0f, response %.0f", averageRequestBytes, averageResponseBytes))
        lines += rawComparisonLines()
        if let interruptedBySignal {
            lines.append("interrupted by signal \(interruptedBySignal): the figures are of the window up to it")
        }
        if let callsMaxReached {
            lines.append("--calls-max \(callsMaxReached) reached: the figures are of the window up to it")
        }
        if !unsettled.isEmpty {
            lines.append("left by the run (may still be owned or valid): \(unsettled.count)")
            lines += unsettled.map { "  " + $0 }
        }
        if let serialFsyncsPerSecond {
            lines.append(String(format: "serial write+fdatasync: %.1f /s", serialFsyncsPerSecond))
        }
        if let journalRecordsAppended {
            lines.append("journal records appended (warm-up and measured): \(journalRecordsAppended)")
        }
        if let harnessCPUMicrosPerCall {
            var line = String(format: "CPU per call: harness %.1f µs", harnessCPUMicrosPerCall)
            if let serverCPUMicrosPerCall { line += String(format: ", server %.1f µs", serverCPUMicrosPerCall) }
            if let harnessCPUMicrosPerOKCall {
                line += String(format: "; per OK call: harness %.1f µs", harnessCPUMicrosPerOKCall)
                if let serverCPUMicrosPerOKCall {
                    line += String(format: ", server %.1f µs", serverCPUMicrosPerOKCall)
                }
            }
            lines.append(line + failedCallsWarning("per call counts them, a refusal costing less than a call served"))
        }
        if let serverRSSMiB { lines.append(String(format: "server RSS: %.1f MiB", serverRSSMiB)) }
        // Long intervals (a soak's minutes) are worth a table; one-second ones are in the JSON report.
        // (One interval: the window was one `--report-every` long, from the warm-up's end.)
        // The tail (the calls that ended after the last interval) does not say how long the intervals are.
        let whole = intervals.filter { $0.tail != true }
        let intervalSeconds = whole.count > 1 ? whole[1].endSeconds - whole[0].endSeconds : durationSeconds
        if !whole.isEmpty, intervalSeconds >= 9.5 {
            lines.append("interval  calls/s    errors  p99        server RSS")
            for interval in intervals {
                lines.append(
                    String(format: "%7.0fs", interval.endSeconds) + (interval.tail == true ? "+" : " ")
                        + String(format: " %9.1f  %6d  ", interval.callsPerSecond, interval.errors)
                        + Format.micros(interval.p99Micros).padding(toLength: 11, withPad: " ", startingAt: 0)
                        + (interval.serverRSSMiB.map { String(format: "%.1f MiB", $0) } ?? "-"))
            }
            if intervals.last?.tail == true {
                lines.append("(+: the calls due in the window that ended after its last interval)")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// The lines of the raw comparison, or of its failure; none without either. `numbers-load run --compare-raw`
    /// prints them after the RPC summary, which it prints before the baseline starts.
    func rawComparisonLines() -> [String] {
        var lines: [String] = []
        if let raw = rawComparison {
            lines.append(
                row("raw TLS", raw.raw) + " (\(raw.requestBytes) B out / \(raw.responseBytes) B back"
                    + (raw.depth.map { ", depth \($0))" } ?? ")"))
            let ratio = String(format: "RPC (OK calls) / raw TLS messages per second: %.2f", raw.rpcToRawRatio)
            lines.append(ratio + failedCallsWarning("the ratio counts only the OK ones"))
        }
        if let rawComparisonFailure { lines.append("raw TLS comparison failed: \(rawComparisonFailure)") }
        return lines
    }

    /// The warning a figure that failed calls change carries (the RPC/raw ratio, CPU per call): " (warning: N calls
    /// failed: `consequence`)", or nothing when no measured call failed.
    private func failedCallsWarning(_ consequence: String) -> String {
        total.errors > 0 ? " (warning: \(total.errors) calls failed: \(consequence))" : ""
    }

    private func row(_ name: String, _ figures: Figures) -> String {
        let latency = figures.latencyMicros
        return name.padding(toLength: 9, withPad: " ", startingAt: 0)
            + " \(figures.calls) calls, \(Format.rate(figures.callsPerSecond)) calls/s, \(figures.errors) errors"
            + (figures.unsent > 0 ? ", \(figures.unsent) due but not sent" : "") + "; "
            + "p50 \(Format.micros(latency.p50)) p90 \(Format.micros(latency.p90)) p99 \(Format.micros(latency.p99)) "
            + "p99.9 \(Format.micros(latency.p999)) max \(Format.micros(latency.max))"
    }
}
