/// Where core events become durable. The service decides, hands the events here, and applies them to the state
/// it serves only after `commit` returns.
///
/// Calls to `commit` never overlap (the service runs one at a time and batches whatever arrived meanwhile, so a
/// batch shares one sync); events arrive in decision order and must be replayed in that order.
public protocol NumberStore: Sendable {
    /// The state rebuilt from everything committed so far (snapshot + replay).
    func load() async throws -> CoreState
    /// Makes `events` durable, atomically (all or none after a crash), and returns when they are.
    /// A failure is final: the service stops writing (fail-stop) rather than retry.
    func commit(_ events: [CoreEvent]) async throws
}
