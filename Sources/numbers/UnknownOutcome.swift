import ArgumentParser
import Foundation
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
        run, printed on stderr before the call is sent).
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
    /// connection, a deadline or cancellation while connecting or queued: `NOT_STARTED`, `CONNECT_FAILED`, `CERTIFICATE_REJECTED`,
    /// `outcome=not-started`, or a bare `DEADLINE_EXCEEDED` / `CANCELLED` without `outcome=unknown`).
    static func covers(_ error: RPCError) -> Bool {
        error.outcomeUnknown
    }

    /// Whether a keyed call that threw `error` may have been carried out: an RPC error ``covers(_:)`` takes, or the
    /// CLI's own exit 10 (still in progress after its asks, or interrupted while it asked again).
    static func leavesOutcomeOpen(_ error: any Error) -> Bool {
        if let error = error as? RPCError { return covers(error) }
        return (error as? CLIError)?.code == CLIError.outcomeUnknown
    }

    /// Runs `call`, the keyed call of a command, made under `idempotencyKey` for `account` (the account the command
    /// names, flag or environment; empty when none was named: an account key's own): a failure that leaves its
    /// outcome open becomes the error line and how to rerun the command safely. Only around that call: a call before
    /// it (the account look-up of `funds add`) did nothing under the key, and its failure gets no such advice. An
    /// answer "still in progress" (a rerun while the run under the key still goes on at numberd) is asked again
    /// (``waitingWhileInProgress(idempotencyKey:account:polls:_:)``).
    ///
    /// The key is printed on stderr (`numbers: idempotency key K (account ACC_…)`) just before the call is sent,
    /// whatever comes of it: a run killed outright (SIGKILL, an OOM kill) prints nothing after it, and a terminal that
    /// closes mid-call (SIGHUP) shows nothing more, yet the key is in the scrollback or the log, to rerun with. The
    /// account beside it: keys are per account, and the next shell's `NUMBERS_ACCOUNT` may name another. Not again
    /// when the command `announced` it before an earlier call under it (`release`'s dry run under its key).
    static func advising<T: Sendable>(
        idempotencyKey: String, account: String, announced: Bool = false, _ call: () async throws -> T
    ) async throws -> T {
        if !announced { announce(idempotencyKey: idempotencyKey, account: account) }
        do {
            return try await Interruption.shared.keyedCall(idempotencyKey, account: account) {
                try await waitingWhileInProgress(idempotencyKey: idempotencyKey, account: account, call)
            }
        } catch let error as RPCError where covers(error) {
            throw CLIError(
                code: CLIError.exitCode(for: error),
                message: "\(Format.error(error))\n" + advice(idempotencyKey: idempotencyKey, account: account),
                status: error)
        }
    }

    /// Prints `numbers: idempotency key K (account ACC_…)` on stderr (``advising(idempotencyKey:account:announced:_:)``).
    static func announce(idempotencyKey: String, account: String) {
        // `try?`: stderr may be gone (a closed terminal); the call goes on all the same.
        try? FileHandle.standardError.write(
            contentsOf: Data("numbers: idempotency key \(idempotencyKey)\(forAccount(account))\n".utf8))
    }

    /// How a call under a known key is asked again while numberd answers that the run under it still goes on
    /// (`ABORTED` / `REQUEST_IN_PROGRESS`): a pause of `firstPause` doubling up to `longestPause` between asks, at
    /// most `asksMax` asks (about a minute with the defaults).
    struct InProgressPolls: Sendable {
        var firstPause = Duration.milliseconds(200)
        var longestPause = Duration.seconds(3)
        var asksMax = 20
    }

    /// Runs `call`, a call sent under `idempotencyKey` (for `account`), again while numberd answers it
    /// `REQUEST_IN_PROGRESS`: a rerun under the key of a purchase, credit, adjustment or release that still runs is
    /// answered with its result once it is done (`replayed`), and sending under a known key again is safe — it
    /// replays or answers "in progress". Still in progress after `polls.asksMax` asks, or interrupted (Ctrl-C) in a
    /// pause, the command ends with the key's advice (exit 10). Any other failure is `call`'s own, thrown as it came.
    static func waitingWhileInProgress<T: Sendable>(
        idempotencyKey: String, account: String, polls: InProgressPolls = InProgressPolls(),
        _ call: () async throws -> T
    ) async throws -> T {
        var pause = polls.firstPause
        var asked = 0
        while true {
            asked += 1
            do {
                return try await call()
            } catch let error as RPCError where error.reason == "REQUEST_IN_PROGRESS" {
                guard asked < polls.asksMax else {
                    throw CLIError(
                        code: CLIError.outcomeUnknown,
                        message: "\(Format.error(error))\n" + advice(idempotencyKey: idempotencyKey, account: account),
                        status: error)
                }
                do {
                    try await Task.sleep(for: pause)
                } catch {
                    // Interrupted (Ctrl-C) while the run under the key still goes on: its outcome is open. The
                    // CancellationError itself used to be all it printed.
                    throw CLIError(
                        code: CLIError.outcomeUnknown,
                        message: "error: interrupted while the run under this idempotency key was still in progress\n"
                            + advice(idempotencyKey: idempotencyKey, account: account))
                }
                pause = min(pause * 2, polls.longestPause)
            }
        }
    }

    /// What to do after a call without an idempotency key whose outcome is unknown, by what a rerun would do. The
    /// library retries none of them once sent (README: the calls that change something without a key).
    enum Unkeyed {
        /// A creation (an account, a key, a trunk registered by its SID): a rerun makes a second one, so look first.
        static let lookFirst = """
            the outcome is unknown: it may have been carried out. Look before running it again (numbers trunks list, \
            numbers keys list, numbers accounts list, …): a rerun could do it twice — and revoke an API key made \
            whose secret never reached you.
            """

        /// `trunks create` without `--sid`: numberd creates the trunk at Twilio first, and a creation whose answer
        /// it lost may leave one there that it never recorded (a rerun makes another).
        static let trunkCreate = """
            the outcome is unknown: the trunk may have been created, at Twilio too, perhaps without numberd recording \
            it. Look before running it again: numbers trunks list shows it if it was recorded; one made at Twilio \
            and not recorded shows as trunk_unrecorded in numbers audit (after the next audit, or numbers audit \
            --run). A rerun could create it twice.
            """

        /// `trunk assign` / `trunk unassign` (UpdateNumber): asking again sets the provider as asked and records it;
        /// reconciliation records where the provider routes the number once the change can no longer land.
        static let trunkChange = """
            the outcome is unknown: the trunk change may have been carried out, or may still take effect. Run it \
            again to have the number routed as asked: the change is the same however often it is asked for (while \
            the first still runs, the rerun is refused as in progress: run it again a moment later). Otherwise \
            numberd's reconciliation records where Twilio routes the number once the change can no longer land \
            (numbers show prints it as a trunk change until then).
            """

        /// `trunks delete`: a trunk is deleted by its id, once; a rerun after it was deleted answers not found.
        static let trunkDelete = """
            the outcome is unknown: the trunk may have been deleted. To settle it, run it again: a trunk already \
            deleted answers not found (exit 4), and nothing else is deleted.
            """

        /// `keys revoke`: revoking a revoked key answers with it, changing nothing.
        static let keyRevoke = """
            the outcome is unknown: the key may have been revoked. To settle it, run it again: a key already revoked \
            is answered as revoked, nothing changed.
            """

        /// `accounts suspend` / `accounts activate` (SetAccountStatus): setting the status an account has changes
        /// nothing.
        static let accountStatus = """
            the outcome is unknown: the account's status may have been set. To settle it, run it again: setting the \
            status it already has changes nothing.
            """

        /// `backup` (CreateBackup): numberd goes on writing a backup whose caller stopped waiting, one at a time.
        static let backup = """
            the outcome is unknown: the backup may have started and may still be written. numbers backup again \
            answers BACKUP_IN_PROGRESS (exit 5) while it runs; check numberd's backup directory (--backup-dir, \
            default <data-dir>/backups) for a new backup-<UTC time>/ folder, or the \
            numberd_last_backup_timestamp_seconds gauge.
            """

        /// `audit --run` (RunProviderAudit): the audit runs in the background, one at a time.
        static let auditRun = """
            the outcome is unknown: an audit may have started. numbers audit shows it once done (finished after this \
            run); numbers audit --run again answers AUDIT_IN_PROGRESS (exit 5) while it runs.
            """
    }

    /// How long numberd keeps a key, in hours of its running time (`NumberServiceConfig.Idempotency.ttlSeconds`,
    /// 86 400 s: numberd has no flag for it; a downtime does not count).
    static let keyKeptHours = 24

    /// What to do about `what` (the credit, the purchase…), carried out under `idempotencyKey` for `account`, whose
    /// result could not be written (`GlobalOptions.flushResult`): a rerun under the key shows it without doing it
    /// again.
    static func rerunToSee(_ what: String, idempotencyKey: String, account: String) -> String {
        "\(what) was made under idempotency key \(idempotencyKey)\(forAccount(account)): rerun the same command with "
            + "\(rerunFlags(idempotencyKey: idempotencyKey, account: account)) to see its result without doing it "
            + "again (numberd keeps the key for \(keyKeptHours) hours of its running time)"
    }

    /// The lines for stderr after such a failure of a call made under `idempotencyKey` for `account`. The key answers
    /// a rerun only while numberd keeps it: a rerun after that is a new request, which could do it a second time.
    static func advice(idempotencyKey: String, account: String) -> String {
        """
        the outcome is unknown: it may have been carried out, or may still be. Rerun the same command with \
        \(rerunFlags(idempotencyKey: idempotencyKey, account: account)) to finish it or see its result without doing \
        it twice. numberd keeps the key for \(keyKeptHours) hours of its running time; after that a rerun is a new \
        request, which could do it twice: check numbers transactions before rerunning.
        """
    }

    /// The flags that rerun a keyed command on what the first run did: `--idempotency-key K --account ACC_…`, each
    /// value quoted for a POSIX shell where it needs it (``Format/shellQuoted(_:)``). The account when one was named:
    /// keys are per account, and a rerun in a shell whose `NUMBERS_ACCOUNT` names another would buy or credit there.
    static func rerunFlags(idempotencyKey: String, account: String) -> String {
        var words = ["--idempotency-key", Format.shellQuoted(idempotencyKey)]
        if !account.isEmpty { words += ["--account", Format.shellQuoted(account)] }
        return words.joined(separator: " ")
    }

    /// ` (account ACC_…)` after a key, or nothing when no account was named.
    static func forAccount(_ account: String) -> String { account.isEmpty ? "" : " (account \(account))" }
}
