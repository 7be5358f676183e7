import Synchronization

/// What an `InMemoryJournal` keeps between opens, so tests can "restart" against the same contents.
public final class InMemoryJournalStorage<Event: Codable & Sendable, State: Codable & Sendable>: Sendable {
    struct Contents {
        var records: [(seq: UInt64, events: [Event])] = []
        var snapshot: (seq: UInt64, state: State)?
        var lastSeq: UInt64 = 0
        var open = false
    }

    let contents = Mutex(Contents())

    /// Creates empty storage.
    public init() {}

    /// How many records are kept (those after the snapshot).
    public var recordCount: Int { contents.withLock { $0.records.count } }
}

/// A journal kept in memory: the same contract as `FileJournal` (records validated and encoded the same way, with
/// `recordBytesMax` and `snapshotBytesMax`; consecutive seqs; snapshot rules; one open at a time), nothing on disk,
/// so no queue, batching or fail-stop. For tests and for running the service without persistence.
public final class InMemoryJournal<Event: Codable & Sendable, State: Codable & Sendable>: Journal {
    struct Shared {
        var durableSeq: UInt64
        var snapshotSeq: UInt64
        var closed = false
    }

    let storage: InMemoryJournalStorage<Event, State>
    let limits: JournalOptions.Limits
    let shared: Mutex<Shared>

    init(
        storage: InMemoryJournalStorage<Event, State>, limits: JournalOptions.Limits, lastSeq: UInt64,
        snapshotSeq: UInt64
    ) {
        self.storage = storage
        self.limits = limits
        self.shared = Mutex(Shared(durableSeq: lastSeq, snapshotSeq: snapshotSeq))
    }

    /// Opens the journal kept in `storage`: the snapshot plus every later record, applied in order.
    ///
    /// Throws `locked` if the storage is open already, `replayFailed` if `apply` throws.
    public static func open(
        storage: InMemoryJournalStorage<Event, State>,
        options: JournalOptions = .defaults,
        initialState: State,
        apply: (inout State, Event) throws -> Void
    ) throws -> OpenedJournal<InMemoryJournal> {
        try options.validate()
        let contents = try storage.contents.withLock { contents in
            guard !contents.open else { throw JournalError(.locked, "the in-memory journal is open already") }
            contents.open = true
            return contents
        }
        var state = contents.snapshot?.state ?? initialState
        var replayed = 0
        do {
            for record in contents.records {
                for event in record.events {
                    do {
                        try apply(&state, event)
                    } catch {
                        throw JournalError(.replayFailed, "applying record \(record.seq) failed: \(error)")
                    }
                }
                replayed += 1
            }
        } catch {
            storage.contents.withLock { $0.open = false }
            throw error
        }
        let snapshotSeq = contents.snapshot?.seq ?? 0
        let journal = InMemoryJournal(
            storage: storage, limits: options.limits, lastSeq: contents.lastSeq, snapshotSeq: snapshotSeq)
        let recovery = JournalRecovery(snapshotSeq: contents.snapshot?.seq, replayedRecords: replayed)
        return OpenedJournal(journal: journal, state: state, lastSeq: contents.lastSeq, recovery: recovery)
    }

    /// The seq of the last record.
    public var durableSeq: UInt64 { shared.withLock { $0.durableSeq } }

    /// The seq the newest snapshot holds.
    public var snapshotSeq: UInt64 { shared.withLock { $0.snapshotSeq } }

    /// Appends one record (checked and encoded like `FileJournal` does) and returns its seq.
    public func append(_ events: [Event]) async throws -> UInt64 {
        let pending = try enqueue(events)
        try await pending.durable()
        return pending.seq
    }

    /// Stores one record at once and returns it, already durable (in memory).
    public func enqueue(_ events: [Event]) throws -> PendingRecord {
        guard !events.isEmpty else { throw JournalError(.emptyRecord, "a record needs at least one event") }
        let json = try JournalCodec.encodeEventsJSON(events)
        guard json.count <= limits.recordBytesMax else {
            throw JournalError(.recordTooLarge, "record has \(json.count) bytes, limit \(limits.recordBytesMax)")
        }
        let seq = try shared.withLock { shared throws(JournalError) -> UInt64 in
            guard !shared.closed else { throw JournalError(.closed, "the journal is closed") }
            let seq = shared.durableSeq + 1
            storage.contents.withLock { contents in
                contents.records.append((seq, events))
                contents.lastSeq = seq
            }
            shared.durableSeq = seq
            return seq
        }
        return PendingRecord(seq: seq, promise: .settled(.success(())))
    }

    /// Keeps `state` as the snapshot through `throughSeq` and drops the records it covers; at the newest snapshot's
    /// seq it keeps the snapshot it has, as `FileJournal` does.
    public func writeSnapshot(_ state: State, throughSeq: UInt64) async throws {
        let json = try JournalCodec.encodeJSON(state)
        guard json.count <= limits.snapshotBytesMax else {
            throw JournalError(.fileTooLarge, "snapshot has \(json.count) bytes, limit \(limits.snapshotBytesMax)")
        }
        try shared.withLock { shared in
            guard !shared.closed else { throw JournalError(.closed, "the journal is closed") }
            guard throughSeq <= shared.durableSeq, throughSeq >= shared.snapshotSeq else {
                throw JournalError(
                    .invalidSnapshotSeq,
                    "snapshot seq \(throughSeq) must be between the newest snapshot \(shared.snapshotSeq) "
                        + "and the durable seq \(shared.durableSeq)")
            }
            guard throughSeq > shared.snapshotSeq else { return }
            storage.contents.withLock { contents in
                contents.snapshot = (throughSeq, state)
                contents.records.removeAll { $0.seq <= throughSeq }
            }
            shared.snapshotSeq = throughSeq
        }
    }

    /// Closes; later calls throw `closed` and the storage can be opened again.
    public func close() async {
        let wasOpen = shared.withLock { shared in
            defer { shared.closed = true }
            return !shared.closed
        }
        if wasOpen { storage.contents.withLock { $0.open = false } }
    }
}
