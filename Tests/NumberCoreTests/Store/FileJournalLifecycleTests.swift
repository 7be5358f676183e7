import Foundation
import NumberCore
import Testing

/// Options, locking, retention and snapshot verification of `FileJournal`.
@Suite("FileJournal lifecycle")
struct FileJournalLifecycleTests {
    func open(
        _ directory: TempDirectory, options: JournalOptions = quietOptions()
    ) throws -> OpenedJournal<ToyFileJournal> {
        try ToyFileJournal.open(directory: directory.url, options: options, initialState: ToyState(), apply: toyApply)
    }

    static let invalidLimits: [(String, JournalOptions.Limits)] = [
        ("recordBytesMax 0", .init(recordBytesMax: 0)),
        ("queueBytesMax below recordBytesMax", .init(recordBytesMax: 100, queueBytesMax: 99)),
        ("queueRecordsMax 0", .init(queueRecordsMax: 0)),
        ("batchRecordsMax 0", .init(batchRecordsMax: 0)),
        ("batchBytesMax 0", .init(batchBytesMax: 0)),
        ("segmentBytesMax 0", .init(segmentBytesMax: 0)),
        ("segmentReadBytesMax too small", .init(segmentBytesMax: 1 << 20, segmentReadBytesMax: 1 << 20)),
        ("snapshotBytesMax 0", .init(snapshotBytesMax: 0)),
        ("snapshotBytesMax above the decoder's 4 GiB - 1", .init(snapshotBytesMax: 1 << 32)),
        ("ioStallMaxMilliseconds 0", .init(ioStallMaxMilliseconds: 0)),
        ("snapshotChunkBytes 0", .init(snapshotChunkBytes: 0)),
    ]

    @Test("out-of-range options are refused with invalidOptions", arguments: 0..<invalidLimits.count)
    func invalidOptions(index: Int) throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        var options = quietOptions()
        options.limits = Self.invalidLimits[index].1
        let error = #expect(throws: JournalError.self, "\(Self.invalidLimits[index].0)") {
            _ = try open(directory, options: options)
        }
        #expect(error?.code == .invalidOptions)
    }

    @Test("snapshotsKept below 2 is refused; segmentReadBytesMax exactly at its minimum is taken")
    func optionEdges() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        var options = quietOptions()
        options.snapshotsKept = 1
        #expect(throws: JournalError.self) { _ = try open(directory, options: options) }
        options.snapshotsKept = 2
        let limits = JournalOptions.Limits(
            recordBytesMax: 100, queueBytesMax: 1000, batchRecordsMax: 10, batchBytesMax: 200, segmentBytesMax: 1000,
            // 136 bytes of line around each record's events: 84, and 52 for format 2's `"batch":[first,last]`.
            segmentReadBytesMax: 1000 + 200 + 10 * 136)
        options.limits = limits
        let opened = try open(directory, options: options)
        await opened.journal.close()
        options.limits.segmentReadBytesMax -= 1
        #expect(throws: JournalError.self) { _ = try open(directory, options: options) }
    }

    @Test("opening syncs the last segment: records a killed writer never synced count as durable from then on")
    func openSyncsTheLastSegment() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let first = try open(directory)
        _ = try await first.journal.append([.note("written")])
        await first.journal.close()
        let fileSystem = FaultInjectingFileSystem()
        var options = quietOptions()
        options.fileSystem = fileSystem
        let reopened = try open(directory, options: options)
        #expect(reopened.lastSeq == 1)
        #expect(fileSystem.count(.fdatasync) >= 1, "no torn tail to cut, and still synced before open returns")
        await reopened.journal.close()
    }

    @Test("a journal dropped without close releases its directory")
    func dropWithoutClose() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        do {
            let opened = try open(directory)
            _ = try await opened.journal.append([.note("kept")])
        }
        let again = try open(directory)
        #expect(again.state.notes == ["kept"])
        await again.journal.close()
    }

    @Test("a second spelling of the same directory is still locked")
    func lockThroughSymlink() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let link = directory.url.deletingLastPathComponent().appendingPathComponent("link-\(UUID().uuidString)")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: directory.url)
        defer { try? FileManager.default.removeItem(at: link) }
        let opened = try open(directory)
        let error = #expect(throws: JournalError.self) {
            _ = try ToyFileJournal.open(
                directory: link, options: quietOptions(), initialState: ToyState(), apply: toyApply)
        }
        #expect(error?.code == .locked)
        await opened.journal.close()
    }

    @Test("snapshotsKept 3 keeps three snapshots and the journal back to the oldest")
    func retentionOfThree() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        var options = quietOptions()
        options.snapshotsKept = 3
        let opened = try open(directory, options: options)
        for seq in 1...5 {
            _ = try await opened.journal.append([.note("r\(seq)")])
            try await opened.journal.writeSnapshot(
                ToyState(notes: (1...seq).map { "r\($0)" }, applied: seq), throughSeq: UInt64(seq))
        }
        await opened.journal.close()
        #expect(directory.snapshots().map { JournalLayoutName.seq($0) } == [3, 4, 5])
        #expect(directory.segments().map { JournalLayoutName.seq($0) } == [4, 5, 6])
    }

    @Test("snapshotChunkBytes: 1 byte, the file's size, one less and one more all write and read back the whole file")
    func snapshotChunkEdges() async throws {
        let state = ToyState(notes: ["chunk"], applied: 1)
        let size = JournalCodec.snapshotLine(
            seq: 1, time: 1_700_000_000_000, stateJSON: try JournalCodec.encodeJSON(state)
        ).count
        for chunk in [1, size - 1, size, size + 1] {
            // A directory each: a snapshot at the newest snapshot's seq writes nothing.
            let directory = TempDirectory()
            defer { directory.remove() }
            var options = quietOptions()
            options.limits.snapshotChunkBytes = chunk
            let opened = try open(directory, options: options)
            _ = try await opened.journal.append([.note("chunk")])
            try await opened.journal.writeSnapshot(state, throughSeq: 1)
            await opened.journal.close()
            let reopened = try open(directory)
            #expect(reopened.recovery.snapshotSeq == 1, "chunk \(chunk)")
            #expect(reopened.state == state, "chunk \(chunk)")
            await reopened.journal.close()
        }
    }

    @Test("snapshotBytesMax: exactly the limit is written and read, one byte more is not; over it the journal is used")
    func snapshotLimit() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let first = try open(directory)
        _ = try await first.journal.append([.note("a")])
        let state = ToyState(notes: ["a"], applied: 1)
        try await first.journal.writeSnapshot(state, throughSeq: 1)
        await first.journal.close()
        let size = try directory.bytes("snapshot-00000000000000000001.json").count

        var options = quietOptions()
        options.limits.snapshotBytesMax = size
        let atLimit = try open(directory, options: options)
        #expect(atLimit.recovery.snapshotSeq == 1)
        try await atLimit.journal.writeSnapshot(state, throughSeq: 1)
        let bigger = ToyState(notes: ["ab"], applied: 1)
        let error = await #expect(throws: JournalError.self) {
            try await atLimit.journal.writeSnapshot(bigger, throughSeq: 1)
        }
        #expect(error?.code == .fileTooLarge)
        await atLimit.journal.close()

        // Past the limit the snapshot cannot be read: the journal, which still reaches back to seq 1, stands in.
        options.limits.snapshotBytesMax = size - 1
        let overLimit = try open(directory, options: options)
        #expect(overLimit.recovery.snapshotSeq == nil)
        #expect(overLimit.recovery.unreadableSnapshots.map(\.file) == ["snapshot-00000000000000000001.json"])
        #expect(overLimit.recovery.unreadableSnapshots.first?.reason.contains("fileTooLarge") == true)
        #expect(overLimit.state == state)
        await overLimit.journal.close()
    }

    @Test("open creates a missing data directory, and refuses a path that is a file")
    func dataDirectoryCreation() async throws {
        let parent = TempDirectory()
        defer { parent.remove() }
        let nested = parent.url.appendingPathComponent("a/b")
        let opened = try ToyFileJournal.open(
            directory: nested, options: quietOptions(), initialState: ToyState(), apply: toyApply)
        #expect(try await opened.journal.append([.note("x")]) == 1)
        await opened.journal.close()
        try parent.write("plain-file", [1])
        let error = #expect(throws: JournalFailure.self) {
            _ = try ToyFileJournal.open(
                directory: parent.file("plain-file"), options: quietOptions(), initialState: ToyState(),
                apply: toyApply)
        }
        #expect(error?.errno == ENOTDIR)
    }

    @Test("snapshots and size rotations while writers append: reopen rebuilds the same state, disk stays bounded")
    func snapshotsDuringAppends() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        var options = quietOptions()
        options.limits.segmentBytesMax = 2000
        let opened = try open(directory, options: options)
        let journal = opened.journal
        let owner = OwnerState(opened.state)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<8 {
                group.addTask {
                    for index in 0..<50 {
                        let event = ToyEvent.deposit(account: "w\(writer)", cents: Int64(index))
                        let pending = try owner.state.withLock { state in
                            let pending = try journal.enqueue([event])
                            try toyApply(&state, event)
                            return pending
                        }
                        try await pending.durable()
                        if pending.seq % 25 == 0 {
                            // State and seq taken together under the lock, snapshotted once durable.
                            let (state, seq) = owner.state.withLock { ($0, UInt64($0.applied)) }
                            try await waitUntil { journal.durableSeq >= seq }
                            do {
                                try await journal.writeSnapshot(state, throughSeq: seq)
                            } catch let error as JournalError where error.code == .invalidSnapshotSeq {
                                // A later snapshot got there first.
                            }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let final = owner.state.withLock { $0 }
        await journal.close()
        #expect(directory.snapshots().count == 2)
        // About 20 segments of records were written; only those the two kept snapshots need remain.
        #expect(directory.segments().count <= 8, "\(directory.segments())")
        let reopened = try open(directory)
        #expect(reopened.state == final)
        #expect(reopened.lastSeq == 400)
        await reopened.journal.close()
        #expect(JournalVerifier.verify(directory: directory.url, event: ToyEvent.self, state: ToyState.self).isClean)
    }

    @Test("close while appends are in flight: each one is acknowledged and kept, or refused as closed")
    func closeDuringAppends() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let opened = try open(directory)
        let journal = opened.journal
        let results = await withTaskGroup(of: (String, UInt64?).self) { group in
            for index in 0..<60 {
                group.addTask {
                    let note = "n\(index)"
                    do {
                        return (note, try await journal.append([.note(note)]))
                    } catch {
                        #expect((error as? JournalError)?.code == .closed)
                        return (note, nil)
                    }
                }
            }
            group.addTask {
                await journal.close()
                return ("close", nil)
            }
            return await group.reduce(into: [(String, UInt64?)]()) { $0.append($1) }
        }
        let reopened = try open(directory)
        for case (let note, let seq?) in results {
            #expect(reopened.state.notes[Int(seq) - 1] == note)
        }
        #expect(reopened.state.notes.count == results.filter { $0.1 != nil }.count)
        await reopened.journal.close()
    }
}

/// Reads the seq out of a journal or snapshot file name (tests only).
enum JournalLayoutName {
    static func seq(_ name: String) -> UInt64 {
        UInt64(name.split(separator: "-")[1].split(separator: ".")[0])!
    }
}
