import Foundation

struct LatencySummary: Codable {
    var p50: UInt64 = 0, p90: UInt64 = 0, p99: UInt64 = 0, p999: UInt64 = 0, max: UInt64 = 0
    var mean: Double = 0

    /// Nearest-rank percentiles over every measured call, in whole microseconds.
    init(nanos: [Int64]) {
        guard !nanos.isEmpty else { return }
        let sorted = nanos.sorted()
        func at(_ q: Double) -> UInt64 {
            let rank = Int((q * Double(sorted.count)).rounded(.up))
            return UInt64(sorted[min(Swift.max(rank, 1), sorted.count) - 1] / 1000)
        }
        (p50, p90, p99, p999) = (at(0.50), at(0.90), at(0.99), at(0.999))
        max = UInt64(sorted[sorted.count - 1] / 1000)
        mean = Double(sorted.reduce(0, +)) / Double(sorted.count) / 1000
    }
}

struct LoadReport: Codable {
    var tool = "grpc-baseline"
    var transport = "grpc-swift-2 2.4.3 + grpc-swift-nio-transport 2.9.2, HTTP/2 + TLS, unary"
    var mode = "closed"
    var connections = 1
    var concurrency: Int
    var warmupSeconds: Double
    var durationSeconds: Double
    var requestBytes: Int
    var responseBytes: Int
    var calls: Int
    var callsPerSecond: Double
    var errors: Int
    var latencyMicros: LatencySummary
    var harnessCPUMicrosPerCall: Double?
    var serverCPUMicrosPerCall: Double?

    var summary: String {
        let l = latencyMicros
        var line = String(
            format: "grpc-swift-2 unary, 1 connection x %ld in flight, %gs: %ld calls, %.1f calls/s, "
                + "latency µs p50 %llu p90 %llu p99 %llu max %llu, errors %ld",
            concurrency, durationSeconds, calls, callsPerSecond, l.p50, l.p90, l.p99, l.max, errors)
        if let c = harnessCPUMicrosPerCall { line += String(format: ", CPU/call client %.1f µs", c) }
        if let s = serverCPUMicrosPerCall { line += String(format: " server %.1f µs", s) }
        return line
    }
}

let clockTicksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

/// utime + stime of a process, in clock ticks, from /proc/<pid>/stat (fields 14 and 15).
func cpuTicks(pid: String) -> Int? {
    guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat"),
        let text = String(data: data, encoding: .utf8),
        let paren = text.lastIndex(of: ")")
    else { return nil }
    // After "pid (comm)" the fields start at 3 (state), so utime (14) is index 11 here.
    let fields = text[text.index(after: paren)...].split(separator: " ")
    guard fields.count > 12, let utime = Int(fields[11]), let stime = Int(fields[12]) else { return nil }
    return utime + stime
}
