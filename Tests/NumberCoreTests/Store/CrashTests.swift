import Foundation
import NumberCore
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The crash child's event (same JSON as `StoreCrashChild`'s).
struct CrashEvent: Codable, Sendable {
    var writer: Int
    var index: Int
    var payload: String
}

/// The crash child's state: every record's `writer-index` key, in seq order.
struct CrashState: Codable, Sendable {
    var keys: [String] = []
}

/// Runs `StoreCrashChild`, kills it, and checks that every acknowledged record survived.
///
/// `JOURNAL_CRASH_CYCLES` (default 20) sets the random-kill cycles and `JOURNAL_CRASH_SEED` the seed, for longer
/// stress runs: `JOURNAL_CRASH_CYCLES=500 swift test --skip-build --filter CrashTests`.
@Suite("FileJournal crash tests (child process)")
struct CrashTests {
    /// What one child run printed.
    struct ChildRun {
        var openedAt: UInt64?
        var acks: [(seq: UInt64, key: String)] = []
        var done = false
        var killedBySignal: Int32?
        /// The end of the child's standard error other than info logs (a trap's message), for failure messages.
        var errorTail = ""
    }

    /// The child binary, next to the test bundle or in the package's build directory.
    static func childBinary() throws -> URL {
        URL(fileURLWithPath: try BuiltProduct.path("StoreCrashChild"))
    }

    struct CrashTestError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// When the test kills the child.
    enum KillPlan {
        /// This long after the start: may land during recovery, before any append.
        case afterStart(milliseconds: Int)
        /// This long after the child printed `open` (a busy machine cannot push every kill before the appends).
        case afterOpen(milliseconds: Int)
    }

    /// Starts the child; `kill` nil lets it run to its end (or its own crash).
    func runChild(
        directory: TempDirectory, writers: Int, perWriter: Int, snapshotEvery: Int, rule: String? = nil,
        kill plan: KillPlan? = nil
    ) async throws -> ChildRun {
        let output = directory.url.deletingLastPathComponent()
            .appendingPathComponent("crash-child-\(UUID().uuidString).out")
        let errors = output.appendingPathExtension("err")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: output)
            try? FileManager.default.removeItem(at: errors)
        }
        let process = SpawnedProcess()
        process.executableURL = try Self.childBinary()
        process.arguments =
            [directory.path, "\(writers)", "\(perWriter)", "\(snapshotEvery)"] + (rule.map { [$0] } ?? [])
        process.standardOutput = try FileHandle(forWritingTo: output)
        process.standardError = try FileHandle(forWritingTo: errors)
        try process.run()
        var ending: ChildExit.Ending?
        // Whatever ends this function (a timeout, a cancelled sleep), the child is gone before the caller removes
        // its directory (bounded: a child that does not die must not hang the run).
        defer {
            if ending == nil {
                process.send(SIGKILL)
                ChildExit.waitBlocking(process, timeout: .seconds(10))
            }
        }
        switch plan {
        case .none:
            break
        case .afterStart(let milliseconds):
            try await Task.sleep(for: .milliseconds(milliseconds))
            process.send(SIGKILL)
        case .afterOpen(let milliseconds):
            // Bounded: the child opens within 30 s or the kill lands anyway.
            for _ in 0..<3000 where process.isRunning {
                if let data = try? Data(contentsOf: output), data.starts(with: Array("open ".utf8)) { break }
                try await Task.sleep(for: .milliseconds(10))
            }
            try await Task.sleep(for: .milliseconds(milliseconds))
            process.send(SIGKILL)
        }
        // Bounded wait: a child that neither finishes nor crashes within 60 s is a failure.
        ending = await ChildExit.wait(process, timeout: .seconds(60))
        guard let ended = ending else { throw CrashTestError("child did not stop within 60 s") }
        var run = ChildRun()
        if case .signalled(let signal) = ended { run.killedBySignal = signal }
        let errorText = String(decoding: (try? Data(contentsOf: errors)) ?? Data(), as: UTF8.self)
        run.errorTail = String(
            errorText.split(separator: "\n").filter { !$0.contains(" info ") }.joined(separator: "\n").suffix(2_000))
        let text = String(decoding: try Data(contentsOf: output), as: UTF8.self)
        // Only whole lines count: an ack is claimed only once its line is complete.
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            let fields = line.split(separator: " ")
            switch fields.first {
            case "open": run.openedAt = UInt64(fields[1])
            case "ack": run.acks.append((UInt64(fields[1])!, "\(fields[2])-\(fields[3])"))
            case "done": run.done = true
            default: throw CrashTestError("unexpected child output: \(line)")
            }
        }
        return run
    }

    /// Reopens in-process; checks every acknowledged record sits at its seq and the directory verifies clean.
    func checkRecovered(
        _ directory: TempDirectory, acks: [(seq: UInt64, key: String)], context: String
    ) async throws
        -> UInt64
    {
        let opened = try FileJournal<CrashEvent, CrashState>.open(
            directory: directory.url, options: quietOptions(), initialState: CrashState(),
            apply: { state, event in state.keys.append("\(event.writer)-\(event.index)") })
        let keys = opened.state.keys
        #expect(UInt64(keys.count) == opened.lastSeq, "\(context)")
        for ack in acks {
            let index = Int(ack.seq) - 1
            #expect(index < keys.count && keys[index] == ack.key, "\(context): acked seq \(ack.seq) \(ack.key) lost")
        }
        #expect(Set(keys).count == keys.count, "\(context): duplicate records")
        await opened.journal.close()
        let report = JournalVerifier.verify(directory: directory.url, event: CrashEvent.self, state: CrashState.self)
        #expect(report.isClean, "\(context): \(report.problems)")
        return opened.lastSeq
    }

    @Test("SIGKILL at random moments never loses an acknowledged record")
    func randomKills() async throws {
        let environment = ProcessInfo.processInfo.environment
        let cycles = environment["JOURNAL_CRASH_CYCLES"].flatMap(Int.init) ?? 20
        let seed = environment["JOURNAL_CRASH_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64.max)
        var random = SplitMix64(seed: seed)
        let directory = TempDirectory()
        defer { directory.remove() }
        var lastSeq: UInt64 = 0
        var totalAcks = 0
        for cycle in 0..<cycles {
            // One kill in four at any moment from the start (recovery included), the others while records flow.
            let delay = Int(random.next() % 200)
            let plan: KillPlan =
                cycle % 4 == 3 ? .afterStart(milliseconds: delay + 10) : .afterOpen(milliseconds: delay)
            let context = "seed \(seed) cycle \(cycle) \(plan)"
            let run = try await runChild(
                directory: directory, writers: 8, perWriter: 1_000_000, snapshotEvery: 64, kill: plan)
            if let openedAt = run.openedAt { #expect(openedAt == lastSeq, "\(context)") }
            #expect(run.killedBySignal == SIGKILL, "\(context)\n\(run.errorTail)")
            totalAcks += run.acks.count
            let recovered = try await checkRecovered(directory, acks: run.acks, context: context)
            #expect(recovered >= lastSeq, "\(context)")
            #expect(recovered >= run.acks.map(\.seq).max() ?? 0, "\(context)")
            lastSeq = recovered
        }
        // The kills must land while records flow, or the test proves nothing.
        #expect(totalAcks > cycles, "only \(totalAcks) acks in \(cycles) cycles (seed \(seed))")
    }

    /// A crash point of the fault-injecting file layer, with the rule the child gets.
    struct CrashPoint: Sendable, CustomTestStringConvertible {
        var name: String
        var rule: String
        var expectTorn: Bool
        var testDescription: String { name }
    }

    static let crashPoints = [
        CrashPoint(name: "before an append's write", rule: "write:journal-:6:crashBefore", expectTorn: false),
        CrashPoint(name: "in the middle of an append's write", rule: "write:journal-:6:partial30", expectTorn: true),
        CrashPoint(
            name: "after the write, before fdatasync", rule: "fdatasync:journal-:6:crashBefore", expectTorn: false),
        CrashPoint(
            name: "after fdatasync, before the reply", rule: "fdatasync:journal-:6:crashAfter", expectTorn: false),
        CrashPoint(name: "during a snapshot write", rule: "write:snapshot-:2:partial40", expectTorn: false),
        CrashPoint(
            name: "after a snapshot rename, before the directory sync", rule: "rename:snapshot-:2:crashAfter",
            expectTorn: false),
        CrashPoint(
            name: "after creating a new segment, before the directory sync", rule: "open:journal-:3:crashAfter",
            expectTorn: false),
    ]

    @Test("a crash at each point of the write path recovers every acknowledged record", arguments: crashPoints)
    func crashPoint(point: CrashPoint) async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let first = try await runChild(
            directory: directory, writers: 4, perWriter: 50, snapshotEvery: 10, rule: point.rule)
        #expect(first.killedBySignal == SIGKILL, "the child did not crash at \(point.rule)")
        #expect(!first.done)
        let opened = try FileJournal<CrashEvent, CrashState>.open(
            directory: directory.url, options: quietOptions(), initialState: CrashState(),
            apply: { state, event in state.keys.append("\(event.writer)-\(event.index)") })
        #expect(opened.recovery.tornFiles.isEmpty != point.expectTorn)
        await opened.journal.close()
        let kept = JournalVerifier.verify(directory: directory.url).keptAside
        #expect(kept.count == (point.expectTorn ? 1 : 0), "\(kept)")
        let lastSeq = try await checkRecovered(directory, acks: first.acks, context: point.name)
        // And the journal carries on normally.
        let second = try await runChild(directory: directory, writers: 2, perWriter: 5, snapshotEvery: 4)
        #expect(second.done && second.openedAt == lastSeq)
        _ = try await checkRecovered(directory, acks: second.acks, context: point.name + ", second run")
    }
}
