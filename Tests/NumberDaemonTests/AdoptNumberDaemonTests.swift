import Foundation
import NumberAPI
import NumberClient
import Testing

/// AdoptNumber end to end over TLS, against the Twilio simulator: a number bought behind numberd's back (as in
/// Twilio's console, or by a customer before a restore from an older backup) is `unowned` in the provider audit; an
/// admin gives it to an account, which is charged and holds it from then on, routed to its trunk at Twilio, and the
/// next audit finds nothing to report.
@Suite("numberd: AdoptNumber", .serialized)
struct AdoptNumberDaemonTests {
    /// Starts an audit now and returns its findings once it has finished: the first audit to finish after `after`
    /// (nil: any).
    private func audit(_ admin: NumbersClient, after: Date?) async throws -> GetProviderAuditResponse {
        _ = try await admin.runProviderAudit(RunProviderAuditRequest())
        let deadline = ContinuousClock.now + .seconds(60)
        var found: GetProviderAuditResponse?
        while found == nil, ContinuousClock.now < deadline {
            if let audit = try? await admin.getProviderAudit(GetProviderAuditRequest()),
                after.map({ audit.finishedAt > $0 }) ?? true
            {
                found = audit
            } else {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        return try #require(found, "no audit finished after \(String(describing: after))")
    }

    @Test("an unowned number adopted by an admin: charged, listed, routed to its trunk; the next audit finds nothing")
    func adoptsAnUnownedNumber() async throws {
        try await withNumberd(configure: {
            $0.providerAuditIntervalSeconds = 0
            $0.providerAuditRecheckSeconds = 1
        }) { numberd in
            let phones = numberd.simulator.engine.availableNumbers(country: "US", type: .local, limit: 2)
                .map(\.phoneNumber)
            try #require(phones.count == 2)
            let (phone, notAtTwilio) = (phones[0], phones[1])
            // Bought at Twilio behind numberd's back.
            let consoleSid = try await numberd.buyAtProvider(phone)
            try await withNumbersClient(numberd.client()) { admin in
                let before = try await audit(admin, after: nil)
                #expect(
                    before.differences.contains {
                        $0.kind == "unowned" && $0.phoneNumber == phone && $0.providerSid == consoleSid
                    }, "\(before.differences)")

                let account = try await makeAccount(admin, name: "Adopter", funds: 10_000)
                let trunkSid = try await numberd.createProviderTrunk(name: "adopter pbx")
                let trunk = try await admin.createTrunk(
                    CreateTrunkRequest(accountId: account.id, name: "pbx", providerTrunkSid: trunkSid)
                ).trunk
                let request = AdoptNumberRequest(
                    accountId: account.id, phoneNumber: phone, country: "US", trunkId: trunk.id, charge: .full)

                // Admin only: the account's own key is refused, nothing done.
                try await withNumbersClient(numberd.client(key: account.key)) { client in
                    let denied = await #expect(throws: RPCError.self) { try await client.adoptNumber(request) }
                    #expect(
                        denied?.code == .permissionDenied && denied?.reason == "SCOPE_DENIED",
                        "\(String(describing: denied))")
                }
                // The charge is the operator's choice: none is refused.
                var unchosen = request
                unchosen.charge = .unspecified
                let invalid = await #expect(throws: RPCError.self) { try await admin.adoptNumber(unchosen) }
                #expect(
                    invalid?.code == .invalidArgument && invalid?.reason == "INVALID_FIELD"
                        && invalid?.details["field"] == "charge", "\(String(describing: invalid))")
                // A number the Twilio account does not have.
                var missing = request
                missing.phoneNumber = notAtTwilio
                let notFound = await #expect(throws: RPCError.self) { try await admin.adoptNumber(missing) }
                #expect(
                    notFound?.code == .notFound && notFound?.reason == "NUMBER_NOT_FOUND",
                    "\(String(describing: notFound))")
                #expect(try await admin.getBalance(GetBalanceRequest(accountId: account.id)).balance == 10_000)
                #expect(try await admin.listNumbers(ListNumbersRequest(accountId: account.id)).numbers.isEmpty)

                let key = CallOptions(idempotencyKey: "adopt-\(phone)")
                let adopted = try await admin.adoptNumber(request, options: key)
                #expect(!adopted.replayed)
                let number = adopted.number
                #expect(number.phoneNumber == phone && number.status == .active, "\(number)")
                #expect(number.trunkId == trunk.id && number.trunkName == "pbx", "\(number)")
                let charged = number.pricing.setupFee + number.pricing.monthlyFee
                #expect(charged > 0, "\(number.pricing)")
                let transaction = adopted.transaction
                #expect(transaction.kind == .purchase && transaction.amount == charged, "\(transaction)")
                #expect(transaction.balanceChange == -charged && transaction.numberId == number.id, "\(transaction)")
                #expect(transaction.description == "Phone number adopted: \(phone)", "\(transaction)")
                let adminKeys = try await admin.listApiKeys(ListApiKeysRequest()).apiKeys
                #expect(
                    adminKeys.contains { $0.id == transaction.actor && $0.scope == .admin },
                    "the admin key's id: \(transaction.actor)")
                #expect(adopted.balanceAfter == 10_000 - charged && adopted.currency == "USD", "\(adopted)")
                #expect(
                    try await admin.getBalance(GetBalanceRequest(accountId: account.id)).balance == 10_000 - charged)
                let listed = try await admin.listNumbers(ListNumbersRequest(accountId: account.id)).numbers
                #expect(listed.map(\.id) == [number.id] && listed.first?.phoneNumber == phone, "\(listed)")
                // Routed to the account's trunk at Twilio, and not bought again.
                let atTwilio = numberd.simulator.engine.ownedNumbers.first { $0.sid == consoleSid }
                #expect(atTwilio?.fields["trunk_sid"] == trunkSid, "\(String(describing: atTwilio))")
                #expect(numberd.simulator.engine.purchaseCount(phone) == 1)

                // A repeat under its key (its answer lost, say) gets the adoption made, nothing done again; without
                // it, it is refused: the account owns it already. Nothing charged twice either way.
                let replayed = try await admin.adoptNumber(request, options: key)
                #expect(replayed.replayed && replayed.number.id == number.id, "\(replayed)")
                #expect(replayed.transaction == transaction && replayed.balanceAfter == adopted.balanceAfter)
                let again = await #expect(throws: RPCError.self) { try await admin.adoptNumber(request) }
                #expect(
                    again?.code == .failedPrecondition && again?.reason == "NUMBER_UNAVAILABLE"
                        && again?.message.contains("this account owns it already") == true,
                    "\(String(describing: again))")
                #expect(
                    try await admin.getBalance(GetBalanceRequest(accountId: account.id)).balance == 10_000 - charged)

                let after = try await audit(admin, after: before.finishedAt)
                #expect(after.providerNumbers == 1 && after.heldNumbers == 1, "\(after)")
                #expect(after.counts.allSatisfy { $0.count == 0 }, "\(after.counts)")
                #expect(after.differences.isEmpty, "\(after.differences)")
            }
        }
    }
}
