import Foundation
import NumberAPI
import NumberClient
import Testing

/// AdjustBalance over TLS, as an operator's tool calls it: an admin key posts a credit or a debit with its reason, the
/// ledger shows an ADJUSTMENT naming that key, a keyed retry (the client's own, or one by hand with the same key) posts
/// nothing twice, and every bad request is refused with its reason while the balance stays as it was.
@Suite("numberd end to end: AdjustBalance", .serialized)
struct AdjustBalanceEndToEndTests {
    @Test("a debit and a credit with their reasons; a keyed retry answers the first; bad requests change nothing")
    func adjustments() async throws {
        try await withNumberd { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                let account = try await makeAccount(admin, name: "Acme", funds: 10_000)
                let adminKey = try #require(try await admin.listApiKeys(ListApiKeysRequest()).apiKeys.first?.id)
                let debit = AdjustBalanceRequest(
                    accountId: account.id, amount: -2_500, currency: "usd", reason: "Duplicate top-up reversed")
                let first = try await admin.adjustBalance(debit, options: CallOptions(idempotencyKey: "fix-1"))
                #expect(first.balance == 7_500)
                #expect(first.transaction.kind == .adjustment && first.transaction.balanceChange == -2_500)
                #expect(first.transaction.description == "Duplicate top-up reversed")
                #expect(first.transaction.actor == adminKey)
                #expect(!first.replayed)
                let retried = try await admin.adjustBalance(debit, options: CallOptions(idempotencyKey: "fix-1"))
                #expect(retried.transaction == first.transaction && retried.balance == 7_500, "posted once")
                #expect(retried.replayed, "the answer says it is the first adjustment's, nothing posted now")

                let credit = try await admin.adjustBalance(
                    AdjustBalanceRequest(
                        accountId: account.id, amount: 300, currency: "USD", reason: "Outage credit, ticket 4711"))
                #expect(credit.balance == 7_800 && credit.transaction.balanceChange == 300 && !credit.replayed)

                let refusals: [(String, AdjustBalanceRequest, CallOptions, StatusCode, String)] = [
                    (
                        "reused key",
                        AdjustBalanceRequest(
                            accountId: account.id, amount: -2_501, currency: "USD", reason: "Duplicate top-up reversed"),
                        CallOptions(idempotencyKey: "fix-1"), .failedPrecondition, "IDEMPOTENCY_KEY_REUSED"
                    ),
                    (
                        "over the available balance",
                        AdjustBalanceRequest(accountId: account.id, amount: -7_801, currency: "USD", reason: "x"),
                        CallOptions(), .failedPrecondition, "INSUFFICIENT_BALANCE"
                    ),
                    (
                        "zero", AdjustBalanceRequest(accountId: account.id, amount: 0, currency: "USD", reason: "x"),
                        CallOptions(), .invalidArgument, "INVALID_FIELD"
                    ),
                    (
                        "no reason",
                        AdjustBalanceRequest(accountId: account.id, amount: 1, currency: "USD", reason: " "),
                        CallOptions(), .invalidArgument, "INVALID_FIELD"
                    ),
                    (
                        "no currency", AdjustBalanceRequest(accountId: account.id, amount: 1, reason: "x"),
                        CallOptions(), .invalidArgument, "INVALID_FIELD"
                    ),
                    (
                        "another currency",
                        AdjustBalanceRequest(accountId: account.id, amount: 1, currency: "EUR", reason: "x"),
                        CallOptions(), .failedPrecondition, "CURRENCY_MISMATCH"
                    ),
                    (
                        "no account", AdjustBalanceRequest(amount: 1, currency: "USD", reason: "x"), CallOptions(),
                        .invalidArgument, "INVALID_FIELD"
                    ),
                    (
                        "unknown account",
                        AdjustBalanceRequest(accountId: "ACC_000000000000", amount: 1, currency: "USD", reason: "x"),
                        CallOptions(), .notFound, "ACCOUNT_NOT_FOUND"
                    ),
                ]
                for (name, request, options, code, reason) in refusals {
                    let error = await #expect(throws: RPCError.self, "\(name)") {
                        try await admin.adjustBalance(request, options: options)
                    }
                    #expect(error?.code == code && error?.reason == reason, "\(name): \(String(describing: error))")
                }
                let noCurrency = await #expect(throws: RPCError.self) {
                    try await admin.addFunds(AddFundsRequest(accountId: account.id, amount: 1))
                }
                #expect(noCurrency?.reason == "INVALID_FIELD" && noCurrency?.details["field"] == "currency")
                #expect(noCurrency?.details["expected"] == "USD")

                let balance = try await admin.getBalance(GetBalanceRequest(accountId: account.id))
                #expect(balance.balance == 7_800)
                let ledger = try await admin.listTransactions(ListTransactionsRequest(accountId: account.id))
                #expect(ledger.transactions.map(\.kind) == [.adjustment, .adjustment, .fundsAdded])
                #expect(ledger.transactions.map(\.balanceChange) == [300, -2_500, 10_000])
                #expect(numberd.numberd.service.durableState().checkInvariants() == [])
            }
        }
    }
}
