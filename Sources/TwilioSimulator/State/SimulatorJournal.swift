import Foundation
import Synchronization

/// The append-only journal beside a `SimulatorStateFile`'s snapshot: what makes a change durable in O(change)
/// instead of O(account).
///
/// One line per request that changed the account, written under the engine's state lock (the lock orders the
/// lines): a JSON `Record` with a sequence number one above the previous line's and the post-change values of what
/// the request touched (owned numbers upserted or released by SID, trunks upserted or deleted, the SID generator and
/// the creation counter). The request is answered only after its line is synced, outside the state lock, by a group
/// `fdatasync` for every line written so far: `whenDurable` (the transport: a callback from the journal's sync thread,
/// so no event loop waits for the disk) or `waitDurable` (blocking: tests and the in-memory path).
///
/// Failures: a line that cannot be written is cut off again and the change is undone (500, as before). A failed
/// `fdatasync` (or any other failed sync) is never retried: the pages it failed to write may be dropped, so a later
/// sync proves nothing. The journal then refuses every change, and callers waiting for their line get an
/// error (500: the change happened in memory, its durability is unknown).
///
/// Compaction writes a fresh snapshot that includes every line (with the last line's sequence), then truncates the
/// journal and syncs it. A crash between the two leaves lines the snapshot already includes, which replay skips by
/// their sequence; so no order of crashes loses a line or applies one twice.
final class SimulatorJournal: Sendable {
    /// One line: the change of one request.
    struct Record: Codable, Equatable, Sendable {
        /// The journal sequence: one above the previous line's (across compactions: above the snapshot's).
        var seq: Int
        /// `SeededGenerator.state` of the SID generator after the change.
        var sidGenerator: UInt64
        /// The last creation sequence issued after the change.
        var lastCreation: Int
        /// Owned numbers bought or changed, with their values after the change.
        var numbers: [SimulatorStateFile.Entry<IncomingNumber>] = []
        /// PN SIDs released.
        var releasedNumbers: [String] = []
        /// Trunks created or changed, with their values after the change.
        var trunks: [SimulatorStateFile.Entry<Trunk>] = []
        /// TK SIDs deleted.
        var deletedTrunks: [String] = []
        /// E.164 numbers another account bought (absent from lines written before they were kept: none).
        var soldElsewhere: [String]?

        init(seq: Int, sidGenerator: UInt64, lastCreation: Int) {
            self.seq = seq
            self.sidGenerator = sidGenerator
            self.lastCreation = lastCreation
        }
    }

    /// What the writer keeps; touched only under the engine's state lock (its own lock makes that checkable).
    private struct Writer {
        /// The journal, open for appending; -1 until the first change.
        var descriptor: Int32 = -1
        /// Its size in bytes (a failed write is cut back to it).
        var bytes = 0
        /// Its lines.
        var records = 0
        /// The sequence of the last line written (or included in the snapshot).
        var lastSequence: Int
        /// Compact when the journal reaches either (pushed further after a compaction that could not be written).
        var compactAtBytes: Int
        var compactAtRecords: Int
    }

    let file: SimulatorStateFile
    private let seed: UInt64
    private let bytesMax: Int
    private let recordsMax: Int
    private let writer: Mutex<Writer>
    private let synchronizer: GroupSync

    /// A journal continuing after `lastSequence` (what `SimulatorStateFile.recover` returned, with the journal it
    /// kept when it could not fold it); nothing is opened until the first change. It is compacted when it reaches
    /// `bytesMax` bytes or `recordsMax` lines (beyond a kept journal's: its fold failed once already).
    init(
        file: SimulatorStateFile, seed: UInt64, lastSequence: Int, bytesMax: Int, recordsMax: Int,
        kept: (bytes: Int, records: Int)? = nil
    ) {
        self.file = file
        self.seed = seed
        self.bytesMax = max(1, bytesMax)
        self.recordsMax = max(1, recordsMax)
        var start = Writer(lastSequence: lastSequence, compactAtBytes: self.bytesMax, compactAtRecords: self.recordsMax)
        if let kept {
            start.records = kept.records
            start.compactAtBytes = kept.bytes + self.bytesMax
            start.compactAtRecords = kept.records + self.recordsMax
        }
        writer = Mutex(start)
        // What recovery read is on disk already (the start-up compaction, or the kept journal's sync, made sure).
        synchronizer = GroupSync(syncedThrough: lastSequence, fdatasync: file.operations.fdatasync)
    }

    deinit {
        writer.withLock { writer in
            if writer.descriptor >= 0 { close(writer.descriptor) }
        }
    }

    /// The sequence of the last line written: what the state shows right now (read it under the state lock).
    var lastWritten: Int {
        writer.withLock { $0.lastSequence }
    }

    /// Appends the line of `change`, which was just made on `state`; returns its sequence, to pass to
    /// `waitDurable` once the state lock is released. Call under the state lock. Throws when the line could not be
    /// written (the journal is as before: the caller undoes the change) or when the journal stopped.
    func append(_ change: SimulatorChange, madeOn state: SimulatorState) throws(StateFileError) -> Int {
        if let failure = synchronizer.failure {
            throw StateFileError("the simulator state journal \(file.journalPath) refuses changes: \(failure)")
        }
        return try writer.withLock { writer throws(StateFileError) -> Int in
            if writer.descriptor < 0 { try openJournal(&writer, before: change, madeOn: state) }
            let sequence = writer.lastSequence + 1
            var line: [UInt8]
            do {
                line = Array(try JSONEncoder().encode(state.journalRecord(of: change, sequence: sequence)))
            } catch {
                throw StateFileError("cannot encode a line of \(file.journalPath): \(error)")
            }
            line.append(UInt8(ascii: "\n"))
            let failure = file.operations.writeAll(writer.descriptor, line)
            guard failure == 0 else {
                // Cut off what part of the line reached the file, so that the next line does not follow garbage.
                let cut = file.operations.truncate(writer.descriptor, writer.bytes)
                if cut != 0 {
                    synchronizer.stop("cannot cut a failed write off \(file.journalPath): errno \(cut)")
                }
                throw StateFileError("cannot write to \(file.journalPath): errno \(failure)")
            }
            writer.bytes += line.count
            writer.records += 1
            writer.lastSequence = sequence
            synchronizer.wrote(through: sequence)
            if writer.bytes >= writer.compactAtBytes || writer.records >= writer.compactAtRecords {
                compact(&writer, state: state)
            }
            return sequence
        }
    }

    /// Returns once the line `sequence` (and every line before it) is on disk: at once when it is already, else
    /// after one `fdatasync` shared with every caller waiting. Call without the state lock. Throws when the journal
    /// stopped before the line was synced.
    func waitDurable(through sequence: Int) throws(StateFileError) {
        guard sequence > 0 else { return }
        if let failure = synchronizer.sync(through: sequence) {
            throw StateFileError("the simulator state journal \(file.journalPath) stopped: \(failure)")
        }
    }

    /// Calls `done` once the line `sequence` (and every line before it) is on disk — with nil — or can never be
    /// known to be — with why. Never blocks: at once on the calling thread when the line already is on disk (or the
    /// journal stopped), else later on the journal's sync thread, after one `fdatasync` shared with every caller
    /// waiting (either way). Call without the state lock; `done` must be quick (hand the answer to its event loop).
    func whenDurable(through sequence: Int, _ done: @escaping @Sendable (StateFileError?) -> Void) {
        guard sequence > 0 else { return done(nil) }
        let path = file.journalPath
        synchronizer.whenSynced(through: sequence) { failure in
            done(failure.map { StateFileError("the simulator state journal \(path) stopped: \($0)") })
        }
    }

    /// Opens the journal at the first change. Without a snapshot yet, first writes one of the state before the
    /// change, so a journal never exists without the snapshot (and its seed) it continues.
    private func openJournal(
        _ writer: inout Writer, before change: SimulatorChange, madeOn state: SimulatorState
    )
        throws(StateFileError)
    {
        let path = file.journalPath
        if !FileManager.default.fileExists(atPath: file.path) {
            var before = state
            before.undo(change)
            do {
                try file.save(before.durableContents(seed: seed, journalSequence: writer.lastSequence))
            } catch {
                if error.committed { synchronizer.stop(error.description) }
                throw error
            }
        }
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw StateFileError("cannot open \(path): errno \(errno)") }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let failure = errno
            close(descriptor)
            throw StateFileError("cannot read the size of \(path): errno \(failure)")
        }
        // The file's folder entry must be on disk before any line in it counts as synced: synced at the first open in
        // each process, not only when the file is created here (an earlier run may have created it and died, or
        // failed, before its folder was synced).
        let synced = file.operations.syncFolder(of: path)
        guard synced == 0 else {
            close(descriptor)
            let failure = "cannot sync the folder of \(path): errno \(synced)"
            synchronizer.stop(failure)
            throw StateFileError(failure)
        }
        writer.descriptor = descriptor
        writer.bytes = Int(status.st_size)
        synchronizer.attach(descriptor)
    }

    /// Folds the journal into a fresh snapshot of `state` (which includes every line) and truncates it. A snapshot
    /// that cannot be written leaves the journal as it is (nothing is lost) and the next attempt one bound later; a
    /// failed sync stops the journal.
    private func compact(_ writer: inout Writer, state: SimulatorState) {
        do {
            try file.save(state.durableContents(seed: seed, journalSequence: writer.lastSequence))
        } catch {
            if error.committed {
                synchronizer.stop(error.description)
            } else {
                postponeCompaction(&writer)
            }
            return
        }
        // Every line is in the snapshot now: replay would skip them all, so they can go.
        guard file.operations.truncate(writer.descriptor, 0) == 0 else {
            postponeCompaction(&writer)
            return
        }
        let synced = file.operations.fsync(writer.descriptor)
        guard synced == 0 else {
            synchronizer.stop("cannot sync \(file.journalPath) after compacting it: errno \(synced)")
            return
        }
        writer.bytes = 0
        writer.records = 0
        writer.compactAtBytes = bytesMax
        writer.compactAtRecords = recordsMax
        synchronizer.covered(through: writer.lastSequence)
    }

    /// After a compaction that could not be done (nothing lost: the journal keeps every line), the next attempt
    /// comes one bound later, not with every change.
    private func postponeCompaction(_ writer: inout Writer) {
        writer.compactAtBytes = writer.bytes + bytesMax
        writer.compactAtRecords = writer.records + recordsMax
    }
}

/// Group `fdatasync` of the journal: `syncedThrough` grows by one sync for everything written when it started.
/// A caller whose line is covered returns at once; while a sync runs, the others wait for it and then either are
/// covered or start the next one. After a failure every caller not yet covered gets it, and nothing syncs again.
///
/// Two ways to wait: `sync(through:)` blocks its thread (tests, the in-memory path); `whenSynced` registers a
/// callback and returns, and a sync thread of its own (started with the first such waiter, gone after
/// `syncThreadIdleSeconds` without one) syncs for everyone registered — so the simulator's requests never hold the
/// event loop they share with numberd's connections while the disk works, and one sync covers every request
/// written meanwhile, not one per loop thread. Both kinds share the syncs.
private final class GroupSync: @unchecked Sendable {
    private struct Waiter {
        var sequence: Int
        var done: @Sendable (String?) -> Void
    }

    /// How long the sync thread stays without a waiter before it ends.
    static let syncThreadIdleSeconds = 2.0

    // Every stored property below is read and written only with `condition` locked.
    private let condition = NSCondition()
    private var descriptor: Int32 = -1
    private var written: Int
    private var synced: Int
    private var syncing = false
    private var stoppedBecause: String?
    /// Callbacks waiting for their line (at most one per request in flight: the engine's concurrency gate bounds it).
    private var waiters: [Waiter] = []
    private var syncThreadRunning = false
    private let fdatasync: @Sendable (Int32) -> Int32

    init(syncedThrough: Int, fdatasync: @escaping @Sendable (Int32) -> Int32) {
        written = syncedThrough
        synced = syncedThrough
        self.fdatasync = fdatasync
    }

    private func locked<T>(_ body: () -> T) -> T {
        condition.lock()
        defer { condition.unlock() }
        return body()
    }

    /// Why syncing stopped, or nil.
    var failure: String? {
        locked { stoppedBecause }
    }

    /// The journal's descriptor, once open.
    func attach(_ descriptor: Int32) {
        locked { self.descriptor = descriptor }
    }

    /// Lines through `sequence` are written (not yet synced).
    func wrote(through sequence: Int) {
        locked { written = max(written, sequence) }
    }

    /// Lines through `sequence` are durable another way (a synced snapshot includes them).
    func covered(through sequence: Int) {
        locked {
            written = max(written, sequence)
            synced = max(synced, sequence)
        }
        condition.broadcast()
    }

    /// Stops syncing for good (the first reason is kept) and wakes every waiter.
    func stop(_ reason: String) {
        locked {
            if stoppedBecause == nil { stoppedBecause = reason }
        }
        condition.broadcast()
    }

    /// Waits until lines through `sequence` are synced; nil, or why they may never be.
    func sync(through sequence: Int) -> String? {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if synced >= sequence { return nil }
            if let stoppedBecause { return stoppedBecause }
            if syncing {
                condition.wait()
                continue
            }
            syncOnce()
        }
    }

    /// Calls `done` once lines through `sequence` are synced (nil) or may never be (why): at once on this thread
    /// when that is already known, else on the sync thread. Never blocks on the disk.
    func whenSynced(through sequence: Int, _ done: @escaping @Sendable (String?) -> Void) {
        condition.lock()
        if synced >= sequence || stoppedBecause != nil {
            let failure = synced >= sequence ? nil : stoppedBecause
            condition.unlock()
            return done(failure)
        }
        waiters.append(Waiter(sequence: sequence, done: done))
        let start = !syncThreadRunning
        syncThreadRunning = true
        condition.unlock()
        if start {
            let thread = Thread { self.serveWaiters() }
            thread.name = "twilio-sim-journal-sync"
            thread.start()
        } else {
            condition.broadcast()
        }
    }

    /// The sync thread: answers every waiter whose line is synced (or, after a failure, every one), syncs when some
    /// are left and no sync is running, and ends after `syncThreadIdleSeconds` without a waiter.
    private func serveWaiters() {
        condition.lock()
        while true {
            var ready: [(Waiter, String?)] = []
            waiters.removeAll { waiter in
                if waiter.sequence <= synced {
                    ready.append((waiter, nil))
                } else if let stoppedBecause {
                    ready.append((waiter, stoppedBecause))
                } else {
                    return false
                }
                return true
            }
            if !ready.isEmpty {
                condition.unlock()
                for (waiter, failure) in ready { waiter.done(failure) }
                condition.lock()
                continue
            }
            if waiters.isEmpty {
                let woken = condition.wait(until: Date(timeIntervalSinceNow: Self.syncThreadIdleSeconds))
                if !woken && waiters.isEmpty {
                    syncThreadRunning = false
                    condition.unlock()
                    return
                }
                continue
            }
            if syncing {
                condition.wait()  // a blocking caller's sync; it broadcasts when done
                continue
            }
            syncOnce()
        }
    }

    /// One `fdatasync` of everything written so far, with `condition` locked on entry and exit (unlocked during the
    /// call); wakes every waiter after it.
    private func syncOnce() {
        syncing = true
        let target = written
        let descriptor = self.descriptor
        condition.unlock()
        // The stored `SimulatorFileOperations.fdatasync` (0 or the errno), not libc's `fdatasync` (-1, errno aside).
        let result = self.fdatasync(descriptor)
        condition.lock()
        syncing = false
        if result == 0 {
            synced = max(synced, target)
        } else if stoppedBecause == nil {
            stoppedBecause = "fdatasync failed: errno \(result)"
        }
        condition.broadcast()
    }
}

extension SimulatorStateFile {
    /// The saved state at start-up: the snapshot plus the journal's later lines.
    struct Recovered {
        /// What to restore; nil for an empty account (no files yet).
        var contents: Contents?
        /// The sequence of the last journal line included.
        var lastSequence: Int
        /// The journal's size and lines when the start could not fold it into a fresh snapshot (a full disk): it is
        /// kept, and the running journal appends to it and folds it one bound later. Nil: folded and empty.
        var keptJournal: (bytes: Int, records: Int)?
    }

    /// Loads the snapshot, replays the journal lines above its sequence, and compacts: a fresh snapshot with them,
    /// then an empty journal. A torn or undecodable last line (written, never synced, so never answered) is cut
    /// off; a bad line before it, or a gap in the sequence, refuses the start with the file and line. Throws also
    /// for what `load` refuses, and for a journal with lines but no snapshot (moved away).
    func recover(seed: UInt64) throws -> Recovered {
        let snapshot = try load(seed: seed)
        var data = Data()
        if FileManager.default.fileExists(atPath: journalPath) {
            do {
                data = try Data(contentsOf: URL(fileURLWithPath: journalPath))
            } catch {
                throw StateFileError("cannot read the simulator state journal \(journalPath): \(error)")
            }
        }
        let records = try Self.records(in: data, path: journalPath)
        guard let snapshot else {
            guard records.isEmpty else {
                throw StateFileError(
                    "the simulator state journal \(journalPath) has \(records.count) changes but its state file \(path)"
                        + " is missing: put it back, or move the journal away too to start with an empty account")
            }
            // At most a torn line: the first change writes a snapshot, then appends to an empty journal.
            if !data.isEmpty { try truncateJournal() }
            return Recovered(contents: nil, lastSequence: 0)
        }
        let snapshotSequence = snapshot.journalSequence ?? 0
        var replay = Replay(snapshot)
        for (line, record) in records where record.seq > snapshotSequence {
            guard record.seq == replay.journalSequence + 1 else {
                throw StateFileError(
                    "the simulator state journal \(journalPath): line \(line) has sequence \(record.seq) but follows"
                        + " \(replay.journalSequence): changes are missing")
            }
            replay.apply(record)
        }
        let contents = replay.contents(seed: seed)
        // The snapshot first: once it is on disk every line is in it, so truncating the journal loses nothing. It is
        // saved again whenever the journal holds anything, even lines it already includes: it may be a rename whose
        // folder entry never reached the disk (a crash, or a failed folder sync, right after a compaction), and
        // truncating the journal behind it would lose those lines at the next power cut. A version 1 snapshot is
        // rewritten too, so that a simulator knowing only version 1 refuses the files instead of loading the
        // snapshot without the journal that will follow it.
        if !data.isEmpty || replay.journalSequence != snapshotSequence || snapshot.version != Self.version {
            do {
                try save(contents)
            } catch {
                // A snapshot that cannot be written (a full disk) leaves the journal as a running compaction that
                // cannot be written does: numberd's start on a full disk must not fail on the simulator's fold.
                guard !error.committed, snapshot.version == Self.version else { throw error }
                let kept = records.last.map { data.prefix(through: Self.endOfLine($0.line, in: data)).count } ?? 0
                try keepJournal(bytes: kept, of: data.count)
                return Recovered(
                    contents: contents, lastSequence: replay.journalSequence,
                    keptJournal: (bytes: kept, records: records.count))
            }
        }
        if !data.isEmpty { try truncateJournal() }
        return Recovered(contents: contents, lastSequence: replay.journalSequence)
    }

    /// The index of the newline that ends line `line` (from 1) of `data`, which has at least that many.
    static func endOfLine(_ line: Int, in data: Data) -> Data.Index {
        var seen = 0
        for index in data.indices where data[index] == UInt8(ascii: "\n") {
            seen += 1
            if seen == line { return index }
        }
        preconditionFailure("line \(line) has no newline")
    }

    /// Keeps the journal for the running one to append to, when the start could not fold it into a snapshot: what
    /// that snapshot's save would have made sure of is made sure of here — a torn tail (bytes past `bytes` of
    /// `total`, never answered) cut off so the next line does not follow it, the lines synced (a run that died may
    /// have written lines it never synced, and this one will answer from them), and the snapshot's folder entry
    /// synced (a compaction's rename that may not be on disk). None of it needs room on the disk.
    private func keepJournal(bytes: Int, of total: Int) throws {
        let descriptor = open(journalPath, O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw StateFileError("cannot open \(journalPath): errno \(errno)") }
        defer { close(descriptor) }
        var failure = bytes < total ? operations.truncate(descriptor, bytes) : 0
        if failure == 0 { failure = operations.fsync(descriptor) }
        if failure == 0 { failure = operations.syncFolder(of: path) }
        guard failure == 0 else { throw StateFileError("cannot keep \(journalPath): errno \(failure)") }
    }

    /// The complete, decodable records of a journal with their line numbers (from 1), in order and consecutive.
    static func records(in data: Data, path: String) throws -> [(line: Int, record: SimulatorJournal.Record)] {
        guard !data.isEmpty else { return [] }
        var lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        // After the last newline: empty, or a line whose write did not finish (torn).
        lines.removeLast()
        var records: [(line: Int, record: SimulatorJournal.Record)] = []
        let decoder = JSONDecoder()
        for (index, line) in lines.enumerated() {
            let record: SimulatorJournal.Record
            do {
                record = try decoder.decode(SimulatorJournal.Record.self, from: Data(line))
            } catch {
                // The last line may be a write that was never synced (so never answered); any other is damage.
                if index == lines.count - 1 && data.last == UInt8(ascii: "\n") { break }
                throw StateFileError(
                    "the simulator state journal \(path): line \(index + 1) is not a journal record: \(error)")
            }
            if let previous = records.last?.record.seq, record.seq != previous + 1 {
                throw StateFileError(
                    "the simulator state journal \(path): line \(index + 1) has sequence \(record.seq) after"
                        + " \(previous)")
            }
            records.append((index + 1, record))
        }
        return records
    }

    /// Empties the journal durably (after a snapshot that includes all of it).
    private func truncateJournal() throws {
        let descriptor = open(journalPath, O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw StateFileError("cannot open \(journalPath): errno \(errno)") }
        defer { close(descriptor) }
        var failure = operations.truncate(descriptor, 0)
        if failure == 0 { failure = operations.fsync(descriptor) }
        guard failure == 0 else { throw StateFileError("cannot truncate \(journalPath): errno \(failure)") }
    }

    /// A snapshot with journal lines applied, keyed by SID.
    struct Replay {
        var numbers: [String: Entry<IncomingNumber>] = [:]
        var trunks: [String: Entry<Trunk>] = [:]
        var soldElsewhere: Set<String>
        var sidGenerator: UInt64
        var sequence: Int
        var journalSequence: Int

        init(_ contents: Contents) {
            for entry in contents.numbers { numbers[entry.value.sid] = entry }
            for entry in contents.trunks { trunks[entry.value.sid] = entry }
            soldElsewhere = Set(contents.soldElsewhere ?? [])
            sidGenerator = contents.sidGenerator
            sequence = contents.sequence
            journalSequence = contents.journalSequence ?? 0
        }

        mutating func apply(_ record: SimulatorJournal.Record) {
            for entry in record.numbers { numbers[entry.value.sid] = entry }
            for sid in record.releasedNumbers { numbers[sid] = nil }
            for entry in record.trunks { trunks[entry.value.sid] = entry }
            for sid in record.deletedTrunks { trunks[sid] = nil }
            soldElsewhere.formUnion(record.soldElsewhere ?? [])
            sidGenerator = record.sidGenerator
            sequence = record.lastCreation
            journalSequence = record.seq
        }

        /// In creation order, as `SimulatorState.durableContents` lists them.
        func contents(seed: UInt64) -> Contents {
            Contents(
                version: SimulatorStateFile.version, seed: seed, sidGenerator: sidGenerator, sequence: sequence,
                numbers: numbers.values.sorted { $0.sequence < $1.sequence },
                trunks: trunks.values.sorted { $0.sequence < $1.sequence }, journalSequence: journalSequence,
                soldElsewhere: soldElsewhere.sorted())
        }
    }
}
