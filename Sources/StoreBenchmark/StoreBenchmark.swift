import Foundation
import NumberCore

#if canImport(Glibc)
import Glibc
#endif

/// A purchase-like event of about 300 bytes of JSON.
struct BenchEvent: Codable, Sendable {
    var kind: String
    var accountId: String
    var phoneNumber: String
    var priceMicros: Int64
    var currency: String
    var idempotencyKey: String
    var providerSid: String
    var trunkId: String
    var note: String
}

/// The benchmark's state: a count is enough, replay speed is about decoding and applying.
struct BenchState: Codable, Sendable {
    var records = 0
    var totalMicros: Int64 = 0
}

/// Journal benchmark: group-commit appends/s at several writer counts next to the serial write + `fdatasync` rate
/// of a plain file in the same run, mean batch size, append latency, and replay speed.
///
/// `swift run -c release StoreBenchmark [seconds per phase, default 3] [directory, default a temp dir]`
@main
struct StoreBenchmark {
    static func main() async throws {
        let arguments = CommandLine.arguments
        let seconds = arguments.count > 1 ? Double(arguments[1]) ?? 3 : 3
        let root =
            arguments.count > 2
            ? URL(fileURLWithPath: arguments[2])
            : FileManager.default.temporaryDirectory.appendingPathComponent("store-benchmark-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let line = Array(try JSONEncoder().encode([sampleEvent(0)]))
        print(
            "record JSON: \(line.count) bytes of events (line about \(line.count + 60) bytes); \(seconds) s per phase")

        let serial = try serialSyncRate(
            root.appendingPathComponent("plain.dat").path, bytes: line.count + 60, seconds: seconds)
        print(String(format: "serial write+fdatasync (plain file): %.0f records/s", serial))
        var lastDirectory = root
        for writers in [1, 8, 64] {
            let directory = root.appendingPathComponent("journal-\(writers)")
            let result = try await groupCommitRun(directory: directory, writers: writers, seconds: seconds)
            print(
                String(
                    format: "group commit, %2d writers: %8.0f appends/s (%.1fx serial), mean batch %.1f, "
                        + "latency p50 %.2f ms p99 %.2f ms",
                    writers, result.rate, result.rate / serial, result.meanBatch, result.p50 * 1000, result.p99 * 1000))
            lastDirectory = directory
        }
        let cpuBefore = cpuSeconds()
        let (records, elapsed) = try await replay(lastDirectory)
        let cpu = cpuSeconds() - cpuBefore
        print(
            String(
                format: "replay: %d records in %.2f s wall = %.0f records/s (%.2f s CPU = %.0f records per CPU-second)",
                records, elapsed, Double(records) / elapsed, cpu, Double(records) / cpu)
        )
    }

    /// CPU time of this process (the machine may be shared: wall-clock rates understate the engine).
    static func cpuSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    static func sampleEvent(_ index: Int) -> BenchEvent {
        BenchEvent(
            kind: "numberPurchased", accountId: "acct_\(String(format: "%08d", index % 1000))",
            phoneNumber: "+1555\(String(format: "%07d", index % 10_000_000))", priceMicros: 1_150_000, currency: "USD",
            idempotencyKey: "00000000-0000-4000-8000-\(String(format: "%012d", index))",
            providerSid: "PN\(String(format: "%032d", index))", trunkId: "trunk_0001",
            note: "monthly number rental, prorated")
    }

    /// The baseline: one process writing a record-sized buffer then `fdatasync`, one at a time.
    static func serialSyncRate(_ path: String, bytes: Int, seconds: Double) throws -> Double {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0o644)
        guard fd >= 0 else { throw JournalFailure(operation: "open", path: path, errno: errno) }
        defer { close(fd) }
        let buffer = [UInt8](repeating: UInt8(ascii: "x"), count: bytes - 1) + [UInt8(ascii: "\n")]
        let start = Date()
        var count = 0
        while Date().timeIntervalSince(start) < seconds {
            let written = buffer.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard written == buffer.count, fdatasync(fd) == 0 else {
                throw JournalFailure(operation: "write/fdatasync", path: path, errno: errno)
            }
            count += 1
        }
        return Double(count) / Date().timeIntervalSince(start)
    }

    struct RunResult {
        var rate: Double
        var meanBatch: Double
        var p50: Double
        var p99: Double
    }

    /// `writers` tasks append as fast as acknowledgements come back, for `seconds`.
    static func groupCommitRun(directory: URL, writers: Int, seconds: Double) async throws -> RunResult {
        let fileSystem = FaultInjectingFileSystem()  // no rules: it only counts the syncs
        var options = JournalOptions.defaults
        options.fileSystem = fileSystem
        options.logger.logLevel = .warning
        let opened = try FileJournal<BenchEvent, BenchState>.open(
            directory: directory, options: options, initialState: BenchState(), apply: apply)
        let journal = opened.journal
        let syncsBefore = fileSystem.count(.fdatasync)
        let start = Date()
        let deadline = start.addingTimeInterval(seconds)
        let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
            for writer in 0..<writers {
                group.addTask {
                    var mine: [Double] = []
                    var index = writer * 10_000_000
                    while Date() < deadline {
                        let began = Date()
                        _ = try await journal.append([sampleEvent(index)])
                        mine.append(Date().timeIntervalSince(began))
                        index += 1
                    }
                    return mine
                }
            }
            return try await group.reduce(into: [Double]()) { $0 += $1 }.sorted()
        }
        let elapsed = Date().timeIntervalSince(start)
        let syncs = fileSystem.count(.fdatasync) - syncsBefore
        await journal.close()
        return RunResult(
            rate: Double(latencies.count) / elapsed, meanBatch: Double(latencies.count) / Double(max(1, syncs)),
            p50: latencies[latencies.count / 2], p99: latencies[latencies.count * 99 / 100])
    }

    static func apply(_ state: inout BenchState, _ event: BenchEvent) {
        state.records += 1
        state.totalMicros += event.priceMicros
    }

    /// Opens the journal again and times the replay.
    static func replay(_ directory: URL) async throws -> (Int, Double) {
        var options = JournalOptions.defaults
        options.logger.logLevel = .warning
        let start = Date()
        let opened = try FileJournal<BenchEvent, BenchState>.open(
            directory: directory, options: options, initialState: BenchState(), apply: apply)
        let elapsed = Date().timeIntervalSince(start)
        let records = opened.recovery.replayedRecords
        await opened.journal.close()
        return (records, elapsed)
    }
}
