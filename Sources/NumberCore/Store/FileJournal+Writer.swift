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

    /// Writes one batch with one write and one `fdatasync`, then acknowledges every record of it. `inNewSegment`: a
    /// second try, in a segment just started because the first found the file size limit.
    func writeBatch(firstSeq: UInt64, _ batch: [PendingAppend], inNewSegment: Bool = false) {
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
        // A full segment whose rotation found no room: a new one is tried first, and while there is none the batch is
        // refused unwritten, so a segment never grows past `segmentBytesMax` by more than one batch (past
        // `segmentReadBytesMax`, no start could read it) — a disk out of inodes still takes appends to an open file.
        // The same for any postponed rotation, full or not: one the start could not make after a cut batch must not
        // take the next batch in the same file (`Recovery.replay`).
        if segment.withLock({ $0.size >= options.limits.segmentBytesMax || $0.rotationPostponed }) {
            switch rotateSegment() {
            case .rotated: break
            case .noRoom(let failure):
                postponedRotation(failure)
                return refuseForRoom(failure, batch: batch)
            case .failed(let failure):
                return failStop(failure, waiting: batch.map(\.promise))
            }
        }
        // The watchdog times the disk only: what the acknowledgements below run (callbacks) is not I/O.
        let outcome = watchedIO {
            segment.withLock { segment -> WriteOutcome in
                guard let handle = segment.handle else {
                    return .failed(JournalFailure(operation: "write", path: layout.directory, errno: EBADF))
                }
                // The batch is not durable, but after a failed writeback Linux keeps its pages readable (and marks them
                // clean): a restart would replay the unacknowledged records from the page cache and build on them, and
                // a later power cut or eviction would leave a hole in the middle of the journal, refusing every start
                // after it. So the batch is cut off before the process stops (best effort: if this fails too, the
                // restart cuts what it can read as a torn tail, as before). Whether the cut is on disk.
                func cutOff() -> Bool {
                    (try? fileSystem.truncate(handle, length: segment.size)) != nil
                        && (try? fileSystem.fdatasync(handle)) != nil
                }
                do {
                    try fileSystem.write(handle, bytes)
                } catch {
                    let failure = Self.failure(error, operation: "write", path: handle.path)
                    // No room (a full disk, a quota, the file size limit): the write itself was refused, nothing was
                    // handed to writeback yet. Once the part written is cut off and that is synced, the segment is
                    // exactly what was acknowledged and the journal can go on; a sync's failure never can (above).
                    // One cut either way: a sync that failed is not tried again.
                    let cut = cutOff()
                    return failure.isNoRoom && cut ? .noRoom(failure) : .failed(failure)
                }
                do {
                    try fileSystem.fdatasync(handle)
                } catch {
                    _ = cutOff()
                    return .failed(Self.failure(error, operation: "fdatasync", path: handle.path))
                }
                segment.size += bytes.count
                segment.lastWrittenSeq = lastSeq
                return .written(segmentFull: segment.size >= options.limits.segmentBytesMax)
            }
        }
        switch outcome {
        case .failed(let failure):
            failStop(failure, waiting: batch.map(\.promise))
        case .noRoom(let failure):
            // At a file size limit below the segment's own, a new segment may take the batch: the cut left this one
            // exactly at what was acknowledged, and the new one starts at the batch's first seq. Once: a batch larger
            // than the limit is refused in the new, empty segment.
            if failure.errno == EFBIG, !inNewSegment, segment.withLock({ $0.size > 0 }) {
                switch rotateSegment() {
                case .rotated: return writeBatch(firstSeq: firstSeq, batch, inNewSegment: true)
                case .noRoom(let rotation): postponedRotation(rotation)
                case .failed(let rotation): return failStop(rotation, waiting: batch.map(\.promise))
                }
            }
            refuseForRoom(failure, batch: batch)
        case .written(let segmentFull):
            // After a fail-stop elsewhere (the watchdog found this write or sync stalled: a snapshot's failure stops
            // nothing), nothing is acknowledged any more, synced or not.
            let (failure, roomAgain) = shared.withLock { state -> (JournalFailure?, Bool) in
                if state.failure == nil { state.durableSeq = lastSeq }
                state.appendedBytes += UInt64(bytes.count)
                defer { state.noRoomSince = nil }
                return (state.failure, state.noRoomSince != nil)
            }
            if let failure {
                let error = JournalError(.failed, "the journal stopped after a failed \(failure)")
                for pending in batch { pending.promise.settle(.failure(error)) }
                return
            }
            if roomAgain { options.logger.notice("the journal has room again: records are written") }
            for pending in batch { pending.promise.settle(.success(())) }
            if segmentFull { rotateOrStop() }
        }
    }

    /// What writing a batch came to.
    enum WriteOutcome {
        case written(segmentFull: Bool)
        /// Refused for lack of room and cut off again: nothing of it is on disk.
        case noRoom(JournalFailure)
        /// The journal must stop.
        case failed(JournalFailure)
    }

    /// A batch that found no room: it and every record queued behind it (whose seqs follow it) are refused with
    /// `noRoom`, and the next record gets the batch's first seq again — the segment ends where it did. The journal
    /// goes on: the next record tries the disk again. Logged once until a write succeeds.
    func refuseForRoom(_ failure: JournalFailure, batch: [PendingAppend]) {
        let (queued, first) = shared.withLock { state -> ([DurabilityPromise], Bool) in
            let queued = state.queue[state.queueHead...].map(\.promise)
            state.queue.removeAll()
            state.queueHead = 0
            state.queuedBytes = 0
            state.nextSeq = batch[0].seq
            defer { if state.noRoomSince == nil { state.noRoomSince = Date() } }
            return (queued, state.noRoomSince == nil)
        }
        if first {
            options.logger.error(
                "no room for the journal: writes are refused until there is room", metadata: ["failure": "\(failure)"])
        }
        let error = JournalError(.noRoom, "no room to write the record: \(failure)")
        for promise in batch.map(\.promise) + queued { promise.settle(.failure(error)) }
    }

    /// Starts a new segment and deletes segments covered by the oldest kept snapshot, for each request.
    func serveSegmentRequests(_ requests: [SegmentRequest]) {
        for request in requests {
            // Stopped by an earlier request of these (or a write): no file is touched after the stop.
            if let failure = shared.withLock({ $0.failure }) {
                request.continuation.resume(
                    throwing: JournalError(.failed, "the journal stopped after a failed \(failure)"))
                continue
            }
            switch rotateSegment() {
            case .rotated: break
            case .noRoom(let failure):
                // The snapshot is written and trusted already: it stands, and the segments it covers but the open one
                // can go. The open one stays open (once full, it refuses writes until a rotation finds room).
                options.logger.warning(
                    "no room for a new journal segment after a snapshot; the current one stays open",
                    metadata: ["failure": "\(failure)"])
            case .failed(let failure):
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

    /// How a rotation went.
    enum Rotation {
        /// A new segment is open (or the current one was empty: nothing to do).
        case rotated
        /// The new segment's file could not be created for lack of room: the current one stays open (a later write
        /// tries again once the segment is full or its rotation postponed).
        case noRoom(JournalFailure)
        /// The journal must stop.
        case failed(JournalFailure)
    }

    /// Closes the current segment (all of it is synced) and opens `journal-<next seq>.jsonl`; nothing to do if the
    /// current segment is empty.
    func rotateSegment() -> Rotation {
        watchedIO {
            segment.withLock { segment -> Rotation in
                guard segment.size > 0, let old = segment.handle else { return .rotated }
                let firstSeq = segment.lastWrittenSeq + 1
                let path = layout.path(JournalLayout.segmentName(firstSeq: firstSeq))
                let handle: JournalFileHandle
                do {
                    handle = try fileSystem.open(path, mode: .createNew)
                } catch {
                    // `open` with `O_CREAT | O_EXCL` that fails creates nothing: the current segment goes on.
                    let failure = Self.failure(error, operation: "rotate", path: path)
                    return failure.isNoRoom ? .noRoom(failure) : .failed(failure)
                }
                fileSystem.close(old)
                segment.rotationPostponed = false
                segment.handle = handle
                segment.firstSeqs.append(firstSeq)
                segment.size = 0
                do {
                    try fileSystem.fsyncDirectory(layout.directory)
                    return .rotated
                } catch {
                    return .failed(Self.failure(error, operation: "rotate", path: path))
                }
            }
        }
    }

    /// Rotates a full segment after a write: a failure stops the journal, no room only postpones it.
    func rotateOrStop() {
        switch rotateSegment() {
        case .rotated: break
        case .noRoom(let failure): postponedRotation(failure)
        case .failed(let failure): failStop(failure, waiting: [])
        }
    }

    /// Notes a rotation that found no room (logged once, until a rotation succeeds).
    func postponedRotation(_ failure: JournalFailure) {
        let first = segment.withLock { segment in
            defer { segment.rotationPostponed = true }
            return !segment.rotationPostponed
        }
        guard first else { return }
        options.logger.warning(
            "no room for a new journal segment; the current one stays open", metadata: ["failure": "\(failure)"])
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
