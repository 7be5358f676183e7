import Foundation
import Logging
import NumberCore
import Synchronization
import Testing

@Suite("Online backups of a running store")
struct StoreBackupTests {
    /// A fresh data directory and a backup root beside it; `remove()` removes both.
    struct Places {
        let store = FileNumberStoreTests.directory()
        let root = FileNumberStoreTests.directory().appendingPathComponent("backups")

        func remove() {
            try? FileManager.default.removeItem(at: store)
            try? FileManager.default.removeItem(at: root.deletingLastPathComponent())
        }

        /// The entries of the backup root, sorted.
        func entries() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []).sorted()
        }
    }

    /// A store, a service over it with one funded account and one number bought, and a snapshot of all of it.
    static func populated(
        _ directory: URL, fileSystem: any JournalFileSystem = POSIXJournalFileSystem()
    ) async throws
        -> (FileNumberStore, NumberService, Account)
    {
        var journal = JournalOptions.defaults
        journal.fileSystem = fileSystem
        journal.logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let store = try FileNumberStore.open(
            directory: directory, options: FileNumberStore.Options(journal: journal, snapshotEveryRecords: 1_000))
        let provider = FakeProvider()
        let service = try await NumberService.open(store: store, provider: provider, clock: ManualClock(Harness.start))
        let account = try await service.createAccount(name: "Acme", currency: "USD")
        _ = try await service.addFunds(accountId: account.id, amount: 10_000)
        provider.stock(["+14155550100"])
        _ = try await service.purchase(
            PurchaseRequest(accountId: account.id, phoneNumbers: ["+14155550100"], country: "US"))
        return (store, service, account)
    }

    /// The state the store in `backup` opens with, as a restore would open it.
    static func openedState(_ backup: FileNumberStore.Backup) async throws -> CoreState {
        let restored = try FileNumberStore.open(directory: URL(fileURLWithPath: backup.path + "/store"))
        do {
            let state = try await restored.load()
            await restored.close()
            return state
        } catch {
            await restored.close()
            throw error
        }
    }

    /// Whether `body` ends within `seconds`: a bound only a hang outlasts, never a timing the test relies on. When
    /// it runs out, `unblock` lets the body end (the task group waits for it) and the answer is false.
    static func finishes(
        within seconds: Int, unblock: @escaping @Sendable () -> Void,
        _ body: @escaping @Sendable () async throws -> Void
    ) async throws -> Bool {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await body()
                return true
            }
            group.addTask {
                try await Task.sleep(for: .seconds(seconds))
                return false
            }
            let first = try await group.next() ?? false
            if !first { unblock() }
            group.cancelAll()
            return first
        }
    }

    @Test("a backup opens as the state committed before it was asked for; later commits stay out of it")
    func backupHoldsTheStateAskedFor() async throws {
        let places = Places()
        defer { places.remove() }
        let (store, service, account) = try await Self.populated(places.store)
        let before = service.durableState()
        let backup = try await store.backup(into: places.root, kept: 3)
        _ = try await service.addFunds(accountId: account.id, amount: 1)
        #expect(backup.linked, "a backup on the store's file system links the snapshot")
        #expect(backup.removed.isEmpty)
        #expect(backup.path == places.root.path + "/" + backup.name)
        #expect(places.entries() == [backup.name], "no partial folder is left")
        let folder = URL(fileURLWithPath: backup.path)
        let files = try FileManager.default.contentsOfDirectory(atPath: backup.path + "/store").sorted()
        let segment = String(format: "journal-%020llu.jsonl", backup.seq + 1)
        let snapshot = String(format: "snapshot-%020llu.json", backup.seq)
        #expect(files == ["FORMAT", segment, snapshot])
        #expect(
            try FileManager.default.attributesOfItem(atPath: backup.path + "/store/" + snapshot)[.size] as? Int
                == backup.snapshotBytes)
        // `numberd verify` checks it as it checks a data directory's store.
        let report = await verifyDataDirectory(folder.appendingPathComponent("store"))
        #expect(report.isSound && report.state == before)
        // Restored, it opens with that state and takes new writes.
        let restored = try FileNumberStore.open(directory: folder.appendingPathComponent("store"))
        #expect(try await restored.load() == before)
        let service2 = try await NumberService.open(
            store: restored, provider: FakeProvider(), clock: ManualClock(Harness.start))
        _ = try await service2.addFunds(accountId: account.id, amount: 7)
        #expect(
            try service2.balance(accountId: account.id).balance == (try service.balance(accountId: account.id)).balance
                + 6)
        await restored.close()
        // The store itself goes on with everything.
        let after = service.durableState()
        await store.close()
        let reopened = try FileNumberStore.open(directory: places.store)
        #expect(try await reopened.load() == after)
        await reopened.close()
    }

    @Test("a file included beside the store may hold 1 MiB; one byte more fails the backup, leaving nothing")
    func includedFileLimit() async throws {
        let places = Places()
        defer { places.remove() }
        let (store, _, _) = try await Self.populated(places.store)
        #expect(FileNumberStore.includedBytesMax == 1 << 20)
        let folder = places.root.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for (extra, taken) in [(0, true), (1, false)] {
            let file = folder.appendingPathComponent("provider-\(extra).json")
            let bytes = Data(repeating: UInt8(ascii: "x"), count: FileNumberStore.includedBytesMax + extra)
            try bytes.write(to: file)
            let before = places.entries()
            if taken {
                let backup = try await store.backup(into: places.root, kept: 3, including: [file])
                #expect(try Data(contentsOf: URL(fileURLWithPath: backup.path + "/" + file.lastPathComponent)) == bytes)
            } else {
                await #expect(throws: (any Error).self) {
                    _ = try await store.backup(into: places.root, kept: 3, including: [file])
                }
                #expect(places.entries() == before, "nothing left behind")
            }
        }
        await store.close()
    }

    @Test("a store that holds no record backs up as an empty store")
    func emptyStore() async throws {
        let places = Places()
        defer { places.remove() }
        let store = try FileNumberStore.open(directory: places.store)
        let backup = try await store.backup(into: places.root, kept: 1)
        #expect(backup.seq == 0 && backup.snapshotBytes == 0)
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: backup.path + "/store").sorted()
                == ["FORMAT", "journal-00000000000000000001.jsonl"])
        #expect(try await Self.openedState(backup) == CoreState())
        await store.close()
    }

    @Test("the newest `kept` backups stay; older ones and a crash's leftovers go; nothing else is touched")
    func retention() async throws {
        let places = Places()
        defer { places.remove() }
        let (store, service, account) = try await Self.populated(places.store)
        let start = Date(timeIntervalSince1970: 1_796_083_200.25)  // 2026-12-01T00:00:00.250Z
        let first = try await store.backup(into: places.root, kept: 2, now: start)
        #expect(first.name == "backup-20261201T000000.250Z")
        // What a backup must never remove, and what a crash left.
        let manager = FileManager.default
        let foreign = ["notes.txt", "backup-20261301T000000.000Z", "backup-manual", ".partial-other"]
        for name in foreign { try Data("x".utf8).write(to: places.root.appendingPathComponent(name)) }
        let oldPartial = ".partial-backup-20261130T220000.000Z"
        let youngPartial = ".partial-backup-20261201T000030.000Z"
        let removing = ".removing-backup-20261101T000000.000Z"
        for name in [oldPartial, youngPartial, removing] {
            try manager.createDirectory(
                at: places.root.appendingPathComponent(name + "/store"), withIntermediateDirectories: true)
            try Data("x".utf8).write(to: places.root.appendingPathComponent(name + "/store/FORMAT"))
        }
        // A link in the oldest backup to a folder outside: removing the backup removes the link, not what it names.
        let outside = places.root.deletingLastPathComponent().appendingPathComponent("outside")
        try manager.createDirectory(at: outside, withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: outside.appendingPathComponent("file"))
        try manager.createSymbolicLink(
            at: places.root.appendingPathComponent(first.name + "/link"), withDestinationURL: outside)
        var names = [first.name]
        for second in 1...3 {
            _ = try await service.addFunds(accountId: account.id, amount: 1)
            let backup = try await store.backup(into: places.root, kept: 2, now: start + Double(second))
            names.append(backup.name)
            #expect(backup.removed == (second >= 2 ? [names[second - 2]] : []), "\(second)")
        }
        #expect(places.entries() == (foreign + [youngPartial] + names.suffix(2)).sorted())
        #expect(manager.fileExists(atPath: outside.appendingPathComponent("file").path))
        for name in names.suffix(2) {
            #expect(await verifyDataDirectory(places.root.appendingPathComponent(name + "/store")).isSound)
        }
        await store.close()
    }

    /// The later-named backup was removed as beyond the count: under a clock set back it is the newest real one.
    @Test("a backup written with the clock set back keeps itself and the later-named one, which is not counted")
    func clockSetBack() async throws {
        let places = Places()
        defer { places.remove() }
        let (store, _, _) = try await Self.populated(places.store)
        let later = try await store.backup(into: places.root, kept: 1, now: Date(timeIntervalSince1970: 1_796_090_000))
        let earlier = try await store.backup(
            into: places.root, kept: 1, now: Date(timeIntervalSince1970: 1_796_080_000))
        #expect(earlier.removed.isEmpty)
        #expect(places.entries() == [earlier.name, later.name].sorted())
        #expect(await verifyDataDirectory(URL(fileURLWithPath: earlier.path + "/store")).isSound)
        await store.close()
    }

    /// Backups written while the clock was a year ahead, then the clock set right: taken as the newest by their names,
    /// they were kept for good, and each backup written since was removed by the next. Counted as the oldest instead,
    /// they were removed first — but under a clock set back since, they are the newest real backups. Now they are kept
    /// aside, uncounted, until the clock passes them.
    @Test("backups named ahead of the clock are kept aside, uncounted: the ones written since are kept to the limit")
    func namedAheadCountAsOldest() async throws {
        let places = Places()
        defer { places.remove() }
        let (store, _, _) = try await Self.populated(places.store)
        let now = Date(timeIntervalSince1970: 1_796_083_200)
        let year = 365 * 86_400.0
        var ahead: [String] = []
        for second in 0..<2 {
            ahead.append(
                try await store.backup(into: places.root, kept: 2, now: now + year + Double(second)).name)
        }
        // Neither counted nor removed: they may be the newest real backups under a clock set back since.
        let first = try await store.backup(into: places.root, kept: 2, now: now)
        #expect(first.removed.isEmpty)
        let second = try await store.backup(into: places.root, kept: 2, now: now + 1)
        #expect(second.removed.isEmpty)
        let third = try await store.backup(into: places.root, kept: 2, now: now + 2)
        #expect(third.removed == [first.name], "the current ones are kept to --backups-kept, oldest removed first")
        #expect(Set(places.entries()) == Set([second.name, third.name] + ahead))
        // Once the clock passes them they count as they read, the newest.
        let later = try await store.backup(into: places.root, kept: 2, now: now + year + 2)
        #expect(Set(later.removed) == Set([second.name, third.name, ahead[0]]))
        // Within the lead allowed (another numberd writing there, a clock stepped a little) a name counts as it reads.
        #expect(!FileNumberStore.isNamedAhead(now + FileNumberStore.backupNameLeadMaxSeconds, of: now))
        #expect(FileNumberStore.isNamedAhead(now + FileNumberStore.backupNameLeadMaxSeconds + 1, of: now))
        await store.close()
    }

    @Test("where no hard link can be made the snapshot is copied, checked and synced")
    func copiedWithoutHardLinks() async throws {
        let places = Places()
        defer { places.remove() }
        let fileSystem = FaultInjectingFileSystem()
        let (store, service, _) = try await Self.populated(places.store, fileSystem: fileSystem)
        let before = service.durableState()
        fileSystem.addRule(.init(.link, repeats: true, action: .fail(errno: EXDEV)))
        let syncs = fileSystem.count(.fdatasync)
        let backup = try await store.backup(into: places.root, kept: 1)
        #expect(!backup.linked)
        // The snapshot written first, then its copy, FORMAT and the empty segment.
        #expect(fileSystem.count(.fdatasync) >= syncs + 4)
        #expect(try await Self.openedState(backup) == before)
        await store.close()
    }

    @Test("a backup that fails (no room, a failed write, a damaged snapshot) leaves nothing and commits go on")
    func failuresLeaveNothing() async throws {
        let places = Places()
        defer { places.remove() }
        let fileSystem = FaultInjectingFileSystem()
        let (store, service, account) = try await Self.populated(places.store, fileSystem: fileSystem)
        try await store.writeSnapshot()
        // A linked snapshot takes its room on the store's disk once the store deletes its own name: checked as a copy.
        fileSystem.setAvailableBytes(1_000)
        let noRoomToLink = await #expect(throws: JournalError.self) {
            try await store.backup(into: places.root, kept: 1)
        }
        #expect(noRoomToLink?.message.contains("no room") == true && fileSystem.count(.link) == 0)
        #expect(places.entries() == [])
        fileSystem.addRule(.init(.link, repeats: true, action: .fail(errno: EXDEV)))

        let noRoom = await #expect(throws: JournalError.self) { try await store.backup(into: places.root, kept: 1) }
        #expect(noRoom?.code == .io && noRoom?.message.contains("no room") == true)
        #expect(places.entries() == [])
        fileSystem.setAvailableBytes(nil)

        fileSystem.addRule(.init(.write, pathContains: "snapshot-", action: .fail(errno: EIO)))
        let failedWrite = await #expect(throws: JournalError.self) {
            try await store.backup(into: places.root, kept: 1)
        }
        #expect(failedWrite?.code == .io)
        #expect(places.entries() == [])

        fileSystem.removeAllRules()
        // A snapshot file damaged on disk since it was written: the backup says so instead of copying it.
        let snapshot = try #require(
            try FileManager.default.contentsOfDirectory(atPath: places.store.path).first { $0.hasPrefix("snapshot-") })
        let path = places.store.appendingPathComponent(snapshot)
        var bytes = [UInt8](try Data(contentsOf: path))
        bytes[bytes.count / 2] ^= 0x01
        let handle = try FileHandle(forWritingTo: path)
        try handle.write(contentsOf: bytes)
        try handle.close()
        let damaged = await #expect(throws: JournalError.self) { try await store.backup(into: places.root, kept: 1) }
        #expect(damaged?.message.contains("checksum") == true, "\(String(describing: damaged))")
        #expect(places.entries() == [])

        // Commits went on throughout, and the next snapshot (a new file) backs up.
        _ = try await service.addFunds(accountId: account.id, amount: 1)
        let backup = try await store.backup(into: places.root, kept: 1)
        #expect(places.entries() == [backup.name])
        #expect(await verifyDataDirectory(URL(fileURLWithPath: backup.path + "/store")).state == service.durableState())
        await store.close()
    }

    /// The second call's refusal is awaited while the first is held at its link (a second backup that went ahead
    /// would wait for that link: the time limit ends such a test, with room for a loaded machine); a one-second sleep
    /// stood for that before.
    @Test("one backup at a time: a second call meanwhile is refused, the first completes", .timeLimit(.minutes(5)))
    func oneAtATime() async throws {
        let places = Places()
        defer { places.remove() }
        let fileSystem = FaultInjectingFileSystem()
        let (store, _, _) = try await Self.populated(places.store, fileSystem: fileSystem)
        try await store.writeSnapshot()
        fileSystem.pause(.link)
        let first = Task { try await store.backup(into: places.root, kept: 5) }
        try await waitUntil { fileSystem.count(.link) > 0 }
        let refusal = await #expect(throws: JournalError.self) {
            _ = try await store.backup(into: places.root, kept: 5)
        }
        #expect(refusal?.code == .backupInProgress)
        fileSystem.resume(.link)
        let backup = try await first.value
        #expect(places.entries() == [backup.name])
        await store.close()
    }

    @Test("a backup whose disk stalls holds up neither a snapshot nor a close, and completes once the disk answers")
    func stalledBackupDiskHoldsUpNothing() async throws {
        let places = Places()
        defer { places.remove() }
        let fileSystem = FaultInjectingFileSystem()
        let (store, service, account) = try await Self.populated(places.store, fileSystem: fileSystem)
        let before = service.durableState()
        // The link into the backup directory hangs, as on a stalled disk (only a backup links). It comes after the
        // store's snapshot is open; when it ran on the snapshot queue, the snapshot and the close below waited for it.
        fileSystem.pause(.link)
        defer { fileSystem.resume(.link) }
        let backup = Task { try await store.backup(into: places.root, kept: 1) }
        try await waitUntil { fileSystem.count(.link) > 0 }
        _ = try await service.addFunds(accountId: account.id, amount: 1)
        let seq = store.snapshotSeq
        let snapshotted = try await Self.finishes(within: 60, unblock: { fileSystem.resume(.link) }) {
            try await store.writeSnapshot()
        }
        #expect(snapshotted, "a snapshot waited for the backup's disk")
        #expect(store.snapshotSeq > seq)
        let closed = try await Self.finishes(within: 60, unblock: { fileSystem.resume(.link) }) { await store.close() }
        #expect(closed, "a close waited for the backup's disk")
        fileSystem.resume(.link)
        let written = try await backup.value
        #expect(written.seq == seq)
        #expect(places.entries() == [written.name])
        #expect(await verifyDataDirectory(URL(fileURLWithPath: written.path + "/store")).state == before)
    }

    @Test("a cancelled backup stops waiting for a stalled disk at once; the queue finishes the backup alone")
    func cancelledBackupStopsWaiting() async throws {
        let places = Places()
        defer { places.remove() }
        let fileSystem = FaultInjectingFileSystem()
        let (store, _, _) = try await Self.populated(places.store, fileSystem: fileSystem)
        // Each call's outcome as `ended` reports it, where its backup ends (numberd counts backups there).
        let outcomes = Mutex<[String]>([])
        let record: @Sendable (Result<FileNumberStore.Backup, any Error>) -> Void = { result in
            let outcome: String
            switch result {
            case .success(let backup): outcome = "written " + backup.name
            case .failure(let error as JournalError) where error.code == .backupInProgress: outcome = "busy"
            case .failure(let error): outcome = "failed \(error)"
            }
            outcomes.withLock { $0.append(outcome) }
        }
        // The link into the backup directory hangs, as on a stalled disk: the backup's work is on its queue.
        fileSystem.pause(.link)
        defer { fileSystem.resume(.link) }
        let backup = Task { try await store.backup(into: places.root, kept: 1, ended: record) }
        try await waitUntil { fileSystem.count(.link) > 0 }
        // A stop's drain timeout cancels the call: its wait ends though the disk still does not answer.
        backup.cancel()
        let ended = try await Self.finishes(within: 30, unblock: { fileSystem.resume(.link) }) {
            let stopped = await #expect(throws: CancellationError.self) { _ = try await backup.value }
            #expect(stopped != nil)
        }
        #expect(ended, "a cancelled backup waited for the backup's disk")
        // The work still runs on the queue: another backup meanwhile is refused, not queued behind it.
        let refusal = await #expect(throws: JournalError.self) {
            _ = try await store.backup(into: places.root, kept: 1, ended: record)
        }
        #expect(refusal?.code == .backupInProgress)
        // The cancelled caller's end is not the backup's: nothing reported it yet.
        #expect(outcomes.withLock { $0 } == ["busy"])
        // Once the disk answers, the queue completes the backup alone, and the next one runs.
        fileSystem.resume(.link)
        var next: FileNumberStore.Backup?
        for _ in 0..<6_000 where next == nil {
            do {
                next = try await store.backup(into: places.root, kept: 1, now: Date().addingTimeInterval(1))
            } catch let error as JournalError where error.code == .backupInProgress {
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        let written = try #require(next)
        #expect(places.entries() == [written.name])
        #expect(await verifyDataDirectory(URL(fileURLWithPath: written.path + "/store")).isSound)
        // The cancelled call's backup was reported once, written, by the queue that ended it (before the next ran).
        let reported = outcomes.withLock { $0 }
        #expect(reported.count == 2 && reported.first == "busy", "\(reported)")
        #expect(reported.last?.hasPrefix("written backup-") == true && reported.last != "written " + written.name)
        await store.close()
    }

    @Test("a snapshot whose name is gone when the backup links it is copied from the open file and reads back sound")
    func unlinkableSnapshotIsCopied() async throws {
        let places = Places()
        defer { places.remove() }
        let fileSystem = FaultInjectingFileSystem()
        let (store, service, _) = try await Self.populated(places.store, fileSystem: fileSystem)
        let before = service.durableState()
        // What linking an open file whose last name was deleted answers.
        fileSystem.addRule(.init(.link, action: .fail(errno: ENOENT)))
        let backup = try await store.backup(into: places.root, kept: 1)
        #expect(!backup.linked && fileSystem.count(.link) == 1)
        #expect(places.entries() == [backup.name])
        #expect(await verifyDataDirectory(URL(fileURLWithPath: backup.path + "/store")).isSound)
        #expect(try await Self.openedState(backup) == before)
        await store.close()
    }

    @Test("a snapshot the store deletes while the backup waits for its disk is copied from the file the backup opened")
    func snapshotDeletedMeanwhileIsCopied() async throws {
        let places = Places()
        defer { places.remove() }
        let fileSystem = FaultInjectingFileSystem()
        let (store, service, account) = try await Self.populated(places.store, fileSystem: fileSystem)
        let before = service.durableState()
        fileSystem.pause(.link)
        defer { fileSystem.resume(.link) }
        let backup = Task { try await store.backup(into: places.root, kept: 1) }
        try await waitUntil { fileSystem.count(.link) > 0 }
        let opened = places.store.appendingPathComponent(String(format: "snapshot-%020llu.json", store.snapshotSeq))
        // Two newer snapshots: the store keeps two (`snapshotsKept`), so it deletes the one the backup opened.
        let snapshotted = try await Self.finishes(within: 60, unblock: { fileSystem.resume(.link) }) {
            for _ in 0..<2 {
                _ = try await service.addFunds(accountId: account.id, amount: 1)
                try await store.writeSnapshot()
            }
        }
        #expect(snapshotted, "a snapshot waited for the backup's disk")
        #expect(!FileManager.default.fileExists(atPath: opened.path))
        fileSystem.resume(.link)
        let written = try await backup.value
        #expect(!written.linked, "a file with no name left cannot be linked: the backup copies it")
        #expect(await verifyDataDirectory(URL(fileURLWithPath: written.path + "/store")).isSound)
        #expect(try await Self.openedState(written) == before)
        await store.close()
    }

    @Test("a backup taken while purchases and funds commit holds a consistent state between before and after")
    func backupUnderCommits() async throws {
        let places = Places()
        defer { places.remove() }
        let (store, service, account) = try await Self.populated(places.store)
        let before = service.durableState()
        let backup = try await withThrowingTaskGroup(of: FileNumberStore.Backup?.self) { group in
            for _ in 0..<200 {
                group.addTask {
                    _ = try await service.addFunds(accountId: account.id, amount: 1)
                    return nil
                }
            }
            group.addTask { try await store.backup(into: places.root, kept: 1) }
            var backup: FileNumberStore.Backup?
            for try await result in group { backup = backup ?? result }
            return try #require(backup)
        }
        let after = service.durableState()
        let state = try await Self.openedState(backup)
        #expect(state.checkInvariants() == [])
        let count = { (state: CoreState) in state.transactions[account.id]?.count ?? 0 }
        #expect(count(before) <= count(state) && count(state) <= count(after))
        await store.close()
    }
}
