import Foundation
import Logging
import NumberCore
import TestSupport
import Testing

/// The files a start keeps a torn tail in (`journal-….jsonl.torn-<ms>`): none left half-written, no second copy of
/// the same tail when a start fails after keeping it, and no more than `tornFilesKept` of them.
@Suite("FileJournal torn-tail files")
struct TornFileTests {
    let segment = "journal-00000000000000000001.jsonl"

    /// A journal of three records whose last one is torn (its last 5 bytes missing); returns the cut-off offset.
    func tornJournal(in directory: TempDirectory) async throws -> (bytes: [UInt8], lastStart: Int) {
        let opened = try ToyFileJournal.open(
            directory: directory.url, options: quietOptions(), initialState: ToyState(), apply: toyApply)
        for index in 1...3 { _ = try await opened.journal.append([.deposit(account: "a", cents: Int64(index))]) }
        await opened.journal.close()
        let full = try directory.bytes(segment)
        let torn = Array(full.dropLast(5))
        try directory.write(segment, torn)
        let lastStart = full.dropLast().lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
        return (torn, lastStart)
    }

    func open(_ directory: TempDirectory, _ options: JournalOptions) throws -> OpenedJournal<ToyFileJournal> {
        try ToyFileJournal.open(directory: directory.url, options: options, initialState: ToyState(), apply: toyApply)
    }

    func tornFiles(_ directory: TempDirectory) -> [String] { directory.files().filter { $0.contains(".torn-") } }

    /// An I/O error, not a full disk (which cuts the tail without a copy: below), refuses the start.
    @Test(
        "a torn file that cannot be written whole and synced is removed, at every failing start",
        arguments: [FaultInjectingFileSystem.Operation.write, .fdatasync])
    func failedTornFileIsRemoved(failing operation: FaultInjectingFileSystem.Operation) async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let (bytes, lastStart) = try await tornJournal(in: directory)
        let fileSystem = FaultInjectingFileSystem()
        fileSystem.addRule(.init(operation, pathContains: ".torn-", repeats: true, action: .fail(errno: EIO)))
        for _ in 0..<3 {
            #expect(throws: JournalFailure.self) { try open(directory, quietOptions(fileSystem: fileSystem)) }
            try await Task.sleep(for: .milliseconds(2))  // a new name each time
        }
        #expect(tornFiles(directory).isEmpty, "\(directory.files())")
        #expect(try directory.bytes(segment) == bytes, "nothing cut before the tail was kept")

        fileSystem.removeAllRules()
        let opened = try open(directory, quietOptions(fileSystem: fileSystem))
        let kept = try #require(opened.recovery.tornFiles.first)
        #expect(try directory.bytes(kept) == Array(bytes[lastStart...]))
        #expect(tornFiles(directory) == [kept])
        await opened.journal.close()
    }

    /// A start after a crash on a full disk found a torn tail, could not write its copy, and was refused: every
    /// restart exited while the disk stayed full, where numberd is meant to start and serve reads. The tail was never
    /// acknowledged, so with no room for its copy it is cut without one (logged as an error).
    @Test(
        "with no room for the torn file (ENOSPC, EDQUOT), the tail is cut without one, logged, and the start goes on",
        arguments: [FaultInjectingFileSystem.Operation.open, .write, .fdatasync], [ENOSPC, EDQUOT])
    func tornTailCutWithoutRoom(failing operation: FaultInjectingFileSystem.Operation, errno code: Int32) async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let (bytes, lastStart) = try await tornJournal(in: directory)
        let fileSystem = FaultInjectingFileSystem()
        fileSystem.addRule(.init(operation, pathContains: ".torn-", repeats: true, action: .fail(errno: code)))
        let lines = CapturingLogHandler.Lines()
        var options = quietOptions(fileSystem: fileSystem)
        options.logger = Logger(label: "test") { _ in CapturingLogHandler(lines: lines) }

        let opened = try open(directory, options)
        #expect(opened.lastSeq == 2)
        #expect(opened.recovery.tornFiles.isEmpty)
        #expect(tornFiles(directory).isEmpty, "\(directory.files())")
        #expect(try directory.bytes(segment) == Array(bytes[..<lastStart]))
        let logged = try #require(
            lines.all.first { $0.message == "journal torn tail cut off without a copy: no room for one" })
        #expect(logged.level == .error)
        #expect(logged.metadata["offset"] == "\(lastStart)")
        #expect(logged.metadata["bytes"] == "\(bytes.count - lastStart)")
        #expect(try await opened.journal.append([.note("after")]) == 3)
        await opened.journal.close()
    }

    @Test("a start that fails after keeping the torn tail keeps one copy, and the next start names it")
    func oneCopyAcrossFailedStarts() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let (bytes, lastStart) = try await tornJournal(in: directory)
        let fileSystem = FaultInjectingFileSystem()
        fileSystem.addRule(.init(.truncate, pathContains: segment, repeats: true, action: .fail(errno: EIO)))
        for _ in 0..<3 {
            #expect(throws: JournalFailure.self) { try open(directory, quietOptions(fileSystem: fileSystem)) }
            try await Task.sleep(for: .milliseconds(2))
        }
        let kept = tornFiles(directory)
        #expect(kept.count == 1, "\(kept)")

        fileSystem.removeAllRules()
        let opened = try open(directory, quietOptions(fileSystem: fileSystem))
        #expect(opened.recovery.tornFiles == kept)
        #expect(try directory.bytes(try #require(kept.first)) == Array(bytes[lastStart...]))
        #expect(try directory.bytes(segment) == Array(bytes[..<lastStart]))
        #expect(opened.lastSeq == 2)
        await opened.journal.close()
    }

    @Test("past tornFilesKept the oldest torn files are removed (logged), never the one just kept")
    func oldestRemovedPastTheBound() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let (bytes, lastStart) = try await tornJournal(in: directory)
        let older = [
            "journal-00000000000000000005.jsonl.torn-500", segment + ".torn-1000", segment + ".torn-2000",
            segment + ".torn-3000",
        ]
        for (index, name) in older.enumerated() { try directory.write(name, Array("old \(index)".utf8)) }
        let unrelated = [segment + ".torn-later", "notes.txt"]
        for name in unrelated { try directory.write(name, [1]) }
        let lines = CapturingLogHandler.Lines()
        var options = quietOptions()
        options.tornFilesKept = 3
        options.logger = Logger(label: "test") { _ in CapturingLogHandler(lines: lines) }

        let opened = try open(directory, options)
        let kept = try #require(opened.recovery.tornFiles.first)
        #expect(try directory.bytes(kept) == Array(bytes[lastStart...]))
        #expect(
            Set(tornFiles(directory)) == Set([kept, segment + ".torn-2000", segment + ".torn-3000"] + unrelated[..<1]))
        #expect(directory.files().contains("notes.txt"))
        let removed = lines.all.filter { $0.message == "journal removing an old torn-tail file" }
        #expect(removed.compactMap { $0.metadata["file"] } == [older[0], older[1]])
        await opened.journal.close()

        // A start without a torn tail removes nothing; a bound below 1 is refused.
        let again = try open(directory, options)
        #expect(
            Set(tornFiles(directory)) == Set([kept, segment + ".torn-2000", segment + ".torn-3000"] + unrelated[..<1]))
        await again.journal.close()
        options.tornFilesKept = 0
        #expect(throws: JournalError.self) { try open(directory, options) }
    }

    @Test(
        "at the default bound: tornFilesKept files in all, none removed; one more, exactly the oldest removed",
        arguments: [0, 1])
    func atTheBound(beyond: Int) async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        _ = try await tornJournal(in: directory)
        var options = quietOptions()
        #expect(options.tornFilesKept == 16)
        // With the one this start keeps: tornFilesKept + beyond torn files.
        let older = (1...(options.tornFilesKept - 1 + beyond)).map { segment + ".torn-\($0 * 1000)" }
        for name in older { try directory.write(name, Array(name.utf8)) }
        let lines = CapturingLogHandler.Lines()
        options.logger = Logger(label: "test") { _ in CapturingLogHandler(lines: lines) }

        let opened = try open(directory, options)
        let kept = try #require(opened.recovery.tornFiles.first)
        #expect(Set(tornFiles(directory)) == Set([kept] + older.dropFirst(beyond)))
        let removed = lines.all.filter { $0.message == "journal removing an old torn-tail file" }
        #expect(removed.compactMap { $0.metadata["file"] } == Array(older.prefix(beyond)))
        await opened.journal.close()
    }
}
