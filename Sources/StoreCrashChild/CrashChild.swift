import Foundation
import NumberCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One record of the crash test: which writer appended it, and its index in that writer's sequence.
struct CrashEvent: Codable, Sendable {
    var writer: Int
    var index: Int
    var payload: String
}

/// The state: every record's `writer-index` key, in seq order.
struct CrashState: Codable, Sendable {
    var keys: [String] = []
}

func crashApply(_ state: inout CrashState, _ event: CrashEvent) {
    state.keys.append("\(event.writer)-\(event.index)")
}

/// The child process of the crash tests (`Tests/NumberCoreTests/Store/CrashTests.swift`).
///
/// Usage: `StoreCrashChild <directory> <writers> <records per writer> <snapshot every> [<fault rule>]`
///
/// Opens the journal, prints `open <lastSeq>`, then runs the writers concurrently; after each acknowledged append
/// it prints `ack <seq> <writer> <index>` with one `write(2)` (so a SIGKILL never leaves a half line that looks
/// whole). Every `<snapshot every>` acknowledged records it snapshots the state through the highest contiguous seq.
/// The optional fault rule `<operation>:<path fragment>:<occurrence>:<action>` (action `crashBefore`, `crashAfter`,
/// `partial<bytes>`) makes the process SIGKILL itself at that point; `fail<errno>` makes that call fail instead, and
/// the journal's default fail-stop handler ends the process. Writers start their indices after the ones
/// already in the journal, so keys stay unique across restarts.
@main
struct StoreCrashChild {
    static func main() async throws {
        // Dies with the test process that started it: a test run that crashed mid-storm once left a child writing
        // its million records at full speed for an hour. Once its parent is gone it is someone else's child.
        let parent = getppid()
        Thread.detachNewThread {
            while getppid() == parent { usleep(100_000) }
            _exit(3)  // at once: no atexit work racing the writers
        }
        let arguments = CommandLine.arguments
        guard arguments.count >= 5, let writers = Int(arguments[2]), let perWriter = Int(arguments[3]),
            let snapshotEvery = Int(arguments[4])
        else {
            emit("usage: StoreCrashChild <directory> <writers> <records per writer> <snapshot every> [<rule>]")
            exit(2)
        }
        var options = JournalOptions.defaults
        if arguments.count > 5 {
            let fileSystem = FaultInjectingFileSystem()
            fileSystem.addRule(try parseRule(arguments[5]))
            options.fileSystem = fileSystem
        }
        let opened = try FileJournal<CrashEvent, CrashState>.open(
            directory: URL(fileURLWithPath: arguments[1]), options: options, initialState: CrashState(),
            apply: crashApply)
        emit("open \(opened.lastSeq)")
        let tracker = Tracker(state: opened.state, lastSeq: opened.lastSeq)
        let start = opened.state.keys.count
        let journal = opened.journal
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    for index in 0..<perWriter {
                        let event = CrashEvent(writer: writer, index: start + index, payload: "p\(start + index)")
                        let seq = try await journal.append([event])
                        emit("ack \(seq) \(writer) \(start + index)")
                        if let (state, through) = tracker.acked(seq, event, snapshotEvery: snapshotEvery) {
                            try await snapshot(journal, state, through)
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        await journal.close()
        emit("done")
    }

    /// Snapshots; a concurrent writer may have snapshotted a later seq first, which is fine.
    static func snapshot(
        _ journal: FileJournal<CrashEvent, CrashState>, _ state: CrashState, _ seq: UInt64
    ) async throws {
        do {
            try await journal.writeSnapshot(state, throughSeq: seq)
        } catch let error as JournalError where error.code == .invalidSnapshotSeq {
            return
        }
    }

    /// Writes one whole line to stdout with a single `write(2)`.
    static func emit(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
    }

    static func parseRule(_ text: String) throws -> FaultInjectingFileSystem.Rule {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 4, let operation = FaultInjectingFileSystem.Operation(rawValue: parts[0]),
            let occurrence = Int(parts[2])
        else { throw JournalError(.invalidOptions, "bad fault rule \(text)") }
        let action: FaultInjectingFileSystem.Action
        switch parts[3] {
        case "crashBefore": action = .crashBefore
        case "crashAfter": action = .crashAfter
        case let failure where failure.hasPrefix("fail"):
            // An I/O error (e.g. `fail5` = EIO, `fail30` = EROFS; a sync's `fail28` = ENOSPC): the journal's default
            // fail-stop handler ends the process (a write's ENOSPC only refuses that write).
            guard let code = Int32(failure.dropFirst("fail".count)) else {
                throw JournalError(.invalidOptions, "bad errno in \(failure)")
            }
            action = .fail(errno: code)
        case let partial where partial.hasPrefix("partial"):
            action = .partialWriteThenCrash(bytes: Int(partial.dropFirst("partial".count)) ?? 0)
        default: throw JournalError(.invalidOptions, "bad fault action \(parts[3])")
        }
        return .init(
            operation, pathContains: parts[1].isEmpty ? nil : parts[1], occurrence: occurrence, action: action)
    }
}

/// Applies acknowledged records in seq order (acks of concurrent writers arrive out of order), so a snapshot
/// holds exactly the records through its seq.
final class Tracker: Sendable {
    struct Inner {
        var state: CrashState
        var applied: UInt64
        var waiting: [UInt64: CrashEvent] = [:]
        var sinceSnapshot = 0
    }

    let inner: Mutex<Inner>

    init(state: CrashState, lastSeq: UInt64) {
        inner = Mutex(Inner(state: state, applied: lastSeq))
    }

    /// Records an ack; returns a state to snapshot when one is due.
    func acked(_ seq: UInt64, _ event: CrashEvent, snapshotEvery: Int) -> (CrashState, UInt64)? {
        inner.withLock { inner in
            inner.waiting[seq] = event
            while let next = inner.waiting.removeValue(forKey: inner.applied + 1) {
                crashApply(&inner.state, next)
                inner.applied += 1
                inner.sinceSnapshot += 1
            }
            guard snapshotEvery > 0, inner.sinceSnapshot >= snapshotEvery else { return nil }
            inner.sinceSnapshot = 0
            return (inner.state, inner.applied)
        }
    }
}
