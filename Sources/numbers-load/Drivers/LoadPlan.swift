import NIOCore
import NumberClient

/// What every driver shares: one client per connection (each holds exactly one connection), the accounts, the
/// mix, and the run's bounds in time and in calls.
struct LoadPlan: Sendable {
    let clients: [any LoadClient]
    /// For each client, the executor its calls run on (its connection's event loop), or nil for the cooperative pool.
    let executors: [EventLoopTaskExecutor?]
    let accounts: [LoadAccount]
    let mix: WorkloadMix
    let runner: WorkloadRunner
    /// The run starts here (the warm-up's start): the open loop's first operation is due at this instant.
    let start: NIODeadline
    /// Measurement starts here (calls due earlier are warm-up).
    let measureFrom: NIODeadline
    /// No call is started at or after this instant.
    let end: NIODeadline
    /// Calls in all, at most (a bound independent of time); nil: no bound but the time.
    let callsMax: Int?
    /// The calls left of `callsMax`, taken by every operation before it starts.
    let budget: CallBudget

    init(
        clients: [any LoadClient], executors: [EventLoopTaskExecutor?], accounts: [LoadAccount], mix: WorkloadMix,
        runner: WorkloadRunner, start: NIODeadline = .now(), measureFrom: NIODeadline, end: NIODeadline, callsMax: Int?
    ) {
        self.clients = clients
        self.executors = executors
        self.accounts = accounts
        self.mix = mix
        self.runner = runner
        self.start = start
        self.measureFrom = measureFrom
        self.end = end
        self.callsMax = callsMax
        self.budget = CallBudget(callsMax ?? .max)
    }
}
