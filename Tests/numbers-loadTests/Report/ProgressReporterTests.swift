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
