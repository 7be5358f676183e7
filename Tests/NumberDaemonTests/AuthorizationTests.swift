import Foundation
import NumberAPI
import NumberClient
import Testing

/// Every RPC called with another account's key and ids is denied and changes nothing; read-only keys change
/// nothing; missing and bad keys are refused. The table must name every method of the service.
@Suite("Authorization matrix", .serialized)
struct AuthorizationTests {
    /// One call per method, aimed at `victim`'s account, number, trunk and API key.
    private func crossAccountCalls(
        victim: TestAccount, numberId: String, trunkId: String, phone: String, keyId: String
    )
        -> [String: @Sendable (NumbersClient) async throws -> Void]
    {
        let a = victim.id
        return [
            NumbersMethods.searchNumbers.path: {
                _ = try await $0.searchNumbers(SearchNumbersRequest(accountId: a, country: "US", areaCode: "415"))
            },
            NumbersMethods.purchaseNumbers.path: {
                _ = try await $0.purchaseNumbers(PurchaseNumbersRequest(accountId: a, country: "US", numbers: [phone]))
            },
            NumbersMethods.listNumbers.path: { _ = try await $0.listNumbers(ListNumbersRequest(accountId: a)) },
            NumbersMethods.getNumber.path: {
                _ = try await $0.getNumber(GetNumberRequest(accountId: a, numberId: numberId))
            },
            NumbersMethods.updateNumber.path: {
                _ = try await $0.updateNumber(
                    UpdateNumberRequest(accountId: a, numberId: numberId, unassignTrunk: true))
            },
            NumbersMethods.releaseNumber.path: {
                _ = try await $0.releaseNumber(ReleaseNumberRequest(accountId: a, numberId: numberId))
            },
            NumbersMethods.getBalance.path: { _ = try await $0.getBalance(GetBalanceRequest(accountId: a)) },
            NumbersMethods.addFunds.path: {
                _ = try await $0.addFunds(AddFundsRequest(accountId: a, amount: 100, currency: "USD"))
            },
            NumbersMethods.adjustBalance.path: {
                _ = try await $0.adjustBalance(
                    AdjustBalanceRequest(accountId: a, amount: -1, currency: "USD", reason: "correction"))
            },
            NumbersMethods.listTransactions.path: {
                _ = try await $0.listTransactions(ListTransactionsRequest(accountId: a))
            },
            NumbersMethods.getStatement.path: {
                _ = try await $0.getStatement(
                    GetStatementRequest(
                        accountId: a, startTime: Date(timeIntervalSince1970: 1), endTime: Date(timeIntervalSince1970: 2)
                    ))
            },
            NumbersMethods.createTrunk.path: {
                _ = try await $0.createTrunk(CreateTrunkRequest(accountId: a, name: "x", providerTrunkSid: "TKx"))
            },
            NumbersMethods.listTrunks.path: { _ = try await $0.listTrunks(ListTrunksRequest(accountId: a)) },
            NumbersMethods.deleteTrunk.path: {
                _ = try await $0.deleteTrunk(DeleteTrunkRequest(accountId: a, trunkId: trunkId))
            },
            NumbersMethods.createAccount.path: {
                _ = try await $0.createAccount(CreateAccountRequest(name: "x", currency: "USD"))
            },
            NumbersMethods.getAccount.path: { _ = try await $0.getAccount(GetAccountRequest(accountId: a)) },
            NumbersMethods.listAccounts.path: { _ = try await $0.listAccounts(ListAccountsRequest()) },
            NumbersMethods.setAccountStatus.path: {
                _ = try await $0.setAccountStatus(SetAccountStatusRequest(accountId: a, status: .suspended))
            },
            NumbersMethods.createApiKey.path: {
                _ = try await $0.createApiKey(CreateApiKeyRequest(accountId: a, scope: .account, name: "x"))
            },
            NumbersMethods.listApiKeys.path: { _ = try await $0.listApiKeys(ListApiKeysRequest(accountId: a)) },
            NumbersMethods.revokeApiKey.path: {
                _ = try await $0.revokeApiKey(RevokeApiKeyRequest(keyId: keyId))
            },
            NumbersMethods.createBackup.path: { _ = try await $0.createBackup(CreateBackupRequest()) },
            NumbersMethods.getProviderAudit.path: { _ = try await $0.getProviderAudit(GetProviderAuditRequest()) },
            NumbersMethods.runProviderAudit.path: { _ = try await $0.runProviderAudit(RunProviderAuditRequest()) },
            NumbersMethods.adoptNumber.path: {
                _ = try await $0.adoptNumber(
                    AdoptNumberRequest(accountId: a, phoneNumber: phone, country: "US", charge: .full))
            },
        ]
    }

    /// Methods that need no key at all.
    private let openMethods: Set<String> = [NumbersMethods.healthCheck.path]

    /// Everything observable about an account, to prove a denied call changed nothing.
    private func snapshot(_ admin: NumbersClient, _ account: String) async throws -> String {
        let balance = try await admin.getBalance(GetBalanceRequest(accountId: account))
        let numbers = try await admin.listNumbers(ListNumbersRequest(accountId: account))
        let ledger = try await admin.listTransactions(ListTransactionsRequest(accountId: account))
        let trunks = try await admin.listTrunks(ListTrunksRequest(accountId: account))
        // The admin keys and the account's own (a key created or revoked on it shows here).
        let keys = try await admin.listApiKeys(ListApiKeysRequest())
        let accountKeys = try await admin.listApiKeys(ListApiKeysRequest(accountId: account))
        let accounts = try await admin.listAccounts(ListAccountsRequest())
        return "\(balance)|\(numbers)|\(ledger)|\(trunks)|\(keys)|\(accountKeys)|\(accounts)"
    }

    @Test("another account's key is denied on every RPC and nothing changes")
    func crossAccount() async throws {
        try await withNumberd { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                let victim = try await makeAccount(admin, name: "Victim", funds: 10_000)
                let attacker = try await makeAccount(admin, name: "Attacker", funds: 10_000)
                let trunkSid = try await numberd.createProviderTrunk(name: "victim trunk")
                let trunk = try await admin.createTrunk(
                    CreateTrunkRequest(accountId: victim.id, name: "t", providerTrunkSid: trunkSid)
                ).trunk
                let found = try await admin.searchNumbers(
                    SearchNumbersRequest(accountId: victim.id, country: "US", areaCode: "312", limit: 2))
                let owned = try await admin.purchaseNumbers(
                    PurchaseNumbersRequest(
                        accountId: victim.id, country: "US", numbers: [found.numbers[0].phoneNumber], trunkId: trunk.id)
                )
                let numberId = owned.numbers[0].number.id

                let victimKey = try #require(
                    try await admin.listApiKeys(ListApiKeysRequest(accountId: victim.id)).apiKeys.first)
                let calls = crossAccountCalls(
                    victim: victim, numberId: numberId, trunkId: trunk.id, phone: found.numbers[1].phoneNumber,
                    keyId: victimKey.id)
                #expect(
                    Set(calls.keys).union(openMethods) == Set(NumbersMethods.allPaths),
                    "every RPC needs a row in the matrix")

                let before = try await snapshot(admin, victim.id)
                let attackerBefore = try await snapshot(admin, attacker.id)
                try await withNumbersClient(numberd.client(key: attacker.key)) { client in
                    for (path, call) in calls.sorted(by: { $0.key < $1.key }) {
                        let error = await #expect(throws: RPCError.self, "\(path) was allowed") {
                            try await call(client)
                        }
                        #expect(error?.code == .permissionDenied, "\(path): \(String(describing: error))")
                    }
                    // The attacker's own account with the victim's number and trunk ids: not found, nothing leaks.
                    let number = await #expect(throws: RPCError.self) {
                        try await client.releaseNumber(ReleaseNumberRequest(numberId: numberId))
                    }
                    #expect(number?.code == .notFound)
                    let trunkError = await #expect(throws: RPCError.self) {
                        try await client.deleteTrunk(DeleteTrunkRequest(trunkId: trunk.id))
                    }
                    #expect(trunkError?.code == .notFound)
                }
                let after = try await snapshot(admin, victim.id)
                let attackerAfter = try await snapshot(admin, attacker.id)
                #expect(after == before)
                #expect(attackerAfter == attackerBefore)
                #expect(numberd.simulator.engine.purchaseCount(found.numbers[1].phoneNumber) == 0)
            }
        }
    }

    @Test("read-only keys read but change nothing; missing, bad and revoked keys are refused")
    func readOnlyAndBadKeys() async throws {
        try await withNumberd { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                let account = try await makeAccount(admin, name: "Reader", funds: 5_000)
                let reader = try await admin.createApiKey(
                    CreateApiKeyRequest(accountId: account.id, scope: .readOnly, name: "ro"))
                let found = try await admin.searchNumbers(
                    SearchNumbersRequest(accountId: account.id, country: "US", areaCode: "415", limit: 2))
                // A number and a trunk of the account's own, for the calls that change them.
                let owned = try await admin.purchaseNumbers(
                    PurchaseNumbersRequest(
                        accountId: account.id, country: "US", numbers: [found.numbers[1].phoneNumber])
                ).numbers[0].number
                let trunk = try await admin.createTrunk(
                    CreateTrunkRequest(accountId: account.id, name: "pbx", originationSipUri: "sip:pbx.example.com")
                ).trunk
                let before = try await snapshot(admin, account.id)
                let funds = try await admin.getBalance(GetBalanceRequest(accountId: account.id)).balance
                try await withNumbersClient(numberd.client(key: reader.secret)) { client in
                    // A release's dry run is a read.
                    let dry = try await client.releaseNumber(ReleaseNumberRequest(numberId: owned.id, dryRun: true))
                    #expect(dry.dryRun)
                    let balance = try await client.getBalance(GetBalanceRequest())
                    #expect(balance.balance == funds)
                    let statement = try await client.getStatement(
                        GetStatementRequest(
                            startTime: Date(timeIntervalSince1970: 1), endTime: Date().addingTimeInterval(86_400)))
                    #expect(statement.accountId == account.id && statement.closingBalance == funds)
                    let writes: [(String, @Sendable (NumbersClient) async throws -> Void)] = [
                        (
                            "purchase",
                            {
                                _ = try await $0.purchaseNumbers(
                                    PurchaseNumbersRequest(country: "US", numbers: [found.numbers[0].phoneNumber]))
                            }
                        ),
                        (
                            "createTrunk",
                            { _ = try await $0.createTrunk(CreateTrunkRequest(name: "x", providerTrunkSid: "TKx")) }
                        ),
                        ("createTrunk without a SID", { _ = try await $0.createTrunk(CreateTrunkRequest(name: "x")) }),
                        (
                            "updateNumber",
                            {
                                _ = try await $0.updateNumber(
                                    UpdateNumberRequest(numberId: owned.id, assignTrunkId: trunk.id))
                            }
                        ),
                        ("releaseNumber", { _ = try await $0.releaseNumber(ReleaseNumberRequest(numberId: owned.id)) }),
                        ("deleteTrunk", { _ = try await $0.deleteTrunk(DeleteTrunkRequest(trunkId: trunk.id)) }),
                        ("addFunds", { _ = try await $0.addFunds(AddFundsRequest(accountId: account.id, amount: 1)) }),
                        (
                            "adjustBalance",
                            {
                                _ = try await $0.adjustBalance(
                                    AdjustBalanceRequest(accountId: account.id, amount: 1, reason: "x"))
                            }
                        ),
                        (
                            "createApiKey",
                            {
                                _ = try await $0.createApiKey(
                                    CreateApiKeyRequest(accountId: account.id, scope: .account, name: "x"))
                            }
                        ),
                    ]
                    for (name, write) in writes {
                        let error = await #expect(throws: RPCError.self, "\(name) was allowed") {
                            try await write(client)
                        }
                        #expect(error?.code == .permissionDenied, "\(name)")
                    }
                }
                let after = try await snapshot(admin, account.id)
                #expect(after == before)

                for key in [nil, "nk_not_a_real_key", account.key + "x"] as [String?] {
                    var configuration = numberd.client(key: key)
                    configuration.apiKey = key
                    try await withNumbersClient(configuration) { client in
                        let error = await #expect(throws: RPCError.self) {
                            try await client.getBalance(GetBalanceRequest(accountId: account.id))
                        }
                        #expect(error?.code == .unauthenticated)
                        let health = try await client.healthCheck(HealthCheckRequest())
                        #expect(health.status == .serving)
                    }
                }
                let keys = try await admin.listApiKeys(ListApiKeysRequest(accountId: account.id))
                let accountKey = try #require(keys.apiKeys.first { $0.scope == .account })
                _ = try await admin.revokeApiKey(RevokeApiKeyRequest(keyId: accountKey.id))
                try await withNumbersClient(numberd.client(key: account.key)) { client in
                    let error = await #expect(throws: RPCError.self) {
                        try await client.getBalance(GetBalanceRequest())
                    }
                    #expect(error?.code == .unauthenticated)
                }
            }
        }
    }

    @Test("a connection that proved a key once is still refused after the key is revoked, or with another key")
    func revokedOnAnOpenConnection() async throws {
        try await withNumberd { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                let account = try await makeAccount(admin, name: "memo", funds: 100)
                let other = try await makeAccount(admin, name: "memo-other", funds: 100)
                var configuration = numberd.client()
                configuration.apiKey = nil
                try await withNumbersClient(configuration) { client in
                    func balance(_ key: String) async throws -> Int64 {
                        try await client.getBalance(
                            GetBalanceRequest(), options: CallOptions(metadata: ["authorization": "Bearer \(key)"])
                        ).balance
                    }
                    #expect(try await balance(account.key) == 100)
                    #expect(try await balance(account.key) == 100)
                    // Another valid key on the same connection is its own key, not the remembered one.
                    #expect(try await balance(other.key) == 100)
                    let forged = String(account.key.dropLast()) + (account.key.hasSuffix("0") ? "1" : "0")
                    let refused = await #expect(throws: RPCError.self) { try await balance(forged) }
                    #expect(refused?.code == .unauthenticated)
                    #expect(try await balance(account.key) == 100)
                    let keys = try await admin.listApiKeys(ListApiKeysRequest(accountId: account.id))
                    let accountKey = try #require(keys.apiKeys.first { $0.scope == .account })
                    _ = try await admin.revokeApiKey(RevokeApiKeyRequest(keyId: accountKey.id))
                    let revoked = await #expect(throws: RPCError.self) { try await balance(account.key) }
                    #expect(revoked?.code == .unauthenticated)
                }
            }
        }
    }

    @Test("a call's own authorization metadata wins over the client's configured key")
    func perCallAuthorization() async throws {
        try await withNumberd { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                let account = try await makeAccount(admin, name: "per-call", funds: 250)
                // The admin key names no account, so this only works if the account's key is the one sent.
                let balance = try await admin.getBalance(
                    GetBalanceRequest(), options: CallOptions(metadata: ["authorization": "Bearer \(account.key)"]))
                #expect(balance.balance == 250)
                let adminOnly = await #expect(throws: RPCError.self) {
                    try await admin.getBalance(GetBalanceRequest())
                }
                #expect(adminOnly?.reason == "INVALID_FIELD")
            }
        }
    }
}
