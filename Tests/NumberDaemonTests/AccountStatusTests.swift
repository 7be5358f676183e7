import NumberAPI
import NumberClient
import Testing

/// SetAccountStatus end to end over TLS: an operator suspends an account and its writes stop until it is active
/// again, while reads, searches and funding go on.
@Suite("numberd: suspending and reactivating an account")
struct AccountStatusTests {
    @Test("a suspended account reads and is funded but cannot buy or change trunks; reactivated, it buys again")
    func suspendAndReactivate() async throws {
        try await withNumberd { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                let acme = try await makeAccount(admin, name: "Acme", funds: 10_000)
                let search = try await admin.searchNumbers(
                    SearchNumbersRequest(accountId: acme.id, country: "US", areaCode: "415", limit: 2))
                let suspended = try await admin.setAccountStatus(
                    SetAccountStatusRequest(accountId: acme.id, status: .suspended))
                #expect(suspended.account.status == .suspended && suspended.account.balance == 10_000)
                #expect(!suspended.unchanged)
                // Again: nothing changes, the same account, said unchanged.
                let again = try await admin.setAccountStatus(
                    SetAccountStatusRequest(accountId: acme.id, status: .suspended))
                #expect(again.account == suspended.account && again.unchanged)

                try await withNumbersClient(numberd.client(key: acme.key)) { client in
                    let purchase = await #expect(throws: RPCError.self) {
                        try await client.purchaseNumbers(
                            PurchaseNumbersRequest(country: "US", numbers: [search.numbers[0].phoneNumber]))
                    }
                    #expect(purchase?.code == .failedPrecondition && purchase?.reason == "ACCOUNT_INACTIVE")
                    let trunk = await #expect(throws: RPCError.self) {
                        try await client.createTrunk(
                            CreateTrunkRequest(name: "t", originationSipUri: "sip:pbx.example.com"))
                    }
                    #expect(trunk?.reason == "ACCOUNT_INACTIVE", "\(String(describing: trunk))")
                    let account = try await client.getAccount(GetAccountRequest()).account
                    let balance = try await client.getBalance(GetBalanceRequest())
                    #expect(account.status == .suspended && balance.balance == 10_000)
                }
                // An operator can still fund it; nothing was bought or held.
                _ = try await admin.addFunds(AddFundsRequest(accountId: acme.id, amount: 500, currency: "USD"))
                #expect(numberd.simulator.engine.purchaseCount(search.numbers[0].phoneNumber) == 0)

                let active = try await admin.setAccountStatus(
                    SetAccountStatusRequest(accountId: acme.id, status: .active))
                #expect(active.account.status == .active && active.account.balance == 10_500)
                try await withNumbersClient(numberd.client(key: acme.key)) { client in
                    let bought = try await client.purchaseNumbers(
                        PurchaseNumbersRequest(country: "US", numbers: [search.numbers[1].phoneNumber]))
                    #expect(bought.numbers.count == 1)
                }
            }
        }
    }

    /// The account's own key is refused a release's dry run too (deliberately: `requireActiveAccount` comes before the
    /// dry-run branch, so it does not preview a release it may not make), while its searches go on: the proto and the
    /// README said only "read and funded".
    @Test("a suspended account's own key cannot release its number nor dry-run it but may search; an admin key can")
    func operatorReleasesSuspendedAccountsNumber() async throws {
        try await withNumberd { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                let acme = try await makeAccount(admin, name: "Acme", funds: 10_000)
                let search = try await admin.searchNumbers(
                    SearchNumbersRequest(accountId: acme.id, country: "US", areaCode: "415", limit: 1))
                let bought = try await admin.purchaseNumbers(
                    PurchaseNumbersRequest(
                        accountId: acme.id, country: "US", numbers: [search.numbers[0].phoneNumber])
                ).numbers[0].number
                _ = try await admin.setAccountStatus(SetAccountStatusRequest(accountId: acme.id, status: .suspended))
                try await withNumbersClient(numberd.client(key: acme.key)) { client in
                    let own = await #expect(throws: RPCError.self) {
                        try await client.releaseNumber(ReleaseNumberRequest(numberId: bought.id))
                    }
                    #expect(own?.reason == "ACCOUNT_INACTIVE", "\(String(describing: own))")
                    let dryRun = await #expect(throws: RPCError.self) {
                        try await client.releaseNumber(ReleaseNumberRequest(numberId: bought.id, dryRun: true))
                    }
                    #expect(
                        dryRun?.code == .failedPrecondition && dryRun?.reason == "ACCOUNT_INACTIVE",
                        "\(String(describing: dryRun))")
                    let found = try await client.searchNumbers(
                        SearchNumbersRequest(country: "US", areaCode: "415", limit: 1))
                    #expect(found.numbers.count == 1, "a suspended account's key still searches")
                }
                let before = try await admin.getBalance(GetBalanceRequest(accountId: acme.id)).balance
                let preview = try await admin.releaseNumber(
                    ReleaseNumberRequest(accountId: acme.id, numberId: bought.id, dryRun: true))
                let released = try await admin.releaseNumber(
                    ReleaseNumberRequest(
                        accountId: acme.id, numberId: bought.id,
                        expectedNextBillingDate: preview.finalBilling.nextBillingDate))
                #expect(released.finalBilling.proratedRefund == preview.finalBilling.proratedRefund)
                let after = try await admin.getBalance(GetBalanceRequest(accountId: acme.id)).balance
                #expect(after == before + released.finalBilling.proratedRefund)
                #expect(!numberd.simulator.engine.ownedNumbers.contains { $0.number.phoneNumber == bought.phoneNumber })
                // Still suspended: the release changed nothing else.
                let account = try await admin.getAccount(GetAccountRequest(accountId: acme.id)).account
                #expect(account.status == .suspended)
            }
        }
    }

    /// An operator could release a suspended account's numbers with an admin key, but not take them off a trunk, nor
    /// delete its trunks, without making the account active again (which lets it buy meanwhile): both were refused
    /// ACCOUNT_INACTIVE. An admin key now may; the account's own key still may not, and no one creates a trunk for it.
    @Test("an admin key unassigns a suspended account's number and deletes its trunks; the account's own key cannot")
    func operatorUnroutesSuspendedAccountsNumbers() async throws {
        try await withNumberd { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                let acme = try await makeAccount(admin, name: "Acme", funds: 10_000)
                let search = try await admin.searchNumbers(
                    SearchNumbersRequest(accountId: acme.id, country: "US", areaCode: "415", limit: 1))
                let phone = search.numbers[0].phoneNumber
                let trunk = try await admin.createTrunk(
                    CreateTrunkRequest(accountId: acme.id, name: "pbx", originationSipUri: "sip:pbx.example.com")
                ).trunk
                let spare = try await admin.createTrunk(
                    CreateTrunkRequest(accountId: acme.id, name: "spare", originationSipUri: "sip:pbx.example.com")
                ).trunk
                let bought = try await admin.purchaseNumbers(
                    PurchaseNumbersRequest(accountId: acme.id, country: "US", numbers: [phone], trunkId: trunk.id)
                ).numbers[0].number
                _ = try await admin.setAccountStatus(SetAccountStatusRequest(accountId: acme.id, status: .suspended))
                try await withNumbersClient(numberd.client(key: acme.key)) { client in
                    let unassign = await #expect(throws: RPCError.self) {
                        try await client.updateNumber(UpdateNumberRequest(numberId: bought.id, unassignTrunk: true))
                    }
                    #expect(unassign?.reason == "ACCOUNT_INACTIVE", "\(String(describing: unassign))")
                    let delete = await #expect(throws: RPCError.self) {
                        try await client.deleteTrunk(DeleteTrunkRequest(trunkId: spare.id))
                    }
                    #expect(delete?.reason == "ACCOUNT_INACTIVE", "\(String(describing: delete))")
                }
                let unassigned = try await admin.updateNumber(
                    UpdateNumberRequest(accountId: acme.id, numberId: bought.id, unassignTrunk: true))
                #expect(unassigned.number.trunkId == nil)
                let atProvider = try #require(
                    numberd.simulator.engine.ownedNumbers.first { $0.number.phoneNumber == phone })
                #expect(atProvider.trunkSid == nil, "taken off the trunk at the provider too")
                _ = try await admin.deleteTrunk(DeleteTrunkRequest(accountId: acme.id, trunkId: trunk.id))
                _ = try await admin.deleteTrunk(DeleteTrunkRequest(accountId: acme.id, trunkId: spare.id))
                #expect(try await admin.listTrunks(ListTrunksRequest(accountId: acme.id)).trunks.isEmpty)
                #expect(!numberd.simulator.engine.trunks.contains { $0.sid == trunk.providerTrunkSid })
                // Creating a trunk for it is still refused, to an admin key too.
                let created = await #expect(throws: RPCError.self) {
                    try await admin.createTrunk(
                        CreateTrunkRequest(accountId: acme.id, name: "new", originationSipUri: "sip:pbx.example.com"))
                }
                #expect(created?.reason == "ACCOUNT_INACTIVE", "\(String(describing: created))")
                let account = try await admin.getAccount(GetAccountRequest(accountId: acme.id)).account
                #expect(account.status == .suspended)
            }
        }
    }

    @Test("an unspecified status, no account and an unknown account are refused")
    func badRequests() async throws {
        try await withNumberd { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                let acme = try await makeAccount(admin, name: "Acme", funds: 0)
                let unspecified = await #expect(throws: RPCError.self) {
                    try await admin.setAccountStatus(SetAccountStatusRequest(accountId: acme.id))
                }
                #expect(unspecified?.code == .invalidArgument && unspecified?.reason == "INVALID_FIELD")
                let unknown = await #expect(throws: RPCError.self) {
                    try await admin.setAccountStatus(
                        SetAccountStatusRequest(accountId: "ACC_000000000000", status: .suspended))
                }
                #expect(unknown?.code == .notFound)
                // An empty account_id names no account (an admin key has none of its own): INVALID_FIELD, as the
                // proto's header promises, not NOT_FOUND for an account named "".
                let unnamed = await #expect(throws: RPCError.self) {
                    try await admin.setAccountStatus(SetAccountStatusRequest(status: .suspended))
                }
                #expect(unnamed?.code == .invalidArgument && unnamed?.reason == "INVALID_FIELD")
                #expect(unnamed?.details["field"] == "account_id", "\(String(describing: unnamed))")
            }
        }
    }
}
