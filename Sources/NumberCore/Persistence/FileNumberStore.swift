import Foundation
import Logging
import Synchronization

/// The durable store: core events in the JSON-lines ``FileJournal`` of a data directory, with periodic snapshots
/// of ``CoreState``. A commit returns once its record is on disk (group-committed with concurrent ones).
///
/// ```swift
/// let store = try FileNumberStore.open(directory: URL(fileURLWithPath: "/var/lib/numberd"))
/// let service = try await NumberService.open(store: store, provider: provider)
/// // ... at shutdown:
/// try await store.writeSnapshot()
/// await store.close()
/// ```
public final class FileNumberStore: NumberStore {
    /// Configuration.
    public struct Options: Sendable {
        /// The journal's limits, file layer and fail-stop handler.
        public var journal: JournalOptions
        /// A snapshot is written after this many records (and once the journal grew by `snapshotJournalFraction` of
        /// the newest snapshot's size). Default 10 000.
        public var snapshotEveryRecords: Int
        /// A record-count snapshot waits until the journal has grown by at least this fraction of the newest snapshot's
        /// size since it, and so does a periodic one (``writeSnapshotIfDue()``): the bytes snapshots write stay within
        /// 1 / fraction of the bytes the journal does — a snapshot of a large state every 10 000 records rewrote it
        /// all for a few megabytes of journal —, and a start replays at most that much journal beyond its snapshot.
        /// 0 snapshots by record count alone. Default 0.5.
        public var snapshotJournalFraction: Double = 0.5
        /// Durable records that may wait to be applied to the state snapshots are taken from (it is updated on its
        /// own queue, off the journal writer). At the limit the writer waits for that queue before acknowledging
        /// more, so memory stays bounded if the queue falls behind (a large table copy after a snapshot).
        /// Default 10 000.
        public var pendingRecordsMax: Int

        /// The defaults.
        public static let defaults = Options(journal: .defaults, snapshotEveryRecords: 10_000)

        /// Creates options.
        public init(journal: JournalOptions, snapshotEveryRecords: Int, pendingRecordsMax: Int = 10_000) {
            self.journal = journal
            self.snapshotEveryRecords = snapshotEveryRecords
            self.pendingRecordsMax = pendingRecordsMax
        }
    }

    /// The newest snapshot, and when a snapshot last succeeded: what an operator watches to know start-up replays
    /// little (numberd's `numberd_last_snapshot_timestamp_seconds` and `numberd_last_snapshot_bytes`).
    public struct SnapshotStatus: Sendable, Hashable {
        /// The seq the newest snapshot holds (0: none, the store holds no record).
        public var seq: UInt64
        /// Its file's size (0 when there is none).
        public var bytes: Int
        /// When a snapshot last succeeded: written, or asked for and found current — holding every committed record
        /// already, or (``writeSnapshotIfDue()``) with too little journal since it to be due
        /// (an idle store writes none, yet its snapshot is current).
        public var confirmedAt: Date

        /// Creates a status.
        public init(seq: UInt64, bytes: Int, confirmedAt: Date) {
            self.seq = seq
            self.bytes = bytes
            self.confirmedAt = confirmedAt
        }
    }

    private struct Inner {
        /// Durable records not yet applied to the snapshot state, in seq order.
        var pending: [[CoreEvent]] = []
        /// Whether a drain of `pending` is queued on `stateQueue`.
        var drainScheduled = false
        /// The snapshot in flight (periodic or explicit): at most one at a time.
        var snapshot: Task<Void, Never>?
        /// Set by `close`: no snapshot starts any more.
        var closing = false
        var commits = 0
        /// Times the writer waited for the snapshot state's queue (`pendingRecordsMax` reached).
        var pendingWaits = 0
        /// Snapshots that failed (any cause; the journal still held every record).
        var snapshotFailures = 0
        /// The last snapshot that succeeded, nil before the first.
        var lastSnapshot: SnapshotStatus?
    }

    /// The state snapshots are written from, and the seq it includes. Only `stateQueue` touches it, so applying
    /// records to it — and the copy-on-write of its tables after a snapshot took them — never runs on the
    /// journal's writer between one sync and the next.
    private final class SnapshotState: @unchecked Sendable {
        var state: CoreState
        var seq: UInt64
        var recordsSinceSnapshot = 0
        /// The journal's ``FileJournal/appendedBytes`` when the newest snapshot that succeeded started; nil when the
        /// journal's growth beyond the newest snapshot is not measured — after a failed snapshot (what it would have
        /// covered is still beyond the last good one), or at an open that replayed records after the snapshot it
        /// loaded (their bytes are not counted). Unmeasured, a snapshot is due by record count alone.
        var appendedAtSnapshot: UInt64? = 0

        init(state: CoreState, seq: UInt64) {
            self.state = state
            self.seq = seq
        }
    }

    let journal: FileJournal<CoreEvent, CoreState>
    let options: Options
    /// Whether a backup is being written (``backup(into:kept:including:now:checkingRoot:ended:)``): one at a time,
    /// from the call until its work on the backup queue has ended (which may be after a cancelled caller stopped
    /// waiting).
    let backupRunning = Mutex(false)
    private let inner: Mutex<Inner>
    private let snapshotState: SnapshotState
    private let stateQueue = DispatchQueue(label: "numberd.store.snapshot-state")
    /// What opening the directory found and repaired (torn tail, damaged snapshot).
    public let recovery: JournalRecovery

    /// Opens (creating if needed) the data directory and recovers the state. Throws `JournalError` naming the
    /// file and offset if the journal is damaged before its last record, or `locked` if it is in use; `formatTooNew`
    /// (a store written by a newer numberd) or `formatDamaged` before anything is written. Records
    /// ``StoreFormat/current`` in the directory's `FORMAT` when it is missing or older.
    public static func open(directory: URL, options: Options = .defaults) throws -> FileNumberStore {
        precondition(options.snapshotEveryRecords > 0, "snapshotEveryRecords must be positive")
        precondition(options.pendingRecordsMax > 0, "pendingRecordsMax must be positive")
        let opened = try FileJournal<CoreEvent, CoreState>.open(
            directory: directory, options: options.journal, format: .current, initialState: CoreState(),
            apply: { state, event in try state.applyChecked(event) })
        return FileNumberStore(opened: opened, options: options)
    }

    private init(opened: OpenedJournal<FileJournal<CoreEvent, CoreState>>, options: Options) {
        self.journal = opened.journal
        self.options = options
        self.recovery = opened.recovery
        self.inner = Mutex(Inner())
        // Snapshots hold no derived index, and the background runs' indexes are never read here (``WorkIndexes``).
        self.snapshotState = SnapshotState(state: opened.state.keepingWorkIndexes(false), seq: opened.lastSeq)
        if opened.lastSeq != opened.journal.snapshotSeq { snapshotState.appendedAtSnapshot = nil }
    }

    /// What the store's `FORMAT` says, read without opening it (nil: no file — a new store, or one of format 1);
    /// throws `formatDamaged` when it exists but holds no format. Opening a store of an older format upgrades it.
    public static func recordedFormat(directory: URL) throws -> StoreFormat? {
        try StoreFormatFile(layout: JournalLayout(directory: directory.path), fileSystem: POSIXJournalFileSystem())
            .read()
    }

    /// The recovered state plus everything committed since (with every derived index).
    public func load() async throws -> CoreState {
        await onStateQueue { self.snapshotState.state }.keepingWorkIndexes(true)
    }

    /// `body` applied to the recovered state plus everything committed since, without copying it or rebuilding its
    /// work indexes (what a start-up checks before it opens a service over the store).
    public func inspect<R: Sendable>(_ body: @escaping @Sendable (CoreState) -> R) async -> R {
        await onStateQueue { body(self.snapshotState.state) }
    }

    /// Appends one record and calls `completion` on the journal's writer once it is durable; every
    /// `snapshotEveryRecords` records it also starts a snapshot in the background (a failed snapshot is logged:
    /// the journal still holds every record). A refused record's error comes from a task, never inside `commit`.
    public func commit(_ events: [CoreEvent], completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        do {
            _ = try journal.enqueue(events) { result in
                if case .failure(let error) = result { return completion(.failure(error)) }
                self.committed(events)
                completion(.success(()))
            }
        } catch {
            Task { completion(.failure(error)) }
        }
    }

    /// Hands a durable record to the snapshot state's queue. Runs on the writer, once per record in seq order
    /// (commits never overlap); it only queues, so the writer goes on to its next sync at once — unless
    /// `pendingRecordsMax` records are waiting, then it drains them on the queue first (the queue never waits for
    /// the writer, so this cannot deadlock).
    private func committed(_ events: [CoreEvent]) {
        let (schedule, full) = inner.withLock { inner in
            inner.pending.append(events)
            inner.commits += 1
            let full = inner.pending.count >= options.pendingRecordsMax
            if full { inner.pendingWaits += 1 }
            defer { inner.drainScheduled = true }
            return (!inner.drainScheduled, full)
        }
        if full {
            stateQueue.sync { self.drain() }
        } else if schedule {
            stateQueue.async { self.drain() }
        }
    }

    /// Applies every durable record queued so far to the snapshot state and starts a snapshot when one is due.
    /// Runs on `stateQueue` only.
    private func drain() {
        let records = inner.withLock { inner in
            inner.drainScheduled = false
            defer { inner.pending = [] }
            return inner.pending
        }
        guard !records.isEmpty else { return }
        for events in records { snapshotState.state.apply(events) }
        snapshotState.seq += UInt64(records.count)
        snapshotState.recordsSinceSnapshot += records.count
        startSnapshotIfDue()
    }

    /// Starts a snapshot if `snapshotEveryRecords` records came since the last one and none is running. Called after
    /// records are applied and when a snapshot ends: a snapshot that came due while another was running starts then,
    /// not only with the next record (which may never come before a crash). Runs on `stateQueue` only.
    private func startSnapshotIfDue() {
        guard snapshotState.recordsSinceSnapshot >= options.snapshotEveryRecords, journalGrewEnough else { return }
        inner.withLock { inner in
            guard inner.snapshot == nil, !inner.closing else { return }
            snapshotState.recordsSinceSnapshot = 0
            // A task, never the queue itself: a snapshot asks the writer to rotate the segment.
            startSnapshot(&inner, logFailure: true)
        }
    }

    /// Whether the journal grew by `snapshotJournalFraction` of the newest snapshot's size since it started (always,
    /// without a snapshot or with the fraction 0). Runs on `stateQueue` only.
    private var journalGrewEnough: Bool {
        guard let appendedAtSnapshot = snapshotState.appendedAtSnapshot else { return true }
        let snapshotBytes = Double(journal.snapshotBytes ?? 0)
        let grown = journal.appendedBytes &- appendedAtSnapshot
        return Double(grown) >= options.snapshotJournalFraction * snapshotBytes
    }

    /// Runs `body` on `stateQueue` after every durable record so far is applied to the snapshot state.
    private func onStateQueue<R: Sendable>(_ body: @escaping @Sendable () -> R) async -> R {
        await withCheckedContinuation { continuation in
            stateQueue.async {
                self.drain()
                continuation.resume(returning: body())
            }
        }
    }

    /// Starts a snapshot of the snapshot state in the slot (which the caller found free) and returns its work; the
    /// slot frees itself when the work ends. Runs on `stateQueue`, with `inner` locked.
    @discardableResult
    private func startSnapshot(_ inner: inout Inner, logFailure: Bool) -> Task<Void, any Error> {
        let (state, throughSeq) = (snapshotState.state, snapshotState.seq)
        let appendedAtStart = journal.appendedBytes
        let work = Task {
            do {
                try await journal.writeSnapshot(state, throughSeq: throughSeq)
                self.confirmSnapshot(seq: throughSeq)
                // On the state queue before the slot's follow-up (enqueued once this work ends) looks at it.
                self.stateQueue.async { self.snapshotState.appendedAtSnapshot = appendedAtStart }
            } catch {
                // Growth is measured from the last snapshot that succeeded: until the next does, one is due by count.
                self.stateQueue.async { self.snapshotState.appendedAtSnapshot = nil }
                // Counted before anyone awaiting the work hears of it.
                CoreMetrics.storeSnapshotFailures.increment()
                self.inner.withLock { $0.snapshotFailures += 1 }
                throw error
            }
        }
        inner.snapshot = Task {
            do {
                try await work.value
            } catch  where logFailure {
                options.journal.logger.error("snapshot failed", metadata: ["error": "\(error)"])
            } catch {}
            self.inner.withLock { $0.snapshot = nil }
            self.stateQueue.async { self.startSnapshotIfDue() }
        }
        return work
    }

    /// Waits until no snapshot is running or due: the one in flight, and any that came due meanwhile.
    public func waitForSnapshot() async {
        while let running = await onStateQueue({
            self.startSnapshotIfDue()
            return self.inner.withLock { $0.snapshot }
        }) {
            await running.value
        }
    }

    /// Writes a snapshot of everything committed so far (periodically, and at shutdown so the next start replays
    /// nothing). It takes the same slot as the record-count snapshots, so two never race (a snapshot of a lower
    /// seq finishing second would be refused). Throws the journal's error if it fails (`io`, `fileTooLarge`...; only
    /// `failed` means the journal itself stopped): commits go on either way.
    public func writeSnapshot() async throws {
        try await writeSnapshot(onlyIfDue: false)
    }

    /// ``writeSnapshot()`` unless the journal grew by less than `snapshotJournalFraction` of the newest snapshot's size
    /// since it: then the snapshot counts as current (a start replays little beyond it) and nothing is written — what
    /// numberd's periodic snapshot does, so a large state is not rewritten every few minutes for a little journal.
    public func writeSnapshotIfDue() async throws {
        try await writeSnapshot(onlyIfDue: true)
    }

    private func writeSnapshot(onlyIfDue: Bool) async throws {
        // A snapshot running to wait for, or the one started, and the newest snapshot's seq the decision saw.
        typealias Decision = (Task<Void, Never>?, Task<Void, any Error>?, UInt64)
        while true {
            let (running, work, snapshotSeq): Decision = await onStateQueue {
                self.inner.withLock { inner in
                    if let running = inner.snapshot { return (running, nil, 0) }
                    // Read here, with the slot free, not before this block: a count-triggered snapshot that ended in
                    // between raised it, and a snapshot at its seq was written again (and a failed rewrite removed it).
                    let snapshotSeq = self.journal.snapshotSeq
                    guard self.snapshotState.seq > snapshotSeq, !onlyIfDue || self.journalGrewEnough else {
                        return (nil, nil, snapshotSeq)
                    }
                    self.snapshotState.recordsSinceSnapshot = 0
                    return (nil, self.startSnapshot(&inner, logFailure: false), snapshotSeq)
                }
            }
            if let running {
                await running.value
                continue
            }
            guard let work else {
                // Nothing committed since the newest snapshot (or, asked only if due, too little): it is current.
                confirmSnapshot(seq: snapshotSeq)
                return
            }
            try await work.value
            return
        }
    }

    /// Notes that the newest snapshot, through `seq`, holds everything committed as of now.
    private func confirmSnapshot(seq: UInt64) {
        let status = SnapshotStatus(seq: seq, bytes: journal.snapshotBytes ?? 0, confirmedAt: Date())
        inner.withLock { $0.lastSnapshot = status }
    }

    /// Finishes queued writes and the snapshot in flight, and releases the directory; later commits fail.
    public func close() async {
        inner.withLock { $0.closing = true }
        await waitForSnapshot()
        await journal.close()
    }

    /// How many records were committed through this store.
    public var commitCount: Int { inner.withLock { $0.commits } }

    /// How many snapshots failed (also `numberd_store_snapshot_failures_total`): each one is only that — the journal
    /// holds every record, commits go on and the next snapshot (record count or periodic) tries again.
    public var snapshotFailureCount: Int { inner.withLock { $0.snapshotFailures } }

    /// The last snapshot that succeeded (written, or found current by ``writeSnapshot()``); nil before the first.
    public var lastSnapshot: SnapshotStatus? { inner.withLock { $0.lastSnapshot } }

    /// How many times the writer waited for the snapshot state to catch up (`pendingRecordsMax`).
    public var pendingWaitCount: Int { inner.withLock { $0.pendingWaits } }

    /// Since when the journal's writes find no room (a full disk or quota); nil while they go through
    /// (`numberd_store_no_room_since_timestamp_seconds`).
    public var noRoomSince: Date? { journal.noRoomSince }

    /// The seq of the newest snapshot (0 when none).
    public var snapshotSeq: UInt64 { journal.snapshotSeq }
}
