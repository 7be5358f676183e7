import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Online backups of a running store (`numbers backup`; `numberd restore` puts one back).
extension FileNumberStore {
    /// A backup ``backup(into:kept:including:now:checkingRoot:ended:)`` wrote.
    public struct Backup: Sendable, Hashable {
        /// Its folder's name in the backup directory, `backup-<UTC time to the millisecond>`
        /// (`backup-20261201T041500.123Z`): names sort in the order the backups were made.
        public var name: String
        /// Its folder: a data directory holding `store/` (and the files the call included), which
        /// `numberd verify --data-dir` checks and a restore puts in place of the data directory's own.
        public var path: String
        /// The seq its snapshot holds: every record committed before the backup was asked for (and any committed
        /// while the snapshot was being written).
        public var seq: UInt64
        /// The snapshot's size in bytes (0 for a store that held no record).
        public var snapshotBytes: Int
        /// Whether the snapshot is a hard link to the store's own file (same file system), else a copy.
        public var linked: Bool
        /// When it was asked for.
        public var createdAt: Date
        /// The older backups removed so that `kept` remain, oldest first.
        public var removed: [String]
    }

    /// Backup folders' names start with this.
    public static let backupPrefix = "backup-"
    /// A backup being written is `<prefix><name>` until it is complete; one a crash left is removed by a later
    /// backup once it is an hour old (a younger one may be another process's, writing now).
    static let partialPrefix = ".partial-"
    /// An old backup being removed is renamed `<prefix><name>` first, so a crash mid-removal never leaves a folder
    /// that looks like a whole backup; a later backup finishes the removal.
    static let removingPrefix = ".removing-"
    /// The file size past which an included file is refused (they are small: `provider.json`).
    public static let includedBytesMax = 1 << 20

    /// Writes a backup of everything committed so far into `root` (created if missing) while commits go on:
    /// a snapshot is written if the newest one is behind, then `<root>/backup-<time>/store/` gets that snapshot (hard
    /// link or checked copy), the `FORMAT` and an empty journal segment after it, and each file of `files` that exists
    /// (at most 1 MiB each) is copied beside `store/`; all synced, under a `.partial-` name renamed into place at
    /// the end, so a backup folder is whole or absent. Then backups beyond the newest `kept` are removed (and a
    /// crash's leftovers). One backup at a time: another call meanwhile throws `backupInProgress`. Throws the
    /// snapshot's error (`io`, `fileTooLarge`...) or `io` if a backup file cannot be made; nothing of the failed
    /// backup is left and commits go on either way.
    ///
    /// Only opening the store's snapshot runs on the journal's snapshot queue; everything that touches the backup
    /// directory runs on the journal's backup queue, so a backup disk that stalls (a hard-mounted NFS share) holds
    /// up neither snapshots, nor a shutdown, nor the cooperative pool's few threads — only the next backup.
    ///
    /// A cancelled caller stops waiting at once with `CancellationError` (a stop's drain timeout must not wait for a
    /// stalled disk); the backup queue cannot be interrupted mid-call, so the backup's file work finishes (or fails
    /// and removes what it made) alone, and until then another backup is still refused as in progress.
    ///
    /// `checkRoot`, when given, runs first on the backup queue with `root`'s path and refuses the backup by throwing
    /// (nothing is written): a check that looks at the backup directory on its disk (numberd resolves its symbolic
    /// links there) belongs where a stalled disk holds up only backups.
    ///
    /// `ended`, when given, gets the backup's outcome exactly once, where the backup ends: on the backup queue once its
    /// file work is done — also when the caller stopped waiting long before, which is why numberd counts backups
    /// there and not where it waits (a 90 s backup behind a 30 s deadline was written and never counted) — or in this
    /// call for a backup that never reached the queue (`backupInProgress`, a snapshot that failed). Never the
    /// caller's `CancellationError`: that ends the wait, not the backup.
    public func backup(
        into root: URL, kept: Int, including files: [URL] = [], now: Date = Date(),
        checkingRoot checkRoot: (@Sendable (String) throws -> Void)? = nil,
        ended: (@Sendable (Result<Backup, any Error>) -> Void)? = nil
    ) async throws
        -> Backup
    {
        precondition(kept > 0, "kept must be positive")
        let started = backupRunning.withLock { running -> Bool in
            defer { running = true }
            return !running
        }
        guard started else {
            let busy = JournalError(.backupInProgress, "a backup is being written; ask again once it has ended")
            ended?(.failure(busy))
            throw busy
        }
        // Once the work is on the backup queue, the queue ends the backup (its caller may have stopped waiting).
        var handedToQueue = false
        defer { if !handedToQueue { backupRunning.withLock { $0 = false } } }
        let name = Self.backupPrefix + Self.timestamp(now)
        let folder = root.path + "/" + name
        let source: FileJournal<CoreEvent, CoreState>.BackupSource
        do {
            try await writeSnapshot()
            source = try await journal.openNewestSnapshot()
        } catch {
            ended?(.failure(error))
            throw error
        }
        handedToQueue = true
        let backup: Backup = try await onBackupQueue(folder: folder) {
            let result = Result<Backup, any Error> {
                let store = try self.writeBackupFolder(
                    name, in: root.path, from: source, including: files, checkingRoot: checkRoot)
                let removed = self.removeOldBackups(in: root.path, kept: kept, now: now, sparing: name)
                return Backup(
                    name: name, path: folder, seq: store.seq, snapshotBytes: store.bytes, linked: store.linked,
                    createdAt: now, removed: removed)
            }
            // Free before it is reported: whoever learns that it ended may ask for the next one at once.
            self.backupRunning.withLock { $0 = false }
            ended?(result)
            return try result.get()
        }
        options.journal.logger.notice(
            "store backup written",
            metadata: [
                "backup": "\(folder)", "seq": "\(backup.seq)", "bytes": "\(backup.snapshotBytes)",
                "linked": "\(backup.linked)", "removed": "\(backup.removed.joined(separator: ","))",
            ])
        return backup
    }

    /// Runs `body` on the journal's backup queue (serial: one backup's file work at a time) and returns its result,
    /// or throws `CancellationError` as soon as the calling task is cancelled: `body` still runs to its end (a call
    /// stuck on a stalled disk cannot be interrupted), and what it did then is logged, naming `folder`, since nobody
    /// waits for its result any more.
    private func onBackupQueue<R: Sendable>(
        folder: String, _ body: @escaping @Sendable () throws -> R
    ) async throws -> R {
        let logger = options.journal.logger
        return try await QueueWork.run(on: journal.backupQueue, body) { result in
            switch result {
            case .success:
                logger.notice(
                    "store backup written after its caller stopped waiting", metadata: ["backup": "\(folder)"])
            case .failure(let error):
                logger.warning(
                    "store backup failed after its caller stopped waiting",
                    metadata: ["backup": "\(folder)", "error": "\(error)"])
            }
        }
    }

    /// On the backup queue: runs `checkRoot` (its error thrown as it is), makes `<root>/.partial-<name>/store/`,
    /// fills it from `source` (released here, whatever happens), copies `files` beside it, syncs and renames it
    /// `<root>/<name>`, then syncs `root`. Removes what it made when a step fails; throws that step's `JournalError`,
    /// or `io` for a file error.
    private func writeBackupFolder(
        _ name: String, in root: String, from source: FileJournal<CoreEvent, CoreState>.BackupSource,
        including files: [URL], checkingRoot checkRoot: (@Sendable (String) throws -> Void)?
    ) throws -> FileJournal<CoreEvent, CoreState>.BackupStore {
        defer { journal.releaseBackupSource(source) }
        try checkRoot?(root)
        let fileSystem = options.journal.fileSystem
        let partial = root + "/" + Self.partialPrefix + name
        let folder = root + "/" + name
        do {
            try fileSystem.makeDirectories(root)
            try fileSystem.makeDirectory(partial)
            let store: FileJournal<CoreEvent, CoreState>.BackupStore
            do {
                try fileSystem.makeDirectory(partial + "/store")
                store = try journal.writeBackupStore(into: partial + "/store", from: source)
                for file in files { try include(file.path, in: partial) }
                try fileSystem.fsyncDirectory(partial)
                try fileSystem.rename(partial, to: folder)
            } catch {
                removeTree(partial)
                throw error
            }
            do {
                try fileSystem.fsyncDirectory(root)
            } catch {
                // Whether the new name survives a power cut is not known: a backup is reported only once it would.
                removeTree(folder)
                throw error
            }
            return store
        } catch let error as JournalError {
            throw error
        } catch {
            throw JournalError(.io, "backup not written: \(error)", file: root)
        }
    }

    /// Runs `work` on the backup queue, behind the backups asked for before it, and returns without waiting for it:
    /// for work that looks at the backup directory (numberd's start reads the newest backup's time there), which may
    /// block as long as that directory's disk does and must hold up only the backups behind it.
    package func enqueueOnBackupQueue(_ work: @escaping @Sendable () -> Void) {
        journal.backupQueue.async { work() }
    }

    /// Copies the small file `source` (if it exists) into `folder` under its own name, synced.
    private func include(_ source: String, in folder: String) throws {
        let fileSystem = options.journal.fileSystem
        let bytes: [UInt8]
        do {
            bytes = try fileSystem.readFile(source, limitBytes: Self.includedBytesMax)
        } catch let failure as JournalFailure where failure.errno == ENOENT {
            return
        }
        try journal.writeNewFile(folder + "/" + (source as NSString).lastPathComponent, bytes)
    }

    /// Removes the backups in `root` beyond the newest `kept`, each renamed `.removing-…` first; and finishes what a
    /// crash left: `.removing-…` folders, and `.partial-…` ones an hour older than `now`. Never `sparing` (the backup
    /// just written: with the clock set back it is not the newest name, and must not remove itself), never follows a
    /// symbolic link, touches nothing else, and logs (does not throw) what it cannot remove. A backup named later than
    /// `now` allows (``isNamedAhead(_:of:)``) is neither counted nor removed, with a warning, until the clock passes
    /// it: written under a clock that was ahead, counted as the newest it would outlast every later backup; but it may
    /// as well be the newest real one under a clock set back since (a VM restored from a snapshot), which removing it
    /// first would lose. The names removed, oldest first.
    func removeOldBackups(in root: String, kept: Int, now: Date, sparing: String) -> [String] {
        let fileSystem = options.journal.fileSystem
        guard let names = try? fileSystem.listDirectory(root) else { return [] }
        var removed: [String] = []
        let named = names.filter { Self.backupTime($0) != nil && $0 != sparing }.sorted(by: >)
        // Written under a clock that was ahead, set right since (counted as the newest, each would outlast every
        // backup written after it, and each of those would be removed by the next), or the newest real ones under a
        // clock set back since: kept aside, uncounted, until the clock passes them.
        let ahead = named.filter { name in Self.backupTime(name).map { Self.isNamedAhead($0, of: now) } ?? false }
        let current = named.filter { !ahead.contains($0) }
        if let newest = current.first, newest > sparing {
            options.journal.logger.warning(
                """
                a backup in the backup directory is named later than the one just written: the clock was set back, \
                or another numberd writes there; the one just written is kept
                """,
                metadata: ["backup": "\(sparing)", "newest": "\(newest)"])
        }
        if !ahead.isEmpty {
            options.journal.logger.warning(
                """
                backups in the backup directory are named later than now (a clock that was ahead, or one set back \
                since): kept, not counted against the backups kept, until the clock passes them
                """,
                metadata: ["backups": "\(ahead.joined(separator: ","))", "now": "\(Self.timestamp(now))"])
        }
        for name in current.dropFirst(kept - 1).reversed() {
            let removing = root + "/" + Self.removingPrefix + name
            do {
                try fileSystem.rename(root + "/" + name, to: removing)
            } catch {
                options.journal.logger.warning(
                    "an old backup could not be removed", metadata: ["backup": "\(root)/\(name)", "error": "\(error)"])
                continue
            }
            if removeTree(removing) { removed.append(name) }
        }
        for name in names {
            let leftover: Bool
            if name.hasPrefix(Self.removingPrefix) {
                leftover = Self.backupTime(String(name.dropFirst(Self.removingPrefix.count))) != nil
            } else if name.hasPrefix(Self.partialPrefix),
                let time = Self.backupTime(String(name.dropFirst(Self.partialPrefix.count)))
            {
                leftover = now.timeIntervalSince(time) > 3600
            } else {
                leftover = false
            }
            if leftover { removeTree(root + "/" + name) }
        }
        try? fileSystem.fsyncDirectory(root)
        return removed
    }

    /// Removes a file, or a folder and everything in it, through descriptors opened `O_NOFOLLOW` and `unlinkat`, so a
    /// folder swapped for a symbolic link meanwhile is unlinked, never followed out of the backup directory. Logs what
    /// it cannot remove; whether `path` is gone.
    @discardableResult
    func removeTree(_ path: String) -> Bool {
        let parent = Glibc.open((path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard parent >= 0 else { return logRemoval(path, errno) }
        defer { Glibc.close(parent) }
        let code = Self.removeEntry((path as NSString).lastPathComponent, in: parent)
        return code == 0 || code == ENOENT || logRemoval(path, code)
    }

    private func logRemoval(_ path: String, _ code: Int32) -> Bool {
        options.journal.logger.warning(
            "a backup file could not be removed",
            metadata: ["path": "\(path)", "error": "\(String(cString: strerror(code)))"])
        return false
    }

    /// Removes the entry `name` of the open folder `parent` and, for a folder, what it holds; 0 or an errno.
    private static func removeEntry(_ name: String, in parent: Int32) -> Int32 {
        if unlinkat(parent, name, 0) == 0 { return 0 }
        guard errno == EISDIR || errno == EPERM else { return errno }
        let folder = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard folder >= 0 else { return errno }
        // fdopendir takes the descriptor; closedir closes it.
        guard let listing = fdopendir(folder) else {
            Glibc.close(folder)
            return errno
        }
        var names: [String] = []
        while let entry = readdir(listing) {
            if let entryName = POSIXJournalFileSystem.name(of: entry), entryName != ".", entryName != ".." {
                names.append(entryName)
            }
        }
        var failure: Int32 = 0
        for entryName in names {
            let code = removeEntry(entryName, in: dirfd(listing))
            if code != 0 && code != ENOENT { failure = code }
        }
        closedir(listing)
        guard failure == 0 else { return failure }
        return unlinkat(parent, name, AT_REMOVEDIR) == 0 ? 0 : errno
    }

    /// `20261201T041500.123Z`: UTC, to the millisecond, of fixed width so that names sort by time.
    package static func timestamp(_ date: Date) -> String {
        let millis = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        let seconds = millis.floorDiv(1000)
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        return String(
            format: "%04d%02d%02dT%02d%02d%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
            Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), Int(millis - seconds * 1000))
    }

    /// How far past now a backup's name may be and still count as written by now (another numberd writing in the same
    /// directory, a clock stepped a little: an NTP step corrects less than this).
    package static let backupNameLeadMaxSeconds: TimeInterval = 300

    /// Whether a backup named for `time` is named later than `now` allows (``backupNameLeadMaxSeconds``): written under
    /// a clock that was ahead (set right since). Taken as the newest, it would be kept by retention for as long as the
    /// clock was ahead, ahead of the backups written since, and `numberd_last_backup_timestamp_seconds` read at start
    /// would be in the future, so a "backups stopped" alert could not fire.
    package static func isNamedAhead(_ time: Date, of now: Date) -> Bool {
        time.timeIntervalSince(now) > backupNameLeadMaxSeconds
    }

    /// The time in a backup folder's name, nil if `name` is not one (numberd also reads its newest backup's time at
    /// start, for `numberd_last_backup_timestamp_seconds`).
    package static func backupTime(_ name: String) -> Date? {
        guard name.hasPrefix(backupPrefix) else { return nil }
        let stamp = Array(name.utf8.dropFirst(backupPrefix.count))
        // yyyyMMddTHHmmss.SSSZ
        guard stamp.count == 20, stamp[8] == UInt8(ascii: "T"), stamp[15] == UInt8(ascii: "."),
            stamp[19] == UInt8(ascii: "Z")
        else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for byte in stamp[range] {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0..<4), let month = number(4..<6), let day = number(6..<8), let hour = number(9..<11),
            let minute = number(11..<13), let second = number(13..<15), let millis = number(16..<19)
        else { return nil }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let seconds = timegm(&parts)
        // timegm normalizes (month 13 is January): only a name that names its own time is a backup's.
        let whole = Date(timeIntervalSince1970: TimeInterval(seconds))
        guard timestamp(whole).prefix(15) == String(decoding: stamp.prefix(15), as: UTF8.self) else { return nil }
        return whole.addingTimeInterval(TimeInterval(millis) / 1000)
    }
}

extension Int64 {
    /// Division rounding toward negative infinity.
    fileprivate func floorDiv(_ divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }
}
