import Foundation
import Logging
import NumberCore
import Synchronization
import Testing

/// A toy domain for the generic engine: events move cents into named accounts.
enum ToyEvent: Codable, Sendable, Hashable {
    case deposit(account: String, cents: Int64)
    case note(String)
}

/// The toy state: balances, notes, and how many events were applied (to check replay counts).
struct ToyState: Codable, Sendable, Hashable {
    var balances: [String: Int64] = [:]
    var notes: [String] = []
    var applied = 0
}

/// A rejection from `toyApply` (negative deposit), to test replay failures.
struct ToyApplyError: Error {}

func toyApply(_ state: inout ToyState, _ event: ToyEvent) throws {
    switch event {
    case .deposit(let account, let cents):
        guard cents >= 0 else { throw ToyApplyError() }
        state.balances[account, default: 0] += cents
    case .note(let text):
        state.notes.append(text)
    }
    state.applied += 1
}

/// A fresh directory under the system temp directory, removed by `remove()`.
struct TempDirectory {
    let url: URL
    var path: String { url.path }

    init(_ name: String = #function) {
        let safe = name.filter { $0.isLetter || $0.isNumber }
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("journal-tests-\(safe)-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(at: url) }

    func files() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
    }

    func file(_ name: String) -> URL { url.appendingPathComponent(name) }

    func bytes(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: file(name))) }

    func write(_ name: String, _ bytes: [UInt8]) throws { try Data(bytes).write(to: file(name)) }

    func segments() -> [String] { files().filter { $0.hasPrefix("journal-") && $0.hasSuffix(".jsonl") } }
    func snapshots() -> [String] { files().filter { $0.hasPrefix("snapshot-") && $0.hasSuffix(".json") } }
}

/// Options for tests: a fatal handler that records instead of stopping the process.
final class FatalRecorder: Sendable {
    let failures = Mutex<[JournalFailure]>([])
    var recorded: [JournalFailure] { failures.withLock { $0 } }

    func options(fileSystem: any JournalFileSystem = POSIXJournalFileSystem()) -> JournalOptions {
        var options = quietOptions(fileSystem: fileSystem)
        options.fatal = { failure in self.failures.withLock { $0.append(failure) } }
        return options
    }
}

typealias ToyFileJournal = FileJournal<ToyEvent, ToyState>
typealias ToyMemoryJournal = InMemoryJournal<ToyEvent, ToyState>

/// The two journals under one test body: open and "restart" the same contents.
enum JournalKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case file, memory
    var testDescription: String { rawValue }
}

/// Opens a journal of either kind over the same persistent place, repeatedly.
final class JournalHarness: Sendable {
    let kind: JournalKind
    let directory = TempDirectory("harness")
    let storage = InMemoryJournalStorage<ToyEvent, ToyState>()
    let options: JournalOptions

    init(_ kind: JournalKind, options: JournalOptions = quietOptions()) {
        self.kind = kind
        self.options = options
    }

    struct Opened {
        var journal: any Journal<ToyEvent, ToyState>
        var state: ToyState
        var lastSeq: UInt64
        var recovery: JournalRecovery
    }

    func open() throws -> Opened {
        switch kind {
        case .file:
            let opened = try ToyFileJournal.open(
                directory: directory.url, options: options, initialState: ToyState(), apply: toyApply)
            return Opened(
                journal: opened.journal, state: opened.state, lastSeq: opened.lastSeq, recovery: opened.recovery)
        case .memory:
            let opened = try ToyMemoryJournal.open(
                storage: storage, options: options, initialState: ToyState(), apply: toyApply)
            return Opened(
                journal: opened.journal, state: opened.state, lastSeq: opened.lastSeq, recovery: opened.recovery)
        }
    }

    deinit { directory.remove() }
}

/// Default options with a silent logger (tests check outcomes, not log lines).
func quietOptions(fileSystem: any JournalFileSystem = POSIXJournalFileSystem()) -> JournalOptions {
    JournalOptions(
        fileSystem: fileSystem, logger: Logger(label: "test.journal", factory: { _ in SwiftLogNoOpLogHandler() }))
}
