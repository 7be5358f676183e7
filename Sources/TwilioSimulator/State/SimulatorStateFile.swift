import Foundation

/// What the simulated Twilio account owns, kept on disk so that it outlives the process the way a real account does:
/// owned numbers (with everything set on them), trunks, their creation order and the SID generator's position.
/// Without it a restarted simulator would offer numbers a client already owns, forget trunks the client routes to and
/// answer 404 to the release of a number it sold.
///
/// Two files: the snapshot at `path` (one JSON document, replaced whole: temporary file, `fsync`, `rename`, folder
/// `fsync`) and the journal beside it at `journalPath` (`SimulatorJournal`: one JSON line per change, appended, with
/// a sequence number). The snapshot records the last journal sequence it includes; the state is the snapshot plus
/// the journal's later lines. A change is answered only once its line is on disk (`fdatasync`, grouped across
/// requests). At start the journal is replayed (a torn last line, never answered, is cut off) and compacted into
/// a fresh snapshot — or, when that snapshot cannot be written (a full disk), kept, synced, and appended to; while
/// running it is compacted when it reaches `stateJournalBytesMax` or `stateJournalRecordsMax` (one bound later after
/// a compaction that could not be written).
///
/// Kept too: the numbers another account bought (the `taken` fault), which Twilio would not offer again.
///
/// Not kept: the request log, the purchase/release counters (they count from the process's start) and the creation
/// order of released numbers, so a page token anchored at a number released before the restart is refused (21481)
/// like any unknown token.
public struct SimulatorStateFile: Sendable {
    /// The snapshot's path.
    public let path: String
    /// The system calls that write and sync (replaced in tests).
    let operations: SimulatorFileOperations

    /// Creates the description of the files at `path` and `path + ".journal"` (nothing is touched).
    public init(path: String) { self.init(path: path, operations: .system) }

    init(path: String, operations: SimulatorFileOperations) {
        self.path = path
        self.operations = operations
    }

    /// The journal's path: beside the snapshot.
    public var journalPath: String { path + ".journal" }

    /// The format written. Version 2 added `journalSequence` (and the journal); version 1 files (no journal) load.
    /// A simulator that knows only version 1 refuses a version 2 snapshot instead of ignoring its journal.
    static let version = 2
    /// The formats read.
    static let readableVersions = 1...2

    struct Contents: Codable, Equatable, Sendable {
        var version: Int
        /// The inventory seed the numbers were bought from.
        var seed: UInt64
        /// `SeededGenerator.state` of the SID generator.
        var sidGenerator: UInt64
        /// The last creation sequence issued.
        var sequence: Int
        var numbers: [Entry<IncomingNumber>]
        var trunks: [Entry<Trunk>]
        /// The last journal record included (absent in version 1, which had no journal: 0).
        var journalSequence: Int?
        /// E.164 numbers another account bought (absent from files written before they were kept: none). An older
        /// simulator ignores it and offers them again, as it did.
        var soldElsewhere: [String]?
    }

    struct Entry<Value: Codable & Equatable & Sendable>: Codable, Equatable, Sendable {
        /// Creation order (page tokens).
        var sequence: Int
        var value: Value
    }

    /// The saved snapshot, or nil when there is none yet. Throws when the file cannot be read, does not decode, has
    /// another version, or was written for another inventory seed.
    func load(seed: UInt64) throws -> Contents? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let contents: Contents
        do {
            contents = try JSONDecoder().decode(Contents.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw StateFileError("cannot read the simulator state file \(path): \(error)")
        }
        guard Self.readableVersions.contains(contents.version) else {
            throw StateFileError(
                "the simulator state file \(path) has version \(contents.version), not \(Self.readableVersions)")
        }
        guard contents.seed == seed else {
            throw StateFileError(
                "the simulator state file \(path) was written with seed \(contents.seed), not \(seed): start with that"
                    + " seed, or move it and \(journalPath) away to start with an empty account")
        }
        return contents
    }

    /// Writes `contents` durably in place of the snapshot. An error with `committed` set came after the rename: the
    /// file holds the new contents, but the folder entry may not be on disk.
    func save(_ contents: Contents) throws(StateFileError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data: Data
        do { data = try encoder.encode(contents) } catch { throw StateFileError("cannot encode \(path): \(error)") }
        let temporary = path + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw StateFileError("cannot create \(temporary): errno \(errno)") }
        // The errno of the failing call, 0 when every byte was written and synced.
        var failure = operations.writeAll(descriptor, Array(data))
        if failure == 0 { failure = operations.fsync(descriptor) }
        close(descriptor)
        guard failure == 0 else {
            // Not left behind: a partial copy would hold the last free bytes of a full disk (the store's and the
            // journal's) until the next save, one fold bound of journal away.
            unlink(temporary)
            throw StateFileError("cannot write \(temporary): errno \(failure)")
        }
        guard rename(temporary, path) == 0 else {
            let renameError = errno
            unlink(temporary)
            throw StateFileError("cannot rename \(temporary): errno \(renameError)")
        }
        let synced = operations.syncFolder(of: path)
        guard synced == 0 else {
            throw StateFileError("cannot sync the folder of \(path): errno \(synced)", committed: true)
        }
    }
}

/// The state file or its journal could not be read or written.
public struct StateFileError: Error, CustomStringConvertible {
    /// What went wrong, with the path.
    public let description: String
    /// The new contents replaced the file before the failure (only the folder's sync failed).
    public let committed: Bool

    init(_ description: String, committed: Bool = false) {
        self.description = description
        self.committed = committed
    }
}
