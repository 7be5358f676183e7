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

    /// Whether a keyed call that failed with `error` may still have been carried out (or may still be): the client
    /// library marks such a failure `outcome=unknown` and names the key — the connection lost after the request went
    /// out, a deadline or cancellation after it was sent (the server finishes a purchase it started even when the
    /// caller stops waiting), `OUTCOME_UNKNOWN` (the provider's answer was lost), `ABORTED` / `REQUEST_IN_PROGRESS`
    /// (a run under this key is still going on), `UNAVAILABLE` / `STORE_FAILED` (the server stopped writing, maybe
    /// after the provider acted), `RESOURCE_EXHAUSTED` / `RESPONSE_TOO_LARGE` (carried out, the response too large
    /// for the CLI), `INTERNAL` or `UNKNOWN` (something failed after the request arrived, a response that did not
    /// decode among them).
    ///
    /// Every other failure is a known outcome: a refusal (nothing done), or one before anything was sent (no
    /// connection, a deadline or cancellation while connecting or queued: `NOT_STARTED`, `CONNECT_FAILED`,
    /// `outcome=not-started`, or a bare `DEADLINE_EXCEEDED` / `CANCELLED` without `outcome=unknown`).
    static func covers(_ error: RPCError) -> Bool {
        error.details["outcome"] == "unknown"
    }

    /// Runs `call`, the keyed call of a command, made under `idempotencyKey`: a failure that leaves its outcome open
    /// becomes the error line and how to rerun the command safely. Only around that call: a call before it (the
    /// account look-up of `funds add`) did nothing under the key, and its failure gets no such advice.
    static func advising<T: Sendable>(
        idempotencyKey: String, _ call: () async throws -> T
    ) async throws -> T {
        do {
            return try await Interruption.shared.keyedCall(idempotencyKey, call)
        } catch let error as RPCError where covers(error) {
            throw CLIError(
                code: CLIError.exitCode(for: error),
                message: "error: \(error)\n" + advice(idempotencyKey: idempotencyKey))
        }
    }

    /// What to do after a call without an idempotency key whose outcome is unknown (creating a trunk, a key, an
    /// account; deleting, revoking): nothing makes a rerun safe, so look first.
    static let unkeyedAdvice = """
        the outcome is unknown: it may have been carried out. Look before running it again (numbers trunks list, \
        numbers keys list, numbers accounts list, …): a rerun could do it twice — and revoke an API key made whose \
        secret never reached you.
        """

    /// The lines for stderr after such a failure of a call made under `idempotencyKey`.
    static func advice(idempotencyKey: String) -> String {
        """
        the outcome is unknown: it may have been carried out, or may still be. Rerun the same command with \
        --idempotency-key \(idempotencyKey) to finish it or see its result without doing it twice.
        """
    }
}
