import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What `verifyDataDirectory(_:limits:)` found: the journal's own checks, and the core invariants of the state the
/// directory replays to.
public struct DataDirectoryReport: Sendable {
    /// Checksums, sequence continuity, torn tails, snapshots.
    public var journal: JournalVerificationReport
    /// Broken core invariants of the replayed state.
    public var violations: [Violation]
    /// Why the state could not be replayed, if it could not.
    public var replayError: String?
    /// The replayed state, if replay worked.
    public var state: CoreState?
    /// Whether another process (a running numberd) held the directory's lock: its files may have changed while
    /// they were read, so a problem at the newest segment or snapshot may be a write in progress, not damage.
    public var inUse = false
    /// What the replayed state holds that an operator should look at, though it serves as it is
    /// (``CoreState/checkWarnings()``): not counted against ``isSound``.
    public var warnings: [Violation] = []
    /// Why the check did not finish, through no fault of the store's (no room for the replay's copy, a store that a
    /// running numberd changed faster than it could be read): not damage, and not sound either.
    public var notFinished: VerificationNotFinished?

    /// Whether something read was found wrong: an error of the journal's checks, a broken invariant, a replay that
    /// failed.
    public var foundProblems: Bool {
        replayError != nil || !violations.isEmpty || journal.problems.contains { $0.severity == .error }
    }

    /// Whether the check finished and found nothing worse than a warning the journal repairs by itself.
    public var isSound: Bool { notFinished == nil && !foundProblems }
}

/// Why `verifyDataDirectory(_:limits:)` could not finish its check, though nothing it read was found wrong: an
/// operator told "problems found" might restore an older backup over a sound store and lose the writes since.
public struct VerificationNotFinished: Error, Sendable, Hashable, CustomStringConvertible {
    /// What stopped the check.
    public enum Reason: Sendable, Hashable {
        /// No place had room for the replay's copy of the store (its size and a margin), or the copy ran out of it
        /// (`ENOSPC`, `EDQUOT`).
        case noRoomForCopy
        /// A running numberd removed files between their listing and their read (or copy), each time the check
        /// started again (``JournalVerifier/attemptsWhileInUseMax``).
        case changedTooFast
    }

    /// What stopped the check.
    public var reason: Reason
    /// What to tell the operator.
    public var message: String

    /// Creates one.
    public init(_ reason: Reason, _ message: String) {
        self.reason = reason
        self.message = message
    }

    /// The store's files kept vanishing under the check.
    static let changedTooFast = VerificationNotFinished(
        .changedTooFast,
        "the store changed too fast to check (a running numberd removed files as they were read, "
            + "\(JournalVerifier.attemptsWhileInUseMax) times): stop numberd, or verify a backup")

    public var description: String { message }
}

/// Checks a data directory offline without modifying it (`numberd verify`): the journal's structure, then a replay
/// of a scratch copy (so recovery's repairs touch only the copy) and the invariants of the resulting state. Under
/// `limits`, the ones the service opens the directory with (a snapshot larger than its `snapshotBytesMax` is one it
/// cannot read); default: the documented defaults.
public func verifyDataDirectory(
    _ directory: URL, limits: JournalOptions.Limits = .defaults
) async -> DataDirectoryReport {
    // Held while the files are read, so no numberd starts (and changes them) meanwhile; one already running is
    // reported, not waited for.
    let files = POSIXJournalFileSystem()
    var lock: JournalFileHandle?
    var inUse = false
    do {
        lock = try files.lockDirectory(directory.path)
    } catch let error as JournalError where error.code == .locked {
        inUse = true
    } catch {}
    defer { if let lock { files.unlockDirectory(lock) } }
    let journal = JournalVerifier.verify(
        directory: directory, event: CoreEvent.self, state: CoreState.self, limits: limits, reader: .current,
        markers: StoreFormat.markers, inUse: inUse)
    var report = DataDirectoryReport(journal: journal, violations: [], replayError: nil, state: nil)
    report.inUse = inUse
    guard !journal.changedTooFast else {
        report.notFinished = .changedTooFast
        return report
    }
    do {
        let state = try await replayDataDirectory(directory, limits: limits)
        report.state = state
        report.violations = state.checkInvariants()
        report.warnings = state.checkWarnings()
    } catch let notFinished as VerificationNotFinished {
        report.notFinished = notFinished
    } catch {
        report.replayError = "\(error)"
    }
    return report
}

/// The state a data directory replays to (newest valid snapshot plus the journal after it), read from a scratch copy
/// so recovery's repairs touch only the copy; the directory itself is not modified. Cheaper than
/// `verifyDataDirectory(_:limits:)`, which also checks every snapshot and segment on its own. Opened under `limits`,
/// as the service would open it. The copy is made beside `directory` (on the same file system, which has room for
/// a store), in the system's temporary folder only if that cannot be written or has not room enough: `/tmp` is often a
/// small tmpfs, and a copy of a multi-gigabyte store that did not fit there was reported as a problem of a sound
/// directory; and a copy beside a live store must leave its disk room (it needs the copy's size and a margin free:
/// ``VerifyCopy/roomNeeded(forCopyOf:)``). Throws ``VerificationNotFinished`` when no place had room for the copy
/// (nothing wrong with the store: "no room to copy the store…"), or when a running numberd kept removing the files
/// the copy listed (it starts again from a new listing when one is gone, ``JournalVerifier/attemptsWhileInUseMax``
/// times in all).
public func replayDataDirectory(
    _ directory: URL, limits: JournalOptions.Limits = .defaults
) async throws -> CoreState {
    try await replayDataDirectory(directory, limits: limits, freeSpace: freeBytes)
}

/// The same, asking `freeSpace` how many bytes a folder's file system has free (tests give their own).
package func replayDataDirectory(
    _ directory: URL, limits: JournalOptions.Limits, freeSpace: (String) -> Int
) async throws -> CoreState {
    let name = VerifyCopy.prefix + Crypto.randomHex(8)
    let places = VerifyCopy.places(besides: directory)
    // Copies a killed verify left (Ctrl-C, the out-of-memory killer) go first: each is a whole store.
    VerifyCopy.removeLeftovers(besides: directory)
    let needed = storeBytes(directory)
    var scratch: (copy: URL, owner: Int32)?
    var refusals: [String] = []
    // Whether every place was refused for room alone: only then is it "no room", not a copy that failed.
    var noRoomOnly = true
    for place in places {
        // Beside a live store, a copy that filled the disk would stop the running numberd at its next journal write.
        let free = freeSpace(place.path)
        guard free >= VerifyCopy.roomNeeded(forCopyOf: needed) else {
            refusals.append("\(place.path): \(free) bytes free")
            continue
        }
        let candidate = place.appendingPathComponent(name, isDirectory: true)
        guard let owner = VerifyCopy.own(candidate) else {
            // No room for the owner file itself (a disk out of inodes, a quota: the bytes check above passed) is no
            // room too, not a copy that failed, which would read as damage.
            let failed = errno
            if !JournalFailure.isNoRoom(errno: failed) { noRoomOnly = false }
            refusals.append(
                "\(place.path): cannot create \(candidate.path)\(VerifyCopy.ownerSuffix): "
                    + String(cString: strerror(failed)))
            continue
        }
        do {
            try copyStore(directory, to: candidate)
            scratch = (candidate, owner)
            CrashPoint.afterVerifyCopy.hit()
            break
        } catch let notFinished as VerificationNotFinished {
            // The store changing under the copy would change as fast under a copy made elsewhere.
            VerifyCopy.remove(candidate, owner: owner)
            throw notFinished
        } catch {
            VerifyCopy.remove(candidate, owner: owner)
            if !isOutOfRoom(error) { noRoomOnly = false }
            refusals.append("\(place.path): \(error)")
        }
    }
    guard let scratch else {
        let reasons = refusals.joined(separator: "; ")
        guard noRoomOnly else {
            throw JournalError(.io, "cannot copy the store (\(needed) bytes) for its replay: " + reasons)
        }
        throw VerificationNotFinished(
            .noRoomForCopy, "no room to copy the store (\(needed) bytes) for its replay: " + reasons)
    }
    defer { VerifyCopy.remove(scratch.copy, owner: scratch.owner) }
    var options = JournalOptions.defaults
    options.limits = limits
    options.fatal = { _ in }
    // Under this build's format, as numberd opens it: a store of a newer format is refused here too.
    let opened = try FileJournal<CoreEvent, CoreState>.open(
        directory: scratch.copy, options: options, format: .current, initialState: CoreState(),
        apply: { state, event in try state.applyChecked(event) })
    await opened.journal.close()
    return opened.state
}

/// The scratch copies `replayDataDirectory` makes, and the ones a killed run left. Each copy `.numberd-verify-<hex>`
/// has an owner file beside it (`<copy>.owner`), locked (`flock`, released by the kernel when its process dies however
/// it dies) before the copy is made, and removed after it: a copy whose owner file is not locked belongs to nobody.
/// A verify killed by Ctrl-C or the out-of-memory killer used to leave its copy — a whole store, made only when the
/// disk had room for it and a margin — beside the live store for good: the running numberd's snapshots then found no
/// room, its segments were never deleted, and the journal grew until a write failed (fail-stop).
///
/// The owner file is created and locked under a name of its own (`<copy>.owner-pending`) and only then renamed to
/// `<copy>.owner` (the lock belongs to the open file, which the rename keeps), so no cleanup ever finds an owner file
/// unlocked while its verify lives; a pending file is removed only when unlocked and an hour old. Cleanup acts only on
/// what `lstat` shows is a directory (a copy) or a regular file (an owner file) of this process's effective user, and
/// follows no symbolic link: in the system's temporary folder a root numberd must not remove other users' files.
package enum VerifyCopy {
    static let prefix = ".numberd-verify-"
    static let ownerSuffix = ".owner"
    /// The owner file's name from its creation until it is locked.
    static let pendingSuffix = ".owner-pending"

    /// Where copies are made: beside the store (its data directory), else the system's temporary folder.
    package static func places(besides store: URL) -> [URL] {
        [store.standardizedFileURL.deletingLastPathComponent(), FileManager.default.temporaryDirectory]
    }

    /// The free bytes a place needs for a copy of a store of `bytes`: the copy and a margin (64 MiB, or a tenth of
    /// the copy). `numberd restore` checks it up front too, for the verify of the copy it makes.
    package static func roomNeeded(forCopyOf bytes: Int) -> Int {
        bytes + max(64 << 20, bytes / 10)
    }

    /// Creates and locks `copy`'s owner file; its descriptor, or nil if it cannot be made (`errno` says why).
    static func own(_ copy: URL) -> Int32? {
        guard let descriptor = createOwner(copy) else { return nil }
        guard nameOwner(copy, descriptor) else {
            let failed = errno
            defer { errno = failed }
            unlink(copy.path + pendingSuffix)
            close(descriptor)
            return nil
        }
        return descriptor
    }

    /// `own`'s first step: creates the owner file under its pending name (unlocked until `nameOwner`).
    static func createOwner(_ copy: URL) -> Int32? {
        let descriptor = open(copy.path + pendingSuffix, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        return descriptor >= 0 ? descriptor : nil
    }

    /// `own`'s second step: locks the pending owner file, then renames it to `<copy>.owner`; whether both worked.
    static func nameOwner(_ copy: URL, _ descriptor: Int32) -> Bool {
        flock(descriptor, LOCK_EX | LOCK_NB) == 0 && rename(copy.path + pendingSuffix, copy.path + ownerSuffix) == 0
    }

    /// Removes `copy`, then its owner file, then lets go of the lock (in that order: a copy is never seen without
    /// its owner file while its process lives). A copy that cannot be removed keeps its owner file, unlocked once
    /// this returns, so the next cleanup tries again.
    static func remove(_ copy: URL, owner: Int32) {
        release(copy, owner: owner, removeItem: removeTree)
    }

    /// Removes the abandoned copies in both ``places(besides:)``: beside the store whoever made them (a data
    /// directory is its service user's alone, and `sudo numberd verify` killed there leaves a copy the next snapshot
    /// must find room beside), in the temporary folder — which every user shares — only this user's. Returns the
    /// paths of the copies removed.
    @discardableResult
    package static func removeLeftovers(besides store: URL) -> [String] {
        let both = places(besides: store)
        let (beside, temporary) = (both[0], both[1])
        return removeLeftovers(in: beside, anyUser: true).map { beside.appendingPathComponent($0).path }
            + removeLeftovers(in: temporary).map { temporary.appendingPathComponent($0).path }
    }

    /// Removes the copies in `place` whose owner is gone (and owner files left without a copy, and pending ones an
    /// hour old); returns the names of the copies it removed. A copy without an owner file is one an older numberd
    /// made (before copies had owners): removed once an hour old, when no verify is still reading it. Only entries of
    /// this process's user, unless `anyUser`; never through a symbolic link. `removeItem` removes a copy (tests make it
    /// fail).
    @discardableResult
    package static func removeLeftovers(
        in place: URL, anyUser: Bool = false, removeItem: (URL) throws -> Void = removeTree
    ) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: place.path)) ?? []
        var removed: [String] = []
        for name in names where name.hasPrefix(prefix) && !name.hasSuffix(ownerSuffix) && !name.hasSuffix(pendingSuffix)
        {
            let copy = place.appendingPathComponent(name, isDirectory: true)
            guard let status = entry(copy.path, type: S_IFDIR, anyUser: anyUser) else { continue }
            switch lockIfAbandoned(copy.path + ownerSuffix, anyUser: anyUser) {
            case .busy:
                continue  // its verify is still running (or the owner file is not one of ours)
            case .missing:
                guard isOld(status), (try? removeItem(copy)) != nil else { continue }
                removed.append(name)
            case .abandoned(let owner):
                if release(copy, owner: owner, removeItem: removeItem) { removed.append(name) }
            }
        }
        // An owner file whose copy was never made (killed between the two), or never named (killed before).
        for name in names where name.hasPrefix(prefix) {
            let pending = name.hasSuffix(pendingSuffix)
            guard pending || (name.hasSuffix(ownerSuffix) && !names.contains(String(name.dropLast(ownerSuffix.count))))
            else { continue }
            let path = place.appendingPathComponent(name).path
            // A pending file is unlocked for a moment while its verify starts.
            guard case .abandoned(let owner) = lockIfAbandoned(path, anyUser: anyUser, onlyIfOld: pending) else {
                continue
            }
            unlink(path)
            close(owner)
        }
        return removed
    }

    /// What an owner file says of its copy.
    private enum Owner {
        /// There is no owner file.
        case missing
        /// Locked by a live verify, or not a regular file (of this user, unless any user's go), or gone meanwhile.
        case busy
        /// Nobody held its lock: now this process does (the descriptor).
        case abandoned(Int32)
    }

    /// Locks the owner file at `path` if nobody holds it (and, with `onlyIfOld`, it is an hour old), without
    /// following a symbolic link.
    private static func lockIfAbandoned(_ path: String, anyUser: Bool, onlyIfOld: Bool = false) -> Owner {
        var checked = stat()
        guard lstat(path, &checked) == 0 else { return errno == ENOENT ? .missing : .busy }
        guard isEntry(checked, type: S_IFREG, anyUser: anyUser), !onlyIfOld || isOld(checked) else { return .busy }
        let descriptor = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else { return .busy }
        var locked = stat()
        // Still the file checked, and still named (another cleanup that had it may have removed it meanwhile).
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0, fstat(descriptor, &locked) == 0,
            locked.st_dev == checked.st_dev, locked.st_ino == checked.st_ino, locked.st_nlink > 0
        else {
            close(descriptor)
            return .busy
        }
        return .abandoned(descriptor)
    }

    /// Removes `copy`, then, once it is gone, its owner file, and closes `owner`: whether this removed the copy.
    @discardableResult
    private static func release(_ copy: URL, owner: Int32, removeItem: (URL) throws -> Void) -> Bool {
        let removed = (try? removeItem(copy)) != nil
        var status = stat()
        if removed || (lstat(copy.path, &status) != 0 && errno == ENOENT) { unlink(copy.path + ownerSuffix) }
        close(owner)
        return removed
    }

    /// `path`'s `lstat` if it is of `type` (`S_IFDIR`, `S_IFREG`) and, unless `anyUser`, this process's effective
    /// user owns it.
    private static func entry(_ path: String, type: mode_t, anyUser: Bool) -> stat? {
        var status = stat()
        guard lstat(path, &status) == 0, isEntry(status, type: type, anyUser: anyUser) else { return nil }
        return status
    }

    private static func isEntry(_ status: stat, type: mode_t, anyUser: Bool) -> Bool {
        status.st_mode & S_IFMT == type && (anyUser || status.st_uid == geteuid())
    }

    private static func isOld(_ status: stat) -> Bool {
        Date().timeIntervalSince1970 - Double(status.st_mtim.tv_sec) > 3600
    }

    static func removeTree(_ url: URL) throws { try FileManager.default.removeItem(at: url) }
}

/// The bytes of the store's files (what a copy of it takes: ``JournalLayout/isStoreFileName(_:)``).
private func storeBytes(_ directory: URL) -> Int {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    return names.filter(JournalLayout.isStoreFileName).reduce(0) { total, name in
        let attributes = try? FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent(name).path)
        return total + ((attributes?[.size] as? Int) ?? 0)
    }
}

/// Bytes an unprivileged writer may still use on the file system holding `path` (0 if it cannot be told).
private func freeBytes(_ path: String) -> Int {
    Int((try? POSIXJournalFileSystem().availableBytes(path)) ?? 0)
}

/// Copies the store's own files into a new folder `scratch`: the regular files of
/// ``JournalLayout/isStoreFileName(_:)``'s names. Not `LOCK` — opening and closing the lock file drops every `fcntl` lock this process holds on it (POSIX record
/// locks belong to the process, not the descriptor), so copying it from inside a running numberd, as tests do,
/// released the running store's lock — nor a snapshot's temporary file (open removes it; a running numberd renames it
/// away when its snapshot ends), nor anything else in the folder: a store on a volume of its own holds the volume's
/// `lost+found` (root's, mode 0700), which an unprivileged verify cannot read, and a FIFO's copy blocks, a socket's
/// fails; every name was copied, and a sound store was reported as damaged. A file listed and gone before its copy
/// was removed by a running numberd (a snapshot prunes the segments and snapshot it replaces): the copy starts again
/// from a new listing, ``JournalVerifier/attemptsWhileInUseMax`` times in all, then throws
/// ``VerificationNotFinished`` (`changedTooFast`).
private func copyStore(_ directory: URL, to scratch: URL) throws {
    for attempt in 1...JournalVerifier.attemptsWhileInUseMax {
        if attempt > 1 { try FileManager.default.removeItem(at: scratch) }
        // 0700: the copy is the whole ledger, and it may land in the system's temporary folder.
        try FileManager.default.createDirectory(
            at: scratch, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        if try copyFiles(directory, to: scratch) { return }
    }
    throw VerificationNotFinished.changedTooFast
}

/// ``copyStore(_:to:)``'s one pass: false when a file it listed was gone before it was copied.
private func copyFiles(_ directory: URL, to scratch: URL) throws -> Bool {
    let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
    for name in names where JournalLayout.isStoreFileName(name) {
        let source = directory.appendingPathComponent(name)
        var status = stat()
        if lstat(source.path, &status) == 0 {
            // A directory, FIFO, socket or symbolic link under a store file's name is none that numberd wrote.
            guard status.st_mode & S_IFMT == S_IFREG else { continue }
        } else if errno == ENOENT {
            return false
        }
        do {
            try FileManager.default.copyItem(at: source, to: scratch.appendingPathComponent(name))
        } catch {
            if lstat(source.path, &status) != 0 && errno == ENOENT { return false }
            throw error
        }
    }
    return true
}

/// Whether a copy failed for lack of room: the disk or the owner's quota full or the file size limit (`ENOSPC`,
/// `EDQUOT`, `EFBIG`), which Foundation's copy reports as `fileWriteOutOfSpace` (or a `POSIXError`), the journal's
/// file layer as its errno (``JournalFailure/isNoRoom``).
private func isOutOfRoom(_ error: any Error) -> Bool {
    if let failure = error as? JournalFailure { return failure.isNoRoom }
    if let cocoa = error as? CocoaError { return cocoa.code == .fileWriteOutOfSpace }
    if let posix = error as? POSIXError { return JournalFailure.isNoRoom(errno: posix.code.rawValue) }
    return false
}
