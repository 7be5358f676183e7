import Synchronization

/// A record enqueued with `Journal.enqueue`: its seq is fixed, its durability is awaited with `durable()`.
///
/// Lets an owner enqueue while holding its own state lock (so seq order = the order it applies events in) and
/// await the disk outside the lock, keeping group commit:
///
/// ```swift
/// let pending = try stateLock.withLock { state in
///     let events = try state.validate(command)      // checks against the current state
///     let pending = try journal.enqueue(events)      // seq fixed now, in the same order as apply
///     for event in events { try state.apply(event) }
///     return pending
/// }
/// try await pending.durable()                        // reply only once on disk
/// ```
public struct PendingRecord: Sendable {
    /// The record's sequence number.
    public let seq: UInt64
    let promise: DurabilityPromise

    init(seq: UInt64, promise: DurabilityPromise) {
        self.seq = seq
        self.promise = promise
    }

    /// Returns once the record is durable; throws `JournalError` (`failed`, `closed`) if it never will be.
    ///
    /// May be awaited by one task at a time; later calls return the same outcome at once.
    public func durable() async throws {
        try await promise.wait()
    }
}

/// The one-shot outcome of a record's write, set by the writer, awaited by the appender (or handed to a callback).
final class DurabilityPromise: Sendable {
    typealias Callback = @Sendable (Result<Void, JournalError>) -> Void

    enum Waiter {
        case task(CheckedContinuation<Void, any Error>)
        case callback(Callback)
    }

    enum State {
        case pending(Waiter?)
        case done(Result<Void, JournalError>)
    }

    let state: Mutex<State>

    init() {
        state = Mutex(.pending(nil))
    }

    /// A promise whose outcome goes to `callback`, called once on the thread that settles it (the writer).
    init(callback: @escaping Callback) {
        state = Mutex(.pending(.callback(callback)))
    }

    /// A promise already settled (in-memory journal, refused records).
    static func settled(_ result: Result<Void, JournalError>) -> DurabilityPromise {
        let promise = DurabilityPromise()
        promise.state.withLock { $0 = .done(result) }
        return promise
    }

    /// Settles the promise (first call wins) and resumes the waiter or calls the callback, if any.
    func settle(_ result: Result<Void, JournalError>) {
        let waiter = state.withLock { state -> Waiter? in
            guard case .pending(let waiter) = state else { return nil }
            state = .done(result)
            return waiter
        }
        switch waiter {
        case .task(let continuation): continuation.resume(with: result.mapError { $0 as any Error })
        case .callback(let callback): callback(result)
        case nil: break
        }
    }

    /// Waits for the outcome.
    func wait() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let done = state.withLock { state -> Result<Void, JournalError>? in
                switch state {
                case .done(let result):
                    return result
                case .pending(let existing):
                    precondition(existing == nil, "PendingRecord.durable() awaited twice or after a callback")
                    state = .pending(.task(continuation))
                    return nil
                }
            }
            if let done { continuation.resume(with: done.mapError { $0 as any Error }) }
        }
    }
}
