/// An append-only log of committed records of domain events, with periodic snapshots of the state they build.
///
/// `FileJournal` keeps it on disk (JSON lines + snapshots, group commit, fail-stop); `InMemoryJournal` keeps it in
/// memory and passes the same test suite. Reads never come from a journal: `open` returns the recovered state once
/// and the owner keeps it in memory. The owner must apply events in seq order (replay does): either apply after
/// each `append` returns under one ordering, or — better — validate, `enqueue` and apply under its own state lock,
/// then await `durable()` outside it before replying (group commit keeps working).
public protocol Journal<Event, State>: AnyObject, Sendable {
    /// A domain event; records hold one or more.
    associatedtype Event: Codable & Sendable
    /// The full state a snapshot holds.
    associatedtype State: Codable & Sendable

    /// Appends one record holding `events` and returns its sequence number once the record is durable.
    ///
    /// Records get consecutive sequence numbers in call order. Cancelling the calling task does not withdraw the
    /// record: once `append` is called the record is written. Throws `JournalError` (`recordTooLarge`,
    /// `emptyRecord`, `queueFull`, `closed`, `failed`...); an error means the record was not acknowledged (after
    /// `failed` it may still be on disk — the process stops in production).
    func append(_ events: [Event]) async throws -> UInt64

    /// Queues one record without waiting and returns it with its seq, assigned now in call order; await
    /// `PendingRecord.durable()` before acting on it (replying to a client). Being synchronous, it can be called
    /// under the owner's state lock, so the order events are applied in memory is the seq order of the journal.
    /// Throws at once what `append` throws for a refused record.
    func enqueue(_ events: [Event]) throws -> PendingRecord

    /// Stores `state`, which must hold exactly the records through `throughSeq` (at most `durableSeq`), so the
    /// next open replays only later records; older files are then removed. At the newest snapshot's seq
    /// (`snapshotSeq`) nothing changes: that snapshot already holds those records.
    func writeSnapshot(_ state: State, throughSeq: UInt64) async throws

    /// The sequence number of the last durable record (0 when none).
    var durableSeq: UInt64 { get }

    /// The sequence number the newest snapshot holds (0 when none).
    var snapshotSeq: UInt64 { get }

    /// Writes what is queued, then closes; later calls throw `closed`.
    func close() async
}

/// What `open` found and did while recovering a journal.
public struct JournalRecovery: Sendable, Hashable {
    /// The seq of the snapshot the state was loaded from, nil if none (start from the initial state).
    public var snapshotSeq: UInt64?
    /// How many records were replayed after the snapshot.
    public var replayedRecords: Int
    /// Files a torn tail (a torn last record, or damage inside the last batch) was moved to.
    public var tornFiles: [String]
    /// Damaged snapshots set aside (the previous snapshot was used instead).
    public var damagedSnapshots: [String]
    /// Snapshots that could not be read (an I/O error, larger than `snapshotBytesMax`): left in place, the previous
    /// snapshot was used instead.
    public var unreadableSnapshots: [UnreadableSnapshot]

    /// A snapshot file recovery could not read, and why.
    public struct UnreadableSnapshot: Sendable, Hashable, CustomStringConvertible {
        /// The file name.
        public var file: String
        /// The error reading it.
        public var reason: String

        /// Creates an entry.
        public init(file: String, reason: String) {
            self.file = file
            self.reason = reason
        }

        /// `file: reason`.
        public var description: String { "\(file): \(reason)" }
    }

    /// Creates a recovery report.
    public init(
        snapshotSeq: UInt64? = nil, replayedRecords: Int = 0, tornFiles: [String] = [], damagedSnapshots: [String] = [],
        unreadableSnapshots: [UnreadableSnapshot] = []
    ) {
        self.snapshotSeq = snapshotSeq
        self.replayedRecords = replayedRecords
        self.tornFiles = tornFiles
        self.damagedSnapshots = damagedSnapshots
        self.unreadableSnapshots = unreadableSnapshots
    }
}

/// An opened journal with the state recovered from it.
public struct OpenedJournal<J: Journal>: Sendable {
    /// The journal, ready for appends.
    public var journal: J
    /// The state: the snapshot plus every record after it, applied in order.
    public var state: J.State
    /// The seq of the last record in `state` (0 when none); the next append gets `lastSeq + 1`.
    public var lastSeq: UInt64
    /// What recovery found and did.
    public var recovery: JournalRecovery

    /// Bundles an opened journal.
    public init(journal: J, state: J.State, lastSeq: UInt64, recovery: JournalRecovery) {
        self.journal = journal
        self.state = state
        self.lastSeq = lastSeq
        self.recovery = recovery
    }
}
