import Foundation

/// Online backups: a store folder holding the journal's newest snapshot, made while appends go on.
extension FileJournal {
    /// What ``writeBackupStore(into:)`` put in a backup's store folder.
    package struct BackupStore: Sendable, Hashable {
        /// The seq the folder's snapshot holds (0: the store held no record, and the folder no snapshot).
        package var seq: UInt64
        /// The snapshot's size in bytes (0 when there is none).
        package var bytes: Int
        /// Whether the snapshot is a hard link to the store's own file (else a copy: another file system, or one
        /// without hard links).
        package var linked: Bool
    }

    /// Fills `folder` — an empty directory the caller made — with a store as of the newest snapshot: the snapshot
    /// (a hard link to the store's file, which is never written again once it has its name; a copy where the folder
    /// is on another file system or that has no hard links), read back against its checksum; the store's `FORMAT`;
    /// an empty journal segment starting after the snapshot (a store opens only with one); each synced, then the
    /// folder. It runs on the snapshot queue, so no snapshot is written or deleted meanwhile; appends go on. Throws
    /// `closed`/`failed` when the journal no longer runs, `io` when a file cannot be made, read or synced.
    package func writeBackupStore(into folder: String) async throws -> BackupStore {
        try await withCheckedThrowingContinuation { continuation in
            snapshotQueue.async { continuation.resume(with: Result { try self.fillBackupStore(folder) }) }
        }
    }

    /// ``writeBackupStore(into:)``'s work, on the snapshot queue.
    func fillBackupStore(_ folder: String) throws -> BackupStore {
        let (seq, bytes) = try shared.withLock { state -> (UInt64, Int) in
            if let error = Self.refusal(state) { throw error }
            return (state.snapshotSeq, state.snapshotBytes ?? 0)
        }
        let target = JournalLayout(directory: folder)
        var store = BackupStore(seq: seq, bytes: 0, linked: false)
        do {
            if seq > 0 {
                let name = JournalLayout.snapshotName(seq: seq)
                (store.bytes, store.linked) = try placeSnapshot(layout.path(name), at: target.path(name), bytes: bytes)
            }
            try writeNewFile(
                target.path(JournalLayout.formatName),
                try fileSystem.readFile(layout.path(JournalLayout.formatName), limitBytes: StoreFormatFile.bytesMax))
            try writeNewFile(target.path(JournalLayout.segmentName(firstSeq: seq + 1)), [])
            try fileSystem.fsyncDirectory(folder)
        } catch let error as JournalError {
            throw error
        } catch {
            throw JournalError(.io, "backup not written: \(error)", file: folder)
        }
        return store
    }

    /// Puts the snapshot `source` (`bytes` long) at `destination`: a hard link, or a copy when the link cannot be
    /// made across file systems or on this one; then reads it there against its checksum, so a backup never holds
    /// a snapshot that does not read back whole. Its size, and whether it is a link.
    func placeSnapshot(_ source: String, at destination: String, bytes: Int) throws -> (bytes: Int, linked: Bool) {
        var linked = true
        do {
            try fileSystem.link(source, to: destination)
        } catch let failure as JournalFailure where Self.noHardLink.contains(failure.errno) {
            linked = false
            try copyFile(source, to: destination, bytes: bytes)
        }
        return (try checkBackupSnapshot(destination), linked)
    }

    /// `link(2)` errors that mean "no hard link here", so the snapshot is copied instead.
    static var noHardLink: Set<Int32> { [EXDEV, EPERM, ENOTSUP, EOPNOTSUPP, EMLINK] }

    /// Copies `source` to a new file `destination` a chunk at a time (`snapshotChunkBytes`, each synced, as a
    /// snapshot is written), after checking its file system has room for it and ``JournalOptions/Limits/snapshotFreeBytesReserve``:
    /// a backup beside the store must not take the journal's room.
    func copyFile(_ source: String, to destination: String, bytes: Int) throws {
        let directory = (destination as NSString).deletingLastPathComponent
        let available = try fileSystem.availableBytes(directory)
        let needed = Int64(bytes) + Int64(options.limits.snapshotFreeBytesReserve)
        guard available >= needed else {
            throw JournalError(
                .io,
                "no room for the backup's copy of the snapshot: \(needed) bytes needed (the snapshot and a "
                    + "reserve of \(options.limits.snapshotFreeBytesReserve)), \(available) available",
                file: directory)
        }
        let input = try fileSystem.open(source, mode: .read)
        defer { fileSystem.close(input) }
        let output = try fileSystem.open(destination, mode: .createNew)
        defer { fileSystem.close(output) }
        while true {
            let chunk = try fileSystem.read(input, count: options.limits.snapshotChunkBytes)
            if chunk.isEmpty { break }
            try fileSystem.write(output, chunk)
            try fileSystem.fdatasync(output)
        }
    }

    /// Reads a backup's snapshot a chunk at a time and checks its checksum; its size. Throws `io` if it does not
    /// check.
    func checkBackupSnapshot(_ path: String) throws -> Int {
        let handle = try fileSystem.open(path, mode: .read)
        defer { fileSystem.close(handle) }
        var stream = ChecksummedLineStream()
        var size = 0
        while true {
            let chunk = try fileSystem.read(handle, count: options.limits.snapshotChunkBytes)
            if chunk.isEmpty { break }
            size += chunk.count
            guard size <= options.limits.snapshotBytesMax else {
                throw JournalError(
                    .io, "the backup's snapshot is larger than \(options.limits.snapshotBytesMax) bytes", file: path)
            }
            stream.append(chunk)
        }
        guard stream.isValid else {
            throw JournalError(
                .io, "the backup's snapshot does not match its checksum: the store's snapshot file is damaged",
                file: path)
        }
        return size
    }

    /// Creates `path` (it must not exist), writes `bytes` and syncs it.
    func writeNewFile(_ path: String, _ bytes: [UInt8]) throws {
        let handle = try fileSystem.open(path, mode: .createNew)
        defer { fileSystem.close(handle) }
        if !bytes.isEmpty { try fileSystem.write(handle, bytes) }
        try fileSystem.fdatasync(handle)
    }
}
