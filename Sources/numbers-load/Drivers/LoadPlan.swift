import NIOCore
import NumberClient

/// What every driver shares: one client per connection (each holds exactly one connection), the accounts, the
/// mix, and the run's time bounds.
struct LoadPlan: Sendable {
    let clients: [any LoadClient]
    /// For each client, the executor its calls run on (its connection's event loop), or nil for the cooperative pool.
    let executors: [EventLoopTaskExecutor?]
    let accounts: [LoadAccount]
    let mix: WorkloadMix
    let runner: WorkloadRunner
    /// Measurement starts here (calls due earlier are warm-up).
    let measureFrom: NIODeadline
    /// No call is started at or after this instant.
    let end: NIODeadline
    /// Calls in all, at most (a bound independent of time).
    let callsMax: Int
}
