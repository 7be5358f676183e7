import Foundation
import NumberCore
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `StoreCrashChild`'s event (same JSON).
private struct ChildEvent: Codable, Sendable {
    var writer: Int
    var index: Int
    var payload: String
}

/// `StoreCrashChild`'s state: every record's `writer-index` key, in seq order.
private struct ChildState: Codable, Sendable {
    var keys: [String] = []
}

/// With the production fail-stop handler, an I/O error on the journal ends the process without acknowledging the
/// failed record, and the next start recovers every acknowledged one and carries on.
@Suite("disk faults end the process (StoreCrashChild)", .serialized)
struct DiskFaultProcessTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var rule: String
        var testDescription: String { rule }
    }

    static let cases = [
        Case(rule: "fdatasync:journal-:6:fail5"), Case(rule: "fdatasync:journal-:9:fail28"),
        Case(rule: "write:journal-:6:fail30"), Case(rule: "write:journal-:4:fail5"),
    ]

    /// A write's ENOSPC is not here: it is refused and the process goes on (`StoreFullTests`, `StoreFullProcessTests`).
    @Test(
        "an EIO/EROFS write or an EIO/ENOSPC fdatasync stops the process; nothing acknowledged is lost",
        arguments: cases)
    func failStopEndsTheProcess(failure: Case) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-diskproc-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = try await runChild(directory, writers: 4, perWriter: 50, rule: failure.rule)
        #expect(!first.done, "the child went on after the failure")
        #expect(first.exitedBySignal, "the child did not stop (status \(first.status))")
        #expect(first.acks.count < 200)
        let lastSeq = try await checkRecovered(directory, acks: first.acks)
        #expect(lastSeq >= UInt64(first.acks.count))
        // The journal carries on after a restart on a healthy disk.
        let second = try await runChild(directory, writers: 2, perWriter: 5, rule: nil)
        #expect(second.done && second.openedAt == lastSeq)
        _ = try await checkRecovered(directory, acks: second.acks)
    }

    struct Run {
        var openedAt: UInt64?
        var acks: [(seq: UInt64, key: String)] = []
        var done = false
        var exitedBySignal = false
        var status: Int32 = 0
    }

    private func runChild(_ directory: URL, writers: Int, perWriter: Int, rule: String?) async throws -> Run {
        let result = try await ChildProcess.run(
            try BuiltProduct.path("StoreCrashChild"),
            [directory.path, "\(writers)", "\(perWriter)", "16"] + (rule.map { [$0] } ?? []),
            standardError: .discarded)
        guard !result.timedOut else { throw HarnessError("the store's crash child did not exit within 120 s") }
        var run = Run()
        switch result.ending {
        case .exited(let code): run.status = code
        case .signalled(let signal): (run.status, run.exitedBySignal) = (signal, true)
        }
        let text = result.text
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            let fields = line.split(separator: " ")
            switch fields.first {
            case "open": run.openedAt = UInt64(fields[1])
            case "ack": run.acks.append((UInt64(fields[1])!, "\(fields[2])-\(fields[3])"))
            case "done": run.done = true
            default: throw HarnessError("unexpected child output: \(line)")
            }
        }
        return run
    }

    private func checkRecovered(_ directory: URL, acks: [(seq: UInt64, key: String)]) async throws -> UInt64 {
        var options = JournalOptions.defaults
        options.fatal = { _ in }
        let opened = try FileJournal<ChildEvent, ChildState>.open(
            directory: directory, options: options, initialState: ChildState(),
            apply: { state, event in state.keys.append("\(event.writer)-\(event.index)") })
        let keys = opened.state.keys
        for ack in acks {
            let index = Int(ack.seq) - 1
            #expect(index < keys.count && keys[index] == ack.key, "acked seq \(ack.seq) \(ack.key) lost")
        }
        #expect(Set(keys).count == keys.count, "duplicate records")
        await opened.journal.close()
        let report = JournalVerifier.verify(directory: directory, event: ChildEvent.self, state: ChildState.self)
        #expect(!report.problems.contains { $0.severity == .error }, "\(report.problems)")
        return opened.lastSeq
    }
}
