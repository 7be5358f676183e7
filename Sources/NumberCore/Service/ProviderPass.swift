/// How a background pass — reconciliation, the orphan sweep, a billing run's grace releases — paces its provider
/// calls: it stops taking new items once the task is cancelled (numberd is stopping) or the provider failed to answer
/// ``NumberServiceConfig/Reconcile/providerFailuresPerPassMax`` times in a row, and what is left waits for the next
/// pass. Without it a provider outage cost a pass one timeout per item (a minute each with the adapter's retries), and
/// a stop waited for the whole pass.
///
/// ```swift
/// var pass = ProviderPass(failuresMax: 3)
/// for item in items {
///     guard pass.mayGoOn else { left.append(item); continue }
///     pass.record(answered: await settle(item))
/// }
/// pass.logIfStopped(logger, "reconciliation", left: left.count)
/// ```
struct ProviderPass {
    let failuresMax: Int
    private(set) var failuresInARow = 0

    init(failuresMax: Int) {
        precondition(failuresMax > 0, "failuresMax must be positive")
        self.failuresMax = failuresMax
    }

    /// Whether the next item may go to the provider.
    var mayGoOn: Bool { stopReason == nil }

    /// Why the pass stops taking items, or nil while it goes on.
    var stopReason: String? {
        if Task.isCancelled { return "numberd is stopping" }
        if failuresInARow >= failuresMax { return "the provider failed \(failuresInARow) times in a row" }
        return nil
    }

    /// Counts an item's outcome: a failure to get the provider's answer, or anything else (an answer, a refusal).
    mutating func record(answered: Bool) {
        failuresInARow = answered ? 0 : failuresInARow + 1
    }

    /// Whether `error` says the provider could not answer (rather than refused): what counts towards stopping. An
    /// answer the store had no room to record is the store's failure, not the provider's (a full disk made every
    /// pending release's pass an "incomplete" run blaming Twilio).
    static func isNoAnswer(_ error: NumberError) -> Bool {
        guard !error.recordingFailed else { return false }
        return error.code == .unavailable || error.code == .cancelled || error.reason == .providerMisconfigured
    }
}
