import CAllocationCounter

/// Time and allocations per operation of one benchmarked closure.
struct Measurement {
    let nanosecondsPerOperation: Double
    /// nil where the platform cannot count allocations.
    let allocationsPerOperation: Double?

    var operationsPerSecond: Double { 1e9 / nanosecondsPerOperation }

    /// Runs `body` `iterations` times per round after a warm-up; keeps the fastest of `rounds` rounds (the
    /// least disturbed by other processes), then counts allocations over a separate run.
    static func run(iterations: Int, rounds: Int = 3, _ body: () throws -> Int) rethrows -> Measurement {
        var sink = 0
        for _ in 0..<max(1, iterations / 10) { sink &+= try body() }
        let clock = ContinuousClock()
        var best = Duration.seconds(Int64.max)
        for _ in 0..<rounds {
            let start = clock.now
            for _ in 0..<iterations { sink &+= try body() }
            best = min(best, clock.now - start)
        }
        let counted = max(1, min(iterations, 1_000))
        var allocations: Double?
        if allocation_counter_available() != 0 {
            allocation_counter_start()
            for _ in 0..<counted { sink &+= try body() }
            allocations = Double(allocation_counter_stop()) / Double(counted)
        }
        blackHole(sink)
        let (seconds, attoseconds) = best.components
        let nanoseconds = Double(seconds) * 1e9 + Double(attoseconds) / 1e9
        return Measurement(
            nanosecondsPerOperation: nanoseconds / Double(iterations), allocationsPerOperation: allocations)
    }
}

/// Keeps the optimiser from dropping the measured work.
@inline(never)
func blackHole(_ value: Int) {
    if value == 0x5eed_5eed { print("") }
}
