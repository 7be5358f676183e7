import Foundation
import NumberCore

#if canImport(Glibc)
import Glibc
#endif

/// Core benchmark: durable purchases/s through `NumberService.purchase` on a `FileNumberStore` next to the serial
/// write + `fdatasync` rate of a plain file measured in the same run, journal replay speed, and memory and snapshot
/// size per owned number.
///
/// `swift run -c release CoreBenchmark [--seconds 3] [--purchasers 1,8,64] [--replay-purchases 5000]
/// [--numbers 1000000] [--no-snapshot] [--directory DIR]` (`--numbers 0` skips the memory phase).
@main
struct CoreBenchmark {
    struct Arguments {
        var seconds = 3.0
        var replayPurchases = 5_000
        var numbers = 1_000_000
        var purchasers = [1, 8, 64]
        var snapshot = true
        var directory: URL?
    }

    static func main() async {
        do {
            let arguments = try parse(Array(CommandLine.arguments.dropFirst()))
            try await run(arguments)
        } catch {
            try? FileHandle.standardError.write(contentsOf: Data("CoreBenchmark failed: \(error)\n".utf8))
            exit(1)
        }
    }

    static func parse(_ words: [String]) throws -> Arguments {
        var arguments = Arguments()
        var index = 0
        func value() throws -> String {
            index += 1
            guard index < words.count else { throw BenchmarkError("\(words[index - 1]) needs a value") }
            return words[index]
        }
        while index < words.count {
            switch words[index] {
            case "--seconds":
                guard let seconds = Double(try value()), seconds > 0, seconds <= 600 else {
                    throw BenchmarkError("--seconds must be in (0, 600]")
                }
                arguments.seconds = seconds
            case "--replay-purchases":
                guard let count = Int(try value()), (1...1_000_000).contains(count) else {
                    throw BenchmarkError("--replay-purchases must be in 1...1000000")
                }
                arguments.replayPurchases = count
            case "--numbers":
                guard let count = Int(try value()), (0...10_000_000).contains(count) else {
                    throw BenchmarkError("--numbers must be in 0...10000000")
                }
                arguments.numbers = count
            case "--purchasers":
                let counts = try value().split(separator: ",").map { Int($0) }
                guard !counts.isEmpty, counts.allSatisfy({ $0 != nil && (1...1024).contains($0!) }) else {
                    throw BenchmarkError("--purchasers takes a comma-separated list of counts in 1...1024")
                }
                arguments.purchasers = counts.map { $0! }
            case "--no-snapshot": arguments.snapshot = false
            case "--directory": arguments.directory = URL(fileURLWithPath: try value())
            default: throw BenchmarkError("unknown argument \(words[index])")
            }
            index += 1
        }
        return arguments
    }

    static func run(_ arguments: Arguments) async throws {
        let root =
            arguments.directory
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("core-benchmark-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        say("data directory: \(root.path); \(arguments.seconds) s per purchase phase")

        let (serial, serialKernel) = try Measure.serialSyncRate(
            root.appendingPathComponent("plain.dat").path, bytes: 300, seconds: arguments.seconds)
        say(
            String(
                format: "serial write+fdatasync, 300-byte records (plain file): %.0f records/s, %.0f µs of kernel CPU "
                    + "each; %d CPUs\n", serial, serialKernel * 1e6, ProcessInfo.processInfo.activeProcessorCount))

        let codec = try await EncodeRun.run(iterations: 5_000)
        say(
            String(
                format: "journal JSON of one purchase (%d events, %d bytes): encode %.1f µs, decode %.1f µs\n",
                codec.events, codec.bytes, codec.encodeNanoseconds / 1000, codec.decodeNanoseconds / 1000))
        try await purchases(root: root, counts: arguments.purchasers, seconds: arguments.seconds, serial: serial)
        try await replay(root: root, purchases: arguments.replayPurchases)
        if arguments.numbers > 0 {
            try await memory(root: root, numbers: arguments.numbers, snapshot: arguments.snapshot)
        }
    }

    static func purchases(root: URL, counts: [Int], seconds: Double, serial: Double) async throws {
        say("durable purchases (NumberService.purchase, 1 number each, FileNumberStore, instant provider)")
        say(
            "purchasers  purchases/s  x serial  p50 ms  p99 ms  commits/purchase  events/commit  fdatasync/purchase  CPU ms/purchase  kernel ms/purchase  allocs/purchase"
        )
        var results: [PurchaseRun.Result] = []
        for purchasers in counts {
            let result = try await PurchaseRun.run(
                directory: root.appendingPathComponent("purchases-\(purchasers)"), purchasers: purchasers,
                seconds: seconds)
            guard result.purchases > 0 else { throw BenchmarkError("no purchase completed at \(purchasers)") }
            let purchases = Double(result.purchases)
            say(
                String(
                    format: "%10d  %11.0f  %8.1f  %6.2f  %6.2f  %16.2f  %13.2f  %18.2f  %15.3f  %18.3f  %15@",
                    purchasers,
                    result.rate, result.rate / serial, result.p50 * 1000, result.p99 * 1000,
                    Double(result.commits) / purchases, Double(result.events) / Double(max(1, result.commits)),
                    Double(result.syncs) / purchases, result.cpuSeconds * 1000 / purchases,
                    result.kernelCPUSeconds * 1000 / purchases,
                    result.allocations.map { String(format: "%.0f", Double($0) / purchases) } ?? "-"))
            results.append(result)
        }
        // What the CPUs allow at all: if purchases are CPU-bound, no rate can exceed cores / CPU per purchase, and
        // the kernel's share alone (syscalls, the sync path) caps it even if user space cost nothing. CPU per purchase
        // changes with the number of purchasers (batching), so each count has its own ceiling.
        let cores = Double(ProcessInfo.processInfo.activeProcessorCount)
        for result in results where result.purchases > 0 {
            let perPurchase = result.cpuSeconds / Double(result.purchases)
            let kernelPerPurchase = result.kernelCPUSeconds / Double(result.purchases)
            say(
                String(
                    format: "CPU ceiling at %d purchasers: %.0f purchases/s (%.1fx serial) with this CPU per purchase "
                        + "on %.0f CPUs; %.0f/s (%.1fx) if user space cost nothing", result.purchasers,
                    cores / perPurchase, cores / perPurchase / serial, cores, cores / kernelPerPurchase,
                    cores / kernelPerPurchase / serial))
        }
        say()
    }

    static func replay(root: URL, purchases: Int) async throws {
        let result = try await ReplayRun.run(directory: root.appendingPathComponent("replay"), purchases: purchases)
        say(
            String(
                format: "journal replay (no snapshot): %d purchases = %d records, %d events, %.1f MB journal; "
                    + "open in %.3f s = %.0f records/s, %.0f events/s, %.0f purchases/s "
                    + "(%.3f s CPU = %.0f events per CPU-second)\n",
                result.purchases, result.records, result.events, Double(result.journalBytes) / 1e6, result.seconds,
                Double(result.records) / result.seconds, Double(result.events) / result.seconds,
                Double(result.purchases) / result.seconds, result.cpuSeconds,
                Double(result.events) / result.cpuSeconds))
    }

    static func memory(root: URL, numbers: Int, snapshot: Bool) async throws {
        let result = try await MemoryRun.run(
            directory: root.appendingPathComponent("snapshot"), numbers: numbers, snapshot: snapshot)
        say(
            String(
                format: "memory: CoreState with %d owned numbers (%d accounts, each number with its purchase "
                    + "transaction), built in %.1f s (%.1f s CPU): RSS %.0f MB -> %.0f MB = %.0f bytes per number",
                result.numbers, result.accounts, result.buildSeconds, result.buildCPUSeconds,
                Double(result.residentBefore) / 1e6,
                Double(result.residentAfter) / 1e6, result.bytesPerNumber))
        say(
            String(
                format: "invariants: checkInvariants() over it (run by every numberd start) %.2f s",
                result.invariantsSeconds))
        guard snapshot else { return }
        if let error = result.snapshotError {
            throw BenchmarkError("snapshot of \(numbers) numbers failed: \(error)")
        }
        say(
            String(
                format: "snapshot: %.1f MB = %.0f bytes per number; write (encode+fdatasync+rename+check) %.2f s "
                    + "(%.2f s CPU), peak RSS +%.0f MB during it; reload (FileNumberStore.open) %.2f s (%.2f s CPU), "
                    + "RSS +%.0f MB",
                Double(result.snapshotBytes) / 1e6, Double(result.snapshotBytes) / Double(numbers),
                result.snapshotSeconds, result.snapshotCPUSeconds, Double(result.snapshotPeakGrowth) / 1e6,
                result.reloadSeconds, result.reloadCPUSeconds, Double(result.reloadResidentGrowth) / 1e6))
        say(
            String(
                format:
                    "live heap (malloc_info): the reloaded state %.0f bytes per number; NumberService over it after "
                    + "one credit and one purchase (every state copy it keeps) %.0f bytes per number",
                Double(result.reloadHeapGrowth) / Double(numbers), Double(result.serviceHeapGrowth) / Double(numbers)))
        say(
            String(
                format: "billing run over %d numbers (decided under the decision lock): nothing due %.2f ms; one "
                    + "idempotency key expiring %.2f ms; one number renewing %.2f ms; all %d due at once, one run "
                    + "of %d actions %.2f ms; the 200th run of that catch-up (all out of funds: %d numbers marked "
                    + "past due before it) %.2f ms", numbers,
                result.billingIdleSeconds * 1000, result.billingExpirySeconds * 1000,
                result.billingRenewalSeconds * 1000, numbers, NumberServiceConfig.defaults.billing.actionsPerRunMax,
                result.billingBulkDueSeconds * 1000, 199 * NumberServiceConfig.defaults.billing.actionsPerRunMax,
                result.billingCatchUpSeconds * 1000))
    }

    /// Prints a line and flushes it, so each row shows as soon as it is measured (also into a file).
    static func say(_ line: String = "") {
        print(line)
        fflush(nil)
    }
}
