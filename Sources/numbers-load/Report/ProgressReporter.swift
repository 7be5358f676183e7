import Foundation
import NIOCore

/// Prints one line a second to stderr while a run goes on: elapsed time, phase, calls/s, errors, p99 of the last
/// second.
struct ProgressReporter {
    let recorder: LatencyRecorder
    let start: NIODeadline
    let end: NIODeadline
    let quiet: Bool

    /// Runs until `end` or cancellation.
    func run() async {
        var last = NIODeadline.now()
        while !Task.isCancelled, NIODeadline.now() < end {
            try? await Task.sleep(nanoseconds: 1_000_000_000)
            let now = NIODeadline.now()
            let interval = recorder.takeInterval()
            let seconds = Double((now - last).nanoseconds) / 1e9
            last = now
            guard !quiet else { continue }
            let phase = now < recorder.measureFrom ? "warm-up" : "measure"
            let elapsed = String(format: "[%6.1fs] ", Double((now - start).nanoseconds) / 1e9)
            let rate = String(format: "%9.0f calls/s", phase == "warm-up" ? 0 : Double(interval.calls) / seconds)
            let line =
                elapsed + phase + rate + "  errors \(interval.errors)  p99 \(Format.micros(interval.p99Micros))\n"
            FileHandle.standardError.write(Data(line.utf8))
        }
    }
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
