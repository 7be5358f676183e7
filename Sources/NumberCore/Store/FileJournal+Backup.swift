import Foundation

/// Online backups: a store folder holding the journal's newest snapshot, made while appends go on.
extension FileJournal {
    /// What ``writeBackupStore(into:from:)`` put in a backup's store folder.
    package struct BackupStore: Sendable, Hashable {
        /// The seq the folder's snapshot holds (0: the store held no record, and the folder no snapshot).
        package var seq: UInt64
        /// The snapshot's size in bytes (0 when there is none).
        package var bytes: Int
        /// Whether the snapshot is a hard link to the store's own file (else a copy: another file system, one without
        /// hard links, or a snapshot the store deleted while the backup was being written).
        package var linked: Bool
    }

    /// The store's newest snapshot as a backup found it on the snapshot queue: its seq and size, and the file open
    /// for reading. Release it with ``releaseBackupSource(_:)`` once ``writeBackupStore(into:from:)`` is done with it.
    package struct BackupSource: Sendable {
        /// The seq the snapshot holds (0: the store held no record, and has no snapshot).
        package var seq: UInt64
        /// The snapshot's size in bytes (0 when there is none).
        package var bytes: Int
        /// The snapshot file, open for reading (nil when there is none): it is never written again once named, and
        /// the open file stays readable after the store deletes its name.
        var handle: JournalFileHandle?
    }

    /// Opens the newest snapshot for a backup, on the snapshot queue — where no snapshot is written or deleted
    /// meanwhile, so the seq read and the file opened are the same snapshot — and nothing else: nothing there touches
    /// the backup's disk, whose stalls must hold up neither snapshots nor `close`. Throws `closed`/`failed` when the
    /// journal no longer runs, `io` when the file cannot be opened.
    package func openNewestSnapshot() async throws -> BackupSource {
        try await withCheckedThrowingContinuation { continuation in
            snapshotQueue.async { continuation.resume(with: Result { try self.openNewestSnapshotFile() }) }
        }
    }

    /// Closes the snapshot ``openNewestSnapshot()`` opened.
    package func releaseBackupSource(_ source: BackupSource) {
        if let handle = source.handle { fileSystem.close(handle) }
    }

    /// On the snapshot queue: refuses a journal that no longer runs and opens the newest snapshot, if any.
    func openNewestSnapshotFile() throws -> BackupSource {
        let (seq, bytes) = try shared.withLock { state -> (UInt64, Int) in
            if let error = Self.refusal(state) { throw error }
            return (state.snapshotSeq, state.snapshotBytes ?? 0)
        }
        guard seq > 0 else { return BackupSource(seq: 0, bytes: 0, handle: nil) }
        let path = layout.path(JournalLayout.snapshotName(seq: seq))
        let handle = try backupStep(path) { try fileSystem.open(path, mode: .read) }
        return BackupSource(seq: seq, bytes: bytes, handle: handle)
    }

    /// Fills `folder` — an empty directory the caller made — with a store as of `source` (see
    /// ``openNewestSnapshot()``): the snapshot, read back against its checksum; the store's `FORMAT`; an empty
    /// journal segment starting after the snapshot (a store opens only with one); each synced, then the folder. The
    /// snapshot is a hard link made from the open file (``JournalFileSystem/linkOpen(_:to:)``), else — the folder on
    /// another file system or one without hard links, or the store's name for it deleted since it was opened — a copy
    /// read from that file. Either way the folder's file system must have the snapshot's size and
    /// ``JournalOptions/Limits/snapshotFreeBytesReserve`` free: a linked snapshot takes its room on the store's disk
    /// once the store deletes its own name. Blocks on the backup's disk: call it on ``backupQueue``, never on the
    /// snapshot queue or the cooperative pool. `source` stays the caller's to release. Throws `io` when a file cannot
    /// be made, read or synced.
    package func writeBackupStore(into folder: String, from source: BackupSource) throws -> BackupStore {
        let target = JournalLayout(directory: folder)
        var store = BackupStore(seq: source.seq, bytes: 0, linked: false)
        try backupStep(folder) {
            if let handle = source.handle {
                try requireBackupRoom(folder, bytes: source.bytes)
                let path = target.path(JournalLayout.snapshotName(seq: source.seq))
                store.linked = try placeSnapshot(handle, at: path)
                store.bytes = try checkBackupSnapshot(path)
            }
            try writeNewFile(
                target.path(JournalLayout.formatName),
                try fileSystem.readFile(layout.path(JournalLayout.formatName), limitBytes: StoreFormatFile.bytesMax))
            try writeNewFile(target.path(JournalLayout.segmentName(firstSeq: source.seq + 1)), [])
            try fileSystem.fsyncDirectory(folder)
        }
        return store
    }

    /// Throws `io` unless `folder`'s file system has `bytes` and the snapshot reserve free.
    func requireBackupRoom(_ folder: String, bytes: Int) throws {
        let available = try fileSystem.availableBytes(folder)
        let needed = Int64(bytes) + Int64(options.limits.snapshotFreeBytesReserve)
        guard available >= needed else {
            throw JournalError(
                .io, "no room for the backup's snapshot: \(roomShortfall(available: available, snapshotBytes: bytes))",
                file: folder)
        }
    }

    /// Links the open snapshot `source` at `path`, or copies it from the same descriptor (at its start: nothing read
    /// it yet) where no link can be made; whether it was linked.
    func placeSnapshot(_ source: JournalFileHandle, at path: String) throws -> Bool {
        do {
            try fileSystem.linkOpen(source, to: path)
            return true
        } catch let failure as JournalFailure where Self.noHardLink.contains(failure.errno) || failure.errno == ENOENT {
            try fileSystem.copy(source, to: path, chunkBytes: options.limits.snapshotChunkBytes)
            return false
        }
    }

    /// Runs `body`, turning a file error into `io` (a ``JournalError`` passes as it is).
    private func backupStep<T>(_ file: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as JournalError {
            throw error
        } catch {
            throw JournalError(.io, "backup not written: \(error)", file: file)
        }
    }

    /// `link(2)` errors that mean "no hard link here", so the snapshot is copied instead (as it is on `ENOENT`: the
    /// store deleted its name since the backup opened it).
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
