import Foundation
import NumberAPI
import NumberClient
import Testing
import TwilioSimulator

/// Over the wire, every `Transaction` says who caused it (`actor`): the admin key that added funds — also in the answer
/// to a keyed retry made with another key —, the account key that bought a number, and the key that asked for a
/// release, including one left in doubt and recorded later by reconciliation. Ids only: no secret is ever shown.
@Suite("numberd end to end: each transaction names the key that caused it", .serialized)
struct LedgerActorEndToEndTests {
    @Test("AddFunds, a keyed retry by another admin key, a purchase, a release reconciled later: each names its key")
    func transactionsNameTheirKeys() async throws {
        // Reconciliation only when the test runs it.
        try await withNumberd(configure: { $0.reconcileIntervalSeconds = 86_400 }) { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                // The bootstrap admin key, the only admin key yet (its secret embeds its id's hex).
                let adminKeys = try await admin.listApiKeys(ListApiKeysRequest()).apiKeys
                let adminKey = try #require(adminKeys.first?.id)
                #expect(adminKeys.count == 1 && numberd.adminKey.hasPrefix("nk_" + adminKey.dropFirst(4)))
                let second = try await admin.createApiKey(CreateApiKeyRequest(scope: .admin, name: "ops 2"))
                let account = try await admin.createAccount(CreateAccountRequest(name: "Acme", currency: "USD")).account
                let service = try await admin.createApiKey(
                    CreateApiKeyRequest(accountId: account.id, scope: .account, name: "svc"))
                let reader = try await admin.createApiKey(
                    CreateApiKeyRequest(accountId: account.id, scope: .readOnly, name: "dashboard"))

                let funds = AddFundsRequest(accountId: account.id, amount: 10_000, currency: "USD")
                let added = try await admin.addFunds(funds, options: CallOptions(idempotencyKey: "top-up-1"))
                #expect(added.transaction.actor == adminKey)
                let retried = try await withNumbersClient(numberd.client(key: second.secret)) { other in
                    try await other.addFunds(funds, options: CallOptions(idempotencyKey: "top-up-1"))
                }
                #expect(retried.transaction == added.transaction, "the first result, its actor included")
                #expect(!added.replayed && retried.replayed, "the retry's answer says nothing was credited now")
                #expect(retried.balance == added.balance, "the balance after the first credit")

                let (bought, kept) = try await withNumbersClient(numberd.client(key: service.secret)) { client in
                    let found = try await client.searchNumbers(
                        SearchNumbersRequest(country: "US", areaCode: "415", limit: 2)
                    ).numbers.map(\.phoneNumber)
                    let first = try await client.purchaseNumbers(
                        PurchaseNumbersRequest(country: "US", numbers: [found[0]]))
                    let second = try await client.purchaseNumbers(
                        PurchaseNumbersRequest(country: "US", numbers: [found[1]]))
                    return (first.numbers[0], second.numbers[0])
                }
                #expect(bought.transaction.actor == service.apiKey.id)
                #expect(kept.transaction.actor == service.apiKey.id)

                // The admin releases the account's number; its DELETE gets no answer, so reconciliation records it.
                numberd.simulator.engine.addFault(try FaultRule.parse("releaseNumber:reset"))
                let error = await #expect(throws: RPCError.self) {
                    try await admin.releaseNumber(
                        ReleaseNumberRequest(accountId: account.id, numberId: bought.number.id))
                }
                #expect(error?.reason == "OUTCOME_UNKNOWN", "\(String(describing: error))")
                numberd.simulator.engine.clearFaults()
                #expect(await numberd.numberd.service.reconcile().releasesCompleted == [bought.number.id])

                let ledger = try await withNumbersClient(numberd.client(key: reader.secret)) { client in
                    try await client.listTransactions(ListTransactionsRequest()).transactions
                }
                #expect(ledger.map(\.kind) == [.refund, .purchase, .purchase, .fundsAdded])
                #expect(ledger.map(\.actor) == [adminKey, service.apiKey.id, service.apiKey.id, adminKey])
                #expect(ledger.map(\.actorKeyId) == ledger.map(\.actor) && !ledger.contains { $0.isSystemActor })
                // Key ids, never secrets: no actor holds a secret's random part.
                #expect(ledger.allSatisfy { $0.actor.hasPrefix("KEY_") && $0.actor.utf8.count == 16 })
                for secret in [numberd.adminKey, second.secret, service.secret, reader.secret] {
                    let randomPart = String(secret.dropFirst("nk_".count + 12))  // after the id's 12 hex
                    #expect(randomPart.count == 64 && !ledger.contains { $0.actor.contains(randomPart) })
                }
            }
        }
    }
}
