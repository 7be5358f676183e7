import Foundation
import Synchronization
import Testing

@testable import NumberCore

/// Write and sync failures: fail-stop through the fatal handler, never a false acknowledgement; a write that finds no
/// room is refused and cut off, and the journal goes on.
@Suite("FileJournal fault injection")
struct FaultInjectionTests {
    struct Fault: Sendable, CustomTestStringConvertible {
        var operation: FaultInjectingFileSystem.Operation
        var errno: Int32
        /// Whether cutting the failed write off fails too (a write with no room can then not go on).
        var cutOffFails = false
        var testDescription: String {
            "\(operation.rawValue) \(errno == ENOSPC ? "ENOSPC" : "EIO")\(cutOffFails ? ", its cut-off failing" : "")"
        }
    }

    /// A write with no room whose cut-off worked is not here: the journal goes on after it (`noRoom` below).
    static let faults = [
        Fault(operation: .write, errno: ENOSPC, cutOffFails: true), Fault(operation: .write, errno: EIO),
        Fault(operation: .fdatasync, errno: ENOSPC), Fault(operation: .fdatasync, errno: EIO),
    ]

    @Test("a failed write or sync calls the fatal handler once and acknowledges nothing more", arguments: faults)
    func failStop(fault: Fault) async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let (journal, fileSystem, recorder) = try await Self.openedWithThreeRecords(in: directory)
        // The next journal write/sync fails; it is slow to fail so that more appenders wait behind it.
        fileSystem.addRule(.init(.fdatasync, pathContains: "journal-", action: .delay(milliseconds: 100)))
        fileSystem.addRule(.init(fault.operation, pathContains: "journal-", action: .fail(errno: fault.errno)))
        if fault.cutOffFails {
            fileSystem.addRule(.init(.truncate, pathContains: "journal-", repeats: true, action: .fail(errno: EIO)))
        }
        let truncatesBefore = fileSystem.count(.truncate)
        let results = await Self.appendTwenty(to: journal)
        #expect(recorder.recorded.count == 1)
        #expect(recorder.recorded.first?.errno == fault.errno)
        // The cut-off is tried once: after its own failure nothing is tried again (it was, for a write with no room).
        #expect(fileSystem.count(.truncate) - truncatesBefore == 1)
        let successes = results.compactMap { try? $0.get() }
        // With a write fault the first batch fails, so nobody of the 20 may succeed; with a sync fault the same.
        #expect(successes.isEmpty, "acknowledged \(successes) after a failed \(fault.operation)")
        for case .failure(let error) in results { #expect(error.code == .failed) }
        let later = await #expect(throws: JournalError.self) { _ = try await journal.append([.note("later")]) }
        #expect(later?.code == .failed)
        await #expect(throws: JournalError.self) { try await journal.writeSnapshot(ToyState(), throughSeq: 3) }
        await journal.close()

        // The failed batch was cut off before the stop: its bytes may sit in the page cache after a failed
        // writeback (this file system wrote them), and a restart that replayed them would build on records that were
        // never durable. A restart recovers exactly the acknowledged records.
        let reopened = try ToyFileJournal.open(
            directory: directory.url, options: quietOptions(), initialState: ToyState(), apply: toyApply)
        #expect(reopened.lastSeq == 3)
        #expect(reopened.state.balances == ["a": 6])
        #expect(reopened.state.notes.isEmpty)
        if !fault.cutOffFails {
            #expect(reopened.recovery.tornFiles.isEmpty, "cut by the writer, not left for recovery as a torn tail")
        }
        await reopened.journal.close()
    }

    @Test(
        "a write with no room is refused with everything queued behind it, cut off, and the journal goes on",
        arguments: [ENOSPC, EDQUOT])  // EFBIG tries a new segment first: `fileSizeLimitStartsANewSegment`
    func noRoom(errno: Int32) async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let fileSystem = FaultInjectingFileSystem()
        let recorder = FatalRecorder()
        var options = recorder.options(fileSystem: fileSystem)
        options.limits.batchRecordsMax = 4
        let opened = try ToyFileJournal.open(
            directory: directory.url, options: options, initialState: ToyState(), apply: toyApply)
        let journal = opened.journal
        for index in 1...3 { _ = try await journal.append([.deposit(account: "a", cents: Int64(index))]) }
        // The next write puts part of its batch on disk, then finds no room; it is slow to fail so that more records
        // queue behind it (batches of 4: 16 wait for the next batch).
        fileSystem.addRule(.init(.write, pathContains: "journal-", action: .delay(milliseconds: 100)))
        fileSystem.addRule(
            .init(.write, pathContains: "journal-", action: .partialWriteThenFail(bytes: 50, errno: errno)))
        let writesBefore = fileSystem.count(.write)
        let results = await Self.appendTwenty(to: journal)
        #expect(recorder.recorded.isEmpty, "no room is not a fail-stop")
        // The failed write's records and every one queued behind it are refused, never acknowledged; a record that
        // came after the refusal may have been written (and acknowledged) at the seqs given again.
        let refused = results.filter { if case .failure(let error) = $0 { error.code == .noRoom } else { false } }
        let written = results.compactMap { try? $0.get() }
        #expect(refused.count + written.count == 20, "\(results)")
        #expect(refused.count >= 4)
        #expect(written.sorted() == Array(4..<(4 + UInt64(written.count))), "seqs go on from the last acknowledged")
        #expect(fileSystem.count(.write) > writesBefore)
        // The journal goes on: the next record has the next seq, and it is durable.
        let next = try await journal.append([.note("later")])
        #expect(next == 4 + UInt64(written.count))
        await journal.close()

        // Only acknowledged records are on disk, with no gap and nothing torn: the refused batch was cut off.
        let reopened = try ToyFileJournal.open(
            directory: directory.url, options: quietOptions(), initialState: ToyState(), apply: toyApply)
        #expect(reopened.lastSeq == next)
        #expect(reopened.state.balances == ["a": 6])
        #expect(reopened.state.notes.count == written.count + 1)
        #expect(reopened.recovery.tornFiles.isEmpty, "cut by the writer, not left for recovery as a torn tail")
        await reopened.journal.close()
    }

    /// A fault in one step of a snapshot's file work.
    struct SnapshotFault: Sendable, CustomTestStringConvertible {
        var name: String
        var rule: FaultInjectingFileSystem.Rule
        var testDescription: String { name }
    }

    static let snapshotFaults = [
        SnapshotFault(
            name: "temp open EMFILE", rule: .init(.open, pathContains: "snapshot-", action: .fail(errno: EMFILE))),
        SnapshotFault(
            name: "temp write ENOSPC", rule: .init(.write, pathContains: "snapshot-", action: .fail(errno: ENOSPC))),
        SnapshotFault(
            name: "temp write EDQUOT", rule: .init(.write, pathContains: "snapshot-", action: .fail(errno: EDQUOT))),
        SnapshotFault(
            name: "temp fdatasync EIO", rule: .init(.fdatasync, pathContains: "snapshot-", action: .fail(errno: EIO))),
        SnapshotFault(name: "rename EIO", rule: .init(.rename, pathContains: "snapshot-", action: .fail(errno: EIO))),
        SnapshotFault(
            name: "directory sync EIO (after the rename)", rule: .init(.fsyncDirectory, action: .fail(errno: EIO))),
        SnapshotFault(
            name: "read-back open EMFILE",
            rule: .init(.open, pathContains: "snapshot-", occurrence: 2, action: .fail(errno: EMFILE))),
        SnapshotFault(
            name: "read-back EIO", rule: .init(.read, pathContains: "snapshot-", action: .fail(errno: EIO))),
    ]

    /// Opens a journal over `fileSystem` and writes records 1...4 with snapshots at 2 and 4 (so retention would show).
    func journalWithTwoSnapshots(
        _ directory: TempDirectory, _ fileSystem: FaultInjectingFileSystem, _ options: JournalOptions
    ) async throws -> (ToyFileJournal, ToyState) {
        let opened = try ToyFileJournal.open(
            directory: directory.url, options: options, initialState: ToyState(), apply: toyApply)
        var state = opened.state
        for seq in 1...4 {
            let event = ToyEvent.deposit(account: "a", cents: Int64(seq))
            _ = try await opened.journal.append([event])
            try toyApply(&state, event)
            if seq.isMultiple(of: 2) { try await opened.journal.writeSnapshot(state, throughSeq: UInt64(seq)) }
        }
        return (opened.journal, state)
    }

    @Test(
        "a snapshot that cannot be written fails only itself: no fail-stop, its file gone, nothing deleted, appends go on",
        arguments: snapshotFaults)
    func snapshotFailureIsNotFatal(fault: SnapshotFault) async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let fileSystem = FaultInjectingFileSystem()
        let recorder = FatalRecorder()
        let (journal, before) = try await journalWithTwoSnapshots(
            directory, fileSystem, recorder.options(fileSystem: fileSystem))
        var state = before
        for seq in 5...6 {
            let event = ToyEvent.deposit(account: "b", cents: Int64(seq))
            _ = try await journal.append([event])
            try toyApply(&state, event)
        }
        let files = directory.files()
        fileSystem.addRule(fault.rule)
        let error = await #expect(throws: JournalError.self) { try await journal.writeSnapshot(state, throughSeq: 6) }
        #expect(error?.code == .io)
        #expect(recorder.recorded.isEmpty, "a failed snapshot stopped the journal: \(recorder.recorded)")
        // Its temp file (or the renamed snapshot) is gone; the older snapshots and every segment are still there.
        #expect(directory.files() == files)
        #expect(journal.snapshotSeq == 4)
        // The journal goes on, and the next snapshot (the disk healthy again) succeeds and applies retention.
        fileSystem.removeAllRules()
        let event = ToyEvent.note("after")
        #expect(try await journal.append([event]) == 7)
        try toyApply(&state, event)
        try await journal.writeSnapshot(state, throughSeq: 7)
        #expect(directory.snapshots() == ["snapshot-00000000000000000004.json", "snapshot-00000000000000000007.json"])
        await journal.close()
        let reopened = try ToyFileJournal.open(
            directory: directory.url, options: quietOptions(), initialState: ToyState(), apply: toyApply)
        #expect(reopened.state == state)
        #expect(reopened.recovery.snapshotSeq == 7)
        await reopened.journal.close()
    }

    /// An explicit snapshot that read the newest snapshot's seq just before a count-triggered one ended asked for a
    /// second snapshot at that one's seq: it was written again, and a rewrite that failed after its rename removed
    /// `snapshot-<seq>.json`, the newest and trusted one, while the journal still named it (a backup then linked a
    /// missing file). A snapshot at the newest snapshot's seq now touches no file.
    @Test(
        "a snapshot at the newest snapshot's seq writes nothing and leaves that file in place, whatever fault is armed",
        arguments: [FaultInjectingFileSystem.Operation.write, .rename, .fsyncDirectory])
    func snapshotAtTheNewestSeqWritesNothing(failing operation: FaultInjectingFileSystem.Operation) async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let fileSystem = FaultInjectingFileSystem()
        let recorder = FatalRecorder()
        let (journal, state) = try await journalWithTwoSnapshots(
            directory, fileSystem, recorder.options(fileSystem: fileSystem))
        let newest = "snapshot-00000000000000000004.json"
        let files = directory.files()
        let bytes = try directory.bytes(newest)
        let (opens, renames) = (fileSystem.count(.open), fileSystem.count(.rename))
        fileSystem.addRule(.init(operation, repeats: true, action: .fail(errno: EIO)))
        // Another state at the same seq: had it been written, the file would differ.
        try await journal.writeSnapshot(ToyState(notes: ["other"], applied: 4), throughSeq: 4)
        #expect(journal.snapshotSeq == 4)
        #expect(directory.files() == files)
        #expect(try directory.bytes(newest) == bytes)
        #expect(fileSystem.count(.open) == opens && fileSystem.count(.rename) == renames, "a file was opened")
        #expect(recorder.recorded.isEmpty)
        fileSystem.removeAllRules()
        await journal.close()
        let reopened = try ToyFileJournal.open(
            directory: directory.url, options: quietOptions(), initialState: ToyState(), apply: toyApply)
        #expect(reopened.recovery.snapshotSeq == 4)
        #expect(reopened.state == state)
        await reopened.journal.close()
    }

    @Test("a snapshot whose directory sync failed and whose file cannot be removed never counts as a fallback")
    func untrustedSnapshotIsNotKept() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let fileSystem = FaultInjectingFileSystem()
        let recorder = FatalRecorder()
        let (journal, before) = try await journalWithTwoSnapshots(
            directory, fileSystem, recorder.options(fileSystem: fileSystem))
        var state = before
        for seq in 5...8 {
            let event = ToyEvent.deposit(account: "b", cents: Int64(seq))
            _ = try await journal.append([event])
            try toyApply(&state, event)
            guard seq == 6 else { continue }
            // The rename happened, its directory sync failed, and removing the file fails too: it stays on disk.
            fileSystem.addRule(.init(.fsyncDirectory, action: .fail(errno: EIO)))
            fileSystem.addRule(.init(.remove, pathContains: "snapshot-", action: .fail(errno: EIO)))
            await #expect(throws: JournalError.self) { try await journal.writeSnapshot(state, throughSeq: 6) }
            fileSystem.removeAllRules()
            #expect(directory.snapshots().contains("snapshot-00000000000000000006.json"))
        }
        try await journal.writeSnapshot(state, throughSeq: 8)
        // Kept: 8 and 4 (not the untrusted 6, removed now), so the segments after 4 stay for the fallback.
        #expect(directory.snapshots() == ["snapshot-00000000000000000004.json", "snapshot-00000000000000000008.json"])
        #expect(directory.segments().first == "journal-00000000000000000005.jsonl")
        #expect(recorder.recorded.isEmpty)
        await journal.close()
    }

    @Test("ioStallMaxMilliseconds: a snapshot that keeps progressing is timed per chunk, never stopped for its length")
    func slowSnapshotProgresses() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let fileSystem = FaultInjectingFileSystem()
        let recorder = FatalRecorder()
        var options = recorder.options(fileSystem: fileSystem)
        // 5 s: the watchdog times real writes and syncs too, which take seconds on a loaded machine.
        options.limits.ioStallMaxMilliseconds = 5000
        options.limits.snapshotChunkBytes = 64
        let opened = try ToyFileJournal.open(
            directory: directory.url, options: options, initialState: ToyState(), apply: toyApply)
        let notes = (1...8).map { "note \($0) " + String(repeating: "x", count: 40) }
        for note in notes { _ = try await opened.journal.append([.note(note)]) }
        let state = ToyState(notes: notes, applied: notes.count)
        // Each chunk's sync takes 1 s: the whole snapshot (8 chunks and more) takes longer than the limit, each step
        // well under it.
        fileSystem.addRule(
            .init(.fdatasync, pathContains: "snapshot-", repeats: true, action: .delay(milliseconds: 1000)))
        let syncsBefore = fileSystem.count(.fdatasync)
        let started = ContinuousClock.now
        try await opened.journal.writeSnapshot(state, throughSeq: 8)
        #expect(fileSystem.count(.fdatasync) - syncsBefore >= 8)
        #expect(ContinuousClock.now - started > .milliseconds(7500))
        #expect(recorder.recorded.isEmpty)
        #expect(opened.journal.snapshotSeq == 8)
        await opened.journal.close()
    }

    /// The step stalled: a sync, or a rename that goes through once the watchdog gave up on it. That one, found in
    /// the review of the session's diff, left `snapshot-S.json` on disk, never read back nor its directory entry
    /// synced, and not marked untrusted, so the next snapshot kept it as the fallback and deleted the verified one.
    @Test(
        "ioStallMaxMilliseconds: a snapshot step stalled past the limit abandons that snapshot, leaving no file; the journal goes on",
        arguments: [FaultInjectingFileSystem.Operation.fdatasync, .rename])
    func stalledSnapshotIsAbandoned(step: FaultInjectingFileSystem.Operation) async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let fileSystem = FaultInjectingFileSystem()
        let recorder = FatalRecorder()
        var options = recorder.options(fileSystem: fileSystem)
        // 5 s: the watchdog times real writes and syncs too, which take seconds on a loaded machine.
        options.limits.ioStallMaxMilliseconds = 5000
        let opened = try ToyFileJournal.open(
            directory: directory.url, options: options, initialState: ToyState(), apply: toyApply)
        _ = try await opened.journal.append([.note("one")])
        let files = directory.files()
        // The step hangs until the watchdog has given up on it: a rename is held until then (only snapshots rename);
        // the sync, which appends need too, is slowed far past the limit instead.
        defer { fileSystem.resume(.rename) }
        if step == .rename {
            fileSystem.pause(.rename)
        } else {
            fileSystem.addRule(.init(step, pathContains: "snapshot-", action: .delay(milliseconds: 15_000)))
        }
        let snapshot = Task {
            try await opened.journal.writeSnapshot(ToyState(notes: ["one"], applied: 1), throughSeq: 1)
        }
        // Appends are acknowledged while the snapshot is stuck, and after the watchdog gave up on it.
        let deadline = ContinuousClock.now + .seconds(60)
        while !opened.journal.shared.withLock({ $0.snapshotStalled }), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(opened.journal.shared.withLock { $0.snapshotStalled }, "the watchdog never gave up on the step")
        #expect(try await opened.journal.append([.note("two")]) == 2)
        fileSystem.resume(.rename)
        let error = await #expect(throws: JournalError.self) { try await snapshot.value }
        #expect(error?.code == .io)
        #expect(error?.message.contains("stalled") == true)
        #expect(recorder.recorded.isEmpty)
        #expect(directory.files() == files, "the abandoned snapshot's file was left behind")
        #expect(opened.journal.snapshotSeq == 0)
        try await opened.journal.writeSnapshot(ToyState(notes: ["one", "two"], applied: 2), throughSeq: 2)
        #expect(opened.journal.snapshotSeq == 2)
        await opened.journal.close()
    }

    @Test("the read-back compares chunk by chunk: a differing byte, a shorter or a longer file are refused")
    func readBackComparesEveryChunk() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        var options = quietOptions()
        options.limits.snapshotChunkBytes = 7
        let opened = try ToyFileJournal.open(
            directory: directory.url, options: options, initialState: ToyState(), apply: toyApply)
        let content = JournalCodec.snapshotLine(seq: 1, time: 1, stateJSON: Array(#"{"notes":["abc"]}"#.utf8))
        let path = directory.file("check").path
        try directory.write("check", content)
        try opened.journal.checkWrittenSnapshot(path, expected: content)
        var flipped = content
        flipped[content.count - 9] ^= 1
        for bytes in [flipped, Array(content.dropLast()), content + [0x0A]] {
            try directory.write("check", bytes)
            #expect(throws: JournalFailure.self) { try opened.journal.checkWrittenSnapshot(path, expected: content) }
        }
        await opened.journal.close()
    }

    @Test("the stall check: a start recorded after the clock was read is no stall (it used to trap), the limit's edge")
    func stallArithmetic() {
        #expect(!ioStalled(since: nil, now: 5_000, limit: 1_000))
        #expect(!ioStalled(since: 5_001, now: 5_000, limit: 1_000))
        #expect(!ioStalled(since: UInt64.max, now: 0, limit: 0))
        #expect(!ioStalled(since: 4_000, now: 5_000, limit: 1_000))
        #expect(ioStalled(since: 3_999, now: 5_000, limit: 1_000))
    }

    /// The open's sync of the last segment makes durable what a killed process wrote and never synced. Failed, Linux
    /// keeps those pages in its cache, clean: the next start read them and its sync "succeeded", serving records the
    /// disk may not hold. The refused open drops the segment's cached pages, so the next start reads the disk.
    @Test("an open whose sync of the last segment fails drops the segment's cached pages before refusing")
    func failedOpenSyncDropsTheCache() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let opened = try ToyFileJournal.open(
            directory: directory.url, options: quietOptions(), initialState: ToyState(), apply: toyApply)
        for index in 1...3 { _ = try await opened.journal.append([.deposit(account: "a", cents: Int64(index))]) }
        await opened.journal.close()
        let fileSystem = FaultInjectingFileSystem()
        fileSystem.addRule(.init(.fdatasync, pathContains: "journal-", occurrence: 1, action: .fail(errno: EIO)))
        #expect(throws: (any Error).self) {
            _ = try ToyFileJournal.open(
                directory: directory.url, options: quietOptions(fileSystem: fileSystem), initialState: ToyState(),
                apply: toyApply)
        }
        #expect(fileSystem.count(.dropCachedPages) == 1)
        // Nothing else changed: the next open (whose sync works) reads the records the disk holds.
        let reopened = try ToyFileJournal.open(
            directory: directory.url, options: quietOptions(), initialState: ToyState(), apply: toyApply)
        #expect(reopened.lastSeq == 3)
        await reopened.journal.close()
    }

    @Test("ioStallMaxMilliseconds: a sync hanging past the limit stops the journal; a slow one within it does not")
    func stalledSync() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let fileSystem = FaultInjectingFileSystem()
        let recorder = FatalRecorder()
        var options = recorder.options(fileSystem: fileSystem)
        // 5 s: the watchdog times real writes and syncs too, which take seconds on a loaded machine.
        options.limits.ioStallMaxMilliseconds = 5000
        let opened = try ToyFileJournal.open(
            directory: directory.url, options: options, initialState: ToyState(), apply: toyApply)
        // Within the limit: slow but acknowledged.
        fileSystem.addRule(.init(.fdatasync, pathContains: "journal-", occurrence: 1, action: .delay(milliseconds: 20)))
        #expect(try await opened.journal.append([.note("slow")]) == 1)
        #expect(recorder.recorded.isEmpty)
        // Past it: the sync hangs until the watchdog stops the journal, and the stuck appender is never acknowledged.
        fileSystem.pause(.fdatasync)
        defer { fileSystem.resume(.fdatasync) }
        let stuck = Task { try await opened.journal.append([.note("stuck")]) }
        let deadline = ContinuousClock.now + .seconds(60)
        while recorder.recorded.isEmpty, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        fileSystem.resume(.fdatasync)
        let error = await #expect(throws: JournalError.self) { _ = try await stuck.value }
        #expect(error?.code == .failed)
        #expect(recorder.recorded.map(\.errno) == [ETIMEDOUT])
        await opened.journal.close()
    }

    @Test("an enqueued record whose sync fails is never reported durable")
    func enqueueThenFailure() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let fileSystem = FaultInjectingFileSystem()
        let recorder = FatalRecorder()
        let opened = try ToyFileJournal.open(
            directory: directory.url, options: recorder.options(fileSystem: fileSystem), initialState: ToyState(),
            apply: toyApply)
        fileSystem.addRule(.init(.fdatasync, pathContains: "journal-", action: .fail(errno: EIO)))
        let pending = try opened.journal.enqueue([.note("lost")])
        #expect(pending.seq == 1)
        let error = await #expect(throws: JournalError.self) { try await pending.durable() }
        #expect(error?.code == .failed)
        #expect(opened.journal.durableSeq == 0)
        #expect(throws: JournalError.self) { _ = try opened.journal.enqueue([.note("after")]) }
        await opened.journal.close()
    }
}

extension FaultInjectionTests {
    @Test("a full segment whose rotation finds no room refuses writes unwritten, and never grows past one batch more")
    func fullSegmentWithoutRoomForTheNext() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let fileSystem = FaultInjectingFileSystem()
        let recorder = FatalRecorder()
        var options = recorder.options(fileSystem: fileSystem)
        options.limits.segmentBytesMax = 1_024
        let opened = try ToyFileJournal.open(
            directory: directory.url, options: options, initialState: ToyState(), apply: toyApply)
        let journal = opened.journal
        // No room for a new file (a disk out of inodes still takes appends to the open one).
        fileSystem.addRule(.init(.open, pathContains: "journal-", repeats: true, action: .fail(errno: ENOSPC)))
        var acknowledged = 0
        var refused = 0
        for index in 0..<40 {
            do {
                _ = try await journal.append([.note(String(repeating: "x", count: 100) + "\(index)")])
                acknowledged += 1
            } catch let error as JournalError {
                #expect(error.code == .noRoom)
                refused += 1
            }
        }
        #expect(recorder.recorded.isEmpty)
        #expect(refused > 0 && acknowledged > 0)
        let segments = try FileManager.default.contentsOfDirectory(atPath: directory.url.path)
            .filter { $0.hasPrefix("journal-") && $0.hasSuffix(".jsonl") }
        #expect(segments.count == 1)
        let size =
            try FileManager.default.attributesOfItem(atPath: directory.url.path + "/" + segments[0])[.size] as? Int
        #expect((size ?? .max) < 1_024 + 200, "one batch past the limit at most: \(String(describing: size))")
        // Room for a new segment: writes go on there.
        fileSystem.removeAllRules()
        let seq = try await journal.append([.note("after")])
        #expect(seq == UInt64(acknowledged) + 1)
        await journal.close()
        let reopened = try ToyFileJournal.open(
            directory: directory.url, options: quietOptions(), initialState: ToyState(), apply: toyApply)
        #expect(reopened.lastSeq == seq && reopened.state.notes.count == acknowledged + 1)
        await reopened.journal.close()
    }
}

extension FaultInjectionTests {
    /// Two snapshots' segment requests served together: the first's rotation fails and stops the journal; the second
    /// used to rotate (and delete segments) after the stop all the same, and its snapshot was reported a success.
    @Test("after a rotation that stops the journal, the next request waiting with it touches no file")
    func noFileWorkAfterARotationStop() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let (journal, fileSystem, recorder) = try await Self.openedWithThreeRecords(in: directory)
        // The writer is held in a slow write (3 s) while both snapshots are written and queue their requests; then
        // it serves them together, and the first one's new segment cannot be created.
        fileSystem.addRule(.init(.write, pathContains: "journal-", action: .delay(milliseconds: 3000)))
        fileSystem.addRule(.init(.open, pathContains: "journal-", action: .fail(errno: EIO)))
        let segments = {
            try FileManager.default.contentsOfDirectory(atPath: directory.url.path).filter { $0.hasPrefix("journal-") }
        }
        let segmentsBefore = try segments()
        let append = Task { try await journal.append([.note("held")]) }
        try await waitUntil { fileSystem.count(.write) > 0 }
        let older = Task { try await journal.writeSnapshot(ToyState(), throughSeq: 2) }
        let newer = Task { try await journal.writeSnapshot(ToyState(), throughSeq: 3) }
        let (first, second) = (await older.result, await newer.result)
        _ = await append.result
        #expect(recorder.recorded.count == 1)
        #expect((try? first.get()) == nil && (try? second.get()) == nil)
        #expect(try segments() == segmentsBefore, "no segment made (nor any deleted) after the stop")
        await journal.close()
    }
}

extension FaultInjectionTests {
    /// A journal in `directory` on a fault-injecting file system whose fail-stops `recorder` records, holding three
    /// acknowledged deposits (seqs 1...3).
    static func openedWithThreeRecords(
        in directory: TempDirectory
    ) async throws -> (ToyFileJournal, FaultInjectingFileSystem, FatalRecorder) {
        let fileSystem = FaultInjectingFileSystem()
        let recorder = FatalRecorder()
        let opened = try ToyFileJournal.open(
            directory: directory.url, options: recorder.options(fileSystem: fileSystem), initialState: ToyState(),
            apply: toyApply)
        for index in 1...3 { _ = try await opened.journal.append([.deposit(account: "a", cents: Int64(index))]) }
        return (opened.journal, fileSystem, recorder)
    }

    /// Twenty notes appended at once (`n0`…`n19`), each one's seq or error.
    static func appendTwenty(to journal: ToyFileJournal) async -> [Result<UInt64, JournalError>] {
        await withTaskGroup(of: Result<UInt64, JournalError>.self) { group in
            for index in 0..<20 {
                group.addTask {
                    do {
                        return .success(try await journal.append([.note("n\(index)")]))
                    } catch {
                        return .failure(error as! JournalError)
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
    }
}

extension FaultInjectionTests {
    @Test("at the file size limit a batch is written again in a new segment; refused only when it fits in none")
    func fileSizeLimitStartsANewSegment() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let (journal, fileSystem, recorder) = try await Self.openedWithThreeRecords(in: directory)
        fileSystem.addRule(
            .init(.write, pathContains: "journal-", action: .partialWriteThenFail(bytes: 20, errno: EFBIG)))
        #expect(try await journal.append([.note("fits anew")]) == 4)
        // Both tries refused: no segment takes it.
        fileSystem.addRule(
            .init(
                .write, pathContains: "journal-", repeats: true, action: .partialWriteThenFail(bytes: 20, errno: EFBIG))
        )
        let refused = await #expect(throws: JournalError.self) { _ = try await journal.append([.note("never")]) }
        #expect(refused?.code == .noRoom)
        fileSystem.removeAllRules()
        #expect(try await journal.append([.note("after")]) == 5)
        #expect(recorder.recorded.isEmpty)
        await journal.close()
        let segments = try FileManager.default.contentsOfDirectory(atPath: directory.url.path)
            .filter { $0.hasPrefix("journal-") && $0.hasSuffix(".jsonl") }
        #expect(segments.count >= 2)
        let reopened = try ToyFileJournal.open(
            directory: directory.url, options: quietOptions(), initialState: ToyState(), apply: toyApply)
        #expect(reopened.lastSeq == 5 && reopened.state.notes == ["fits anew", "after"])
        #expect(reopened.recovery.tornFiles.isEmpty)
        await reopened.journal.close()
    }
}

extension FaultInjectionTests {
    static let firstSegment = "journal-00000000000000000001.jsonl"

    /// Records 1...4 of a segment a crash cut inside a batch: record 1 alone, then the first three of the batch [2,9],
    /// whole lines (nothing torn); deposits of 1...4 cents.
    static func cutBatchSegment() throws -> [UInt8] {
        var bytes: [UInt8] = []
        for seq in UInt64(1)...4 {
            let events = try JournalCodec.encodeEventsJSON([ToyEvent.deposit(account: "a", cents: Int64(seq))])
            let batch = seq == 1 ? RecordBatch(first: 1, last: 1) : RecordBatch(first: 2, last: 9)
            bytes += JournalCodec.recordLine(seq: seq, time: 1, batch: batch, eventsJSON: events)
        }
        return bytes
    }

    /// After a cut batch the journal must go on in a new segment; with no room to create it (a disk out of inodes, a
    /// quota), the start used to be refused, start after start, where the running writer only postpones a rotation
    /// that finds no room. Now the start goes ahead in that state: writes are refused `noRoom` until the new segment
    /// can be made, and never land in the cut segment.
    @Test("no room for the new segment after a cut batch: the start opens, writes are refused until there is room")
    func noRoomForTheSegmentAfterACutBatch() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let kept = try Self.cutBatchSegment()
        try directory.write(Self.firstSegment, kept)
        let next = "journal-00000000000000000005.jsonl"
        let fileSystem = FaultInjectingFileSystem()
        fileSystem.addRule(.init(.open, pathContains: next, repeats: true, action: .fail(errno: ENOSPC)))
        let recorder = FatalRecorder()
        let opened = try ToyFileJournal.open(
            directory: directory.url, options: recorder.options(fileSystem: fileSystem), initialState: ToyState(),
            apply: toyApply)
        let journal = opened.journal
        #expect(opened.lastSeq == 4 && opened.state.balances == ["a": 10])
        #expect(directory.segments() == [Self.firstSegment])
        for _ in 0..<2 {
            let refused = await #expect(throws: JournalError.self) { _ = try await journal.append([.note("refused")]) }
            #expect(refused?.code == .noRoom)
        }
        #expect(try directory.bytes(Self.firstSegment) == kept, "the cut segment takes no batch")
        #expect(journal.durableSeq == 4)
        // Room again: the rotation goes through first, and the record lands in the new segment.
        fileSystem.removeAllRules()
        #expect(try await journal.append([.note("after")]) == 5)
        #expect(recorder.recorded.isEmpty)
        await journal.close()
        #expect(directory.segments() == [Self.firstSegment, next])
        #expect(try directory.bytes(Self.firstSegment) == kept)
        #expect(try directory.bytes(next).count > 0)
        let reopened = try ToyFileJournal.open(
            directory: directory.url, options: quietOptions(), initialState: ToyState(), apply: toyApply)
        #expect(reopened.lastSeq == 5 && reopened.state.notes == ["after"])
        #expect(directory.segments() == [Self.firstSegment, next])
        await reopened.journal.close()
    }

    /// `EFBIG` is no room too (the file size limit, `ulimit -f`, `LimitFSIZE=`), as for a journal write: the torn
    /// tail is cut without a copy and the start goes on, where it used to be refused.
    @Test("the torn tail's copy refused at the file size limit (EFBIG): the tail is cut without one, the start opens")
    func tornCopyAtTheFileSizeLimit() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let whole = try Self.cutBatchSegment()
        let lastStart = whole.dropLast().lastIndex(of: UInt8(ascii: "\n"))! + 1
        let bytes = Array(whole.dropLast(7))  // record 4 torn: cut inside its checksum, no newline
        try directory.write(Self.firstSegment, bytes)
        let fileSystem = FaultInjectingFileSystem()
        fileSystem.addRule(.init(.write, pathContains: ".torn-", repeats: true, action: .fail(errno: EFBIG)))
        let opened = try ToyFileJournal.open(
            directory: directory.url, options: quietOptions(fileSystem: fileSystem), initialState: ToyState(),
            apply: toyApply)
        #expect(opened.lastSeq == 3 && opened.state.balances == ["a": 6])
        #expect(opened.recovery.tornFiles.isEmpty)
        #expect(!directory.files().contains { $0.contains(".torn-") }, "\(directory.files())")
        #expect(try directory.bytes(Self.firstSegment) == Array(whole[..<lastStart]))
        #expect(try await opened.journal.append([.note("after")]) == 4)
        await opened.journal.close()
    }
}
