import Dispatch
import Foundation

/// Snapshots: temp file, `fdatasync`, rename, directory sync, read back and check, then retention.
extension FileJournal {
    /// Writes a snapshot of `state`, which must hold exactly the records through `throughSeq`.
    ///
    /// `throughSeq` must be durable (≤ `durableSeq`) and not older than the newest snapshot; at the newest snapshot's
    /// seq nothing is written (that snapshot holds those records, read back intact: see `persistSnapshot`).
    /// Encoding and file work run on the journal's snapshot queue (appends keep flowing). Once the new
    /// snapshot reads back intact: snapshots beyond `snapshotsKept` are deleted, a new segment is started (unless there is
    /// no room for its file: the current one stays open), and
    /// segments whose records are all covered by the oldest kept snapshot are deleted — so a damaged newest
    /// snapshot can always fall back to the previous one plus the journal. A snapshot that cannot be written (no
    /// space, no descriptor, an I/O error, a step stalled past `ioStallMaxMilliseconds`) throws `io` and changes
    /// nothing else: the journal goes on (only its own writes and syncs stop it) and the next snapshot tries again.
    public func writeSnapshot(_ state: State, throughSeq: UInt64) async throws {
        // Encoding a large state takes a while: it runs on the snapshot queue too, off the cooperative pool.
        let written: UInt64? = try await withCheckedThrowingContinuation { continuation in
            snapshotQueue.async {
                continuation.resume(with: Result { try self.encodeAndPersistSnapshot(state, seq: throughSeq) })
            }
        }
        // Already the newest snapshot's seq: no new segment, nothing more to delete.
        guard let deleteThrough = written else { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let outcome: Result<Bool, JournalError> = shared.withLock { state in
                // A closing journal still serves the request (its writer drains before `close` returns); only a
                // stopped or fully closed one refuses.
                if let failure = state.failure {
                    return .failure(JournalError(.failed, "the journal stopped after a failed \(failure)"))
                }
                if state.closed { return .failure(JournalError(.closed, "the journal is closed")) }
                state.segmentRequests.append(
                    SegmentRequest(deleteThroughSeq: deleteThrough, continuation: continuation))
                return .success(Self.claimWriter(&state))
            }
            switch outcome {
            case .failure(let error): continuation.resume(throwing: error)
            case .success(let startWriter): if startWriter { scheduleWriter() }
            }
        }
    }

    /// Encodes the snapshot file and persists it; nil if `seq` is the newest snapshot's (nothing written). Runs on
    /// `snapshotQueue`.
    func encodeAndPersistSnapshot(_ state: State, seq: UInt64) throws -> UInt64? {
        try persistSnapshot(try encodeSnapshot(state, seq: seq), seq: seq)
    }

    /// The snapshot file's bytes, encoded in one buffer sized from the last snapshot's (a quarter and 1 MiB more:
    /// pages reserved and never written are never touched), so a growing state's snapshot is not copied as it grows,
    /// nor again to add its head — the file work that follows holds one copy of it (plus a chunk).
    func encodeSnapshot(_ state: State, seq: UInt64) throws -> [UInt8] {
        let last = shared.withLock { $0.snapshotBytes } ?? 0
        let capacity = min(last + last / 4 + (1 << 20), options.limits.snapshotBytesMax + 1)
        let content = try JournalCodec.snapshotFile(
            seq: seq, time: JournalLayout.nowMillis(), state: state, capacity: capacity)
        guard content.count <= options.limits.snapshotBytesMax else {
            throw JournalError(
                .fileTooLarge, "snapshot has \(content.count) bytes, limit \(options.limits.snapshotBytesMax)")
        }
        return content
    }

    /// Writes, syncs, renames and checks the snapshot, then deletes old snapshots; returns the seq through which
    /// segments may be deleted (the oldest kept snapshot's). Runs on `snapshotQueue`.
    ///
    /// At the newest snapshot's seq it returns nil and touches no file: that snapshot is written and trusted, and
    /// writing it again under the same name would put it at risk for nothing — a rewrite that failed after its rename
    /// removed `snapshot-<seq>.json` while the journal still named it the newest (a backup then linked a missing file,
    /// a start fell back a snapshot). An explicit snapshot that read the seq just before a count-triggered one ended
    /// asked for exactly that.
    ///
    /// A failure here fails this snapshot only (`io`): the journal goes on, every record stays in its segments, and
    /// the next snapshot tries again. The file is removed — the temp file before the rename; after it (the directory
    /// sync or the read-back failed, or a step stalled) the renamed file too, since whether its entry is on disk is
    /// unknown, and one that cannot be removed is kept out of retention (`untrustedSnapshots`). Nothing trusts a
    /// snapshot until it reads back intact, and segments are only deleted on the strength of trusted ones, so any
    /// subset of these files surviving a crash recovers the same state.
    func persistSnapshot(_ content: [UInt8], seq: UInt64) throws -> UInt64? {
        let alreadyNewest = try shared.withLock { state -> Bool in
            if let error = Self.refusal(state) { throw error }
            guard seq <= state.durableSeq, seq >= state.snapshotSeq else {
                throw JournalError(
                    .invalidSnapshotSeq,
                    "snapshot seq \(seq) must be between the newest snapshot \(state.snapshotSeq) "
                        + "and the durable seq \(state.durableSeq)")
            }
            if seq == state.snapshotSeq { return true }
            state.snapshotIOSince = DispatchTime.now().uptimeNanoseconds
            state.snapshotStalled = false
            return false
        }
        if alreadyNewest { return nil }
        defer { shared.withLock { $0.snapshotIOSince = nil } }
        let path = layout.path(JournalLayout.snapshotName(seq: seq))
        let temp = layout.path(JournalLayout.snapshotTempName(seq: seq))
        var renaming = false
        do {
            try requireRoom(for: content.count)
            try writeSnapshotTemp(content, temp: temp)
            renaming = true
            try snapshotStep { try fileSystem.rename(temp, to: path) }
        } catch {
            discardSnapshotFile(temp)
            // A rename step that failed may have renamed all the same (a stall is found after it returns; an error
            // can come after it acted): the final file is then no more trusted than after a failed directory sync.
            if renaming, !discardSnapshotFile(path) { shared.withLock { _ = $0.untrustedSnapshots.insert(seq) } }
            throw snapshotFailed(error, stage: "write", file: temp, seq: seq)
        }
        do {
            try snapshotStep { try fileSystem.fsyncDirectory(layout.directory) }
            try checkWrittenSnapshot(path, expected: content)
        } catch {
            if !discardSnapshotFile(path) { shared.withLock { _ = $0.untrustedSnapshots.insert(seq) } }
            throw snapshotFailed(error, stage: "directory sync or read-back", file: path, seq: seq)
        }
        shared.withLock { state in
            state.snapshotSeq = seq
            state.snapshotBytes = content.count
            state.untrustedSnapshots.remove(seq)
        }
        options.logger.info("journal snapshot written", metadata: ["seq": "\(seq)", "bytes": "\(content.count)"])
        return deleteOldSnapshots()
    }

    /// Refuses a snapshot the file system has no room for with ``JournalOptions/Limits/snapshotFreeBytesReserve`` to
    /// spare (`ENOSPC`), before a byte of it is written: the journal's next write must not find the disk full.
    func requireRoom(for bytes: Int) throws {
        let available = try snapshotStep { try fileSystem.availableBytes(layout.directory) }
        let needed = Int64(bytes) + Int64(options.limits.snapshotFreeBytesReserve)
        guard available >= needed else {
            options.logger.warning(
                "journal snapshot skipped: the disk is nearly full",
                metadata: ["availableBytes": "\(available)", "neededBytes": "\(needed)"])
            // An operator's walk: "statvfs …: No space left on device" with 3 MB free did not say that a snapshot
            // keeps 64 MiB free for the journal besides itself.
            throw JournalFailure(
                operation: "statvfs", path: layout.directory, errno: ENOSPC,
                detail: roomShortfall(available: available, snapshotBytes: bytes))
        }
    }

    /// What a snapshot without room for itself and the reserve lacks, in numbers: "3104768 bytes free, 67112406
    /// needed: the snapshot's 2390 and 67108864 kept free for the journal's writes".
    func roomShortfall(available: Int64, snapshotBytes: Int) -> String {
        let reserve = options.limits.snapshotFreeBytesReserve
        return "\(available) bytes free, \(Int64(snapshotBytes) + Int64(reserve)) needed: the snapshot's "
            + "\(snapshotBytes) and \(reserve) kept free for the journal's writes"
    }

    /// Creates the temp file and writes it `snapshotChunkBytes` at a time, each chunk followed by `fdatasync`: the
    /// stall watchdog times each step, not the whole file, and no single sync has gigabytes to flush.
    func writeSnapshotTemp(_ content: [UInt8], temp: String) throws {
        let handle = try snapshotStep { try fileSystem.open(temp, mode: .createTruncate) }
        defer { fileSystem.close(handle) }
        var offset = 0
        repeat {
            let end = min(content.count, offset + options.limits.snapshotChunkBytes)
            try snapshotStep { try fileSystem.write(handle, Array(content[offset..<end])) }
            try snapshotStep { try fileSystem.fdatasync(handle) }
            offset = end
        } while offset < content.count
    }

    /// Reads the snapshot back a chunk at a time, comparing as it goes (no second copy in memory): the journal
    /// trusts it (and deletes older files) only if it reads back intact through the file system. The page cache
    /// answers, so this catches a faulty file layer (FUSE, NFS) or a file overwritten meanwhile, not the medium.
    func checkWrittenSnapshot(_ path: String, expected: [UInt8]) throws {
        let handle = try snapshotStep { try fileSystem.open(path, mode: .read) }
        defer { fileSystem.close(handle) }
        var offset = 0
        while true {
            // One byte past the expected end, to see a longer file; never a buffer larger than the snapshot.
            let count = min(options.limits.snapshotChunkBytes, expected.count - offset + 1)
            let chunk = try snapshotStep { try fileSystem.read(handle, count: count) }
            if chunk.isEmpty { break }
            guard chunk.count <= expected.count - offset, Self.bytes(expected, at: offset, equal: chunk) else {
                throw JournalFailure(operation: "snapshot read-back (differs at \(offset))", path: path, errno: EIO)
            }
            offset += chunk.count
        }
        guard offset == expected.count else {
            throw JournalFailure(
                operation: "snapshot read-back (\(offset) of \(expected.count) bytes)", path: path, errno: EIO)
        }
        guard ChecksummedLine.verify(expected.dropLast()) else {
            throw JournalFailure(operation: "snapshot read-back (checksum)", path: path, errno: EIO)
        }
    }

    /// Whether `expected[offset...]` starts with `chunk` (which fits).
    static func bytes(_ expected: [UInt8], at offset: Int, equal chunk: [UInt8]) -> Bool {
        expected.withUnsafeBytes { whole in
            chunk.withUnsafeBytes { part in memcmp(whole.baseAddress! + offset, part.baseAddress!, part.count) == 0 }
        }
    }

    /// Runs one step of a snapshot's file work, then restarts the stall clock: the watchdog measures progress, not
    /// the whole file. Throws if the watchdog found this (or an earlier) step stalled: the snapshot is abandoned.
    func snapshotStep<T>(_ body: () throws -> T) throws -> T {
        let result = try body()
        let stalled = shared.withLock { state -> Bool in
            state.snapshotIOSince = DispatchTime.now().uptimeNanoseconds
            return state.snapshotStalled
        }
        guard !stalled else {
            throw JournalFailure(
                operation: "snapshot step stalled over \(options.limits.ioStallMaxMilliseconds) ms",
                path: layout.directory, errno: ETIMEDOUT)
        }
        return result
    }

    /// Removes a snapshot (or temp) file; returns whether it is gone (a missing one is).
    @discardableResult
    func discardSnapshotFile(_ path: String) -> Bool {
        do {
            try fileSystem.remove(path)
            return true
        } catch let failure as JournalFailure where failure.errno == ENOENT {
            return true
        } catch {
            options.logger.warning(
                "journal could not remove a snapshot file", metadata: ["file": "\(path)", "error": "\(error)"])
            return false
        }
    }

    /// The error a failed snapshot throws (logged here, with where it failed).
    func snapshotFailed(_ error: any Error, stage: String, file: String, seq: UInt64) -> JournalError {
        options.logger.error(
            "journal snapshot failed; the journal goes on and the next snapshot tries again",
            metadata: ["seq": "\(seq)", "stage": "\(stage)", "error": "\(error)"])
        return JournalError(.io, "snapshot \(seq) not written (\(stage)): \(error)", file: file)
    }

    /// Deletes snapshots beyond `snapshotsKept` (oldest first) and those this journal does not trust (unreadable at
    /// open, or failed after their rename: they never count as a fallback); returns the oldest kept snapshot's seq.
    /// A directory that cannot be listed keeps every segment; a file that cannot be removed is logged and left for the
    /// next snapshot.
    func deleteOldSnapshots() -> UInt64 {
        let untrusted = shared.withLock { $0.untrustedSnapshots }
        let seqs: [UInt64]
        do {
            seqs = try fileSystem.listDirectory(layout.directory).compactMap(JournalLayout.snapshotSeq).sorted(by: >)
        } catch {
            options.logger.warning("journal could not list old snapshots", metadata: ["error": "\(error)"])
            return 0
        }
        let trusted = seqs.filter { !untrusted.contains($0) }
        let kept = trusted.prefix(options.snapshotsKept)
        for seq in trusted.dropFirst(options.snapshotsKept) + seqs.filter(untrusted.contains) {
            guard discardSnapshotFile(layout.path(JournalLayout.snapshotName(seq: seq))) else { continue }
            shared.withLock { _ = $0.untrustedSnapshots.remove(seq) }
        }
        // Fewer snapshots than kept: records from the oldest one on are still needed, and with a single snapshot
        // nothing before it may go yet (it has no fallback).
        guard kept.count >= options.snapshotsKept, let oldest = kept.last else { return 0 }
        return oldest
    }
}
