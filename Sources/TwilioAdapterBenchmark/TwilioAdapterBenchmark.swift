import CurlHTTP
import Foundation
import Logging
import NumberCore
import NumberTLS

#if canImport(Glibc)
import Glibc
#endif

/// Twilio adapter benchmark: `TwilioProvider` calls/s and latency against the in-process simulator over HTTPS
/// (loopback, generated CA), for search, price (cache TTL 0, so every call is an HTTP request) and buy+release
/// pairs, at 1 and 32 concurrent calls, with the share of HTTP requests that reused a connection (counted at the
/// simulator: accepted TLS connections vs requests logged).
///
/// `swift run -c release TwilioAdapterBenchmark [--seconds 3] [--transfers 16]`
/// (`--transfers`: the HTTP client's `concurrentTransfersMax`, default the adapter's default of 16).
@main
struct TwilioAdapterBenchmark {
    struct Arguments {
        var seconds = 3.0
        var transfers = HTTPClientConfiguration.Limits.defaults.concurrentTransfersMax
    }

    static func main() async {
        // Before libcurl or a certificate initializes OpenSSL: no exit handler frees it under running TLS.
        OpenSSLProcess.initialize()
        do {
            try await run(try parse(Array(CommandLine.arguments.dropFirst())))
        } catch {
            try? FileHandle.standardError.write(contentsOf: Data("TwilioAdapterBenchmark failed: \(error)\n".utf8))
            exit(1)
        }
    }

    static func parse(_ words: [String]) throws -> Arguments {
        var arguments = Arguments()
        var index = 0
        while index < words.count {
            let flag = words[index]
            index += 1
            guard index < words.count else { throw BenchmarkError("\(flag) needs a value") }
            switch flag {
            case "--seconds":
                guard let seconds = Double(words[index]), seconds > 0, seconds <= 600 else {
                    throw BenchmarkError("--seconds must be in (0, 600]")
                }
                arguments.seconds = seconds
            case "--transfers":
                guard let transfers = Int(words[index]), (1...256).contains(transfers) else {
                    throw BenchmarkError("--transfers must be in 1...256")
                }
                arguments.transfers = transfers
            default: throw BenchmarkError("unknown argument \(flag)")
            }
            index += 1
        }
        return arguments
    }

    static func run(_ arguments: Arguments) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("twilio-bench-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let harness = try await SimulatorHarness.start(directory: directory, requestLogEntriesMax: 1_000_000)
        var configuration = TwilioConfiguration(
            credentials: try TwilioCredentials.authToken(accountSid: harness.accountSid, authToken: harness.authToken),
            endpoints: TwilioConfiguration.Endpoints(
                api: harness.simulator.url(for: .api), pricing: harness.simulator.url(for: .pricing),
                trunking: harness.simulator.url(for: .trunking)))
        configuration.http.tls.caFilePath = harness.caPEMPath
        configuration.http.limits.concurrentTransfersMax = arguments.transfers
        configuration.limits.priceCacheTTLSeconds = 0  // every price call goes to the simulator
        var logger = Logger(label: "twilio-benchmark")
        logger.logLevel = .warning
        let provider = try TwilioProvider(configuration: configuration, logger: logger)
        do {
            try await phases(provider: provider, harness: harness, arguments: arguments)
        } catch {
            await provider.shutdown()
            await harness.shutdown()
            throw error
        }
        await provider.shutdown()
        await harness.shutdown()
    }

    static func phases(provider: TwilioProvider, harness: SimulatorHarness, arguments: Arguments) async throws {
        let concurrencies = [1, 32]
        let pool = harness.availableUSLocal(concurrencies.max()!)
        guard pool.count == concurrencies.max()! else { throw BenchmarkError("the simulator offers too few numbers") }
        // One warm-up call opens the first connection (TLS handshake) outside the timed phases.
        _ = try await provider.price(country: "US", type: .local)
        say(
            "TwilioProvider -> simulator over HTTPS on loopback; \(arguments.seconds) s per phase, "
                + "HTTP client concurrentTransfersMax \(arguments.transfers)")
        say("operation         concurrent   calls/s  p50 ms  p99 ms  HTTP requests  new connections  reused")
        let query = ProviderSearchQuery(country: "US", type: .local, areaCode: "415", limit: 20)
        let operations: [(String, @Sendable (Int) async throws -> Void)] = [
            (
                "search",
                { _ in
                    let found = try await provider.search(query)
                    guard !found.isEmpty else { throw BenchmarkError("a search found nothing") }
                }
            ),
            ("price (no cache)", { _ in _ = try await provider.price(country: "US", type: .local) }),
            (
                "buy+release pair",
                { worker in
                    // A released number is back in the inventory at once: each worker re-buys its own number.
                    let bought = try await provider.buy(phoneNumber: pool[worker], trunkSid: nil)
                    try await provider.release(sid: bought.sid)
                }
            ),
        ]
        for (name, operation) in operations {
            for concurrency in concurrencies {
                let result = try await AdapterRun.run(
                    harness: harness, concurrency: concurrency, seconds: arguments.seconds, operation: operation)
                say(
                    name.padding(toLength: 16, withPad: " ", startingAt: 0)
                        + String(
                            format: "  %10d  %8.0f  %6.2f  %6.2f  %13d  %15d  %5.1f%%", concurrency, result.rate,
                            result.p50 * 1000, result.p99 * 1000, result.requests, result.newConnections,
                            result.reusedShare * 100))
            }
        }
        guard harness.ownedCount == 0 else {
            throw BenchmarkError("\(harness.ownedCount) numbers are still owned after the buy+release phases")
        }
        say("(a buy+release pair is two HTTP requests; latency is per pair)")
    }

    /// Prints a line and flushes it, so each row shows as soon as it is measured (also into a file).
    static func say(_ line: String = "") {
        print(line)
        fflush(nil)
    }
}
