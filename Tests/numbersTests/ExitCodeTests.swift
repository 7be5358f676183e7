import NumberAPI
import Testing

@testable import numbers

/// The CLI's exit status for each kind of failure, as README's "Exit codes" and `numbers --help` list them. An unknown
/// outcome has its own (10): it used to share 7 ("unavailable, retry") with failures that did nothing, and a script
/// retrying on 7 without the key printed on stderr could buy, credit or debit twice.
@Suite("numbers: exit codes")
struct ExitCodeTests {
    static func error(_ code: StatusCode, _ reason: String, _ details: [String: String] = [:]) -> RPCError {
        RPCError(code: code, message: "x", reason: reason, details: details)
    }

    @Test("each failure exits with its documented status")
    func mapping() {
        let cases: [(RPCError, Int32)] = [
            (Self.error(.unavailable, "CONNECTION_LOST", ["outcome": "unknown", "idempotencyKey": "k"]), 10),
            (Self.error(.unavailable, "OUTCOME_UNKNOWN", ["outcome": "unknown"]), 10),
            (Self.error(.aborted, "REQUEST_IN_PROGRESS", ["outcome": "unknown"]), 10),
            (Self.error(.deadlineExceeded, "DEADLINE_EXCEEDED", ["outcome": "unknown"]), 10),
            (Self.error(.resourceExhausted, "RESPONSE_TOO_LARGE", ["outcome": "unknown"]), 10),
            // After a read the library leaves it unmarked: nothing changed, ask for less.
            (Self.error(.resourceExhausted, "RESPONSE_TOO_LARGE"), 8),
            (Self.error(.unavailable, "CONNECT_FAILED", ["outcome": "not-started"]), 7),
            (Self.error(.unavailable, "PROVIDER_UNAVAILABLE"), 7),
            (Self.error(.deadlineExceeded, "DEADLINE_EXCEEDED"), 7),
            (Self.error(.unavailable, "PROVIDER_MISCONFIGURED"), 9),
            (Self.error(.unavailable, "CERTIFICATE_REJECTED", ["outcome": "not-started"]), 9),
            (Self.error(.resourceExhausted, "REQUEST_TOO_LARGE", ["outcome": "not-started"]), 3),
            (Self.error(.resourceExhausted, "PURCHASES_BUSY"), 8),
            (Self.error(.resourceExhausted, "STORE_FULL"), 8), (Self.error(.resourceExhausted, "STORE_BUSY"), 8),
            (Self.error(.resourceExhausted, "RATE_LIMITED", ["retryAfterMs": "20"]), 8),
            (Self.error(.failedPrecondition, "LAST_ADMIN_KEY"), 5),
            (Self.error(.failedPrecondition, "INSUFFICIENT_BALANCE"), 5),
            // The client library's refusal, unsent: nothing done, and the same run would be refused again.
            (Self.error(.failedPrecondition, "SERVER_TOO_OLD", ["field": "expect_no_paid_cycle"]), 5),
            (Self.error(.notFound, "ACCOUNT_NOT_FOUND"), 4),
            (Self.error(.invalidArgument, "INVALID_FIELD"), 3),
            (Self.error(.permissionDenied, "SCOPE_DENIED"), 6),
            (Self.error(.internal, "INTERNAL"), 1),
        ]
        for (error, status) in cases {
            #expect(CLIError.exitCode(for: error) == status, "\(error.reason) \(error.details)")
        }
    }

    @Test("a SERVER_TOO_OLD refusal names what to leave out: --yes, the price flags, the period, or --origination")
    func serverTooOldAdvice() {
        func advice(_ field: String) -> String {
            ServerTooOld.advice(
                Self.error(.failedPrecondition, "SERVER_TOO_OLD", ["field": field, "serverRevision": "0"]))
        }
        let release = advice("expect_no_paid_cycle")
        #expect(release.contains("not released") && release.contains("numbers release --yes"), "\(release)")
        #expect(release.contains("API revision 0"), "\(release)")
        let buy = advice("max_monthly_fee,max_setup_fee")
        #expect(buy.contains("nothing bought") && buy.contains("--max-monthly-fee"), "\(buy)")
        let period = advice("end_time")
        #expect(period.contains("without --month, --from and --to"), "\(period)")
        let trunk = advice("origination_sip_uri")
        #expect(trunk.contains("no trunk created") && trunk.contains("--origination"), "\(trunk)")
        // Right whether the command had --sid or not: a registered trunk takes no --origination.
        #expect(trunk.contains("--sid without --origination"), "\(trunk)")
        #expect(advice("a_later_field").contains("Upgrade numberd"))
    }
}
