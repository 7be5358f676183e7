import ArgumentParser
import NumberAPI

/// What the CLI tells an operator whose purchase or credit (a keyed call) failed without a known outcome: that it
/// may have been carried out, and the flag that reruns the command safely. A rerun under the same idempotency key is
/// answered with the first result (or "still in progress") instead of charging, crediting or buying again; a rerun
/// under a new key would do it twice.
enum UnknownOutcome {
    /// The help of `--idempotency-key`.
    static let keyHelp = ArgumentHelp(
        """
        A rerun with the same key returns the first result instead of doing it again (default: a new key for this \
        run, printed when the outcome is unknown).
        """)

    /// Whether a keyed call that failed with `error` may still have been carried out (or may still be):
    /// - `UNAVAILABLE` with `outcome=unknown` or `OUTCOME_UNKNOWN`: the connection was lost after the request went
    ///   out, or the provider's answer was lost (reconciliation settles it);
    /// - `DEADLINE_EXCEEDED` and `CANCELLED`: the server finishes a purchase it started even when the caller stops
    ///   waiting;
    /// - `ABORTED` / `REQUEST_IN_PROGRESS`: a run under this key is still going on;
    /// - `INTERNAL` and `UNKNOWN`: something failed after the request arrived (a response that did not decode
    ///   among them).
    ///
    /// Every other failure is a known outcome: a refusal (nothing done), or `UNAVAILABLE` before anything was sent
    /// (`NOT_STARTED`, `CONNECT_FAILED`).
    static func covers(_ error: RPCError) -> Bool {
        switch error.code {
        case .unavailable: error.details["outcome"] == "unknown" || error.reason == "OUTCOME_UNKNOWN"
        case .deadlineExceeded, .cancelled, .internal, .unknown: true
        case .aborted: error.reason == "REQUEST_IN_PROGRESS"
        default: false
        }
    }

    /// The lines for stderr after such a failure of a call made under `idempotencyKey`.
    static func advice(idempotencyKey: String) -> String {
        """
        the outcome is unknown: it may have been carried out, or may still be. Rerun the same command with \
        --idempotency-key \(idempotencyKey) to finish it or see its result without doing it twice.
        """
    }
}
