/// Command-line flags of `TLSBenchmark`.
struct BenchmarkOptions {
    /// Seconds each measurement runs.
    var durationSeconds = 3.0
    /// Bytes of a small message.
    var smallBytes = 64
    /// Bytes of a large message.
    var largeBytes = 64 * 1024
    /// Messages in flight per connection.
    var depth = 64
    /// Concurrent echo connections.
    var connections = 1
    /// Concurrent connection attempts in the handshake benchmark.
    var handshakeConcurrency = 4
    /// Whether to run `openssl speed` / `openssl s_time` for comparison.
    var openSSLBaseline = true

    static let usage = """
        usage: TLSBenchmark [--duration S] [--small BYTES] [--large BYTES] [--depth N] [--connections N]
                            [--handshake-concurrency N] [--no-openssl]
        """

    /// Parses `arguments` (without the program name); throws a message on bad input.
    static func parse(_ arguments: [String]) throws(BenchmarkOptionsError) -> BenchmarkOptions {
        var options = BenchmarkOptions()
        var iterator = arguments.makeIterator()
        while let flag = iterator.next() {
            if flag == "--no-openssl" {
                options.openSSLBaseline = false
                continue
            }
            if flag == "--help" || flag == "-h" {
                throw BenchmarkOptionsError(message: usage)
            }
            guard let value = iterator.next() else {
                throw BenchmarkOptionsError(message: "missing value for \(flag)\n\(usage)")
            }
            switch flag {
            case "--duration": options.durationSeconds = try number(value, flag, 0.1...600)
            case "--small": options.smallBytes = Int(try number(value, flag, 1...1_048_576))
            case "--large": options.largeBytes = Int(try number(value, flag, 1...16_777_216))
            case "--depth": options.depth = Int(try number(value, flag, 1...100_000))
            case "--connections": options.connections = Int(try number(value, flag, 1...1024))
            case "--handshake-concurrency": options.handshakeConcurrency = Int(try number(value, flag, 1...1024))
            default: throw BenchmarkOptionsError(message: "unknown flag \(flag)\n\(usage)")
            }
        }
        return options
    }

    private static func number(
        _ text: String, _ flag: String, _ range: ClosedRange<Double>
    ) throws(BenchmarkOptionsError) -> Double {
        guard let value = Double(text), range.contains(value) else {
            throw BenchmarkOptionsError(message: "\(flag) must be a number in \(range)")
        }
        return value
    }
}

/// A bad command line.
struct BenchmarkOptionsError: Error {
    var message: String
}
