import Dispatch
import Foundation

/// Snapshots: temp file, `fdatasync`, rename, directory sync, read back and check, then retention.
extension FileJournal {
    /// Writes a snapshot of `state`, which must hold exactly the records through `throughSeq`.
    ///
    /// `throughSeq` must be durable (≤ `durableSeq`) and not older than the newest snapshot. Encoding and file work
    /// run on the journal's snapshot queue (appends keep flowing). Once the new
    /// snapshot reads back intact: snapshots beyond `snapshotsKept` are deleted, a new segment is started, and
    /// segments whose records are all covered by the oldest kept snapshot are deleted — so a damaged newest
    /// snapshot can always fall back to the previous one plus the journal.
    public func writeSnapshot(_ state: State, throughSeq: UInt64) async throws {
        // Encoding a large state takes a while: it runs on the snapshot queue too, off the cooperative pool.
        let deleteThrough: UInt64 = try await withCheckedThrowingContinuation { continuation in
            snapshotQueue.async {
                continuation.resume(with: Result { try self.encodeAndPersistSnapshot(state, seq: throughSeq) })
            }
        }
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

    /// Encodes the snapshot file and persists it. Runs on `snapshotQueue`.
    func encodeAndPersistSnapshot(_ state: State, seq: UInt64) throws -> UInt64 {
        let json = try JournalCodec.encodeJSON(state)
        let content = JournalCodec.snapshotLine(seq: seq, time: JournalLayout.nowMillis(), stateJSON: json)
        guard content.count <= options.limits.snapshotBytesMax else {
            throw JournalError(
                .fileTooLarge, "snapshot has \(content.count) bytes, limit \(options.limits.snapshotBytesMax)")
        }
        return try persistSnapshot(content, seq: seq)
    }

    /// Writes, syncs, renames and checks the snapshot, then deletes old snapshots; returns the seq through which
    /// segments may be deleted (the oldest kept snapshot's). Runs on `snapshotQueue`.
    func persistSnapshot(_ content: [UInt8], seq: UInt64) throws -> UInt64 {
        try shared.withLock { state in
            if let error = Self.refusal(state) { throw error }
            guard seq <= state.durableSeq, seq >= state.snapshotSeq else {
                throw JournalError(
                    .invalidSnapshotSeq,
                    "snapshot seq \(seq) must be between the newest snapshot \(state.snapshotSeq) "
                        + "and the durable seq \(state.durableSeq)")
            }
        }
        let name = JournalLayout.snapshotName(seq: seq)
        let path = layout.path(name)
        shared.withLock { $0.snapshotIOSince = DispatchTime.now().uptimeNanoseconds }
        defer { shared.withLock { $0.snapshotIOSince = nil } }
        do {
            try writeFileDurably(content, temp: layout.path(JournalLayout.snapshotTempName(seq: seq)), final: path)
            try checkWrittenSnapshot(path, expected: content)
        } catch let failure as JournalFailure {
            failStop(failure, waiting: [])
            throw JournalError(.failed, "snapshot write failed: \(failure)", file: path)
        }
        shared.withLock { $0.snapshotSeq = seq }
        options.logger.info("journal snapshot written", metadata: ["seq": "\(seq)", "bytes": "\(content.count)"])
        return try deleteOldSnapshots()
    }

    /// temp file → write → `fdatasync` → close → rename → directory sync.
    func writeFileDurably(_ content: [UInt8], temp: String, final: String) throws {
        let handle = try fileSystem.open(temp, mode: .createTruncate)
        do {
            try fileSystem.write(handle, content)
            try fileSystem.fdatasync(handle)
        } catch {
            fileSystem.close(handle)
            throw error
        }
        fileSystem.close(handle)
        try fileSystem.rename(temp, to: final)
        try fileSystem.fsyncDirectory(layout.directory)
    }

    /// Reads the snapshot back: the journal trusts it (and deletes older files) only if the disk returns it intact.
    func checkWrittenSnapshot(_ path: String, expected: [UInt8]) throws {
        let read = try fileSystem.readFile(path, limitBytes: options.limits.snapshotBytesMax)
        guard read == expected, ChecksummedLine.verify(read.dropLast()) else {
            throw JournalFailure(operation: "snapshot read-back", path: path, errno: EIO)
        }
    }

    /// Deletes snapshots beyond `snapshotsKept` (oldest first); returns the oldest kept snapshot's seq.
    func deleteOldSnapshots() throws -> UInt64 {
        let seqs = try fileSystem.listDirectory(layout.directory)
            .compactMap(JournalLayout.snapshotSeq).sorted(by: >)
        let kept = seqs.prefix(options.snapshotsKept)
        for seq in seqs.dropFirst(options.snapshotsKept) {
            try fileSystem.remove(layout.path(JournalLayout.snapshotName(seq: seq)))
        }
        // Fewer snapshots than kept: records from the oldest one on are still needed, and with a single snapshot
        // nothing before it may go yet (it has no fallback).
        guard kept.count >= options.snapshotsKept, let oldest = kept.last else { return 0 }
        return oldest
    }
}
