import NIOCore
import NumberAPI
import NumberClient

/// Sets up what a run needs through the admin API, as an operator would: accounts, an account-scoped key each,
/// funds, and a few owned numbers per account.
struct LoadFixture {
    /// Most accounts a run may create.
    static let accountsMax = 1000
    /// Most numbers owned per account before the run.
    static let ownedNumbersMax = 50
    /// Minor units credited per account (the largest single AddFunds the server takes by default).
    static let fundsPerAccount: Int64 = 100_000_000

    var accounts: Int
    var ownedNumbers: Int
    var country: String
    var runID: String

    /// Creates the accounts; throws the first RPC error (a run on a half-made fixture would measure nonsense).
    func prepare(admin: NumbersClient, log: (String) -> Void) async throws -> [LoadAccount] {
        var made: [LoadAccount] = []
        for index in 0..<accounts {
            let account = try await admin.createAccount(
                CreateAccountRequest(name: "load-\(runID)-\(index)", currency: "USD")
            ).account
            let key = try await admin.createApiKey(
                CreateApiKeyRequest(accountId: account.id, scope: .account, name: "load-\(runID)-\(index)"))
            _ = try await admin.addFunds(
                AddFundsRequest(
                    accountId: account.id, amount: Self.fundsPerAccount, currency: "USD",
                    description: "numbers-load funding"))
            var numberIds: [String] = []
            if ownedNumbers > 0 {
                let found = try await admin.searchNumbers(
                    SearchNumbersRequest(
                        accountId: account.id, country: country, type: .local, limit: Int32(ownedNumbers)))
                let bought = try await admin.purchaseNumbers(
                    PurchaseNumbersRequest(
                        accountId: account.id, country: country, numbers: found.numbers.map(\.phoneNumber),
                        type: .local))
                numberIds = bought.numbers.map(\.number.id)
            }
            made.append(LoadAccount(id: account.id, authorization: "Bearer \(key.secret)", numberIds: numberIds))
            if (index + 1) % 10 == 0 || index + 1 == accounts { log("set up \(index + 1)/\(accounts) accounts") }
        }
        return made
    }
}
