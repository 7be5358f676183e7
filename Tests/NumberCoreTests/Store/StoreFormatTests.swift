import Foundation
import Testing

@testable import NumberCore

/// The store's `FORMAT` file: written when a store is created, added to a store from before it, and checked before
/// anything is written — a store asking for a newer reader, or whose `FORMAT` cannot be read, is refused unchanged.
@Suite("Store format file")
struct StoreFormatTests {
    static let one = StoreFormat(format: 1, readers: 1)
    static let formatOneBytes = Array(#"{"format":1,"readers":1}"#.utf8) + [UInt8(ascii: "\n")]

    static func open(
        _ directory: TempDirectory, format: StoreFormat? = one,
        fileSystem: any JournalFileSystem = POSIXJournalFileSystem()
    ) throws -> OpenedJournal<ToyFileJournal> {
        try ToyFileJournal.open(
            directory: directory.url, options: quietOptions(fileSystem: fileSystem), format: format,
            initialState: ToyState(), apply: toyApply)
    }

    /// A store as a build without the `FORMAT` file left it: records, a snapshot, more records after it.
    static func legacyStore() async throws -> TempDirectory {
        let directory = TempDirectory("legacy")
        let opened = try open(directory, format: nil)
        for cents in 1...3 { _ = try await opened.journal.append([.deposit(account: "a", cents: Int64(cents))]) }
        var state = opened.state
        for cents in 1...3 { try toyApply(&state, .deposit(account: "a", cents: Int64(cents))) }
        try await opened.journal.writeSnapshot(state, throughSeq: 3)
        _ = try await opened.journal.append([.note("after the snapshot")])
        await opened.journal.close()
        return directory
    }

    /// Every file's bytes (a folder's as empty), by name.
    static func contents(_ directory: TempDirectory) -> [String: [UInt8]] {
        Dictionary(uniqueKeysWithValues: directory.files().map { ($0, (try? directory.bytes($0)) ?? []) })
    }

    @Test("a new store gets FORMAT, format 1, synced in place before open returns")
    func newStoreGetsFormat() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let fileSystem = FaultInjectingFileSystem()
        let opened = try Self.open(directory, fileSystem: fileSystem)
        #expect(try directory.bytes("FORMAT") == Self.formatOneBytes)
        #expect(!directory.files().contains("FORMAT.tmp"))
        #expect(fileSystem.count(.rename) == 1)
        _ = try await opened.journal.append([.note("x")])
        await opened.journal.close()
        // A reopen finds it as it should be and writes nothing more.
        let again = FaultInjectingFileSystem()
        let reopened = try Self.open(directory, fileSystem: again)
        #expect(again.count(.rename) == 0 && again.count(.write) == 0)
        #expect(reopened.state.notes == ["x"])
        await reopened.journal.close()
    }

    @Test("a store from before the file gets FORMAT (format 1) at open, its records and snapshot unchanged")
    func legacyStoreGetsFormat() async throws {
        let directory = try await Self.legacyStore()
        defer { directory.remove() }
        let before = Self.contents(directory)
        #expect(before["FORMAT"] == nil)
        let opened = try Self.open(directory)
        #expect(opened.state.balances == ["a": 6])
        #expect(opened.state.notes == ["after the snapshot"])
        #expect(opened.lastSeq == 4)
        await opened.journal.close()
        var after = Self.contents(directory)
        #expect(after.removeValue(forKey: "FORMAT") == Self.formatOneBytes)
        #expect(after == before, "only FORMAT was added")
    }

    @Test("a FORMAT asking for a newer reader is refused with what to do, and nothing is written, not even LOCK")
    func newerReaderRefused() async throws {
        let directory = try await Self.legacyStore()
        defer { directory.remove() }
        try directory.write("FORMAT", Array(#"{"format":2,"readers":2}"#.utf8))
        // A store restored from a backup may come without its lock file: the refusal must not create one either.
        try FileManager.default.removeItem(at: directory.file("LOCK"))
        let before = Self.contents(directory)
        let error = #expect(throws: JournalError.self) { _ = try Self.open(directory) }
        #expect(error?.code == .formatTooNew)
        let message = error?.message ?? ""
        #expect(message.contains("written by store format 2"), "\(message)")
        #expect(message.contains("this numberd reads store formats up to 1"), "\(message)")
        #expect(message.contains("Roll forward") && message.contains("restore a backup taken before the upgrade"))
        #expect(error?.file?.hasSuffix("/FORMAT") == true)
        #expect(Self.contents(directory) == before, "a refused open changes nothing")
        // The build that wrote it opens it.
        let newer = try Self.open(directory, format: StoreFormat(format: 2, readers: 2))
        #expect(newer.state.balances == ["a": 6])
        await newer.journal.close()
    }

    @Test("a newer format readable by older readers opens, and its FORMAT never goes back")
    func newerFormatOlderReaders() async throws {
        let directory = try await Self.legacyStore()
        defer { directory.remove() }
        try directory.write("FORMAT", Array(#"{"format":3,"readers":1,"note":"later keys are ignored"}"#.utf8))
        let opened = try Self.open(directory)
        #expect(opened.state.balances == ["a": 6])
        await opened.journal.close()
        #expect(try StoreFormatFile.decode(directory.bytes("FORMAT")).get() == StoreFormat(format: 3, readers: 1))
    }

    @Test("an upgrade moves FORMAT on, after which the older build is refused (the rollback the file exists for)")
    func upgradeThenRollbackRefused() async throws {
        let directory = try await Self.legacyStore()
        defer { directory.remove() }
        let upgraded = try Self.open(directory, format: StoreFormat(format: 2, readers: 2))
        _ = try await upgraded.journal.append([.note("written by format 2")])
        await upgraded.journal.close()
        #expect(try directory.bytes("FORMAT") == Array(#"{"format":2,"readers":2}"#.utf8) + [10])
        let before = Self.contents(directory)
        let error = #expect(throws: JournalError.self) { _ = try Self.open(directory) }
        #expect(error?.code == .formatTooNew)
        #expect(Self.contents(directory) == before)
    }

    /// A `FORMAT` that is there but says nothing usable.
    struct Damage: Sendable, CustomTestStringConvertible {
        var name: String
        var bytes: [UInt8]
        var testDescription: String { name }
    }

    static let damages = [
        Damage(name: "empty", bytes: []),
        Damage(name: "not JSON", bytes: Array("format 1\n".utf8)),
        Damage(name: "a zeroed block", bytes: [UInt8](repeating: 0, count: 26)),
        Damage(name: "readers missing", bytes: Array(#"{"format":1}"#.utf8)),
        Damage(name: "a string", bytes: Array(#"{"format":"1","readers":1}"#.utf8)),
        Damage(name: "format 0", bytes: Array(#"{"format":0,"readers":0}"#.utf8)),
        Damage(name: "readers above format", bytes: Array(#"{"format":1,"readers":2}"#.utf8)),
        Damage(name: "an array", bytes: Array("[1,1]".utf8)),
        Damage(name: "too large", bytes: [UInt8](repeating: UInt8(ascii: " "), count: 5000) + formatOneBytes),
    ]

    @Test(
        "a damaged FORMAT is refused as damaged, never taken for a missing one, and nothing is written",
        arguments: damages)
    func damagedFormatRefused(damage: Damage) async throws {
        let directory = try await Self.legacyStore()
        defer { directory.remove() }
        try directory.write("FORMAT", damage.bytes)
        let before = Self.contents(directory)
        let error = #expect(throws: JournalError.self) { _ = try Self.open(directory) }
        #expect(error?.code == .formatDamaged)
        #expect(error?.message.contains("FORMAT file is damaged") == true, "\(String(describing: error))")
        #expect(Self.contents(directory) == before)
        let report = JournalVerifier.verify(
            directory: directory.url, event: ToyEvent.self, state: ToyState.self, reader: Self.one)
        #expect(report.format == .damaged)
        #expect(report.problems.map(\.code) == ["formatDamaged"], "\(report.problems)")
    }

    @Test("a FORMAT of exactly its read limit (4096 bytes) is read; one byte more is refused, changing nothing")
    func formatAtItsReadLimit() async throws {
        #expect(StoreFormatFile.bytesMax == 4096)
        for extra in [0, 1] {
            let directory = try await Self.legacyStore()
            defer { directory.remove() }
            // JSON may be preceded by white space: a valid FORMAT of any length up to the limit.
            let padding = StoreFormatFile.bytesMax + extra - Self.formatOneBytes.count
            let bytes = [UInt8](repeating: UInt8(ascii: " "), count: padding) + Self.formatOneBytes
            try directory.write("FORMAT", bytes)
            if extra == 0 {
                let opened = try Self.open(directory)
                await opened.journal.close()
                #expect(try directory.bytes("FORMAT") == bytes, "it says format 1 already: left as it is")
            } else {
                let before = Self.contents(directory)
                let error = #expect(throws: JournalError.self) { _ = try Self.open(directory) }
                #expect(error?.code == .formatDamaged, "\(String(describing: error))")
                #expect(error?.message.contains("4097 bytes, limit 4096") == true, "\(String(describing: error))")
                #expect(Self.contents(directory) == before)
            }
        }
    }

    @Test("a FORMAT that cannot be read (an I/O error, a folder in its place) is refused, not taken for missing")
    func unreadableFormatRefused() async throws {
        let directory = try await Self.legacyStore()
        defer { directory.remove() }
        try directory.write("FORMAT", Self.formatOneBytes)
        let fileSystem = FaultInjectingFileSystem()
        fileSystem.addRule(.init(.readFile, pathContains: "FORMAT", repeats: true, action: .fail(errno: EIO)))
        let before = Self.contents(directory)
        let error = #expect(throws: JournalError.self) { _ = try Self.open(directory, fileSystem: fileSystem) }
        #expect(error?.code == .formatDamaged)
        #expect(error?.message.contains("cannot be read") == true, "\(String(describing: error))")
        #expect(Self.contents(directory) == before)

        try FileManager.default.removeItem(at: directory.file("FORMAT"))
        try FileManager.default.createDirectory(at: directory.file("FORMAT"), withIntermediateDirectories: false)
        let folder = #expect(throws: JournalError.self) { _ = try Self.open(directory) }
        #expect(folder?.code == .formatDamaged)
    }

    /// A crash while `FORMAT` is being written, captured as the disk then held it.
    struct CrashPoint: Sendable, CustomTestStringConvertible {
        var name: String
        var rule: FaultInjectingFileSystem.Rule
        /// Whether the crash image holds the new `FORMAT` (renamed in place) rather than none.
        var renamed: Bool
        var testDescription: String { name }
    }

    static let crashPoints = [
        CrashPoint(
            name: "mid-write of the temp file",
            rule: .init(.write, pathContains: "FORMAT", action: .partialWriteThenCrash(bytes: 9)), renamed: false),
        CrashPoint(
            name: "temp written, before its fdatasync",
            rule: .init(.fdatasync, pathContains: "FORMAT", action: .crashBefore), renamed: false),
        CrashPoint(
            name: "temp synced, before the rename",
            rule: .init(.rename, pathContains: "FORMAT", action: .crashBefore), renamed: false),
        CrashPoint(
            name: "after the rename, before the directory sync",
            rule: .init(.rename, pathContains: "FORMAT", action: .crashAfter), renamed: true),
    ]

    @Test(
        "a crash while FORMAT is written leaves a store that opens, with its data, and gets FORMAT",
        arguments: crashPoints)
    func crashWhileWritingFormat(point: CrashPoint) async throws {
        let directory = try await Self.legacyStore()
        defer { directory.remove() }
        let image = TempDirectory("image")
        defer { image.remove() }
        let before = Self.contents(directory)
        // The crash: what is on disk at that moment is copied aside, and the call fails as a crashed one would not
        // return at all; the copy is what the next start finds.
        let (source, target) = (directory.url, image.url)
        let fileSystem = FaultInjectingFileSystem(rules: [point.rule]) {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: source.path)) ?? [] where name != "LOCK" {
                try? FileManager.default.copyItem(
                    at: source.appendingPathComponent(name), to: target.appendingPathComponent(name))
            }
        }
        let error = #expect(throws: JournalError.self) { _ = try Self.open(directory, fileSystem: fileSystem) }
        #expect(error?.code == .io)
        var crashed = Self.contents(image)
        let format = crashed.removeValue(forKey: "FORMAT")
        let temp = crashed.removeValue(forKey: "FORMAT.tmp")
        #expect(format == (point.renamed ? Self.formatOneBytes : nil))
        #expect(point.renamed ? temp == nil : temp != nil)
        #expect(crashed == before.filter { $0.key != "LOCK" }, "the records and snapshot are untouched")

        let report = JournalVerifier.verify(
            directory: image.url, event: ToyEvent.self, state: ToyState.self, reader: Self.one)
        #expect(report.opensWithoutError, "\(report.problems)")
        let reopened = try Self.open(image)
        #expect(reopened.state.balances == ["a": 6])
        #expect(reopened.state.notes == ["after the snapshot"])
        await reopened.journal.close()
        #expect(try image.bytes("FORMAT") == Self.formatOneBytes)
        #expect(!image.files().contains("FORMAT.tmp"), "the leftover temp file is removed")
    }

    @Test("the verifier reports the format: recorded, absent, or one open refuses")
    func verifierReportsFormat() async throws {
        let directory = try await Self.legacyStore()
        defer { directory.remove() }
        let verify = {
            JournalVerifier.verify(
                directory: directory.url, event: ToyEvent.self, state: ToyState.self, reader: Self.one)
        }
        #expect(verify().format == .absent)
        #expect(verify().isClean)
        #expect(verify().summary.contains("no FORMAT file"))
        let opened = try Self.open(directory)
        await opened.journal.close()
        #expect(verify().format == .recorded(Self.one))
        #expect(verify().isClean)
        #expect(verify().summary.contains("format 1 (readers 1)"))
        try directory.write("FORMAT", Array(#"{"format":2,"readers":2}"#.utf8))
        let newer = verify()
        #expect(newer.format == .recorded(StoreFormat(format: 2, readers: 2)))
        #expect(newer.problems.map(\.code) == ["formatTooNew"])
        #expect(!newer.opensWithoutError)
        // Without a reader format (a journal that does not use the file) only a damaged FORMAT is a problem.
        #expect(JournalVerifier.verify(directory: directory.url).isClean)
        try directory.write("FORMAT.tmp", [])
        #expect(verify().problems.contains { $0.code == "leftoverFile" && $0.file == "FORMAT.tmp" })
    }

    /// README's upgrade section showed `{"format":4,"readers":4}` while numberd wrote format 6: an operator checking
    /// `store/FORMAT` before a rollback read the wrong figures.
    @Test("README's store/FORMAT example is what this build writes (StoreFormat.current)")
    func readmeExampleIsCurrent() throws {
        // This file is <package>/Tests/NumberCoreTests/Store/StoreFormatTests.swift.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let lead = "`store/FORMAT`, `"
        let start = try #require(readme.range(of: lead), "README no longer shows store/FORMAT's contents")
        let example = readme[start.upperBound...].prefix { $0 != "`" }
        let written = String(decoding: StoreFormatFile.encode(.current).dropLast(), as: UTF8.self)
        #expect(String(example) == written, "README shows \(example); this build writes \(written)")
    }
}
