import Foundation
import NumberCore
import Testing

/// Start-up recovery of `FileJournal`: torn tails, corruption, gaps, snapshot fallback, segment cleanup.
@Suite("FileJournal recovery")
struct FileJournalRecoveryTests {
    let segment = "journal-00000000000000000001.jsonl"

    /// Appends `count` single-event records to a fresh journal and closes it.
    func journal(with count: Int, in directory: TempDirectory) async throws {
        let opened = try ToyFileJournal.open(
            directory: directory.url, options: quietOptions(), initialState: ToyState(), apply: toyApply)
        for index in 1...count {
            _ = try await opened.journal.append([.deposit(account: "a", cents: Int64(index))])
        }
        await opened.journal.close()
    }

    func open(_ directory: TempDirectory) throws -> OpenedJournal<ToyFileJournal> {
        try ToyFileJournal.open(
            directory: directory.url, options: quietOptions(), initialState: ToyState(), apply: toyApply)
    }

    /// Byte offsets where each line of `bytes` starts, plus the end.
    func lineStarts(_ bytes: [UInt8]) -> [Int] {
        [0] + bytes.indices.filter { bytes[$0] == UInt8(ascii: "\n") }.map { $0 + 1 }
    }

    @Test("a torn last record at every byte offset is cut off, kept aside, and the rest recovers")
    func tornTailAtEveryOffset() async throws {
        let source = TempDirectory()
        defer { source.remove() }
        try await journal(with: 3, in: source)
        let full = try source.bytes(segment)
        let starts = lineStarts(full)
        let lastStart = starts[2]
        #expect(starts.last == full.count)
        // Cut inside the last record (1 byte ... all but its newline) and also damage its checksum.
        var cases: [(String, [UInt8])] = (lastStart + 1..<full.count).map { ("cut at \($0)", Array(full[..<$0])) }
        var flipped = full
        flipped[full.count - 5] ^= 0x01
        cases.append(("bad checksum on the last line", flipped))
        for (label, bytes) in cases {
            let directory = TempDirectory()
            defer { directory.remove() }
            try directory.write(segment, bytes)
            let opened = try open(directory)
            #expect(opened.lastSeq == 2, "\(label)")
            #expect(opened.state.balances == ["a": 3], "\(label)")
            #expect(opened.recovery.tornFiles.count == 1, "\(label)")
            let torn = try #require(opened.recovery.tornFiles.first)
            #expect(try directory.bytes(torn) == Array(bytes[lastStart...]), "\(label)")
            #expect(try directory.bytes(segment) == Array(full[..<lastStart]), "\(label)")
            // The next record continues the sequence right after the cut.
            #expect(try await opened.journal.append([.note("next")]) == 3, "\(label)")
            await opened.journal.close()
            let again = try open(directory)
            #expect(again.lastSeq == 3 && again.recovery.tornFiles.isEmpty, "\(label)")
            await again.journal.close()
        }
    }

    /// A journal whose writer wrote record 1 alone, then records 2–9 as one batch (one write, one sync): the writer is
    /// held in the first sync while the eight appends queue.
    func journalWithBatch(in directory: TempDirectory) async throws {
        let fileSystem = FaultInjectingFileSystem()
        let opened = try ToyFileJournal.open(
            directory: directory.url, options: quietOptions(fileSystem: fileSystem), initialState: ToyState(),
            apply: toyApply)
        let journal = opened.journal
        fileSystem.pause(.fdatasync)
        let syncsBefore = fileSystem.count(.fdatasync)
        try await withThrowingTaskGroup(of: UInt64.self) { group in
            defer { fileSystem.resume(.fdatasync) }
            group.addTask { try await journal.append([.deposit(account: "a", cents: 1)]) }
            let deadline = ContinuousClock.now + .seconds(60)
            while fileSystem.count(.fdatasync) == syncsBefore || journal.queuedRecordCount > 0,
                ContinuousClock.now < deadline
            {
                try await Task.sleep(for: .milliseconds(2))
            }
            for cents in 2...9 {
                group.addTask { try await journal.append([.deposit(account: "a", cents: Int64(cents))]) }
            }
            while journal.queuedRecordCount < 8, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(2))
            }
            try #require(journal.queuedRecordCount == 8)
            fileSystem.resume(.fdatasync)
            for try await _ in group {}
        }
        await journal.close()
    }

    /// A segment can end on whole lines of a batch whose later records never arrived (a write stopped at a line's
    /// end, or an earlier start that cut the tail and failed before making the next segment): nothing is torn, yet the
    /// next batch must go to a new segment, or a power cut during it would read as damage before the last record.
    @Test("a segment ending on whole lines of a cut batch, nothing torn: the journal goes on in a new segment")
    func cutBatchWithoutTornTail() async throws {
        let source = TempDirectory()
        defer { source.remove() }
        try await journalWithBatch(in: source)
        let full = try source.bytes(segment)
        let starts = lineStarts(full)
        let directory = TempDirectory()
        defer { directory.remove() }
        try directory.write(segment, Array(full[..<starts[4]]))  // records 1...4, the batch [2,9] cut after 4
        let opened = try open(directory)
        #expect(opened.lastSeq == 4)
        #expect(opened.recovery.tornFiles.isEmpty)
        #expect(directory.segments() == [segment, "journal-00000000000000000005.jsonl"])
        #expect(try await opened.journal.append([.note("next")]) == 5)
        await opened.journal.close()
        #expect(try directory.bytes(segment) == Array(full[..<starts[4]]), "the cut segment is never written again")
        // A whole batch at the end keeps the segment.
        let whole = TempDirectory()
        defer { whole.remove() }
        try whole.write(segment, full)
        let reopened = try open(whole)
        #expect(reopened.lastSeq == 9 && whole.segments() == [segment])
        await reopened.journal.close()
    }

    /// The new segment a start makes after a cut batch is named after the next seq. Left empty (the start failed
    /// after making it, or nothing was written before the next stop), or holding only a torn first line, it takes the
    /// next batch itself: the next start used to judge it by the cut batch of the segment before and create the same
    /// file again, refused with `EEXIST` at every start.
    @Test("an empty or wholly torn segment after a cut batch takes the next batch: every later start opens")
    func emptySegmentAfterACutBatch() async throws {
        let source = TempDirectory()
        defer { source.remove() }
        try await journalWithBatch(in: source)
        let full = try source.bytes(segment)
        let kept = Array(full[..<lineStarts(full)[4]])  // records 1...4, the batch [2,9] cut after 4
        let next = "journal-00000000000000000005.jsonl"
        for torn in [false, true] {
            let directory = TempDirectory()
            defer { directory.remove() }
            try directory.write(segment, kept)
            let first = try open(directory)
            #expect(first.lastSeq == 4 && directory.segments() == [segment, next], "torn: \(torn)")
            await first.journal.close()
            if torn {
                // The first batch of the new segment, cut inside its first line (no newline).
                let line = JournalCodec.recordLine(
                    seq: 5, time: 1, batch: RecordBatch(first: 5, last: 6),
                    eventsJSON: Array(#"[{"note":{"_0":"x"}}]"#.utf8))
                try directory.write(next, Array(line.prefix(30)))
            }
            let second = try open(directory)
            #expect(second.lastSeq == 4, "torn: \(torn)")
            #expect(second.recovery.tornFiles.count == (torn ? 1 : 0), "torn: \(torn)")
            #expect(directory.segments() == [segment, next], "torn: \(torn)")
            #expect(try directory.bytes(next).isEmpty, "torn: \(torn)")
            #expect(try await second.journal.append([.note("next")]) == 5, "torn: \(torn)")
            await second.journal.close()
            #expect(try directory.bytes(segment) == kept, "the cut segment is never written again (torn: \(torn))")
            let third = try open(directory)
            #expect(third.lastSeq == 5 && third.state.notes == ["next"], "torn: \(torn)")
            #expect(directory.segments() == [segment, next], "torn: \(torn)")
            await third.journal.close()
        }
    }

    @Test("a power cut inside the last batch (a page never written, records after it intact) is cut off, not refused")
    func powerCutInsideTheLastBatch() async throws {
        let source = TempDirectory()
        defer { source.remove() }
        try await journalWithBatch(in: source)
        let full = try source.bytes(segment)
        let starts = lineStarts(full)
        let lines = full.split(separator: UInt8(ascii: "\n")).map { String(decoding: $0, as: UTF8.self) }
        #expect(lines.count == 9)
        #expect(lines[0].hasPrefix(#"{"seq":1,"time":"#) && lines[0].contains(#""batch":[1,1],"#))
        #expect(lines[1...].allSatisfy { $0.contains(#""batch":[2,9],"#) }, "\(lines)")
        // Zero 48 bytes at each place inside the batch (a sector the cut left unwritten): each opens, keeping the
        // records before the zeroed bytes, the rest kept aside, and the journal goes on after them.
        for from in stride(from: starts[1], to: full.count - 1, by: 37) {
            let directory = TempDirectory()
            defer { directory.remove() }
            var bytes = full
            for index in from..<min(from + 48, full.count) { bytes[index] = 0 }
            try directory.write(segment, bytes)
            let cut = starts.last { $0 <= from }!
            let kept = starts.firstIndex(of: cut)!
            let opened = try open(directory)
            #expect(opened.lastSeq == UInt64(kept), "zeroed from \(from)")
            // The deposits of the records kept (the batch's appenders raced: seq order is not cents order).
            var expected = ToyState()
            for line in full[..<cut].split(separator: UInt8(ascii: "\n")) {
                for event in try JournalCodec.decode(RecordFrame<ToyEvent>.self, line).events {
                    try toyApply(&expected, event)
                }
            }
            #expect(opened.state.balances == expected.balances, "zeroed from \(from)")
            let torn = try #require(opened.recovery.tornFiles.first)
            #expect(try directory.bytes(torn) == Array(bytes[cut...]), "zeroed from \(from)")
            #expect(try directory.bytes(segment) == Array(full[..<cut]), "zeroed from \(from)")
            #expect(try await opened.journal.append([.note("next")]) == UInt64(kept + 1), "zeroed from \(from)")
            await opened.journal.close()
        }
        // After a cut the journal goes on in a new segment: the records kept still name the batch that was cut, and
        // a later batch written after them in the same file would make the next power cut there look like damage to
        // acknowledged records (review finding: refused; `SegmentScannerTests.staleBatchAfterACut`).
        do {
            let directory = TempDirectory()
            defer { directory.remove() }
            var bytes = full
            for index in (starts[4] + 5)..<(starts[4] + 40) { bytes[index] = 0 }
            try directory.write(segment, bytes)
            let opened = try open(directory)
            #expect(opened.lastSeq == 4)
            #expect(directory.segments() == [segment, "journal-00000000000000000005.jsonl"])
            #expect(try await opened.journal.append([.note("next")]) == 5)
            await opened.journal.close()
            #expect(try directory.bytes(segment) == Array(full[..<starts[4]]), "the cut segment is never written again")
            #expect(try directory.bytes("journal-00000000000000000005.jsonl").count > 0)
            let again = try open(directory)
            #expect(again.lastSeq == 5 && again.state.notes == ["next"])
            await again.journal.close()
        }
        // The same damage in record 1, acknowledged before the batch was written: refused, nothing changed.
        let directory = TempDirectory()
        defer { directory.remove() }
        var bytes = full
        for index in 10..<30 { bytes[index] = 0 }
        try directory.write(segment, bytes)
        let error = #expect(throws: JournalError.self) { _ = try open(directory) }
        #expect(error?.code == .corruptRecord && error?.offset == 0)
        #expect(try directory.bytes(segment) == bytes)
    }

    @Test("a flipped bit in a middle record refuses to start and names file and offset")
    func flippedBitInMiddle() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        try await journal(with: 3, in: directory)
        let original = try directory.bytes(segment)
        let starts = lineStarts(original)
        // One flipped bit in each byte of the middle record, its newline included (which merges it with the next).
        for index in starts[1]..<starts[2] {
            var bytes = original
            bytes[index] ^= UInt8(1 << (index % 8))
            try directory.write(segment, bytes)
            let error = #expect(throws: JournalError.self, "byte \(index)") { _ = try open(directory) }
            #expect(error?.code == .corruptRecord, "byte \(index)")
            #expect(error?.file?.hasSuffix(segment) == true, "byte \(index)")
            #expect(error?.offset == starts[1], "byte \(index)")
            // Nothing was modified.
            #expect(try directory.bytes(segment) == bytes, "byte \(index)")
        }
    }

    @Test("a sequence gap inside a segment refuses to start")
    func sequenceGapInSegment() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        try await journal(with: 3, in: directory)
        let bytes = try directory.bytes(segment)
        let starts = lineStarts(bytes)
        // Drop record 2 entirely: 1 then 3.
        try directory.write(segment, Array(bytes[..<starts[1]] + bytes[starts[2]...]))
        let error = #expect(throws: JournalError.self) { _ = try open(directory) }
        #expect(error?.code == .sequenceGap)
        #expect(error?.offset == starts[1])
    }

    @Test("a missing segment between two others is a sequence gap")
    func sequenceGapAcrossSegments() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        try await journal(with: 3, in: directory)
        let bytes = try directory.bytes(segment)
        let starts = lineStarts(bytes)
        // Move record 3 to a segment that claims to start at 4.
        try directory.write(segment, Array(bytes[..<starts[2]]))
        try directory.write("journal-00000000000000000004.jsonl", Array(bytes[starts[2]...]))
        let error = #expect(throws: JournalError.self) { _ = try open(directory) }
        #expect(error?.code == .sequenceGap)
    }

    @Test("a journal that does not start at 1 without a snapshot is refused")
    func missingJournalStart() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        try await journal(with: 2, in: directory)
        try FileManager.default.moveItem(
            at: directory.file(segment), to: directory.file("journal-00000000000000000005.jsonl"))
        let error = #expect(throws: JournalError.self) { _ = try open(directory) }
        #expect(error?.code == .missingJournal)
    }

    @Test("snapshots rotate segments, and segments covered by the older kept snapshot are deleted")
    func segmentCleanup() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let opened = try open(directory)
        var state = opened.state
        for round in 1...4 {
            for _ in 0..<3 {
                let event = ToyEvent.deposit(account: "a", cents: 1)
                _ = try await opened.journal.append([event])
                try toyApply(&state, event)
            }
            try await opened.journal.writeSnapshot(state, throughSeq: UInt64(round * 3))
        }
        // Snapshots 9 and 12 kept; the segment starting at 13 is open; the one holding 10...12 is needed by 9.
        #expect(directory.snapshots() == ["snapshot-00000000000000000009.json", "snapshot-00000000000000000012.json"])
        #expect(directory.segments() == ["journal-00000000000000000010.jsonl", "journal-00000000000000000013.jsonl"])
        _ = try await opened.journal.append([.note("tail")])
        await opened.journal.close()
        let reopened = try open(directory)
        #expect(reopened.lastSeq == 13)
        #expect(reopened.state.balances == ["a": 12])
        #expect(reopened.recovery.replayedRecords == 1)
        await reopened.journal.close()
    }

    @Test("a damaged newest snapshot falls back to the previous one plus the journal")
    func snapshotFallback() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let opened = try open(directory)
        var state = opened.state
        for round in 1...3 {
            for _ in 0..<2 {
                let event = ToyEvent.deposit(account: "a", cents: 10)
                _ = try await opened.journal.append([event])
                try toyApply(&state, event)
            }
            try await opened.journal.writeSnapshot(state, throughSeq: UInt64(round * 2))
        }
        _ = try await opened.journal.append([.note("after")])
        await opened.journal.close()
        let newest = "snapshot-00000000000000000006.json"
        var bytes = try directory.bytes(newest)
        bytes[bytes.count / 2] ^= 0x20
        try directory.write(newest, bytes)

        let reopened = try open(directory)
        #expect(reopened.recovery.snapshotSeq == 4)
        #expect(reopened.recovery.damagedSnapshots.count == 1)
        #expect(reopened.recovery.replayedRecords == 3)
        #expect(reopened.lastSeq == 7)
        #expect(reopened.state.balances == ["a": 60])
        #expect(reopened.state.notes == ["after"])
        #expect(!directory.snapshots().contains(newest))
        await reopened.journal.close()
    }

    /// Records 1...7 with snapshots at 2, 4 and 6 (4 and 6 kept; the segments from 5 on), the newest holding the
    /// most notes; returns the final state.
    func journalWithSnapshots(in directory: TempDirectory) async throws -> ToyState {
        let opened = try open(directory)
        var state = opened.state
        for seq in 1...7 {
            let event = ToyEvent.note(String(repeating: "n", count: seq * 10))
            _ = try await opened.journal.append([event])
            try toyApply(&state, event)
            if seq.isMultiple(of: 2) && seq < 7 {
                try await opened.journal.writeSnapshot(state, throughSeq: UInt64(seq))
            }
        }
        await opened.journal.close()
        return state
    }

    let newest = "snapshot-00000000000000000006.json"
    let previous = "snapshot-00000000000000000004.json"

    /// A way the newest snapshot cannot be read.
    struct ReadFault: Sendable, CustomTestStringConvertible {
        var name: String
        var testDescription: String { name }
    }

    @Test(
        "an unreadable newest snapshot falls back to the previous one plus the journal and is left in place",
        arguments: [ReadFault(name: "EIO"), ReadFault(name: "fileTooLarge")])
    func unreadableSnapshotFallback(fault: ReadFault) async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let state = try await journalWithSnapshots(in: directory)
        let fileSystem = FaultInjectingFileSystem()
        var options = quietOptions(fileSystem: fileSystem)
        if fault.name == "EIO" {
            fileSystem.addRule(.init(.readFile, pathContains: newest, action: .fail(errno: EIO)))
        } else {
            options.limits.snapshotBytesMax = try directory.bytes(newest).count - 1
            #expect(try directory.bytes(previous).count <= options.limits.snapshotBytesMax)
        }
        let opened = try ToyFileJournal.open(
            directory: directory.url, options: options, initialState: ToyState(), apply: toyApply)
        #expect(opened.recovery.snapshotSeq == 4)
        #expect(opened.recovery.unreadableSnapshots.map(\.file) == [newest])
        #expect(opened.recovery.damagedSnapshots.isEmpty)
        #expect(opened.recovery.replayedRecords == 3)
        #expect(opened.state == state)
        #expect(directory.snapshots() == [previous, newest], "an unreadable snapshot is not renamed")
        // The next snapshot keeps the previous readable one, not the unreadable one, as its fallback (under the
        // smaller limit the state no longer fits a snapshot at all).
        if fault.name == "EIO" {
            try await opened.journal.writeSnapshot(state, throughSeq: 7)
            #expect(directory.snapshots() == [previous, "snapshot-00000000000000000007.json"])
        }
        await opened.journal.close()
    }

    @Test("every snapshot unusable and the journal not reaching back to seq 1: refused, nothing renamed")
    func noUsableSnapshotAndNoJournalStart() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        _ = try await journalWithSnapshots(in: directory)
        var bytes = try directory.bytes(previous)
        bytes[bytes.count / 2] ^= 0x20
        try directory.write(previous, bytes)
        let files = directory.files()
        let fileSystem = FaultInjectingFileSystem()
        fileSystem.addRule(.init(.readFile, pathContains: newest, action: .fail(errno: EIO)))
        let error = #expect(throws: JournalError.self) {
            _ = try ToyFileJournal.open(
                directory: directory.url, options: quietOptions(fileSystem: fileSystem), initialState: ToyState(),
                apply: toyApply)
        }
        #expect(error?.code == .missingJournal)
        #expect(error?.message.contains("\(newest) unreadable") == true)
        #expect(error?.message.contains("\(previous) damaged") == true)
        #expect(directory.files() == files)
    }

    @Test("damaged snapshots and no journal segment: refused, never opened empty (also after they were set aside)")
    func damagedSnapshotsWithoutJournal() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        _ = try await journalWithSnapshots(in: directory)
        for name in directory.segments() { try FileManager.default.removeItem(at: directory.file(name)) }
        for name in [newest, previous] {
            var bytes = try directory.bytes(name)
            bytes[bytes.count / 2] ^= 0x20
            try directory.write(name, bytes)
        }
        let files = directory.files()
        let error = #expect(throws: JournalError.self) { _ = try open(directory) }
        #expect(error?.code == .missingJournal)
        #expect(directory.files() == files, "a refused open renames nothing and creates no segment")
        // Set aside by an earlier version's open: the name still proves records through seq 6 existed.
        try FileManager.default.moveItem(at: directory.file(newest), to: directory.file(newest + ".damaged-1"))
        try FileManager.default.removeItem(at: directory.file(previous))
        #expect(JournalVerifier.verify(directory: directory.url).problems.map(\.code) == ["missingJournal"])
        let again = #expect(throws: JournalError.self) { _ = try open(directory) }
        #expect(again?.code == .missingJournal)
        #expect(directory.segments().isEmpty)
    }

    @Test("a damaged snapshot beyond the journal's end refuses the open instead of dropping records")
    func damagedSnapshotBeyondJournal() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        try await journal(with: 3, in: directory)
        try directory.write("snapshot-00000000000000000005.json", Array("{\"seq\":5,\"garbage\n".utf8))
        let error = #expect(throws: JournalError.self) { _ = try open(directory) }
        #expect(error?.code == .missingJournal)
        #expect(error?.message.contains("seq 5") == true)
        #expect(directory.snapshots() == ["snapshot-00000000000000000005.json"])
        #expect(JournalVerifier.verify(directory: directory.url).problems.map(\.code).contains("missingJournal"))
    }

    @Test("a snapshot temp file left by a crash is removed at open")
    func tempFileRemoved() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        try await journal(with: 2, in: directory)
        try directory.write("snapshot-00000000000000000002.json.tmp", Array("{\"seq\":2,".utf8))
        let opened = try open(directory)
        #expect(opened.lastSeq == 2)
        #expect(!directory.files().contains("snapshot-00000000000000000002.json.tmp"))
        await opened.journal.close()
    }

    @Test("segmentBytesMax: a full segment is closed and a new one started")
    func segmentSizeRotation() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        var options = quietOptions()
        options.limits.segmentBytesMax = 150
        let opened = try ToyFileJournal.open(
            directory: directory.url, options: options, initialState: ToyState(), apply: toyApply)
        // One record is about 97 bytes: the segment reaches 150 bytes with its second record.
        for _ in 1...5 { _ = try await opened.journal.append([.deposit(account: "a", cents: 1)]) }
        await opened.journal.close()
        #expect(
            directory.segments() == [
                "journal-00000000000000000001.jsonl", "journal-00000000000000000003.jsonl",
                "journal-00000000000000000005.jsonl",
            ])
        let reopened = try open(directory)
        #expect(reopened.lastSeq == 5)
        await reopened.journal.close()
    }

    @Test("an intact last line that does not decode is an error, never cut as torn")
    func undecodableLastLine() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        try await journal(with: 2, in: directory)
        var bytes = try directory.bytes(segment)
        let foreign = JournalCodec.recordLine(seq: 3, time: 1, eventsJSON: Array(#"[{"unknown":1}]"#.utf8))
        bytes += foreign
        try directory.write(segment, bytes)
        let error = #expect(throws: JournalError.self) { _ = try open(directory) }
        #expect(error?.code == .corruptRecord)
        #expect(error?.offset == bytes.count - foreign.count)
        #expect(try directory.bytes(segment) == bytes)
    }

    @Test("an intact snapshot that does not decode refuses to start instead of falling back")
    func undecodableSnapshot() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        try await journal(with: 2, in: directory)
        let name = "snapshot-00000000000000000002.json"
        try directory.write(name, JournalCodec.snapshotLine(seq: 2, time: 1, stateJSON: Array(#"{"other":true}"#.utf8)))
        let error = #expect(throws: JournalError.self) { _ = try open(directory) }
        #expect(error?.code == .corruptRecord)
        #expect(directory.snapshots() == [name])
    }

    @Test("a snapshot whose seq differs from its name refuses to start")
    func snapshotSeqMismatch() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        try await journal(with: 2, in: directory)
        let state = try JournalCodec.encodeJSON(ToyState())
        try directory.write(
            "snapshot-00000000000000000002.json", JournalCodec.snapshotLine(seq: 1, time: 1, stateJSON: state))
        let error = #expect(throws: JournalError.self) { _ = try open(directory) }
        #expect(error?.code == .corruptRecord)
    }

    @Test("a snapshot ahead of the journal's end is a sequence gap, not a silent restart")
    func snapshotAheadOfJournal() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        try await journal(with: 2, in: directory)
        let state = try JournalCodec.encodeJSON(ToyState())
        try directory.write(
            "snapshot-00000000000000000005.json", JournalCodec.snapshotLine(seq: 5, time: 1, stateJSON: state))
        let error = #expect(throws: JournalError.self) { _ = try open(directory) }
        #expect(error?.code == .sequenceGap)
        #expect(!JournalVerifier.verify(directory: directory.url).opensWithoutError)
    }

    @Test("snapshots without any journal segment are refused")
    func snapshotWithoutJournal() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        try await journal(with: 2, in: directory)
        let state = try JournalCodec.encodeJSON(ToyState())
        try directory.write(
            "snapshot-00000000000000000002.json", JournalCodec.snapshotLine(seq: 2, time: 1, stateJSON: state))
        try FileManager.default.removeItem(at: directory.file(segment))
        let error = #expect(throws: JournalError.self) { _ = try open(directory) }
        #expect(error?.code == .missingJournal)
    }
}
