import Foundation
import NumberCore
import Testing

/// What numberd's `numberd_last_snapshot_timestamp_seconds` and `numberd_last_snapshot_bytes` read: the newest
/// snapshot's size and when a snapshot last succeeded — written, or asked for with nothing new to write (an idle
/// store's snapshot is current, so an alert on its age must not fire). A failed snapshot changes nothing.
@Suite("File store: the last snapshot's status")
struct SnapshotStatusTests {
    static func size(of seq: UInt64, in directory: URL) throws -> Int {
        let path = directory.appendingPathComponent(JournalLayout.snapshotName(seq: seq)).path
        return try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
    }

    @Test("a written snapshot gives its seq and file size; one with nothing new confirms it later; reopened, the size")
    func writtenThenConfirmed() async throws {
        let directory = FileNumberStoreTests.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let options = FileNumberStore.Options(journal: .defaults, snapshotEveryRecords: 10_000)
        let (store, service, account) = try await FileNumberStoreTests.open(directory, options)
        _ = try await service.addFunds(accountId: account.id, amount: 100)
        #expect(store.lastSnapshot == nil)
        let before = Date()
        try await store.writeSnapshot()
        let written = try #require(store.lastSnapshot)
        #expect(written.seq == store.snapshotSeq && written.seq == 2)
        #expect(written.bytes == (try Self.size(of: written.seq, in: directory)))
        #expect(written.confirmedAt >= before)
        try await Task.sleep(for: .milliseconds(20))
        try await store.writeSnapshot()
        let confirmed = try #require(store.lastSnapshot)
        #expect(confirmed.seq == written.seq && confirmed.bytes == written.bytes)
        #expect(confirmed.confirmedAt > written.confirmedAt)
        await store.close()
        // Opened from that snapshot with nothing to replay: the first request confirms it, with its size.
        let reopened = try FileNumberStore.open(directory: directory, options: options)
        try await reopened.writeSnapshot()
        #expect(reopened.lastSnapshot?.seq == written.seq)
        #expect(reopened.lastSnapshot?.bytes == written.bytes)
        await reopened.close()
    }

    @Test("a failed snapshot leaves the last status as it was")
    func failureChangesNothing() async throws {
        let directory = FileNumberStoreTests.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let fileSystem = FaultInjectingFileSystem()
        var journal = JournalOptions.defaults
        journal.fileSystem = fileSystem
        let options = FileNumberStore.Options(journal: journal, snapshotEveryRecords: 10_000)
        let (store, service, account) = try await FileNumberStoreTests.open(directory, options)
        try await store.writeSnapshot()
        let first = try #require(store.lastSnapshot)
        _ = try await service.addFunds(accountId: account.id, amount: 100)
        fileSystem.addRule(.init(.fdatasync, pathContains: "snapshot-", action: .fail(errno: ENOSPC)))
        await #expect(throws: (any Error).self) { try await store.writeSnapshot() }
        #expect(store.lastSnapshot == first)
        #expect(store.snapshotFailureCount == 1)
        await store.close()
    }

    @Test("a snapshot is due once the journal grew by the fraction of the newest snapshot's size: asked only if due")
    func dueByJournalGrowth() async throws {
        let directory = FileNumberStoreTests.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (store, service, account, written) = try await Self.snapshottedStore(directory, journal: .defaults)
        // One record is far less than half the snapshot: not due; the snapshot counts as current.
        _ = try await service.addFunds(accountId: account.id, amount: 100)
        try await Task.sleep(for: .milliseconds(20))
        try await store.writeSnapshotIfDue()
        let skipped = try #require(store.lastSnapshot)
        #expect(skipped.seq == written.seq && store.snapshotSeq == written.seq, "nothing written")
        #expect(skipped.confirmedAt > written.confirmedAt, "confirmed current")
        // Records up to half its size: due.
        var index = 0
        while store.snapshotSeq == written.seq, index < 2_000 {
            _ = try await service.addFunds(accountId: account.id, amount: 1, idempotencyKey: "k\(index)")
            index += 1
            if index % 10 == 0 { try await store.writeSnapshotIfDue() }
        }
        #expect(store.snapshotSeq > written.seq, "written once the journal grew enough")
        #expect(index > 10, "not before: \(index) records")
        // Asked for outright, a snapshot is written whatever the journal's growth (the shutdown's).
        _ = try await service.addFunds(accountId: account.id, amount: 1)
        let before = store.snapshotSeq
        try await store.writeSnapshot()
        #expect(store.snapshotSeq > before)
        await store.close()
    }

    @Test("after a failed snapshot, the next one asked for if due is written: growth counts from the last good one")
    func failedSnapshotIsRetried() async throws {
        let directory = FileNumberStoreTests.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let fileSystem = FaultInjectingFileSystem()
        var journal = JournalOptions.defaults
        journal.fileSystem = fileSystem
        journal.fatal = { _ in }
        let (store, service, account, written) = try await Self.snapshottedStore(directory, journal: journal)
        _ = try await service.addFunds(accountId: account.id, amount: 100)
        // The next snapshot fails; the status stays the last good one's.
        fileSystem.addRule(.init(.write, pathContains: "snapshot-", action: .fail(errno: EIO)))
        await #expect(throws: (any Error).self) { try await store.writeSnapshot() }
        #expect(store.lastSnapshot == written, "a failed snapshot changes nothing")
        // One record since is far from half the snapshot, but the failure left growth unmeasured: due.
        try await store.writeSnapshotIfDue()
        #expect(store.snapshotSeq > written.seq, "retried")
        #expect(try #require(store.lastSnapshot).seq > written.seq)
        await store.close()
    }

    @Test("a store opened with records after its snapshot snapshots when asked if due, whatever their size")
    func replayedTailIsDue() async throws {
        let directory = FileNumberStoreTests.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (store, service, account, _) = try await Self.snapshottedStore(directory, journal: .defaults)
        _ = try await service.addFunds(accountId: account.id, amount: 100)
        let snapshotSeq = store.snapshotSeq
        await store.close()  // no snapshot of its own: the record stays after the snapshot
        let reopened = try FileNumberStore.open(directory: directory, options: Self.growthOptions(.defaults))
        try await reopened.writeSnapshotIfDue()
        #expect(reopened.snapshotSeq > snapshotSeq, "the replayed record is not measured: due")
        await reopened.close()
    }

    /// Record-count snapshots every 10 000 records, due once the journal grew by half the newest snapshot.
    static func growthOptions(_ journal: JournalOptions) -> FileNumberStore.Options {
        var options = FileNumberStore.Options(journal: journal, snapshotEveryRecords: 10_000)
        options.snapshotJournalFraction = 0.5
        return options
    }

    /// A store whose state is far larger than one record (200 accounts), snapshotted: its status then.
    static func snapshottedStore(
        _ directory: URL, journal: JournalOptions
    ) async throws -> (FileNumberStore, NumberService, Account, FileNumberStore.SnapshotStatus) {
        let (store, service, account) = try await FileNumberStoreTests.open(directory, growthOptions(journal))
        for index in 0..<200 { _ = try await service.createAccount(name: "Account \(index)", currency: "USD") }
        try await store.writeSnapshot()
        return (store, service, account, try #require(store.lastSnapshot))
    }
}
