/// Where core events become durable. The service decides, hands the events here, and applies them to the state
/// it serves only after the store reports them durable.
///
/// Calls to `commit` never overlap (the service hands over the next batch only from the previous one's
/// completion, and batches whatever arrived meanwhile, so a batch shares one sync); events arrive in decision
/// order and must be replayed in that order.
public protocol NumberStore: Sendable {
    /// The state rebuilt from everything committed so far (snapshot + replay).
    func load() async throws -> CoreState

    /// Starts making `events` durable, atomically (all or none after a crash), and calls `completion` exactly
    /// once when they are, or with the error. A failure is final — the service stops writing (fail-stop) rather
    /// than retry — except a `JournalError` `.noRoom`: then nothing of these events is durable, nor of any commit
    /// made after this one and not yet completed (the store refuses those too, with the same error), and the store
    /// takes later commits again (the service refuses what it decided on them and goes back to its durable state).
    ///
    /// `completion` may run on any thread and even before `commit` returns (the file store calls it on its
    /// journal writer, so the service's next batch goes to the disk without a hop through the cooperative pool; a
    /// failure may come from another thread or a task). It must be short, must not block, and `commit` must not be
    /// called with a lock held that the completion takes.
    func commit(_ events: [CoreEvent], completion: @escaping @Sendable (Result<Void, any Error>) -> Void)
}
