import NumberAPI

/// What the CLI tells an operator whose command the client library refused with `FAILED_PRECONDITION` /
/// `SERVER_TOO_OLD`: the request set a field that the numberd it reached predates (its API revision is lower), which
/// that numberd would have skipped, acting without the guard — so nothing was sent. The library's message names the
/// field; this names the flag or step that sets it, and what leaving it out costs. Exit 5, as every failed
/// precondition: nothing was done, and a rerun as it is would be refused again.
enum ServerTooOld {
    /// The line for stderr after `error`, chosen by the fields it names (metadata `field`).
    static func advice(_ error: RPCError) -> String {
        let fields = Set((error.details["field"] ?? "").split(separator: ",").map(String.init))
        let revision = error.details["serverRevision"] ?? "?"
        let server = "this numberd is older than the numbers CLI (API revision \(revision))"
        if !fields.isDisjoint(with: ["expected_next_billing_date", "expect_no_paid_cycle"]) {
            return """
                not released: \(server) and cannot hold the release to the figures the question showed. Upgrade \
                numberd, or run `numbers release --yes` to release without that check (a billing date passing \
                meanwhile is then billed unseen).
                """
        }
        if !fields.isDisjoint(with: ["max_monthly_fee", "max_setup_fee"]) {
            return """
                nothing bought: \(server) and would ignore --max-monthly-fee and --max-setup-fee. Upgrade numberd, \
                or buy without them (at whatever the price is then).
                """
        }
        if !fields.isDisjoint(with: ["start_time", "end_time"]) {
            return """
                \(server) and would list the whole ledger instead of the period. Upgrade numberd, or run \
                `numbers transactions` without --month, --from and --to.
                """
        }
        // Said for both commands that send it: `--origination` alone (a trunk numberd would create ringing nowhere)
        // and with `--sid` (which takes none: telling that caller to register with --sid, as it did, was no help).
        if fields.contains("origination_sip_uri") {
            return """
                no trunk created: \(server) and would skip --origination: a trunk it created at Twilio would ring \
                nowhere. Upgrade numberd, or register a trunk configured at Twilio: --sid without --origination (a \
                trunk registered by its SID takes none; its calls go where it was configured).
                """
        }
        return "nothing was sent: \(server). Upgrade numberd, or leave out the option that sets the field named above."
    }
}
