import NIOCore
import NumberAPI

/// The retry rules of one call as a value: each failed attempt in, whether to try again or what to throw out.
///
/// A call is tried again after a transport failure that cannot do harm: any, for a method that changes nothing; any,
/// for a keyed method (PurchaseNumbers, AddFunds, AdjustBalance, ReleaseNumber, AdoptNumber), whose retries the server
/// answers with the first result; for the others only one that never reached the server. The server's `UNAVAILABLE` /
/// `SHUTTING_DOWN` counts as one of those: it answers it to a call it never started (see `wasNeverStarted`). A refusal
/// for the moment before anything was done (`refusedForNow`: RATE_LIMITED, the BUSY reasons) is tried again too,
/// whatever the method, not before the server's `retryAfterMs` (`RetryPolicy.retriesWhenBusy`). At most `attemptsMax`
/// attempts.
///
/// Once the server was seen going away — the connection lost (the request sent or not), the call refused by a
/// GOAWAY, or answered as never started (`SHUTTING_DOWN`, …) — an attempt that then cannot connect waits for it to
/// listen again, as a restarted numberd does within seconds: at most `restartRetriesMax` such attempts, on top of
/// `attemptsMax`, with the same jittered backoff. This changes only how long a retry may wait, never which calls are
/// retried: a call that is neither a read nor keyed, lost after it was sent, still ends at once, its outcome unknown.
///
/// Once an attempt of a keyed call may have run (its connection was lost after the request went out), later answers
/// are read in that light. `ABORTED` / `REQUEST_IN_PROGRESS` means that attempt is still running at the server:
/// the call waits for it, at most `inProgressRetriesMax` more times and never past its deadline. A call that ends
/// before it knows — retries run out, the deadline passes, the task is cancelled, the server cannot be reached
/// again, or an answer that says nothing about the earlier attempt — throws the error of a lost connection
/// (`UNAVAILABLE` / `CONNECTION_LOST`, `outcome=unknown`) with its `idempotencyKey` in the details, never that last
/// failure as if it were the call's outcome.
///
/// Before that, an answer that leaves open whether the request was carried out (see `leavesOutcomeOpen`: a deadline or
/// cancellation after it was sent, `OUTCOME_UNKNOWN`, …) is thrown as it came, with `outcome=unknown` and the
/// `idempotencyKey` added: the client may have made the key, and a caller without it could only ask again under a new
/// one, doing the work twice. A call that is neither a read nor keyed (CreateTrunk, UpdateNumber, CreateApiKey, …) gets
/// `outcome=unknown` alike, without a key: its caller must look before calling again, as after a lost connection — but
/// for UpdateNumber, whose GetNumber shows the trunk recorded and the change as `pending_trunk_change`, not where
/// Twilio routes the number: its caller makes the same change again, which routes the number as asked (proto/ERRORS.md,
/// OUTCOME_UNKNOWN). A read's answer is thrown as it came (it changed nothing). A call never sent (queued, or no
/// connection) claims no unknown outcome.
struct CallAttempts {
    /// Why one attempt failed.
    enum Failure: Error {
        /// The server answered with this status.
        case status(RPCError)
        /// The connection ended before the answer; `unstarted` when the server is known not to have started the call.
        case connectionLost(message: String, unstarted: Bool)
        /// No connection could be made: nothing was sent. `serverWentAway`: the client saw a connection to the server
        /// go away shortly before (a restart under way), which turns the restart wait on as a lost connection does.
        /// `certificateRejected`: whose certificate was refused — not tried again.
        case connectFailed(
            message: String, serverWentAway: Bool = false, certificateRejected: CertificateRejection? = nil)
    }

    /// Whose certificate a connection's TLS handshake refused.
    enum CertificateRejection: Sendable {
        /// The server's did not verify against this client's trust roots (or for its host name).
        case serverCertificate
        /// The server refused this client's (mutual TLS): none given, or one its CA did not issue, or expired.
        case clientCertificate
    }

    /// What to do after a failed attempt.
    enum Decision {
        /// Try again after `backoff`; throw `otherwise` if that would pass the call's deadline.
        case retry(backoff: TimeAmount, otherwise: RPCError)
        /// Give up: throw this.
        case fail(RPCError)
    }

    private let retryClass: NumbersClient.RetryClass
    private let idempotencyKey: String?
    private let policy: NumbersClientConfiguration.RetryPolicy
    /// The refusal a numberd that does not key this method answers a repeat of an attempt it carried out: a release,
    /// `ALREADY_RELEASED`; an adoption (numberd before the thirty-fifth session's), `NUMBER_UNAVAILABLE` "this
    /// account owns it already". A numberd that keys the method answers the repeat with the first result instead.
    private let doneEarlierReason: String?
    /// Attempts that count against `attemptsMax`: all but those answered "still in progress".
    private var attempts = 0
    private var inProgressRetries = 0
    /// Whether the server was seen going away (a lost connection, a GOAWAY's refusal, an answer that it never started
    /// the call): attempts that cannot connect then wait for it to listen again. A restart seldom shows as
    /// `SHUTTING_DOWN`, which numberd answers only on a connection it no longer takes calls from: its drain closes the
    /// listener and sends GOAWAY, and a kill only drops the connection.
    private var serverGoingAway = false
    private var restartRetries = 0
    /// Whether an earlier attempt may have been carried out at the server (only kept for keyed calls).
    private(set) var mayHaveRun = false
    /// Whether an attempt's request went out, or may have: the server answered it, or a connection was lost with it
    /// open. Until then a deadline or cancellation ends a call that was never sent (every attempt failed to connect,
    /// or the first still waits for its connection), whose outcome is known: nothing was done.
    private var requestSent = false
    private var backoff: TimeAmount

    /// The rules for a call of `retryClass` (keyed calls carry `idempotencyKey`) under `policy`; `doneEarlierReason`,
    /// see ``doneEarlierReason``.
    init(
        retryClass: NumbersClient.RetryClass, idempotencyKey: String?, policy: NumbersClientConfiguration.RetryPolicy,
        doneEarlierReason: String? = nil
    ) {
        self.retryClass = retryClass
        self.idempotencyKey = idempotencyKey
        self.policy = policy
        self.doneEarlierReason = doneEarlierReason
        self.backoff = policy.initialBackoff
    }

    /// One attempt failed with `failure`: try again, or the error to throw.
    mutating func failed(_ failure: Failure) -> Decision {
        switch failure {
        case .status(let error):
            // The request reached the server, unless this client answered for it, unsent (a full queue, say).
            if !error.notStarted, !Self.wasNeverStarted(error) { requestSent = true }
            return answered(error)
        case .connectionLost(let message, let unstarted):
            // A call refused above a GOAWAY's last stream (or on a connection found closing) was never sent: a deadline
            // or cancellation before its retry still says not-started.
            if !unstarted { requestSent = true }
            if !unstarted && retryClass == .keyed { mayHaveRun = true }
            // How a restart shows. Whether this call is tried again at all is still `transportFailed`'s to say.
            serverGoingAway = true
            // A read that may have reached the server changed nothing there: no outcome is left open (the CLI
            // exits 10 for one that is, which a read must not: its caller retries it as any unavailable call).
            let outcome = unstarted ? "not-started" : retryClass == .idempotent ? nil : "unknown"
            let error = RPCError(
                code: .unavailable, message: message, reason: unstarted ? "NOT_STARTED" : "CONNECTION_LOST",
                details: outcome.map { ["outcome": $0] } ?? [:])
            return transportFailed(error, retryable: unstarted || retryClass != .unsafe)
        case .connectFailed(let message, _, .some(let whose)):
            // A certificate is wrong: every attempt would fail alike (it was tried three times, more after a
            // restart, and said as any connect failure).
            return .fail(final(Self.certificateRejected(message, whose, requestSent: requestSent)))
        case .connectFailed(let message, let wentAway, nil):
            if wentAway { serverGoingAway = true }
            let error = RPCError(code: .unavailable, message: message, reason: "CONNECT_FAILED")
            // A server going away is not listening until it has restarted: waiting for it does not spend attempts.
            if serverGoingAway, restartRetries < policy.restartRetriesMax {
                restartRetries += 1
                return .retry(backoff: nextBackoff(), otherwise: final(error))
            }
            return transportFailed(error, retryable: true)
        }
    }

    /// The error for a connection whose handshake refused a certificate, `whose` (`message`: the connect failure's
    /// words), with `outcome=not-started` unless an earlier attempt's request was sent.
    static func certificateRejected(
        _ message: String, _ whose: CertificateRejection, requestSent: Bool = false
    ) -> RPCError {
        let fix =
            switch whose {
            case .serverCertificate: "fix the client's trust roots (or serverHostname), or the server's certificate"
            case .clientCertificate:
                "the server refused this client's certificate (clientCertificate: none given, or one its CA did not "
                    + "issue, or expired)"
            }
        var details = ["certificate": whose == .serverCertificate ? "server" : "client"]
        if !requestSent { details["outcome"] = "not-started" }
        return RPCError(
            code: .unavailable, message: message + "; not tried again: " + fix, reason: "CERTIFICATE_REJECTED",
            details: details)
    }

    /// The error for a call whose deadline passed before its next attempt, or while the attempt waited for its
    /// connection. With no request sent yet it is `outcome=not-started`, as for a call that passed its deadline
    /// queued on a connection (`ClientStatus.deadlineExceededNotSent`): it used to come without, so a caller could
    /// not tell it from one that ended after its request went out.
    func deadlinePassed() -> RPCError {
        guard requestSent else {
            return RPCError(
                code: .deadlineExceeded, message: "the call's deadline passed before it was sent",
                reason: "DEADLINE_EXCEEDED", details: ["outcome": "not-started"])
        }
        return final(
            RPCError(code: .deadlineExceeded, message: "the call's deadline passed", reason: "DEADLINE_EXCEEDED"))
    }

    /// The error for a call whose task was cancelled between attempts, or while the attempt waited for its
    /// connection: `outcome=not-started` with no request sent yet (a Ctrl-C while `numbers` connects), as
    /// `ClientStatus.cancelledNotSent` says of a call cancelled while queued.
    func cancelled() -> RPCError {
        guard requestSent else {
            return RPCError(
                code: .cancelled, message: "the call was cancelled by the caller before it was sent",
                reason: "CANCELLED", details: ["outcome": "not-started"])
        }
        return final(RPCError(code: .cancelled, message: "the call was cancelled by the caller", reason: "CANCELLED"))
    }

    /// A transport failure: retried while it may be and attempts remain.
    private mutating func transportFailed(_ error: RPCError, retryable: Bool) -> Decision {
        attempts += 1
        guard retryable, attempts < policy.attemptsMax else { return .fail(final(error)) }
        return .retry(backoff: nextBackoff(), otherwise: final(error))
    }

    /// An answer from the server. Final, unless an earlier attempt may have run: then "still in progress" waits for
    /// it, and an answer about this attempt alone (see `StatusCode.refusesTheRequest`) leaves the outcome unknown.
    private mutating func answered(_ error: RPCError) -> Decision {
        if Self.wasNeverStarted(error) {
            if Self.endsTheConnection(error) { serverGoingAway = true }
            var unstarted = error
            unstarted.details["outcome"] = "not-started"
            return transportFailed(unstarted, retryable: true)
        }
        if policy.retriesWhenBusy, Self.refusedForNow(error) {
            attempts += 1
            if attempts < policy.attemptsMax {
                // At least the wait the server asked for: an attempt sooner would only be refused again.
                let asked = error.details["retryAfterMs"].flatMap(Int64.init).map { TimeAmount.milliseconds($0) }
                let pause = max(nextBackoff(), asked ?? .zero)
                return .retry(backoff: pause, otherwise: mayHaveRun ? final(error) : error)
            }
        }
        guard mayHaveRun else { return .fail(markingOutcome(error)) }
        // This client's own refusal, before sending, on a connection to an older numberd: it says nothing of the
        // earlier attempt, which went out on another connection, maybe to a newer one that carried it out.
        if error.reason == "SERVER_TOO_OLD" { return .fail(final(error)) }
        // What an older numberd, one that does not key the method, answers a repeat of an attempt it carried out
        // (``doneEarlierReason``): it says nothing of the earlier attempt.
        if let doneEarlierReason, error.reason == doneEarlierReason { return .fail(final(error)) }
        guard error.code == .aborted, error.reason == "REQUEST_IN_PROGRESS" else {
            return .fail(error.code.refusesTheRequest ? error : final(error))
        }
        inProgressRetries += 1
        guard inProgressRetries <= policy.inProgressRetriesMax else { return .fail(final(error)) }
        return .retry(backoff: nextBackoff(), otherwise: final(error))
    }

    /// Whether the server refused the call for the moment before doing anything (``NumbersClientConfiguration/RetryPolicy/retriesWhenBusy``).
    static func refusedForNow(_ error: RPCError) -> Bool {
        guard error.code == .resourceExhausted else { return false }
        switch error.reason {
        case "RATE_LIMITED", "PURCHASES_BUSY", "CHANGES_BUSY", "SEARCHES_BUSY", "STATEMENTS_BUSY", "STORE_BUSY":
            return true
        default: return false
        }
    }

    /// Whether the server answered before starting the call: `UNAVAILABLE` / `SHUTTING_DOWN`, which numberd answers
    /// only to a call its connection could no longer hand to a handler (the server is stopping), and
    /// `RESOURCE_EXHAUSTED` / `REQUEST_NOT_ARRIVED` or `PARTIAL_FRAME_BUDGET`, which it answers, before closing the
    /// connection, to a call whose request had not all arrived (a timeout, a drain's end, its budget of unfinished
    /// requests spent), and `RESOURCE_EXHAUSTED` / `TOO_MANY_STREAMS`, which it answers at the HEADERS of a call past
    /// its MAX_CONCURRENT_STREAMS (this client counts them as the server does, so only a server that lowered the limit
    /// since, or another nrpc/1 server, answers it). Like a call above a GOAWAY's last stream, it is retried whatever
    /// its method (on another connection, or on this one once a call ends there).
    static func wasNeverStarted(_ error: RPCError) -> Bool {
        switch (error.code, error.reason) {
        case (.unavailable, "SHUTTING_DOWN"), (.resourceExhausted, "REQUEST_NOT_ARRIVED"),
            (.resourceExhausted, "PARTIAL_FRAME_BUDGET"), (.resourceExhausted, "TOO_MANY_STREAMS"):
            true
        default: false
        }
    }

    /// Whether a never-started answer (``wasNeverStarted(_:)``) is followed by the connection's end (a drain's, at a
    /// restart): each is but `TOO_MANY_STREAMS`, after which the connection takes calls again once one of its own ends.
    static func endsTheConnection(_ error: RPCError) -> Bool {
        wasNeverStarted(error) && error.reason != "TOO_MANY_STREAMS"
    }

    /// Whether an answer leaves open whether the request was carried out: `DEADLINE_EXCEEDED` or `CANCELLED` once
    /// it was sent (the server finishes what it started when the caller stops waiting; those made before sending say
    /// `outcome=not-started`), `UNAVAILABLE` / `OUTCOME_UNKNOWN` (the provider's answer was lost), `ABORTED` /
    /// `REQUEST_IN_PROGRESS` (a request under the key is still running; for an AdoptNumber made without one, another
    /// adoption of the number: the first of a rerun may yet succeed or fail), `UNAVAILABLE` / `STORE_FAILED` (the
    /// server stopped writing, maybe after the provider acted), `RESOURCE_EXHAUSTED` / `RESPONSE_TOO_LARGE` (the call was
    /// carried out, but its response is over this client's `maxMessagePayload`: a purchase made, its result unread)
    /// and `INTERNAL` or `UNKNOWN` (a failure after the request arrived; not `BACKUP_FAILED`: nothing written). Every other answer is a known outcome: a
    /// refusal, nothing done.
    static func leavesOutcomeOpen(_ error: RPCError) -> Bool {
        guard !error.notStarted else { return false }
        switch error.code {
        case .deadlineExceeded, .cancelled: return true
        // BACKUP_FAILED: the server says the backup was not written (an operator's walk: a disk-full backup was
        // reported "may still be written", exit 10, to a cron job that should have seen it fail).
        case .internal, .unknown: return error.reason != "BACKUP_FAILED"
        // STORE_FAILED: the server stopped writing, maybe after the provider acted (a purchase bought, not recorded).
        case .unavailable: return error.reason == "OUTCOME_UNKNOWN" || error.reason == "STORE_FAILED"
        case .aborted: return error.reason == "REQUEST_IN_PROGRESS"
        // Sent by numberd only in place of a handler's successful response (RATE_LIMITED, PURCHASE_CAP and
        // LIMIT_EXCEEDED are refusals before anything was done).
        case .resourceExhausted: return error.reason == "RESPONSE_TOO_LARGE"
        default: return false
        }
    }

    /// `error`, with `outcome=unknown` added when it leaves the outcome of a call that changes something open, and
    /// the key too when the call is keyed. A read's answer is left as it came: whatever became of it, nothing changed.
    private func markingOutcome(_ error: RPCError) -> RPCError {
        guard retryClass != .idempotent, Self.leavesOutcomeOpen(error) else { return error }
        var marked = error
        marked.details["outcome"] = "unknown"
        if retryClass == .keyed, let idempotencyKey { marked.details["idempotencyKey"] = idempotencyKey }
        return marked
    }

    /// `error`, or — when an earlier attempt may have run — the outcome-unknown error of a lost connection, with
    /// the key to call again under and what the last attempt met (also for a call whose client closed meanwhile).
    func final(_ error: RPCError) -> RPCError {
        guard mayHaveRun, let idempotencyKey else { return error }
        var unknown = error
        if error.reason != "CONNECTION_LOST" {
            unknown = RPCError(
                code: .unavailable,
                message: "an earlier attempt's connection was lost after the request was sent; then \(error)",
                reason: "CONNECTION_LOST")
        }
        unknown.details = ["outcome": "unknown", "idempotencyKey": idempotencyKey]
        // The last answer's request id, which its server logged the cause under (a client review: it was dropped).
        if let requestId = error.details["requestId"] { unknown.details["requestId"] = requestId }
        return unknown
    }

    /// The delay before the next attempt: full jitter over a bound that doubles up to `backoffMax`.
    private mutating func nextBackoff() -> TimeAmount {
        let jittered = TimeAmount.nanoseconds(Int64.random(in: 0...max(1, backoff.nanoseconds)))
        // Doubled without passing `backoffMax`, whatever that is (a `backoffMax` near `Int64.max` nanoseconds, meant as
        // no cap, trapped the doubling once the bound passed 2^62 ns).
        backoff = backoff.nanoseconds > policy.backoffMax.nanoseconds / 2 ? policy.backoffMax : backoff * 2
        return jittered
    }
}

extension StatusCode {
    /// Whether a status refuses the request itself, so an earlier attempt of the same request was refused alike
    /// and did nothing (or the server answered it from the key's record), and asking again gets the same. The
    /// others — `DEADLINE_EXCEEDED`, `CANCELLED`, `UNAVAILABLE`, `RESOURCE_EXHAUSTED`, `ABORTED`, `INTERNAL`,
    /// `UNAUTHENTICATED`, … — are about this attempt and say nothing of an earlier one.
    public var refusesTheRequest: Bool {
        switch self {
        case .invalidArgument, .notFound, .alreadyExists, .failedPrecondition, .outOfRange, .unimplemented: true
        default: false
        }
    }
}
