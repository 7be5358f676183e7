import Dispatch
import Foundation
import Synchronization

/// The durable journal: JSON lines in segment files plus snapshots in one data directory.
///
/// Appenders encode their events on their own task and enqueue them; one writer (a serial dispatch queue, never the
/// cooperative pool) takes everything queued (up to `batchRecordsMax` / `batchBytesMax`), assigns consecutive
/// seqs, writes the lines with one `write` and one `fdatasync`, and only then resumes every appender of the batch
/// (group commit). A failed write or sync of the journal calls `JournalOptions.fatal` (fail-stop) and nobody waiting
/// is ever resumed with success — except a write that finds no room, which is cut off and refused with everything
/// queued behind it (`JournalError.noRoom`) while the journal goes on; a failed snapshot fails only itself
/// (`writeSnapshot`).
///
/// ```swift
/// let opened = try FileJournal<Event, State>.open(
///     directory: URL(fileURLWithPath: "/var/lib/numberd"), initialState: State(),
///     apply: { state, event in try state.apply(event) })
/// var state = opened.state
/// let seq = try await opened.journal.append([event])  // durable now
/// try state.apply(event)
/// try await opened.journal.writeSnapshot(state, throughSeq: seq)
/// ```
public final class FileJournal<Event: Codable & Sendable, State: Codable & Sendable>: Journal {
    /// An appender waiting for its record to be durable.
    struct PendingAppend {
        var seq: UInt64
        var eventsJSON: [UInt8]
        var promise: DurabilityPromise
    }

    /// A request from a snapshot to the writer: start a new segment and delete segments covered through a seq.
    struct SegmentRequest {
        var deleteThroughSeq: UInt64
        var continuation: CheckedContinuation<Void, any Error>
    }

    /// What appenders, the writer and snapshots share.
    struct Shared {
        var queue: [PendingAppend] = []
        var queueHead = 0
        var queuedBytes = 0
        var nextSeq: UInt64
        var durableSeq: UInt64
        var snapshotSeq: UInt64
        /// The newest snapshot's file size (nil: none yet, or not loaded at open).
        var snapshotBytes: Int?
        var writerScheduled = false
        var failure: JournalFailure?
        /// Since when writes find no room (a batch refused with `noRoom`), nil once one is written again.
        var noRoomSince: Date?
        /// Bytes of records written (and synced) since the journal was opened.
        var appendedBytes: UInt64 = 0
        var closing = false
        var closed = false
        var closeWaiters: [CheckedContinuation<Void, Never>] = []
        var segmentRequests: [SegmentRequest] = []
        /// When the writer's current write + sync began (monotonic ns), nil when idle; for the watchdog.
        var writerIOSince: UInt64?
        /// When the current snapshot's current file step (a chunk written, synced or read, the rename...) began,
        /// nil when none.
        var snapshotIOSince: UInt64?
        /// Set by the watchdog when a snapshot step ran past the limit: the snapshot is abandoned after that step.
        var snapshotStalled = false
        /// Snapshot files on disk that must not count as a fallback: unreadable at open, or failed after their rename
        /// and not removable. Removed by the next successful snapshot.
        var untrustedSnapshots: Set<UInt64> = []

        var queuedCount: Int { queue.count - queueHead }
    }

    /// The open segment; touched only by the writer (and by `close` once the writer is idle).
    struct SegmentState {
        /// First seqs of the segment files on disk, ascending; the last one is open.
        var firstSeqs: [UInt64]
        var handle: JournalFileHandle?
        var size: Int
        var lastWrittenSeq: UInt64
        /// Whether a rotation found no room — a full segment's, one at the file size limit, or the new segment a start
        /// makes after a cut batch — so that each write tries it first and is refused until one succeeds (logged once).
        var rotationPostponed = false
    }

    let options: JournalOptions
    let layout: JournalLayout
    let fileSystem: any JournalFileSystem
    let shared: Mutex<Shared>
    let segment: Mutex<SegmentState>
    let lockHandle: Mutex<JournalFileHandle?>
    let writerQueue = DispatchQueue(label: "numberd.journal.writer")
    let watchdog = Mutex<WatchdogTimer?>(nil)
    let snapshotQueue = DispatchQueue(label: "numberd.journal.snapshot")
    /// Where a backup's file work runs — everything on the backup's disk, from its folders to the removal of old
    /// backups (``FileNumberStore/backup(into:kept:including:now:checkingRoot:ended:)``): off `snapshotQueue`, so
    /// snapshots and `close` go on while that disk stalls, and off the cooperative pool. Serial: one backup's file
    /// work at a time.
    let backupQueue = DispatchQueue(label: "numberd.journal.backup")

    init(
        options: JournalOptions, layout: JournalLayout, lock: JournalFileHandle, segment: SegmentState,
        lastSeq: UInt64, snapshotSeq: UInt64, snapshotBytes: Int?, untrustedSnapshots: Set<UInt64>
    ) {
        self.options = options
        self.layout = layout
        self.fileSystem = options.fileSystem
        self.lockHandle = Mutex(lock)
        self.segment = Mutex(segment)
        var shared = Shared(nextSeq: lastSeq + 1, durableSeq: lastSeq, snapshotSeq: snapshotSeq)
        shared.untrustedSnapshots = untrustedSnapshots
        shared.snapshotBytes = snapshotBytes
        self.shared = Mutex(shared)
    }

    deinit {
        // Dropped without `close`: the writer is idle (it holds `self` while it runs), so release the files here.
        releaseFiles()
    }

    /// The seq of the last durable record.
    public var durableSeq: UInt64 { shared.withLock { $0.durableSeq } }

    /// Since when writes find no room (the first batch refused with `noRoom` since one was last written); nil while
    /// they go through.
    public var noRoomSince: Date? { shared.withLock { $0.noRoomSince } }

    /// Bytes of records written and synced since the journal was opened: how much a start would replay beyond a
    /// snapshot taken when it was some value is its growth since.
    public var appendedBytes: UInt64 { shared.withLock { $0.appendedBytes } }

    /// The seq the newest snapshot holds.
    public var snapshotSeq: UInt64 { shared.withLock { $0.snapshotSeq } }

    /// The newest snapshot's file size in bytes: the one this journal wrote last, else the one it was opened from
    /// (nil when neither).
    public var snapshotBytes: Int? { shared.withLock { $0.snapshotBytes } }

    /// Records waiting for the writer (not yet taken into a batch).
    package var queuedRecordCount: Int { shared.withLock { $0.queuedCount } }

    /// Appends one record and returns its seq once it is on disk (after `fdatasync`).
    public func append(_ events: [Event]) async throws -> UInt64 {
        let pending = try enqueue(events)
        try await pending.durable()
        return pending.seq
    }

    /// Queues one record without waiting: its seq is assigned now, in call order; await `durable()` before
    /// acting on it. Throws at once for a record refused (size, empty, `queueFull`, `closed`, `failed`).
    public func enqueue(_ events: [Event]) throws -> PendingRecord {
        let promise = DurabilityPromise()
        return PendingRecord(seq: try enqueue(events, promise: promise), promise: promise)
    }

    /// Queues one record like `enqueue(_:)`, but hands its outcome to `onDurable` instead of a waiting task: it is
    /// called once — by the writer after the record's `fdatasync` and before the writer takes its next batch, or
    /// with the failure by whichever thread stops the journal — possibly before this returns; it must be short and
    /// must not block. Returns the record's seq. Throws at once (and never calls `onDurable`) for a refused record.
    package func enqueue(
        _ events: [Event], onDurable: @escaping @Sendable (Result<Void, JournalError>) -> Void
    ) throws -> UInt64 {
        try enqueue(events, promise: DurabilityPromise(callback: onDurable))
    }

    private func enqueue(_ events: [Event], promise: DurabilityPromise) throws -> UInt64 {
        guard !events.isEmpty else { throw JournalError(.emptyRecord, "a record needs at least one event") }
        let json = try JournalCodec.encodeEventsJSON(events)
        let limits = options.limits
        guard json.count <= limits.recordBytesMax else {
            throw JournalError(.recordTooLarge, "record has \(json.count) bytes, limit \(limits.recordBytesMax)")
        }
        let (seq, startWriter) = try shared.withLock { state throws(JournalError) -> (UInt64, Bool) in
            if let error = Self.refusal(state) { throw error }
            guard state.queuedCount < limits.queueRecordsMax,
                state.queuedBytes + json.count <= limits.queueBytesMax
            else {
                throw JournalError(.queueFull, "\(state.queuedCount) records / \(state.queuedBytes) bytes queued")
            }
            let seq = state.nextSeq
            state.nextSeq += 1
            state.queue.append(PendingAppend(seq: seq, eventsJSON: json, promise: promise))
            state.queuedBytes += json.count
            return (seq, Self.claimWriter(&state))
        }
        if startWriter { scheduleWriter() }
        return seq
    }

    /// Writes everything queued, waits for the writer to go idle, then closes the segment and releases the lock.
    public func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = shared.withLock { state -> Bool in
                if state.closed { return true }
                state.closing = true
                if !state.writerScheduled && state.queuedCount == 0 && state.segmentRequests.isEmpty {
                    state.closed = true
                    return true
                }
                state.closeWaiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
        // Wait for a snapshot in flight on its queue, then release the files.
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            snapshotQueue.async { continuation.resume() }
        }
        releaseFiles()
    }

    /// Closes the segment and the lock (idempotent).
    func releaseFiles() {
        stopWatchdog()
        let handle = segment.withLock { state -> JournalFileHandle? in
            defer { state.handle = nil }
            return state.handle
        }
        if let handle { fileSystem.close(handle) }
        let lock = lockHandle.withLock { lock -> JournalFileHandle? in
            defer { lock = nil }
            return lock
        }
        if let lock { fileSystem.unlockDirectory(lock) }
    }

    /// Why a new request must be refused now, if it must.
    static func refusal(_ state: Shared) -> JournalError? {
        if let failure = state.failure {
            return JournalError(.failed, "the journal stopped after a failed \(failure)")
        }
        if state.closing { return JournalError(.closed, "the journal is closed") }
        return nil
    }

    /// Marks the writer scheduled; returns whether the caller must start it.
    static func claimWriter(_ state: inout Shared) -> Bool {
        if state.writerScheduled { return false }
        state.writerScheduled = true
        return true
    }

    func scheduleWriter() {
        writerQueue.async { self.runWriter() }
    }
}
