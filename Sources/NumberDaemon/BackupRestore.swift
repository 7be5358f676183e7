import CProcessControl
import Foundation
import Logging
import NumberAPI
import NumberCore

#if canImport(Glibc)
import Glibc
#endif

/// `numberd restore`: puts a backup's store
/// (``NumberCore/FileNumberStore/backup(into:kept:including:now:checkingRoot:ended:)``) in place of a stopped
/// numberd's, keeping the store it replaces.
///
/// Refused, changing nothing: a backup without `store/`, or whose `store/` holds no journal or snapshot; a backup whose
/// `provider.json` (which Twilio account its numbers are owned at) names another account than the data directory's, or
/// is missing or unreadable while the data directory has one; a `store/` that is a symbolic link or a file system of
/// its own (the restored store must land on it, and a swap would put it beside), or empty in a directory that has
/// served (a store volume not mounted: the restored store would land on the disk under it, hidden once the volume is
/// mounted again); a data directory not owned by the user running the restore (numberd could not open root's files),
/// or, restoring as root into one that does not exist yet, whose nearest existing folder above is another user's; a running numberd (it
/// holds the store's lock, which the restore then holds to its end, and the new store's from before it takes the name,
/// so a numberd started meanwhile refuses to start); too little room, for the copy and for the copy its verify makes of
/// it; a copy that does not verify as `numberd verify` checks, or whose check cannot run. The backup's store files are
/// copied into `store.restore-<time>` beside the store (locked and marked as a copy while it is made: one a killed
/// restore left is removed by the next restore or numberd start), each synced, the copy verified, then swapped with
/// `store/` in one step (`renameat2` with `RENAME_EXCHANGE`; two renames where the file system cannot swap), the old
/// one renamed `store.replaced-<time>` — never deleted — the data directory synced, and `provider.json` copied when the
/// data directory has none (when neither has one, the backup's `provider.legacy` mark is carried over,
/// ``ProviderBinding/markLegacy(_:)``, or, when the backup has none, the data directory's own is removed).
public struct BackupRestore: Sendable {
    /// What a restore did.
    public struct Report: Sendable {
        /// The restored state's accounts and numbers.
        public var accounts: Int
        public var numbers: Int
        /// Where the store it replaced went (`store.replaced-<time>`), nil when the data directory had none.
        public var replacedStore: String?
        /// Whether the backup's `provider.json` was copied (the data directory had none).
        public var providerBindingCopied: Bool
    }

    /// Why the restore stopped; ``changedNothing`` tells whether the data directory is as it was.
    public struct Refusal: Error, CustomStringConvertible {
        public var description: String
        /// False once the backup's store is in place (a failure after the swap).
        public var changedNothing = true
    }

    let backup: String
    let directory: DataDirectory
    let limits: JournalOptions.Limits

    /// A restore of the backup folder `backup` (holding `store/`) into `directory`, checked under `limits` (the
    /// service's `snapshot-bytes-max`).
    public init(backup: String, into directory: DataDirectory, limits: JournalOptions.Limits = .defaults) {
        self.backup = backup
        self.directory = directory
        self.limits = limits
    }

    /// The room a restore leaves free beside the copy: the store's own snapshot reserve.
    var reserveBytes: Int64 { Int64(limits.snapshotFreeBytesReserve) }

    /// Bytes this user may still write on the file system holding a path (`statvfs`; tests give their own).
    package var availableBytes: @Sendable (String) throws -> Int64 = {
        try POSIXJournalFileSystem().availableBytes($0)
    }

    /// Restores; throws ``Refusal`` (with ``Refusal/changedNothing``) or, before the swap, the error of a file step
    /// (nothing changed then either: the copy is removed).
    public func run(now: Date = Date()) async throws -> Report {
        let files = POSIXJournalFileSystem()
        let source = backup + "/store"
        guard isDirectory(source) else { throw Refusal(description: "\(backup) holds no store/: not a backup") }
        // An empty store/ (a backup that never finished, a copy of a store whose volume was not mounted) would
        // verify as an empty state and replace every balance with none.
        guard try storeFiles(source, files).contains(where: { $0 != JournalLayout.formatName }) else {
            throw Refusal(
                description: "\(source) holds no journal or snapshot: not a backup (one that did not finish?)")
        }
        let binding = try checkProviderBinding()
        let storeExists = try checkStoreFolder()
        // Before anything is made: the lock file, or new folders, written as root in numberd's user's directory would
        // be files numberd cannot open.
        try checkOwner()
        var locks: [JournalFileHandle] = []
        defer { for lock in locks { files.unlockDirectory(lock) } }
        if storeExists {
            locks.append(try lock(directory.store, files))
        } else {
            // Each new folder's entry synced: a restore onto a new host that a power cut then took back whole would
            // make the next start a first one (zero balances, numbers paid at Twilio with no owner).
            try files.makeDirectories(directory.root)
        }
        // A restore killed mid-copy (Ctrl-C during a copy of gigabytes) left its copy beside the store: the room it
        // takes would stop the service's snapshots, and then its journal at a full disk.
        Self.removeLeftovers(of: directory)
        let stamp = FileNumberStore.timestamp(now)
        let staging = directory.store + Self.stagingInfix + stamp
        // What is verified is the copy that goes in place, not the backup it was read from (which could change
        // meanwhile: a backup directory another numberd prunes, or a live store given as the backup).
        let state: CoreState
        do {
            try checkRoom(for: source, files)
            try files.makeDirectory(staging)
            // Locked from its start, as a store is (so no cleanup takes a live copy for a dead one's) — and before it
            // takes the store's name: from the swap to the end, a numberd started meanwhile finds the new store
            // locked, as it found the old one.
            locks.append(try lock(staging, files))
            files.close(try files.open(staging + "/" + Self.copyMarker, mode: .createNew))
            try copyStore(source, to: staging, files)
            CrashPoint.afterRestoreCopy.hit()
            state = try await verified(staging)
            // Unmarked before the swap: after an exchange the old store carries this name until it is renamed
            // `store.replaced-<time>`, and a restore killed in between must leave it for the operator, not a cleanup.
            try files.remove(staging + "/" + Self.copyMarker)
            try files.fsyncDirectory(staging)
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
        let replaced = storeExists ? directory.store + ".replaced-" + stamp : nil
        try swap(staging, replacing: replaced, files)
        // From here the backup's store is in place: a failure says so.
        var copied = false
        do {
            try files.fsyncDirectory(directory.root)
            if binding != nil, !FileManager.default.fileExists(atPath: directory.providerBinding) {
                try directory.replaceFile(directory.providerBinding, with: binding!)
                copied = true
            } else if binding == nil, FileManager.default.fileExists(atPath: backup + "/provider.legacy") {
                // Neither the backup nor this directory names the account, and the backup is of a directory from
                // before provider.json (it carries that mark): the restored store has the backup's FORMAT, which
                // alone would read as a binding lost. The start checks it as a directory from before the file
                // (ProviderBinding.markLegacy). A backup with FORMAT and no binding nor mark lost its provider.json
                // (a copy of store/ alone): its start is refused, as a data directory's would be, not bound to
                // whatever account is configured.
                try directory.markBindingLegacy()
            } else if binding == nil, FileManager.default.fileExists(atPath: directory.legacyBindingMarker) {
                // That backup, restored where this directory's own mark is left (its old store was from before
                // provider.json, and no start has bound it yet): the mark spoke of the store just replaced, and left,
                // it would have the start bind the backup's numbers to whatever account is configured.
                try files.remove(directory.legacyBindingMarker)
                try files.fsyncDirectory(directory.root)
            }
        } catch {
            throw Refusal(
                description: "the backup's store is in place\(replaced.map { " (the old one is \($0))" } ?? ""), but "
                    + "finishing failed: \(error); check the data directory before starting numberd",
                changedNothing: false)
        }
        return Report(
            accounts: state.accounts.count, numbers: state.numbers.count, replacedStore: replaced,
            providerBindingCopied: copied)
    }

    /// Puts `staging` in place of `store/`, the old one (if any) renamed `replaced`: swapped in one step where the
    /// file system can; else (it answers `EINVAL`, `ENOSYS` or `ENOTSUP`) the old one moves aside first, so a crash
    /// between the two renames leaves no `store/` — which numberd refuses to start without, its `admin.key` showing it
    /// served — rather than a mix; a failed second rename moves the old one back.
    func swap(_ staging: String, replacing replaced: String?, _ files: POSIXJournalFileSystem) throws {
        guard let replaced else {
            do {
                try files.rename(staging, to: directory.store)
            } catch {
                try? FileManager.default.removeItem(atPath: staging)
                throw error
            }
            return
        }
        if process_control_rename_exchange(staging, directory.store) == 0 {
            do {
                try files.rename(staging, to: replaced)
            } catch {
                throw Refusal(
                    description: "the backup's store is in place, but the old one stays at \(staging) (not renamed "
                        + "\(replaced): \(error))",
                    changedNothing: false)
            }
            return
        }
        let code = errno
        guard [EINVAL, ENOSYS, ENOTSUP].contains(code) else {
            try? FileManager.default.removeItem(atPath: staging)
            throw Refusal(
                description: "cannot swap \(staging) with \(directory.store): \(String(cString: strerror(code)))")
        }
        do {
            try files.rename(directory.store, to: replaced)
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
        do {
            try files.rename(staging, to: directory.store)
        } catch {
            let back = (try? files.rename(replaced, to: directory.store)) != nil
            throw Refusal(
                description: "the backup's store could not take the name \(directory.store) (\(error)); "
                    + (back
                        ? "the old store is back in place, the copy stays at \(staging)"
                        : "the old store is at \(replaced), the copy at \(staging): rename one to store/"),
                changedNothing: back)
        }
    }

    /// What a copy's folder name adds to the store's: `store.restore-<time>`.
    static let stagingInfix = ".restore-"
    /// The file that marks a folder named `store.restore-<time>` as a restore's copy, from just after its lock is
    /// taken until the copy is verified (what else bears that name — the old store for a moment after the swap —
    /// never has it).
    static let copyMarker = "RESTORE-COPY"

    /// Removes the copies restores that did not finish left in `directory` (killed mid-copy or mid-verify): each
    /// `store.restore-<time>` folder holding the copy marker whose lock nobody holds (a live restore holds its
    /// copy's). numberd's start calls it too. The paths removed.
    @discardableResult
    public static func removeLeftovers(of directory: DataDirectory) -> [String] {
        let files = POSIXJournalFileSystem()
        let prefix = (directory.store as NSString).lastPathComponent + stagingInfix
        var removed: [String] = []
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.root)) ?? []
        for name in names where name.hasPrefix(prefix) {
            let path = directory.root + "/" + name
            var status = stat()
            guard lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFDIR,
                lstat(path + "/" + copyMarker, &status) == 0, status.st_mode & S_IFMT == S_IFREG,
                let lock = try? files.lockDirectory(path)
            else { continue }
            defer { files.unlockDirectory(lock) }
            if (try? FileManager.default.removeItem(atPath: path)) != nil { removed.append(path) }
        }
        return removed
    }

    /// Locks `folder` as numberd locks its store; a refusal names a running numberd.
    func lock(_ folder: String, _ files: POSIXJournalFileSystem) throws -> JournalFileHandle {
        do {
            return try files.lockDirectory(folder)
        } catch let error as JournalError where error.code == .locked {
            throw Refusal(
                description:
                    "a numberd is running on \(directory.root) (it holds \(folder)/LOCK): stop it, then restore")
        }
    }

    /// Whether the data directory has a `store/`; refuses one that is a symbolic link or on a file system of its own,
    /// or one holding no journal or snapshot in a directory that has served (as the start refuses it,
    /// ``DataDirectory/checkStoreIsThere()``).
    func checkStoreFolder() throws -> Bool {
        var status = stat()
        guard lstat(directory.store, &status) == 0 else { return false }
        guard status.st_mode & S_IFMT == S_IFDIR else {
            throw Refusal(
                description: "\(directory.store) is not a folder (a symbolic link?): the restored store must land "
                    + "where it points; with numberd stopped, move its files aside and copy the backup's store/ files "
                    + "there (cp -a), then start numberd")
        }
        var root = stat()
        if stat(directory.root, &root) == 0, root.st_dev != status.st_dev {
            throw Refusal(
                description: "\(directory.store) is a file system of its own (a mount point), where the restored "
                    + "store must land: with numberd stopped, move its files aside and copy the backup's store/ files "
                    + "into it (cp -a), then start numberd")
        }
        // The folder a store volume is mounted on, while it is not: the restored store would land on the disk under
        // it, numberd would serve it, and the volume, mounted over it at the next boot, would hide every write since.
        if let witness = directory.servedWitness {
            let hasRecords = try directory.storeHasRecords()
            guard hasRecords else {
                throw Refusal(
                    description: "\(directory.store) holds no journal or snapshot, but \(witness) shows this "
                        + "directory has served: its store's volume is not mounted, or the store was lost. Mount the "
                        + "volume, then restore; if the store was lost, remove the empty \(directory.store) folder, "
                        + "then restore again")
            }
        }
        return true
    }

    /// Refuses a data directory owned by another user than the one restoring: numberd, as its owner, could not
    /// open the files the restore would write (`sudo numberd restore` over a `numberd` user's directory). One that
    /// does not exist yet is judged by the nearest folder above it that does: another user's (not root's) is
    /// numberd's (`sudo numberd restore B --data-dir /home/numberd/new` would make a tree numberd cannot open). A
    /// root-owned folder above (`/var/lib`) tells nothing of which user numberd runs as, so it passes: README says to
    /// make a new data directory as numberd's user first.
    func checkOwner() throws {
        do {
            try directory.requireOwnedByThisUser(doing: "restore")
            // As root, the store it replaces must be root's too: one numberd's user served (its FORMAT) in a data
            // directory of root's (root:numberd 0770) would be replaced by a store numberd could not open.
            if geteuid() == 0 { try directory.requireStoreIsThisUsers(doing: "restore") }
        } catch {
            throw Refusal(description: "\(error)")
        }
        var status = stat()
        // As root only: another user restoring makes a tree of its own, which is what it then serves as.
        guard geteuid() == 0, stat(directory.root, &status) != 0,
            let above = Self.nearestExistingFolder(above: directory.root),
            above.owner != geteuid(), above.owner != 0
        else { return }
        throw Refusal(
            description: "\(directory.root) does not exist, and \(above.path) above it belongs to user id "
                + "\(above.owner), not to this user (\(geteuid())): the data directory the restore would make there "
                + "could not be opened by numberd; run the restore as its owner (sudo -u <numberd's user> numberd "
                + "restore …)")
    }

    /// The nearest folder above `path` that exists, and its owner; nil when none can be read.
    static func nearestExistingFolder(above path: String) -> (path: String, owner: uid_t)? {
        var current = path
        while current != "/" && !current.isEmpty {
            current = (current as NSString).deletingLastPathComponent
            var status = stat()
            if stat(current.isEmpty ? "." : current, &status) == 0 { return (current, status.st_uid) }
            guard errno == ENOENT else { return nil }
        }
        return nil
    }

    /// Refuses, before a byte is copied, a restore the disks have no room for: its copy of the store with the store's
    /// reserve in the data directory, and the copy of that copy its verify replays, where the verify looks for room
    /// (``NumberCore/VerifyCopy``: beside it — where the restore's own copy has taken its room by then — or in the
    /// temporary folder). Checked for the first copy alone, a restore with room for one found none for the second
    /// once gigabytes were copied, and reported a backup that does not verify.
    func checkRoom(for source: String, _ files: POSIXJournalFileSystem) throws {
        var bytes: Int64 = 0
        for name in try storeFiles(source, files) {
            let attributes = try? FileManager.default.attributesOfItem(atPath: source + "/" + name)
            bytes += (attributes?[.size] as? NSNumber)?.int64Value ?? 0
        }
        let available = try availableBytes(directory.root)
        guard available >= bytes + reserveBytes else {
            throw Refusal(
                description: "no room for the restored store in \(directory.root): \(bytes + reserveBytes) bytes "
                    + "needed (the store and a reserve of \(reserveBytes)), \(available) available")
        }
        let replay = Int64(VerifyCopy.roomNeeded(forCopyOf: Int(bytes)))
        let device = Self.device(directory.root)
        var refusals: [String] = []
        for place in VerifyCopy.places(besides: URL(fileURLWithPath: directory.store)) {
            let taken = Self.device(place.path) == device ? bytes : 0
            let free = ((try? availableBytes(place.path)) ?? 0) - taken
            if free >= replay { return }
            refusals.append("\(place.path): \(free) bytes free once the restore's copy is made")
        }
        throw Refusal(
            description: "no room to verify the restored store: its check copies it once more (\(replay) bytes with "
                + "a margin), beside it or in the temporary folder; " + refusals.joined(separator: "; "))
    }

    /// The device of the file system holding `path`; nil when it cannot be read.
    private static func device(_ path: String) -> dev_t? {
        var status = stat()
        return stat(path, &status) == 0 ? status.st_dev : nil
    }

    /// The state `staging` replays to, if it verifies as `numberd verify` checks a store; else a refusal listing why.
    func verified(_ staging: String) async throws -> CoreState {
        let report = await verifyDataDirectory(URL(fileURLWithPath: staging), limits: limits)
        if !report.foundProblems, let notFinished = report.notFinished {
            // Nothing was found wrong with the backup: its check could not run (the disk filled up since the room
            // was checked). Not "does not verify", which would send the operator looking for another backup.
            let why = notFinished.reason == .noRoomForCopy ? "no room for its copy" : "the copy changed under it"
            throw Refusal(description: "could not verify the backup (\(why)); nothing was changed: \(notFinished)")
        }
        guard report.isSound, let state = report.state else {
            let problems =
                report.journal.problems.map { "journal: \($0)" } + report.violations.map { "invariant: \($0)" }
                + (report.replayError.map { ["replay: \($0)"] } ?? [])
            throw Refusal(
                description: "the backup does not verify; nothing was changed:\n  "
                    + problems.joined(separator: "\n  "))
        }
        // Files holding what a newer format added than their FORMAT names (one taken from another backup, or none):
        // this numberd reads them, an older one would open them and drop what it does not know. The restored store
        // names this numberd's format, so that an older one refuses it (a review: restore passed it silently).
        if report.journal.problems.contains(where: { $0.code == "formatBehindContent" }) {
            let format = StoreFormatFile(
                layout: JournalLayout(directory: staging), fileSystem: POSIXJournalFileSystem())
            try format.record(.current, found: try format.read(), logger: Logger(label: "numberd.restore"))
        }
        return state
    }

    /// The backup's `provider.json` text (nil when neither it nor the data directory has one). Refuses one that names
    /// another account than the data directory's own — its numbers are owned at another Twilio account, and a numberd
    /// on them would act at the wrong one, which the start's own check, comparing the data directory's binding with
    /// the configuration, would not see — and, while the data directory has a binding, one that is missing or cannot
    /// be read (never taken for the same account).
    func checkProviderBinding() throws -> String? {
        let path = backup + "/" + (directory.providerBinding as NSString).lastPathComponent
        let own = try readBinding(directory.providerBinding)
        guard let text = try readText(path) else {
            guard let own else { return nil }
            throw Refusal(
                description: "the backup has no provider.json, so which Twilio account its numbers are at is not "
                    + "known, and this data directory is bound to \(own.binding); if the backup is of this account, "
                    + "copy \(directory.providerBinding) into it first")
        }
        guard let backed = try? JSONDecoder().decode(ProviderBinding.self, from: Data(text.utf8)) else {
            throw Refusal(description: "\(path) cannot be read as a provider binding")
        }
        if let own, own.binding != backed {
            throw Refusal(
                description: "the backup's numbers are owned at \(backed), this data directory's at \(own.binding): "
                    + "restore it into a data directory of that account")
        }
        return text
    }

    /// A `provider.json`'s text; nil when it does not exist; a refusal when it cannot be read.
    private func readText(_ path: String) throws -> String? {
        do {
            return try readBoundedText(path, bytesMax: DataDirectory.providerBindingBytesMax)
        } catch {
            throw Refusal(description: "\(error)")
        }
    }

    /// A `provider.json`'s text and binding; nil when it does not exist; a refusal when it cannot be read or decoded.
    private func readBinding(_ path: String) throws -> (text: String, binding: ProviderBinding)? {
        guard let text = try readText(path) else { return nil }
        guard let binding = try? JSONDecoder().decode(ProviderBinding.self, from: Data(text.utf8)) else {
            throw Refusal(description: "\(path) cannot be read as a provider binding")
        }
        return (text, binding)
    }

    /// The store files of `folder` (``NumberCore/JournalLayout/isStoreFileName(_:)``, as verify's copy takes them:
    /// a snapshot set aside as damaged too, whose seq the journal must reach — left out, a backup that verify reports
    /// as missing records was restored as sound without them), regular files only (a FIFO under such a name blocked
    /// the copy's open).
    func storeFiles(_ folder: String, _ files: POSIXJournalFileSystem) throws -> [String] {
        try files.listDirectory(folder).filter { name in
            var status = stat()
            return JournalLayout.isStoreFileName(name) && lstat(folder + "/" + name, &status) == 0
                && status.st_mode & S_IFMT == S_IFREG
        }
    }

    /// Copies the store files of `source` into the folder `target` (made 0700, empty but for the lock and the copy's
    /// marker), each 0600 and synced, then the folder.
    func copyStore(_ source: String, to target: String, _ files: POSIXJournalFileSystem) throws {
        for name in try storeFiles(source, files) {
            let input = try files.open(source + "/" + name, mode: .read)
            defer { files.close(input) }
            try files.copy(input, to: target + "/" + name, chunkBytes: limits.snapshotChunkBytes)
        }
        try files.fsyncDirectory(target)
    }

    private func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }
}
