import Foundation
import NumberAPI
import NumberClient
import NumberCore
import NumberDaemon
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `numberd restore`: a backup's store put in place of a stopped numberd's, or refused with nothing changed.
@Suite("numberd restore")
struct BackupRestoreTests {
    /// A data directory with one account funded 10 000, backed up, then funded 500 more; the backup's folder and the
    /// account.
    static func backedUp(_ directory: String) async throws -> (backup: String, accountId: String) {
        var result: (String, String)?
        try await withNumberd(dataDirectory: directory) { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                let acme = try await makeAccount(admin, name: "Acme", funds: 10_000)
                let backup = try await admin.createBackup(CreateBackupRequest())
                _ = try await admin.addFunds(AddFundsRequest(accountId: acme.id, amount: 500, currency: "USD"))
                result = (backup.path, acme.id)
            }
        }
        return try #require(result)
    }

    static func balance(_ directory: String, _ accountId: String) async throws -> Int64 {
        var balance: Int64 = -1
        try await withNumberd(dataDirectory: directory) { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                balance = try await admin.getBalance(GetBalanceRequest(accountId: accountId)).balance
            }
        }
        return balance
    }

    static func temporary(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("numberd-restore-\(name)-\(UUID())").path
    }

    static func entries(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }

    @Test("numberd restore puts the backup's store in place, keeps the old one aside, and numberd serves the backup")
    func restoreReplacesTheStore() async throws {
        let directory = Self.temporary("same")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (backup, accountId) = try await Self.backedUp(directory)
        #expect(try await Self.balance(directory, accountId) == 10_500)
        let result = try await ChildProcess.run(
            try BuiltProduct.path("numberd"), ["restore", backup, "--data-dir", directory], timeout: .seconds(120))
        #expect(result.ending == .exited(0), "\(result.text)")
        #expect(result.text.contains("numberd restore: OK") && result.text.contains("1 accounts"), "\(result.text)")
        let replaced = Self.entries(directory).filter { $0.hasPrefix("store.replaced-") }
        #expect(replaced.count == 1 && !Self.entries(directory).contains { $0.hasPrefix("store.restore-") })
        #expect(try await Self.balance(directory, accountId) == 10_000)
        // The replaced store is whole: put back, it serves the later state again.
        try FileManager.default.removeItem(atPath: directory + "/store")
        try FileManager.default.moveItem(atPath: directory + "/" + replaced[0], toPath: directory + "/store")
        #expect(try await Self.balance(directory, accountId) == 10_500)
    }

    /// A review: a backup whose FORMAT is behind its files (a FORMAT from another backup, or none after a hand copy)
    /// verified with only a warning, and the restore put it in place as it was: an older numberd would open it and drop
    /// what it does not know.
    @Test("a backup whose FORMAT is behind its files is restored naming this numberd's format")
    func formatBehindIsRecorded() async throws {
        let directory = Self.temporary("behind")
        let fresh = Self.temporary("behind-new")
        defer {
            try? FileManager.default.removeItem(atPath: directory)
            try? FileManager.default.removeItem(atPath: fresh)
        }
        let (backup, _) = try await Self.backedUp(directory)
        try FileManager.default.removeItem(atPath: backup + "/store/FORMAT")
        _ = try await BackupRestore(backup: backup, into: DataDirectory(root: fresh)).run()
        let written = try String(contentsOfFile: fresh + "/store/FORMAT", encoding: .utf8)
        #expect(
            written == #"{"format":\#(StoreFormat.current.format),"readers":\#(StoreFormat.current.readers)}"# + "\n")
    }

    /// A review: restore copied the store's files by its own list, which left out snapshots set aside as damaged —
    /// whose seq open's reach check counts — so a backup that `numberd verify` reports as missing records verified
    /// sound once copied, and was restored without them. Both copies now take the same files.
    @Test("a backup holding a damaged snapshot beyond its journal is refused, as verify reports it, not restored")
    func damagedSnapshotBeyondTheJournalIsRefused() async throws {
        let directory = Self.temporary("damaged")
        let fresh = Self.temporary("damaged-new")
        defer {
            try? FileManager.default.removeItem(atPath: directory)
            try? FileManager.default.removeItem(atPath: fresh)
        }
        let (backup, _) = try await Self.backedUp(directory)
        let store = backup + "/store"
        let damaged = JournalLayout.damagedName(snapshot: JournalLayout.snapshotName(seq: 1_000_000), millis: 1)
        try Data("{\"seq\":1000000,\"garb".utf8).write(to: URL(fileURLWithPath: store + "/" + damaged))
        #expect(await verifyDataDirectory(URL(fileURLWithPath: store)).foundProblems)
        let refusal = await #expect(throws: BackupRestore.Refusal.self) {
            _ = try await BackupRestore(backup: backup, into: DataDirectory(root: fresh)).run()
        }
        #expect(refusal?.description.contains("does not verify") == true, "\(String(describing: refusal))")
        #expect(refusal?.description.contains("seq 1000000") == true, "\(String(describing: refusal))")
        #expect(!FileManager.default.fileExists(atPath: fresh + "/store"))
    }

    @Test("into a new data directory: the store and provider.json arrive, and numberd serves them")
    func intoANewDataDirectory() async throws {
        let directory = Self.temporary("old")
        let fresh = Self.temporary("new")
        defer {
            try? FileManager.default.removeItem(atPath: directory)
            try? FileManager.default.removeItem(atPath: fresh)
        }
        let (backup, accountId) = try await Self.backedUp(directory)
        let report = try await BackupRestore(backup: backup, into: DataDirectory(root: fresh)).run()
        #expect(report.replacedStore == nil && report.providerBindingCopied && report.accounts == 1)
        #expect(Self.entries(fresh) == ["provider.json", "store"])
        #expect(try await Self.balance(fresh, accountId) == 10_000)
    }

    @Test(
        "refused, changing nothing: numberd running, a backup that does not verify, another provider account, no store")
    func refusals() async throws {
        let directory = Self.temporary("refused")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (backup, _) = try await Self.backedUp(directory)
        // A running numberd holds the store's lock: a child process sees it as the running service would.
        try await withNumberd(dataDirectory: directory) { _ in
            let result = try await ChildProcess.run(
                try BuiltProduct.path("numberd"), ["restore", backup, "--data-dir", directory], timeout: .seconds(120))
            #expect(result.ending == .exited(1), "\(result.text)")
            #expect(result.text.contains("a numberd is running on"), "\(result.text)")
            #expect(!Self.entries(directory).contains { $0.hasPrefix("store.") }, "\(Self.entries(directory))")
        }
        let before = Self.entries(directory + "/store")
        func expectRefused(_ text: String, _ run: () async throws -> Void) async {
            let refusal = await #expect(throws: BackupRestore.Refusal.self) { try await run() }
            #expect(refusal?.description.contains(text) == true, "\(String(describing: refusal))")
            #expect(Self.entries(directory + "/store") == before)
            #expect(!Self.entries(directory).contains { $0.hasPrefix("store.") }, "\(Self.entries(directory))")
        }
        let restore = BackupRestore(backup: backup, into: DataDirectory(root: directory))

        await expectRefused("holds no store/") {
            _ = try await BackupRestore(backup: directory + "/nothing", into: DataDirectory(root: directory)).run()
        }
        // Another Twilio account's backup.
        let binding = backup + "/provider.json"
        let original = try String(contentsOfFile: binding, encoding: .utf8)
        try original.replacingOccurrences(of: "\"AC", with: "\"ACffff").write(
            toFile: binding, atomically: true, encoding: .utf8)
        await expectRefused("this data directory's at") { _ = try await restore.run() }
        try original.write(toFile: binding, atomically: true, encoding: .utf8)
        // A backup whose snapshot is damaged (a copy: the backup's file is a hard link to a store snapshot).
        let store = backup + "/store"
        let snapshot = try #require(Self.entries(store).first { $0.hasPrefix("snapshot-") })
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: store + "/" + snapshot)))
        bytes[bytes.count / 2] ^= 0x01
        try FileManager.default.removeItem(atPath: store + "/" + snapshot)
        try Data(bytes).write(to: URL(fileURLWithPath: store + "/" + snapshot))
        await expectRefused("does not verify") { _ = try await restore.run() }

        // A store on a file system of its own (here a link to one): the restored store must land there, and a swap
        // in the data directory would put it beside that volume.
        let volume = "/dev/shm/numberd-restore-\(UUID())"
        let elsewhere = Self.temporary("volume")
        defer {
            try? FileManager.default.removeItem(atPath: volume)
            try? FileManager.default.removeItem(atPath: elsewhere)
        }
        try FileManager.default.createDirectory(atPath: volume, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: elsewhere + "/store", withDestinationPath: volume)
        let onVolume = await #expect(throws: BackupRestore.Refusal.self) {
            _ = try await BackupRestore(backup: backup, into: DataDirectory(root: elsewhere)).run()
        }
        #expect(onVolume?.description.contains("symbolic link") == true, "\(String(describing: onVolume))")
        #expect(Self.entries(elsewhere) == ["store"] && Self.entries(volume) == [])

        // A backup without provider.json while the data directory is bound: which account its numbers are at is not
        // known, so it is not taken for this one.
        try FileManager.default.removeItem(atPath: binding)
        await expectRefused("the backup has no provider.json") { _ = try await restore.run() }
        // One past its limit (64 KiB: padded after the JSON, which decodes at the limit itself), or a FIFO: unreadable,
        // never read whole or waited on.
        let padded =
            original + String(repeating: " ", count: LocalDefaults.providerBindingBytesMax - original.utf8.count)
        try padded.write(toFile: binding, atomically: true, encoding: .utf8)
        await expectRefused("does not verify") { _ = try await restore.run() }
        try (padded + " ").write(toFile: binding, atomically: true, encoding: .utf8)
        await expectRefused("provider.json is larger than 64 KiB") { _ = try await restore.run() }
        try FileManager.default.removeItem(atPath: binding)
        #expect(mkfifo(binding, 0o600) == 0)
        await expectRefused("provider.json is not a regular file") { _ = try await restore.run() }
        try FileManager.default.removeItem(atPath: binding)
        try original.write(toFile: binding, atomically: true, encoding: .utf8)

        // A data directory of another user (root restoring the numberd user's files would leave them unreadable to it).
        if geteuid() == 0 {
            let foreign = Self.temporary("foreign")
            defer { try? FileManager.default.removeItem(atPath: foreign) }
            try FileManager.default.createDirectory(atPath: foreign, withIntermediateDirectories: true)
            #expect(chown(foreign, 65_534, 65_534) == 0)
            let owner = await #expect(throws: BackupRestore.Refusal.self) {
                _ = try await BackupRestore(backup: backup, into: DataDirectory(root: foreign)).run()
            }
            #expect(owner?.description.contains("run the restore as its owner") == true, "\(String(describing: owner))")
            #expect(Self.entries(foreign) == [])
            // A data directory that does not exist yet, inside that user's folder: judged by the folder, before
            // anything is made (root made the new folders, then found them its own).
            let inside = await #expect(throws: BackupRestore.Refusal.self) {
                _ = try await BackupRestore(backup: backup, into: DataDirectory(root: foreign + "/new/data")).run()
            }
            #expect(
                inside?.description.contains("run the restore as its owner") == true, "\(String(describing: inside))")
            #expect(Self.entries(foreign) == [])
        }
    }

    /// A store volume that is not mounted leaves its folder, empty, on the disk under it. A restore there put the
    /// backup on that disk and numberd served it, until the next boot mounted the volume over it and hid every write
    /// since. Refused, as the start refuses that directory; removing the empty folder says the store was lost.
    @Test("an empty store/ in a directory that has served is refused, changing nothing; removed, the restore goes")
    func emptyStoreFolderIsRefused() async throws {
        let directory = Self.temporary("unmounted")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (backup, accountId) = try await Self.backedUp(directory)
        try FileManager.default.moveItem(atPath: directory + "/store", toPath: directory + "/store.mounted")
        try FileManager.default.createDirectory(atPath: directory + "/store", withIntermediateDirectories: false)
        let before = Self.entries(directory)
        #expect(before.contains("admin.key") && before.contains("provider.json"), "\(before)")
        let numberd = try BuiltProduct.path("numberd")
        let refused = try await ChildProcess.run(
            numberd, ["restore", backup, "--data-dir", directory], timeout: .seconds(120))
        #expect(refused.ending == .exited(1), "\(refused.text)")
        #expect(refused.text.contains("its store's volume is not mounted"), "\(refused.text)")
        #expect(Self.entries(directory) == before && Self.entries(directory + "/store").isEmpty)
        // The store was lost: the empty folder removed, the backup goes in place.
        try FileManager.default.removeItem(atPath: directory + "/store")
        let restored = try await ChildProcess.run(
            numberd, ["restore", backup, "--data-dir", directory], timeout: .seconds(120))
        #expect(restored.ending == .exited(0), "\(restored.text)")
        #expect(try await Self.balance(directory, accountId) == 10_000)
    }

    /// A restore copies the store once, then its verify copies that copy again (beside it, or in the temporary
    /// folder). With room for one copy only, it copied gigabytes, then said the backup "does not verify".
    @Test("room for the restore's copy but not for its verify's copy is refused before anything is copied")
    func roomForBothCopies() async throws {
        let directory = Self.temporary("room")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (backup, _) = try await Self.backedUp(directory)
        let store = backup + "/store"
        var bytes: Int64 = 0
        for name in Self.entries(store) {
            bytes += Int64(try FileManager.default.attributesOfItem(atPath: store + "/" + name)[.size] as? Int ?? 0)
        }
        let reserve = Int64(JournalOptions.Limits.defaults.snapshotFreeBytesReserve)
        // The data directory's disk has `free` bytes; the temporary folder none (it is the same disk here).
        func restore(free: Int64) -> BackupRestore {
            var restore = BackupRestore(backup: backup, into: DataDirectory(root: directory))
            restore.availableBytes = { path in path.hasPrefix(directory) ? free : 0 }
            return restore
        }
        let before = Self.entries(directory + "/store")
        let tight = restore(free: bytes + reserve)
        let refusal = await #expect(throws: BackupRestore.Refusal.self) { _ = try await tight.run() }
        #expect(
            refusal?.description.contains("no room to verify the restored store") == true,
            "\(String(describing: refusal))")
        #expect(Self.entries(directory + "/store") == before)
        #expect(!Self.entries(directory).contains { $0.hasPrefix("store.") }, "\(Self.entries(directory))")
        // Room for both: the same restore goes.
        #expect(try await restore(free: 2 * (bytes + reserve)).run().accounts == 1)
    }

    @Test("a killed restore's copy is removed by numberd's start and by the next restore, a live restore's is not")
    func killedRestoreLeavesNoCopy() async throws {
        let directory = Self.temporary("killed")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (backup, accountId) = try await Self.backedUp(directory)
        // A FIFO named as a segment in the backup is no store file: left out (its copy used to block, no writer).
        let fifo = backup + "/store/" + JournalLayout.segmentName(firstSeq: 999_999_999)
        // What else bears a copy's name: the old store for a moment after the swap, which has no marker and stays.
        let unmarked = "store.restore-19700101T000000Z"
        try FileManager.default.createDirectory(atPath: directory + "/" + unmarked, withIntermediateDirectories: false)
        func copies() -> [String] { Self.entries(directory).filter { $0.hasPrefix("store.restore-") } }
        func marked() -> Int {
            copies().filter { FileManager.default.fileExists(atPath: directory + "/" + $0 + "/RESTORE-COPY") }.count
        }
        for round in 0..<2 {
            #expect(mkfifo(fifo, 0o600) == 0)
            let child = SpawnedProcess()
            child.executableURL = URL(fileURLWithPath: try BuiltProduct.path("numberd"))
            child.arguments = ["restore", backup, "--data-dir", directory]
            child.standardOutput = FileHandle.nullDevice
            child.standardError = FileHandle.nullDevice
            // Stopped once its copy is made: alive, its copy locked.
            child.environment = ProcessInfo.processInfo.environment.merging([
                CrashPoint.environmentVariable: CrashPoint.afterRestoreCopy.rawValue + CrashPoint.stopSuffix
            ]) { $1 }
            try child.run()
            let deadline = ContinuousClock.now + .seconds(60)
            while !Self.isStopped(child.processIdentifier), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(Self.isStopped(child.processIdentifier), "the restore did not reach its copy")
            #expect(copies().count == 2 && marked() == 1, "\(copies())")
            // A live restore's copy is locked: no cleanup takes it.
            #expect(BackupRestore.removeLeftovers(of: DataDirectory(root: directory)).isEmpty)
            child.send(SIGKILL)
            _ = await ChildExit.wait(child, timeout: .seconds(60))
            #expect(copies().count == 2 && marked() == 1, "the killed restore left its copy: \(copies())")
            if round == 0 {
                // numberd's start removes it; the store is as it was.
                #expect(try await Self.balance(directory, accountId) == 10_500)
            } else {
                // So does the next restore, which then puts the backup in place (the FIFO left out).
                let report = try await BackupRestore(backup: backup, into: DataDirectory(root: directory)).run()
                #expect(report.accounts == 1)
                #expect(try await Self.balance(directory, accountId) == 10_000)
            }
            #expect(copies() == [unmarked], "\(copies())")
            try FileManager.default.removeItem(atPath: fifo)
        }
    }

    /// Whether process `pid` is stopped (`T` in `/proc/<pid>/stat`, after the command's parenthesised name).
    static func isStopped(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first == "T"
    }

    @Test(
        "a lost store (admin.key beside a store/ holding nothing) fails verify and backup, and is no backup to restore")
    func lostStoreIsNotSound() async throws {
        let directory = Self.temporary("lost")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (backup, _) = try await Self.backedUp(directory)
        let numberd = try BuiltProduct.path("numberd")
        // The store's volume not mounted: the folder under it shows, empty.
        let mounted = directory + "/store.mounted"
        try FileManager.default.moveItem(atPath: directory + "/store", toPath: mounted)
        try FileManager.default.createDirectory(atPath: directory + "/store", withIntermediateDirectories: false)
        for missing in [false, true] {
            if missing { try FileManager.default.removeItem(atPath: directory + "/store") }
            let verified = try await runNumberdVerify(dataDirectory: directory)
            #expect(verified.status == 1, "\(verified.output)")
            #expect(verified.output.contains("its store was lost or is not mounted"), "\(verified.output)")
            let backedUp = try await ChildProcess.run(
                numberd, ["backup", "--data-dir", directory], timeout: .seconds(120))
            #expect(backedUp.ending == .exited(1), "\(backedUp.text)")
            #expect(backedUp.text.contains("its store was lost or is not mounted"), "\(backedUp.text)")
        }
        // Without admin.key, clock and provider.json (a directory that never served), an empty store/ is "no store" to
        // back up; with any one of them it is a lost store.
        try FileManager.default.createDirectory(atPath: directory + "/store", withIntermediateDirectories: false)
        let witnesses = ["admin.key", "clock", "provider.json"]
        for name in witnesses {
            try FileManager.default.moveItem(atPath: directory + "/" + name, toPath: directory + "/" + name + ".aside")
        }
        let none = try await ChildProcess.run(numberd, ["backup", "--data-dir", directory], timeout: .seconds(120))
        #expect(none.ending == .exited(2) && none.text.contains("no journal or snapshot"), "\(none.text)")
        for name in witnesses {
            try FileManager.default.moveItem(atPath: directory + "/" + name + ".aside", toPath: directory + "/" + name)
        }
        try FileManager.default.removeItem(atPath: directory + "/store")
        try FileManager.default.moveItem(atPath: mounted, toPath: directory + "/store")
        #expect(try await runNumberdVerify(dataDirectory: directory).status == 0)

        // A backup whose store/ holds only FORMAT (one that never finished) is refused, changing nothing.
        let store = backup + "/store"
        for name in Self.entries(store) where name != "FORMAT" {
            try FileManager.default.removeItem(atPath: store + "/" + name)
        }
        let before = Self.entries(directory + "/store")
        let refusal = await #expect(throws: BackupRestore.Refusal.self) {
            _ = try await BackupRestore(backup: backup, into: DataDirectory(root: directory)).run()
        }
        #expect(refusal?.description.contains("holds no journal or snapshot") == true, "\(String(describing: refusal))")
        #expect(Self.entries(directory + "/store") == before)
    }

    /// A backup without provider.json (of a directory that had none yet: it carries `provider.legacy`) restored where
    /// there is none either: its store has the backup's FORMAT, which alone made the start take the binding for lost
    /// and refuse even the right provider. The restore marks it as a directory from before provider.json, checked as
    /// such at its start. One without the mark lost its binding (a copy of store/ alone): its start is refused, not
    /// bound to whatever account is configured.
    @Test("a backup from before provider.json is bound at its start; one that lost its provider.json is refused")
    func backupWithoutBindingIsBoundAsFromBeforeIt() async throws {
        let directory = Self.temporary("unbound")
        let fresh = Self.temporary("unbound-new")
        defer {
            try? FileManager.default.removeItem(atPath: directory)
            try? FileManager.default.removeItem(atPath: fresh)
        }
        // A trunk recorded (something at the provider: the binding matters), then a backup without provider.json.
        var backup = ""
        try await withNumberd(dataDirectory: directory) { numberd in
            let account = try await numberd.numberd.service.createAccount(name: "Acme", currency: "USD")
            _ = try await numberd.numberd.service.createTrunk(
                accountId: account.id, name: "t", providerTrunkSid: "", originationSipUri: "sip:pbx.example.com")
            try await withNumbersClient(numberd.client()) { admin in
                backup = try await admin.createBackup(CreateBackupRequest()).path
            }
        }
        try FileManager.default.removeItem(atPath: backup + "/provider.json")
        var configuration = NumberdConfiguration(dataDirectory: fresh)
        configuration.provider = .twilio(
            try TwilioCredentials.authToken(accountSid: "AC" + String(repeating: "5", count: 32), authToken: "token"))
        configuration.listen.port = 0
        configuration.metricsListen = nil
        // Lost, not from before the binding: refused, nothing bound.
        let lost = Self.temporary("unbound-lost")
        defer { try? FileManager.default.removeItem(atPath: lost) }
        _ = try await BackupRestore(backup: backup, into: DataDirectory(root: lost)).run()
        #expect(Self.entries(lost) == ["store"])
        var refused = configuration
        refused.dataDirectory = lost
        await #expect { _ = try await Numberd.prepare(refused, logger: quietLogger) } throws: { error in
            "\(error)".contains("provider.json is missing")
        }
        #expect(!Self.entries(lost).contains("provider.json"))
        // The same where the data directory kept a mark of its own (its store was from before provider.json, and no
        // start had bound it yet): the mark spoke of the store replaced and goes, so the start is refused as above,
        // not bound to whatever account is configured.
        let marked = Self.temporary("unbound-marked")
        defer { try? FileManager.default.removeItem(atPath: marked) }
        try FileManager.default.createDirectory(atPath: marked, withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: marked + "/provider.legacy", contents: Data()))
        _ = try await BackupRestore(backup: backup, into: DataDirectory(root: marked)).run()
        #expect(Self.entries(marked) == ["store"])
        var markedStart = configuration
        markedStart.dataDirectory = marked
        await #expect { _ = try await Numberd.prepare(markedStart, logger: quietLogger) } throws: { error in
            "\(error)".contains("provider.json is missing")
        }
        #expect(!Self.entries(marked).contains("provider.json"))
        // From before the binding (the backup carries the mark): bound at the start.
        #expect(FileManager.default.createFile(atPath: backup + "/provider.legacy", contents: Data()))
        let report = try await BackupRestore(backup: backup, into: DataDirectory(root: fresh)).run()
        #expect(!report.providerBindingCopied)
        #expect(Self.entries(fresh) == ["provider.legacy", "store"])
        #expect(FileManager.default.fileExists(atPath: fresh + "/store/FORMAT"))
        // No twilio-sim.json came with it: as far as the directory shows, its trunk is at Twilio, which binds it.
        let numberd = try await Numberd.prepare(configuration, logger: quietLogger)
        await numberd.close()
        #expect(Self.entries(fresh).contains("provider.json") && !Self.entries(fresh).contains("provider.legacy"))
    }

    @Test("a restore into a new data directory makes each missing folder above it, 0700")
    func intoNewFolders() async throws {
        let directory = Self.temporary("deep-source")
        let parent = Self.temporary("deep")
        defer {
            try? FileManager.default.removeItem(atPath: directory)
            try? FileManager.default.removeItem(atPath: parent)
        }
        let (backup, accountId) = try await Self.backedUp(directory)
        let fresh = parent + "/a/b"
        _ = try await BackupRestore(backup: backup, into: DataDirectory(root: fresh)).run()
        for folder in [parent, parent + "/a", fresh] {
            let mode = try FileManager.default.attributesOfItem(atPath: folder)[.posixPermissions] as? Int
            #expect(mode == 0o700, "\(folder)")
        }
        #expect(try await Self.balance(fresh, accountId) == 10_000)
    }
}
