import Foundation
import Synchronization
import Testing

@testable import NumberCore

/// Found by a read-only review of the store (seventeenth session); each case failed before its fix.
@Suite("FileJournal: a full disk, a failed listing, a hung rotation, a stray segment")
struct StoreReviewTests {
    /// A journal over `fileSystem` with `limits` changed by `configure`, and its fatal handler's record.
    func open(
        _ directory: TempDirectory, _ fileSystem: FaultInjectingFileSystem,
        configure: (inout JournalOptions) -> Void = { _ in }
    ) throws -> (ToyFileJournal, FatalRecorder) {
        let recorder = FatalRecorder()
        var options = recorder.options(fileSystem: fileSystem)
        configure(&options)
        let opened = try ToyFileJournal.open(
            directory: directory.url, options: options, initialState: ToyState(), apply: toyApply)
        return (opened.journal, recorder)
    }

    @Test("a snapshot without room for itself plus the reserve is not written; it fails alone and appends go on")
    func snapshotNeedsRoom() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let fileSystem = FaultInjectingFileSystem()
        let (journal, recorder) = try open(directory, fileSystem) { $0.limits.snapshotFreeBytesReserve = 1000 }
        var state = ToyState()
        for cents in 1...3 {
            let event = ToyEvent.deposit(account: "a", cents: Int64(cents))
            _ = try await journal.append([event])
            try toyApply(&state, event)
        }
        // The snapshot's size, computed (its time has 13 digits, as now's): a second snapshot at the seq of one written
        // to measure it would write nothing.
        let stateJSON = try JournalCodec.encodeJSON(state)
        let size = Int64(JournalCodec.snapshotLine(seq: 3, time: JournalLayout.nowMillis(), stateJSON: stateJSON).count)
        let files = directory.files()
        // One byte short of the snapshot and the reserve: refused before a byte is written (it used to write until
        // the disk was full, and the journal's next write found no room and stopped the process).
        fileSystem.setAvailableBytes(size + 1000 - 1)
        let error = await #expect(throws: JournalError.self) { try await journal.writeSnapshot(state, throughSeq: 3) }
        #expect(error?.code == .io, "\(String(describing: error))")
        // Why, in numbers: "No space left on device" alone read as a full disk with megabytes free.
        #expect(
            "\(String(describing: error))".contains(
                "\(size + 999) bytes free, \(size + 1000) needed: the snapshot's \(size) and 1000 kept free"),
            "\(String(describing: error))")
        #expect(directory.files() == files)
        #expect(recorder.recorded.isEmpty)
        #expect(try await journal.append([.note("still writing")]) == 4)
        // Exactly enough: written.
        fileSystem.setAvailableBytes(size + 1000)
        try await journal.writeSnapshot(state, throughSeq: 3)
        #expect(journal.snapshotSeq == 3)
        #expect(try directory.bytes(JournalLayout.snapshotName(seq: 3)).count == size)
        fileSystem.setAvailableBytes(nil)
        await journal.close()
    }

    @Test("a directory listing that fails refuses the open: the store never opens on what part of a listing showed")
    func failedListingRefusesTheOpen() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let (journal, _) = try open(directory, FaultInjectingFileSystem())
        for cents in 1...3 { _ = try await journal.append([.deposit(account: "a", cents: Int64(cents))]) }
        await journal.close()
        let files = directory.files()
        let failing = FaultInjectingFileSystem()
        failing.addRule(.init(.listDirectory, action: .fail(errno: EIO)))
        #expect(throws: (any Error).self) { _ = try open(directory, failing) }
        #expect(directory.files() == files)
        let (reopened, _) = try open(directory, FaultInjectingFileSystem())
        #expect(reopened.durableSeq == 3)
        await reopened.close()
    }

    @Test("the real readdir: a listing of a directory comes back whole, and a new segment never reuses a file")
    func posixListingAndExclusiveCreate() throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let names = (0..<500).map { "file-\($0)" }
        for name in names { try directory.write(name, [1]) }
        let fileSystem = POSIXJournalFileSystem()
        #expect(try fileSystem.listDirectory(directory.path).sorted() == names.sorted())
        let failure = #expect(throws: JournalFailure.self) {
            _ = try fileSystem.open(directory.file("file-0").path, mode: .createNew)
        }
        #expect(failure?.errno == EEXIST)
        let fresh = try fileSystem.open(directory.file("fresh").path, mode: .createNew)
        fileSystem.close(fresh)
    }

    @Test("a segment file already there (one a listing missed) is never appended to: the rotation stops the journal")
    func rotationNeverReusesAFile() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let fileSystem = FaultInjectingFileSystem()
        // Every batch fills a segment: the first append rotates to journal-2.
        let (journal, recorder) = try open(directory, fileSystem) { $0.limits.segmentBytesMax = 1 }
        let stray = JournalLayout.segmentName(firstSeq: 2)
        try directory.write(stray, Array("stray\n".utf8))
        _ = try await journal.append([.note("one")])
        let deadline = ContinuousClock.now + .seconds(60)
        while recorder.recorded.isEmpty, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(recorder.recorded.map(\.errno) == [EEXIST])
        #expect(try directory.bytes(stray) == Array("stray\n".utf8), "appended to a file it did not create")
        await journal.close()
    }

    @Test("a rotation that hangs on the disk stops the journal through the watchdog, as a hung write does")
    func hungRotationIsAStall() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let fileSystem = FaultInjectingFileSystem()
        let (journal, recorder) = try open(directory, fileSystem) {
            $0.limits.segmentBytesMax = 1
            $0.limits.ioStallMaxMilliseconds = 2000
        }
        // The rotation after this append syncs the directory, which hangs.
        fileSystem.pause(.fsyncDirectory)
        defer { fileSystem.resume(.fsyncDirectory) }
        // A starved process can hold the append's own write past the 2 s too: the same stop, and the append throws.
        _ = try? await journal.append([.note("one")])
        let deadline = ContinuousClock.now + .seconds(60)
        while recorder.recorded.isEmpty, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(recorder.recorded.map(\.errno) == [ETIMEDOUT], "a wedged writer and nothing said so")
        fileSystem.resume(.fsyncDirectory)
        await journal.close()
    }
}
