import Dispatch
import Foundation

/// The writer: group commit, segment rotation, fail-stop. Runs only on `writerQueue`.
extension FileJournal {
    /// One unit of writer work.
    enum WriterWork {
        case segmentRequests([SegmentRequest])
        case batch(firstSeq: UInt64, [PendingAppend])
    }

    /// Drains the queue: batches and segment requests, until nothing is left.
    func runWriter() {
        while let work = takeWork() {
            switch work {
            case .segmentRequests(let requests):
                serveSegmentRequests(requests)
            case .batch(let firstSeq, let batch):
                writeBatch(firstSeq: firstSeq, batch)
            }
        }
    }

    /// Takes the next work under the lock, or marks the writer idle (waking `close`) and returns nil.
    func takeWork() -> WriterWork? {
        let limits = options.limits
        let (work, closeWaiters) = shared.withLock { state -> (WriterWork?, [CheckedContinuation<Void, Never>]) in
            if state.failure == nil, !state.segmentRequests.isEmpty {
                defer { state.segmentRequests = [] }
                return (.segmentRequests(state.segmentRequests), [])
            }
            if state.failure == nil, state.queuedCount > 0 {
                return (Self.takeBatch(&state, limits: limits), [])
            }
            state.writerScheduled = false
            guard state.closing else { return (nil, []) }
            state.closed = true
            defer { state.closeWaiters = [] }
            return (nil, state.closeWaiters)
        }
        for waiter in closeWaiters { waiter.resume() }
        return work
    }

    /// Removes up to the batch limits from the queue (always at least one record); their seqs are consecutive.
    static func takeBatch(_ state: inout Shared, limits: JournalOptions.Limits) -> WriterWork {
        var end = state.queueHead
        var bytes = 0
        while end < state.queue.count, end - state.queueHead < limits.batchRecordsMax {
            let size = state.queue[end].eventsJSON.count
            if end > state.queueHead && bytes + size > limits.batchBytesMax { break }
            bytes += size
            end += 1
        }
        let batch = Array(state.queue[state.queueHead..<end])
        state.queueHead = end
        state.queuedBytes -= bytes
        if state.queueHead == state.queue.count {
            state.queue.removeAll(keepingCapacity: true)
            state.queueHead = 0
        } else if state.queueHead > 1024 && state.queueHead * 2 > state.queue.count {
            state.queue.removeFirst(state.queueHead)
            state.queueHead = 0
        }
        return .batch(firstSeq: batch[0].seq, batch)
    }

    /// Writes one batch with one write and one `fdatasync`, then acknowledges every record of it.
    func writeBatch(firstSeq: UInt64, _ batch: [PendingAppend]) {
        let time = JournalLayout.nowMillis()
        let lastSeq = firstSeq + UInt64(batch.count) - 1
        // Every record names its batch, so that recovery can tell a power cut inside this write (its pages may reach
        // the disk in any order until the sync returns) from damage to records acknowledged earlier.
        let span = RecordBatch(first: firstSeq, last: lastSeq)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(batch.reduce(0) { $0 + $1.eventsJSON.count + 120 })
        for (index, pending) in batch.enumerated() {
            // Seqs are assigned in queue order under the lock, so a batch is always consecutive.
            precondition(pending.seq == firstSeq + UInt64(index), "journal queue out of seq order")
            bytes.append(
                contentsOf: JournalCodec.recordLine(
                    seq: pending.seq, time: time, batch: span, eventsJSON: pending.eventsJSON))
        }
        // The watchdog times the disk only: what the acknowledgements below run (callbacks) is not I/O.
        let outcome = watchedIO {
            segment.withLock { segment -> Result<Bool, JournalFailure> in
                guard let handle = segment.handle else {
                    return .failure(JournalFailure(operation: "write", path: layout.directory, errno: EBADF))
                }
                do {
                    try fileSystem.write(handle, bytes)
                    try fileSystem.fdatasync(handle)
                } catch {
                    // The batch is not durable, but after a failed writeback Linux keeps its pages readable (and marks
                    // them clean): a restart would replay the unacknowledged records from the page cache and build on
                    // them, and a later power cut or eviction would leave a hole in the middle of the journal, refusing
                    // every start after it. So the batch is cut off before the process stops (best effort: if this fails
                    // too, the restart cuts what it can read as a torn tail, as before).
                    try? fileSystem.truncate(handle, length: segment.size)
                    try? fileSystem.fdatasync(handle)
                    return .failure(Self.failure(error, operation: "write", path: handle.path))
                }
                segment.size += bytes.count
                segment.lastWrittenSeq = lastSeq
                return .success(segment.size >= options.limits.segmentBytesMax)
            }
        }
        switch outcome {
        case .failure(let failure):
            failStop(failure, waiting: batch.map(\.promise))
        case .success(let segmentFull):
            // After a fail-stop elsewhere (a snapshot sync), nothing is acknowledged any more, synced or not.
            let failure = shared.withLock { state -> JournalFailure? in
                if state.failure == nil { state.durableSeq = lastSeq }
                return state.failure
            }
            if let failure {
                let error = JournalError(.failed, "the journal stopped after a failed \(failure)")
                for pending in batch { pending.promise.settle(.failure(error)) }
                return
            }
            for pending in batch { pending.promise.settle(.success(())) }
            if segmentFull, let failure = rotateSegment() { failStop(failure, waiting: []) }
        }
    }

    /// Starts a new segment and deletes segments covered by the oldest kept snapshot, for each request.
    func serveSegmentRequests(_ requests: [SegmentRequest]) {
        for request in requests {
            if let failure = rotateSegment() {
                failStop(failure, waiting: [])
                request.continuation.resume(throwing: JournalError(.failed, "segment rotation failed: \(failure)"))
                continue
            }
            do {
                try deleteSegments(through: request.deleteThroughSeq)
                request.continuation.resume()
            } catch let failure as JournalFailure {
                failStop(failure, waiting: [])
                request.continuation.resume(throwing: JournalError(.failed, "segment cleanup failed: \(failure)"))
            } catch {
                request.continuation.resume(throwing: error)
            }
        }
    }

    /// Closes the current segment (all of it is synced) and opens `journal-<next seq>.jsonl`; nothing to do if the
    /// current segment is empty. Returns the failure, if any.
    func rotateSegment() -> JournalFailure? {
        watchedIO {
            segment.withLock { segment -> JournalFailure? in
                guard segment.size > 0, let old = segment.handle else { return nil }
                let firstSeq = segment.lastWrittenSeq + 1
                let path = layout.path(JournalLayout.segmentName(firstSeq: firstSeq))
                do {
                    let handle = try fileSystem.open(path, mode: .createNew)
                    fileSystem.close(old)
                    segment.handle = handle
                    segment.firstSeqs.append(firstSeq)
                    segment.size = 0
                    try fileSystem.fsyncDirectory(layout.directory)
                    return nil
                } catch {
                    return Self.failure(error, operation: "rotate", path: path)
                }
            }
        }
    }

    /// Runs `body`, the writer's disk I/O, under the watchdog's eye (``checkStall(stallNanos:)``): a disk that hangs in it
    /// stops the process instead of holding every appender — also in a segment's rotation or deletion (an `open`, a
    /// directory `fsync`, an `unlink`), which it used to miss: the writer wedged, every write waited to its deadline,
    /// and nothing said the store had stopped.
    func watchedIO<T>(_ body: () throws -> T) rethrows -> T {
        shared.withLock { $0.writerIOSince = DispatchTime.now().uptimeNanoseconds }
        defer { shared.withLock { $0.writerIOSince = nil } }
        return try body()
    }

    /// Deletes every segment but the open one whose records all have seq ≤ `seq`. Each removal is timed on its own
    /// (a backlog of hundreds of segments, left by snapshots that failed for days, is progress, not a stall).
    func deleteSegments(through seq: UInt64) throws {
        try segment.withLock { segment in
            var removed = 0
            while segment.firstSeqs.count > 1, segment.firstSeqs[1] - 1 <= seq {
                let path = layout.path(JournalLayout.segmentName(firstSeq: segment.firstSeqs[0]))
                try watchedIO { try fileSystem.remove(path) }
                segment.firstSeqs.removeFirst()
                removed += 1
            }
            if removed > 0 { try watchedIO { try fileSystem.fsyncDirectory(layout.directory) } }
        }
    }

    /// Fail-stop: records the failure, calls the fatal handler once, and fails everyone waiting (never a success).
    func failStop(_ failure: JournalFailure, waiting: [DurabilityPromise]) {
        let (first, queued, requests) = shared.withLock { state in
            let first = state.failure == nil
            if first { state.failure = failure }
            let queued = state.queue[state.queueHead...].map(\.promise)
            state.queue.removeAll()
            state.queueHead = 0
            state.queuedBytes = 0
            defer { state.segmentRequests = [] }
            return (first, queued, state.segmentRequests.map(\.continuation))
        }
        if first {
            options.logger.critical("journal write failed, stopping", metadata: ["failure": "\(failure)"])
            options.fatal(failure)
        }
        let error = JournalError(.failed, "the journal stopped after a failed \(failure)")
        for promise in waiting + queued { promise.settle(.failure(error)) }
        for continuation in requests { continuation.resume(throwing: error) }
    }

    /// Turns any error of the file layer into a `JournalFailure`.
    static func failure(_ error: any Error, operation: String, path: String) -> JournalFailure {
        if let failure = error as? JournalFailure { return failure }
        return JournalFailure(operation: "\(operation) (\(error))", path: path, errno: EIO)
    }
}
