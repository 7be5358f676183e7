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
    /// is on another file system or one without hard links), read back against its checksum; the store's `FORMAT`;
    /// an empty journal segment starting after the snapshot (a store opens only with one); each synced, then the
    /// folder. Only the link (or, for a copy, opening the store's file, which then outlives its name) runs on the
    /// snapshot queue, where no snapshot is written or deleted meanwhile; the copy and the read-back run on a queue of
    /// their own, so a slow backup disk holds up neither snapshots nor `close`, and appends go on throughout. Either
    /// way the folder's file system must have the snapshot's size and ``JournalOptions/Limits/snapshotFreeBytesReserve``
    /// free: a linked snapshot takes its room on the store's disk once the store deletes its own name. Throws
    /// `closed`/`failed` when the journal no longer runs, `io` when a file cannot be made, read or synced.
    package func writeBackupStore(into folder: String) async throws -> BackupStore {
        let placed: PlacedSnapshot = try await withCheckedThrowingContinuation { continuation in
            snapshotQueue.async { continuation.resume(with: Result { try self.placeNewestSnapshot(in: folder) }) }
        }
        return try await withCheckedThrowingContinuation { continuation in
            backupQueue.async { continuation.resume(with: Result { try self.finishBackupStore(folder, placed) }) }
        }
    }

    /// The newest snapshot as ``placeNewestSnapshot(in:)`` left it for the backup.
    struct PlacedSnapshot: Sendable {
        var seq: UInt64
        var bytes: Int
        /// The store's file, open for the copy, when it could not be linked.
        var source: JournalFileHandle?
    }

    /// On the snapshot queue: refuses a journal that no longer runs, checks the room, and links the newest snapshot
    /// into `folder` — or, where no hard link can be made, opens it for the copy.
    func placeNewestSnapshot(in folder: String) throws -> PlacedSnapshot {
        let (seq, bytes) = try shared.withLock { state -> (UInt64, Int) in
            if let error = Self.refusal(state) { throw error }
            return (state.snapshotSeq, state.snapshotBytes ?? 0)
        }
        var placed = PlacedSnapshot(seq: seq, bytes: bytes, source: nil)
        guard seq > 0 else { return placed }
        try backupStep(folder) {
            let available = try fileSystem.availableBytes(folder)
            let needed = Int64(bytes) + Int64(options.limits.snapshotFreeBytesReserve)
            guard available >= needed else {
                throw JournalError(
                    .io,
                    "no room for the backup's snapshot: \(needed) bytes needed (the snapshot and a reserve of "
                        + "\(options.limits.snapshotFreeBytesReserve)), \(available) available",
                    file: folder)
            }
            let name = JournalLayout.snapshotName(seq: seq)
            do {
                try fileSystem.link(layout.path(name), to: folder + "/" + name)
            } catch let failure as JournalFailure where Self.noHardLink.contains(failure.errno) {
                placed.source = try fileSystem.open(layout.path(name), mode: .read)
            }
        }
        return placed
    }

    /// On the backup queue: copies the snapshot if it was not linked, reads it back against its checksum, and writes
    /// `FORMAT` and the empty segment.
    func finishBackupStore(_ folder: String, _ placed: PlacedSnapshot) throws -> BackupStore {
        defer { if let source = placed.source { fileSystem.close(source) } }
        let target = JournalLayout(directory: folder)
        var store = BackupStore(seq: placed.seq, bytes: 0, linked: placed.source == nil && placed.seq > 0)
        try backupStep(folder) {
            if placed.seq > 0 {
                let path = target.path(JournalLayout.snapshotName(seq: placed.seq))
                if let source = placed.source {
                    try fileSystem.copy(source, to: path, chunkBytes: options.limits.snapshotChunkBytes)
                }
                store.bytes = try checkBackupSnapshot(path)
            }
            try writeNewFile(
                target.path(JournalLayout.formatName),
                try fileSystem.readFile(layout.path(JournalLayout.formatName), limitBytes: StoreFormatFile.bytesMax))
            try writeNewFile(target.path(JournalLayout.segmentName(firstSeq: placed.seq + 1)), [])
            try fileSystem.fsyncDirectory(folder)
        }
        return store
    }

    /// Runs `body`, turning a file error into `io` (a ``JournalError`` passes as it is).
    private func backupStep(_ folder: String, _ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as JournalError {
            throw error
        } catch {
            throw JournalError(.io, "backup not written: \(error)", file: folder)
        }
    }

    /// `link(2)` errors that mean "no hard link here", so the snapshot is copied instead.
    static var noHardLink: Set<Int32> { [EXDEV, EPERM, ENOTSUP, EOPNOTSUPP, EMLINK] }

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
