import Foundation

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

    /// Whether there is nothing worse than a warning the journal repairs by itself.
    public var isSound: Bool {
        replayError == nil && violations.isEmpty && !journal.problems.contains { $0.severity == .error }
    }
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
        directory: directory, event: CoreEvent.self, state: CoreState.self, limits: limits, reader: .current)
    var report = DataDirectoryReport(journal: journal, violations: [], replayError: nil, state: nil)
    report.inUse = inUse
    do {
        let state = try await replayDataDirectory(directory, limits: limits)
        report.state = state
        report.violations = state.checkInvariants()
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
/// directory; and a copy beside a live store must leave its disk room (it needs the copy's size and a margin free).
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
    for place in places { VerifyCopy.removeLeftovers(in: place) }
    let needed = storeBytes(directory)
    var scratch: (copy: URL, owner: Int32)?
    var refusals: [String] = []
    for place in places {
        // Room for the copy and a margin (64 MiB, or a tenth of the copy): beside a live store, a copy that filled
        // the disk would stop the running numberd at its next journal write.
        let free = freeSpace(place.path)
        guard free >= needed + max(64 << 20, needed / 10) else {
            refusals.append("\(place.path): \(free) bytes free")
            continue
        }
        let candidate = place.appendingPathComponent(name, isDirectory: true)
        guard let owner = VerifyCopy.own(candidate) else {
            refusals.append("\(place.path): cannot create \(candidate.path)\(VerifyCopy.ownerSuffix)")
            continue
        }
        do {
            try copyStore(directory, to: candidate)
            scratch = (candidate, owner)
            break
        } catch {
            VerifyCopy.remove(candidate, owner: owner)
            refusals.append("\(place.path): \(error)")
        }
    }
    guard let scratch else {
        throw JournalError(
            .io,
            "no room to copy the store (\(needed) bytes) for its replay: "
                + refusals.joined(separator: "; "))
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
/// has an owner file beside it (`<copy>.owner`), created and locked (`flock`, released by the kernel when its process
/// dies however it dies) before the copy is made, and removed after it: a copy whose owner file is not locked belongs
/// to nobody. A verify killed by Ctrl-C or the out-of-memory killer used to leave its copy — a whole store, made only
/// when the disk had room for it and a margin — beside the live store for good: the running numberd's snapshots then
/// found no room, its segments were never deleted, and the journal grew until a write failed (fail-stop).
package enum VerifyCopy {
    static let prefix = ".numberd-verify-"
    static let ownerSuffix = ".owner"

    /// Where copies are made: beside the store (its data directory), else the system's temporary folder.
    package static func places(besides store: URL) -> [URL] {
        [store.standardizedFileURL.deletingLastPathComponent(), FileManager.default.temporaryDirectory]
    }

    /// Creates and locks `copy`'s owner file; its descriptor, or nil if it cannot be made.
    static func own(_ copy: URL) -> Int32? {
        let descriptor = open(copy.path + ownerSuffix, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return nil }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            return nil
        }
        return descriptor
    }

    /// Removes `copy`, then its owner file, then lets go of the lock (in that order: a copy is never seen without
    /// its owner file while its process lives).
    static func remove(_ copy: URL, owner: Int32) {
        try? FileManager.default.removeItem(at: copy)
        unlink(copy.path + ownerSuffix)
        close(owner)
    }

    /// Removes the copies in `place` whose owner is gone (and owner files left without a copy); returns their names.
    /// A copy without an owner file is one an older numberd made (before copies had owners): removed once an hour
    /// old, when no verify is still reading it.
    @discardableResult
    package static func removeLeftovers(in place: URL) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: place.path)) ?? []
        var removed: [String] = []
        for name in names where name.hasPrefix(prefix) && !name.hasSuffix(ownerSuffix) {
            let copy = place.appendingPathComponent(name, isDirectory: true)
            let descriptor = open(copy.path + ownerSuffix, O_RDWR | O_CLOEXEC)
            if descriptor < 0 {
                guard errno == ENOENT, isOld(copy) else { continue }
            } else if flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
                close(descriptor)  // its verify is still running
                continue
            }
            try? FileManager.default.removeItem(at: copy)
            if descriptor >= 0 {
                unlink(copy.path + ownerSuffix)
                close(descriptor)
            }
            removed.append(name)
        }
        // An owner file whose copy was never made (killed between the two).
        for name in names where name.hasPrefix(prefix) && name.hasSuffix(ownerSuffix) {
            let copy = String(name.dropLast(ownerSuffix.count))
            guard !names.contains(copy) else { continue }
            let path = place.appendingPathComponent(name).path
            let descriptor = open(path, O_RDWR | O_CLOEXEC)
            guard descriptor >= 0 else { continue }
            if flock(descriptor, LOCK_EX | LOCK_NB) == 0 { unlink(path) }
            close(descriptor)
        }
        return removed
    }

    private static func isOld(_ url: URL) -> Bool {
        let modified = (try? FileManager.default.attributesOfItem(atPath: url.path))?[.modificationDate] as? Date
        return modified.map { Date().timeIntervalSince($0) > 3600 } ?? false
    }
}

/// The bytes of the store's files (what a copy of it takes).
private func storeBytes(_ directory: URL) -> Int {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    return names.reduce(0) { total, name in
        let attributes = try? FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent(name).path)
        return total + ((attributes?[.size] as? Int) ?? 0)
    }
}

/// Bytes an unprivileged writer may still use on the file system holding `path` (0 if it cannot be told).
private func freeBytes(_ path: String) -> Int {
    Int((try? POSIXJournalFileSystem().availableBytes(path)) ?? 0)
}

/// Copies the store's files into a new folder `scratch`, all but `LOCK`: opening and closing the lock file drops every
/// `fcntl` lock this process holds on it (POSIX record locks belong to the process, not the descriptor), so copying
/// it from inside a running numberd, as tests do, released the running store's lock.
private func copyStore(_ directory: URL, to scratch: URL) throws {
    // 0700: the copy is the whole ledger, and it may land in the system's temporary folder.
    try FileManager.default.createDirectory(
        at: scratch, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
    for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) where name != "LOCK" {
        try FileManager.default.copyItem(
            at: directory.appendingPathComponent(name), to: scratch.appendingPathComponent(name))
    }
}
