import Foundation
import NumberAPI
import NumberServer
import Testing

/// A listing with no rows says so in words ("no trunks") instead of printing a lone header line; `--json` still
/// prints the empty response. The built `numbers` runs as a process against a stub server.
@Suite("numbers: empty listings")
struct EmptyListingTests {
    static func router() -> RPCRouter {
        var router = RPCRouter()
        router.register(NumbersMethods.listTransactions) { _, _ in ListTransactionsResponse(transactions: []) }
        router.register(NumbersMethods.listTrunks) { _, _ in ListTrunksResponse(trunks: []) }
        router.register(NumbersMethods.listAccounts) { _, _ in ListAccountsResponse(accounts: []) }
        router.register(NumbersMethods.listApiKeys) { _, _ in ListApiKeysResponse(apiKeys: []) }
        return router
    }

    @Test("transactions, trunks, accounts and keys: the words for none, for none in a period, for no more")
    func words() async throws {
        try await withStubServer(router: Self.router()) { server in
            let connection = UnknownOutcomeTests.connection(server)
            for (arguments, words) in [
                (["transactions"], "no transactions"),
                (["transactions", "--month", "2026-11"], "no transactions in the period"),
                (["transactions", "--page-token", "t"], "no more transactions"),
                (["trunks", "list"], "no trunks"),
                (["accounts", "list"], "no accounts"),
                (["accounts", "list", "--page-token", "t"], "no more accounts"),
                (["keys", "list"], "no API keys"),
                (["keys", "list", "--page-token", "t"], "no more API keys"),
            ] {
                let run = try await runNumbers(arguments + connection)
                #expect(run.status == 0 && run.stdout == words + "\n", "\(arguments): \(run)")
            }
            let json = try await runNumbers(["trunks", "list", "--json"] + connection)
            #expect(json.status == 0 && json.stdout.contains("\"trunks\" : ["), "\(json)")
        }
    }
}
