import Foundation
import NumberCore
import Synchronization
import Testing

/// Group commit: concurrent appenders share writes and syncs; limits on queue and batch.
@Suite("FileJournal group commit")
struct GroupCommitTests {
    func open(
        _ directory: TempDirectory, fileSystem: FaultInjectingFileSystem, limits: JournalOptions.Limits = .defaults
    ) throws -> OpenedJournal<ToyFileJournal> {
        var options = quietOptions(fileSystem: fileSystem)
        options.limits = limits
        return try ToyFileJournal.open(
            directory: directory.url, options: options, initialState: ToyState(), apply: toyApply)
    }

    /// Waits (bounded by wall-clock time, so a loaded CI machine does not fail it) until `condition` holds.
    func waitUntil(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(300)
        while !condition(), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(2)) }
        try #require(condition())
    }

    @Test("many concurrent appenders: fewer syncs than records, each durable on return, order kept")
    func concurrentAppenders() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let fileSystem = FaultInjectingFileSystem()
        // A slow disk (2 ms per sync) so appenders pile up behind each sync, as they do under load.
        fileSystem.addRule(.init(.fdatasync, pathContains: "journal-", repeats: true, action: .delay(milliseconds: 2)))
        let opened = try open(directory, fileSystem: fileSystem)
        let journal = opened.journal
        let syncsBefore = fileSystem.count(.fdatasync)
        let writers = 32
        let perWriter = 10
        let acked = try await withThrowingTaskGroup(of: [(UInt64, String)].self) { group in
            for writer in 0..<writers {
                group.addTask {
                    var mine: [(UInt64, String)] = []
                    for index in 0..<perWriter {
                        let note = "w\(writer)-\(index)"
                        let seq = try await journal.append([.note(note)])
                        // Durable when it returns: the journal says so, and seqs of one writer only grow.
                        #expect(seq <= journal.durableSeq)
                        #expect(mine.last.map { $0.0 < seq } ?? true)
                        mine.append((seq, note))
                    }
                    return mine
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        let total = writers * perWriter
        let syncs = fileSystem.count(.fdatasync) - syncsBefore
        #expect(syncs < total, "\(syncs) syncs for \(total) records")
        #expect(Set(acked.map(\.0)) == Set(1...UInt64(total)))
        await journal.close()

        let reopened = try ToyFileJournal.open(
            directory: directory.url, options: quietOptions(), initialState: ToyState(), apply: toyApply)
        // Replay order is seq order, and each seq holds the event its appender was told.
        #expect(reopened.state.notes == acked.sorted { $0.0 < $1.0 }.map(\.1))
        await reopened.journal.close()
    }

    @Test("queueRecordsMax: the queue takes exactly the limit, the next append is refused")
    func queueRecordsLimit() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let fileSystem = FaultInjectingFileSystem()
        let opened = try open(directory, fileSystem: fileSystem, limits: .init(queueRecordsMax: 4))
        let journal = opened.journal
        // Hold the writer inside the sync of record 1 so later appends stay queued.
        fileSystem.pause(.fdatasync)
        let syncsBefore = fileSystem.count(.fdatasync)
        try await withThrowingTaskGroup(of: UInt64.self) { group in
            // Released however the body ends, so a failed expectation cannot leave appenders stuck.
            defer { fileSystem.resume(.fdatasync) }
            group.addTask { try await journal.append([.note("first")]) }
            try await waitUntil { journal.queuedRecordCount == 0 && fileSystem.count(.fdatasync) == syncsBefore + 1 }
            for index in 0..<4 { group.addTask { try await journal.append([.note("q\(index)")]) } }
            try await waitUntil { journal.queuedRecordCount == 4 }
            let error = await #expect(throws: JournalError.self) { _ = try await journal.append([.note("over")]) }
            #expect(error?.code == .queueFull)
            fileSystem.resume(.fdatasync)
            var seqs: [UInt64] = []
            for try await seq in group { seqs.append(seq) }
            #expect(seqs.sorted() == [1, 2, 3, 4, 5])
        }
        await journal.close()
    }

    @Test("queueBytesMax: bytes queued up to the limit are taken, one byte more is refused")
    func queueBytesLimit() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let fileSystem = FaultInjectingFileSystem()
        // `[{"note":{"_0":"xxxxx"}}]` is 25 bytes: the queue holds two (50), not a third.
        let opened = try open(directory, fileSystem: fileSystem, limits: .init(recordBytesMax: 25, queueBytesMax: 50))
        let journal = opened.journal
        fileSystem.pause(.fdatasync)
        let syncsBefore = fileSystem.count(.fdatasync)
        try await withThrowingTaskGroup(of: UInt64.self) { group in
            // Released however the body ends, so a failed expectation cannot leave appenders stuck.
            defer { fileSystem.resume(.fdatasync) }
            group.addTask { try await journal.append([.note("first")]) }
            try await waitUntil { journal.queuedRecordCount == 0 && fileSystem.count(.fdatasync) == syncsBefore + 1 }
            for _ in 0..<2 { group.addTask { try await journal.append([.note("xxxxx")]) } }
            try await waitUntil { journal.queuedRecordCount == 2 }
            let error = await #expect(throws: JournalError.self) { _ = try await journal.append([.note("x")]) }
            #expect(error?.code == .queueFull)
            fileSystem.resume(.fdatasync)
            var count = 0
            for try await _ in group { count += 1 }
            #expect(count == 3)
        }
        await journal.close()
    }

    @Test("batchRecordsMax: a backlog is written in batches of at most the limit")
    func batchRecordsLimit() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let fileSystem = FaultInjectingFileSystem()
        let opened = try open(directory, fileSystem: fileSystem, limits: .init(batchRecordsMax: 4))
        let journal = opened.journal
        fileSystem.pause(.fdatasync)
        let syncsBefore = fileSystem.count(.fdatasync)
        let writesBefore = fileSystem.count(.write)
        try await withThrowingTaskGroup(of: UInt64.self) { group in
            // Released however the body ends, so a failed expectation cannot leave appenders stuck.
            defer { fileSystem.resume(.fdatasync) }
            group.addTask { try await journal.append([.note("first")]) }
            try await waitUntil { journal.queuedRecordCount == 0 && fileSystem.count(.fdatasync) == syncsBefore + 1 }
            for index in 0..<10 { group.addTask { try await journal.append([.note("b\(index)")]) } }
            try await waitUntil { journal.queuedRecordCount == 10 }
            fileSystem.resume(.fdatasync)
            for try await _ in group {}
        }
        // 1 record, then 10 queued in batches of 4, 4, 2.
        #expect(fileSystem.count(.fdatasync) - syncsBefore == 4)
        #expect(fileSystem.count(.write) - writesBefore == 4)
        await journal.close()
    }

    @Test("batchBytesMax: a batch stops before the record that would pass the limit")
    func batchBytesLimit() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let fileSystem = FaultInjectingFileSystem()
        // Records of 25 bytes; 50 per batch: 6 queued records take 3 batches.
        let opened = try open(directory, fileSystem: fileSystem, limits: .init(batchBytesMax: 50))
        let journal = opened.journal
        fileSystem.pause(.fdatasync)
        let syncsBefore = fileSystem.count(.fdatasync)
        try await withThrowingTaskGroup(of: UInt64.self) { group in
            // Released however the body ends, so a failed expectation cannot leave appenders stuck.
            defer { fileSystem.resume(.fdatasync) }
            group.addTask { try await journal.append([.note("first")]) }
            try await waitUntil { journal.queuedRecordCount == 0 && fileSystem.count(.fdatasync) == syncsBefore + 1 }
            for _ in 0..<6 { group.addTask { try await journal.append([.note("xxxxx")]) } }
            try await waitUntil { journal.queuedRecordCount == 6 }
            fileSystem.resume(.fdatasync)
            for try await _ in group {}
        }
        #expect(fileSystem.count(.fdatasync) - syncsBefore == 4)
        await journal.close()
    }
}
