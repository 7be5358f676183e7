import CProcessControl
import Foundation
import NumberCore

#if canImport(Glibc)
import Glibc
#endif

/// `numberd restore`: puts a backup's store (``NumberCore/FileNumberStore/backup(into:kept:including:now:)``) in place
/// of a stopped numberd's, keeping the store it replaces.
///
/// In order, changing nothing until the last steps: the backup must hold `store/`, and its `provider.json` (which Twilio
/// account its numbers are owned at) must name the data directory's account when both have one; the data directory's
/// store is locked as numberd locks it (a running numberd refuses the restore, and a numberd started meanwhile waits out
/// of it: it cannot take the lock); the backup must verify as `numberd verify` checks it. Then its files are copied into
/// `store.restoring-<time>` beside the store, each synced, and swapped with `store/` in one step (`renameat2` with
/// `RENAME_EXCHANGE`, so there is no moment without a `store/`; two renames on a file system that cannot swap), the old
/// one renamed `store.replaced-<time>` — never deleted — and the data directory synced; `provider.json` is copied when
/// the data directory has none.
public struct BackupRestore: Sendable {
    /// What a restore did.
    public struct Report: Sendable {
        /// The restored state's accounts, numbers and last journal seq.
        public var accounts: Int
        public var numbers: Int
        /// Where the store it replaced went (`store.replaced-<time>`), nil when the data directory had none.
        public var replacedStore: String?
        /// Whether the backup's `provider.json` was copied (the data directory had none).
        public var providerBindingCopied: Bool
    }

    /// A refusal: nothing was changed.
    public struct Refusal: Error, CustomStringConvertible {
        public var description: String
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

    /// Restores; throws ``Refusal`` (nothing changed) or the file error of a step that failed.
    public func run(now: Date = Date()) async throws -> Report {
        let files = POSIXJournalFileSystem()
        let source = backup + "/store"
        guard isDirectory(source) else { throw Refusal(description: "\(backup) holds no store/: not a backup") }
        let binding = try checkProviderBinding()
        let storeExists = isDirectory(directory.store)
        if storeExists, let store = deviceOf(directory.store), let root = deviceOf(directory.root), store != root {
            // A folder of its own file system: the new store must land on that volume, not beside it, and a mount
            // point cannot be renamed.
            throw Refusal(
                description: "\(directory.store) is on another file system than \(directory.root) (a mount point, or a "
                    + "link to one), where the restored store must land: with numberd stopped, move its files aside and "
                    + "copy the backup's store/ files into it (cp -a), then start numberd")
        }
        var lock: JournalFileHandle?
        if storeExists {
            do {
                lock = try files.lockDirectory(directory.store)
            } catch let error as JournalError where error.code == .locked {
                throw Refusal(
                    description: "a numberd is running on \(directory.root) (it holds \(directory.store)/LOCK): stop "
                        + "it, then restore")
            }
        } else {
            try FileManager.default.createDirectory(
                atPath: directory.root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        defer { if let lock { files.unlockDirectory(lock) } }
        let report = await verifyDataDirectory(URL(fileURLWithPath: source), limits: limits)
        guard report.isSound, let state = report.state else {
            let problems =
                report.journal.problems.map { "journal: \($0)" } + report.violations.map { "invariant: \($0)" }
                + (report.replayError.map { ["replay: \($0)"] } ?? [])
            throw Refusal(
                description: "the backup does not verify; nothing was changed:\n  "
                    + problems.joined(separator: "\n  "))
        }
        let stamp = FileNumberStore.timestamp(now)
        let staging = directory.store + ".restoring-" + stamp
        do {
            try copyStore(source, to: staging, files)
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
        var replaced: String?
        if storeExists {
            let old = directory.store + ".replaced-" + stamp
            if process_control_rename_exchange(staging, directory.store) == 0 {
                try files.rename(staging, to: old)
            } else {
                // No exchange here (EINVAL: the file system cannot): the old store moves aside first, so a crash
                // between the two renames leaves no `store/`, which numberd refuses to start without (its admin.key
                // shows it served), rather than a mix.
                try files.rename(directory.store, to: old)
                try files.rename(staging, to: directory.store)
            }
            replaced = old
        } else {
            try files.rename(staging, to: directory.store)
        }
        try files.fsyncDirectory(directory.root)
        var copied = false
        if let binding, !FileManager.default.fileExists(atPath: directory.providerBinding) {
            try directory.replaceFile(directory.providerBinding, with: binding)
            copied = true
        }
        return Report(
            accounts: state.accounts.count, numbers: state.numbers.count, replacedStore: replaced,
            providerBindingCopied: copied)
    }

    /// The backup's `provider.json` text (nil without one); refuses one that names another account than the data
    /// directory's own: its numbers are owned at another Twilio account, and a numberd on them would act at the wrong
    /// one (the start's own check would refuse it too, once the store holds numbers).
    func checkProviderBinding() throws -> String? {
        let path = backup + "/" + (directory.providerBinding as NSString).lastPathComponent
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let decoder = JSONDecoder()
        guard let backed = try? decoder.decode(ProviderBinding.self, from: Data(text.utf8)) else {
            throw Refusal(description: "\(path) cannot be read as a provider binding")
        }
        if let own = try? String(contentsOfFile: directory.providerBinding, encoding: .utf8),
            let current = try? decoder.decode(ProviderBinding.self, from: Data(own.utf8)), current != backed
        {
            throw Refusal(
                description: "the backup's numbers are owned at \(backed), this data directory's at \(current): "
                    + "restore it into a data directory of that account")
        }
        return text
    }

    /// Copies the store files of `source` (snapshots, segments, `FORMAT`; not its lock or a verify's leftovers) into
    /// the new folder `target` (0700), each 0600 and synced, then the folder.
    func copyStore(_ source: String, to target: String, _ files: POSIXJournalFileSystem) throws {
        try files.makeDirectory(target)
        let names = try files.listDirectory(source).filter {
            $0 == JournalLayout.formatName || JournalLayout.segmentSeq($0) != nil
                || JournalLayout.snapshotSeq($0) != nil
        }
        for name in names {
            let input = try files.open(source + "/" + name, mode: .read)
            defer { files.close(input) }
            let output = try files.open(target + "/" + name, mode: .createNew)
            defer { files.close(output) }
            while true {
                let chunk = try files.read(input, count: limits.snapshotChunkBytes)
                if chunk.isEmpty { break }
                try files.write(output, chunk)
            }
            try files.fdatasync(output)
        }
        try files.fsyncDirectory(target)
    }

    /// The device of the file system `path` is on (`stat`), nil if it cannot be read.
    private func deviceOf(_ path: String) -> UInt64? {
        var status = stat()
        return stat(path, &status) == 0 ? UInt64(status.st_dev) : nil
    }

    private func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }
}
