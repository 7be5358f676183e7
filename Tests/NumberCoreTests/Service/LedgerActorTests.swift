import Foundation
import Testing

@testable import NumberCore

/// Every ledger transaction names who caused it (``LedgerActor``): the API key whose call posted it — funds, a
/// purchase, a release's refund, also when reconciliation finishes the purchase or the release later — or numberd
/// itself (renewals, grace-period releases, reconciliation of a request whose asker was not recorded). An idempotent
/// retry returns the first call's actor, whoever retries. Each holds across a restart (the file store re-reads it).
@Suite("Ledger actors: who caused each money movement")
struct LedgerActorTests {
    static let phones = (0..<4).map { "+1415555030\($0)" }

    /// An account with `funds`, an account key and an admin key, all recorded (a purchase opens only for a live key).
    static func setUp(
        _ kind: StoreKind, funds: Int64 = 10_000
    ) async throws -> (h: Harness, account: Account, key: LedgerActor, admin: LedgerActor) {
        let h = try await Harness(kind)
        let account = try await h.service.createAccount(name: "Acme", currency: "USD")
        let key = try await h.service.createApiKey(name: "svc", scope: .account, accountId: account.id).key
        let admin = try await h.service.createApiKey(name: "ops", scope: .admin, accountId: nil).key
        _ = try await h.service.addFunds(accountId: account.id, amount: funds, actor: .apiKey(admin.id))
        return (h, try h.service.account(account.id), .apiKey(key.id), .apiKey(admin.id))
    }

    /// The account's ledger, oldest first.
    static func ledger(_ h: Harness, _ accountId: String) throws -> [LedgerTransaction] {
        try h.service.listTransactions(accountId: accountId, pageSize: 500).transactions.reversed()
    }

    static func buy(
        _ h: Harness, _ phones: [String], _ accountId: String, by key: LedgerActor, idempotencyKey: String? = nil
    ) async throws -> PurchaseResult {
        h.provider.stock(phones)
        return try await h.service.purchase(
            PurchaseRequest(
                accountId: accountId, phoneNumbers: phones, country: "US", idempotencyKey: idempotencyKey,
                authorizedBy: key.apiKeyId))
    }

    @Test("an actor a caller names is a key id or numberd's own, never a secret or a long string")
    func callersNameOnlyKeyIdsOrSystem() async throws {
        let (h, account, key, admin) = try await Self.setUp(.memory)
        let phone = Self.phones[0]
        let number = try #require(try await Self.buy(h, [phone], account.id, by: key).numbers.first)
        for refused in [
            "nk_live_4f2a9c0d1e7b8a6f5c3d2e1f0a9b8c7d", "KEY_", "KEY_A1B2", "KEY_a1 b2", "system:", "system:Billing",
            "KEY_" + String(repeating: "a", count: LedgerActor.lengthMax - 3), "",
        ] {
            let actor = LedgerActor(rawValue: refused)
            let funds = await numberError {
                _ = try await h.service.addFunds(accountId: account.id, amount: 1, actor: actor)
            }
            #expect(funds?.reason == .invalidField && funds?.details["field"] == "actor", "\(refused)")
            let adjust = await numberError {
                _ = try await h.service.adjustBalance(accountId: account.id, amount: 1, reason: "x", actor: actor)
            }
            #expect(adjust?.reason == .invalidField, "\(refused)")
            let release = await numberError {
                _ = try await h.service.release(accountId: account.id, numberId: number.id, actor: actor)
            }
            #expect(release?.reason == .invalidField, "\(refused)")
        }
        for accepted in [admin, .billing, LedgerActor(rawValue: "KEY_" + String(repeating: "f", count: 60))] {
            _ = try await h.service.addFunds(accountId: account.id, amount: 1, actor: accepted)
        }
        try await h.check()
    }

    @Test(
        "AddFunds names the admin key; a retry by another key returns the first key, before and after a restart",
        arguments: StoreKind.allCases)
    func fundsNameTheAdminKey(kind: StoreKind) async throws {
        let (harness, account, _, admin) = try await Self.setUp(kind)
        var h = harness
        let other = LedgerActor.apiKey(
            try await h.service.createApiKey(name: "ops 2", scope: .admin, accountId: nil).key.id)
        let first = try await h.service.addFundsOutcome(
            accountId: account.id, amount: 500, idempotencyKey: "top-up", actor: admin)
        #expect(first.transaction.actor == admin && !first.replayed)
        let retry = try await h.service.addFundsOutcome(
            accountId: account.id, amount: 500, idempotencyKey: "top-up", actor: other)
        #expect(retry.replayed && retry.transaction == first.transaction && retry.transaction.actor == admin)
        #expect(try Self.ledger(h, account.id).map(\.actor) == [admin, admin])
        try await h.restart()
        #expect(try Self.ledger(h, account.id).map(\.actor) == [admin, admin])
        let afterRestart = try await h.service.addFundsOutcome(
            accountId: account.id, amount: 500, idempotencyKey: "top-up", actor: other)
        #expect(afterRestart.replayed && afterRestart.transaction.actor == admin)
        let adjusted = try await h.service.adjustBalance(
            accountId: account.id, amount: -5, reason: "goodwill", actor: other)
        #expect(adjusted.transaction.actor == other)
        try await h.check()
    }

    @Test(
        "a purchase's debits name the buying key; a replay by another key returns them as they were",
        arguments: StoreKind.allCases)
    func purchaseNamesTheBuyer(kind: StoreKind) async throws {
        let (harness, account, key, admin) = try await Self.setUp(kind)
        var h = harness
        let bought = try await Self.buy(h, Array(Self.phones.prefix(2)), account.id, by: key, idempotencyKey: "b1")
        #expect(bought.transactions.map(\.actor) == [key, key])
        // An admin buying for the account is named too.
        let forAccount = try await Self.buy(h, [Self.phones[2]], account.id, by: admin)
        #expect(forAccount.transactions.map(\.actor) == [admin])
        let other = try await h.service.createApiKey(name: "svc 2", scope: .account, accountId: account.id).key
        let replay = try await h.service.purchase(
            PurchaseRequest(
                accountId: account.id, phoneNumbers: Array(Self.phones.prefix(2)), country: "US",
                idempotencyKey: "b1", authorizedBy: other.id))
        #expect(replay.replayed && replay.transactions == bought.transactions)
        try await h.restart()
        let again = try await h.service.purchase(
            PurchaseRequest(
                accountId: account.id, phoneNumbers: Array(Self.phones.prefix(2)), country: "US",
                idempotencyKey: "b1", authorizedBy: other.id))
        #expect(again.replayed && again.transactions.map(\.actor) == [key, key])
        #expect(try Self.ledger(h, account.id).map(\.actor) == [admin, key, key, admin])
        try await h.check()
    }

    @Test("a refund names the releasing key; a withdrawn release forgets who asked", arguments: StoreKind.allCases)
    func refundNamesTheReleaser(kind: StoreKind) async throws {
        let (harness, account, key, admin) = try await Self.setUp(kind)
        var h = harness
        let numbers = try await Self.buy(h, Array(Self.phones.prefix(2)), account.id, by: key).numbers
        h.clock.advance(by: 86_400 * 10)
        // Refused outright with the number still ours: the request is withdrawn, and with it its asker.
        h.provider.inject(.fail(.unavailable), on: .release)
        let refused = await numberError {
            _ = try await h.service.release(accountId: account.id, numberId: numbers[0].id, actor: admin)
        }
        #expect(refused?.reason == .providerUnavailable)
        let withdrawn = try #require(h.service.durableState().numbers[numbers[0].id])
        #expect(withdrawn.releaseRequestedAt == nil && withdrawn.releaseRequestedBy == nil)
        let released = try await h.service.release(accountId: account.id, numberId: numbers[0].id, actor: key)
        let refund = try #require(released.transaction)
        #expect(refund.kind == .refund && refund.amount > 0 && refund.actor == key)
        try await h.restart()
        #expect(h.service.durableState().numbers[numbers[0].id]?.releaseRequestedBy == key, "kept after the release")
        #expect(try Self.ledger(h, account.id).last == refund)
        try await h.check()
    }

    @Test(
        "reconciliation finishing a purchase or a release in doubt names the key that asked for it",
        arguments: StoreKind.allCases)
    func reconciliationNamesTheAsker(kind: StoreKind) async throws {
        let (harness, account, key, admin) = try await Self.setUp(kind)
        var h = harness
        // A purchase whose answer was lost and whose look-up failed: left open for reconciliation.
        h.provider.stock([Self.phones[0]])
        h.provider.inject(.loseAnswer, on: .buy)
        h.provider.inject(.fail(.unavailable), on: .lookUp)
        let lost = await numberError { _ = try await Self.buy(h, [Self.phones[0]], account.id, by: key) }
        #expect(lost?.reason == .outcomeUnknown)
        #expect(h.service.durableState().intents.values.map(\.actor) == [key])
        // A release whose DELETE timed out: in doubt, left for reconciliation (after a restart, which drops the
        // calls' memory: only what is stored can name the asker).
        let kept = try await Self.buy(h, [Self.phones[1]], account.id, by: key).numbers[0]
        h.clock.advance(by: 86_400 * 10)
        h.provider.inject(.timeOut, on: .release)
        let doubt = await numberError {
            _ = try await h.service.release(accountId: account.id, numberId: kept.id, actor: admin)
        }
        #expect(doubt?.reason == .outcomeUnknown)
        #expect(h.service.durableState().numbers[kept.id]?.releaseRequestedBy == admin)
        try await h.restart()
        let report = await h.service.reconcile()
        #expect(report.committed.count == 1 && report.releasesCompleted == [kept.id])
        let ledger = try Self.ledger(h, account.id)
        #expect(ledger.map(\.kind) == [.fundsAdded, .purchase, .purchase, .refund])
        #expect(ledger.map(\.actor) == [admin, key, key, admin])
        try await h.check()
    }

    @Test(
        "a request recorded without an asker (an embedder's, or from before actors) settles as system:reconcile",
        arguments: StoreKind.allCases)
    func unrecordedAskerIsReconciliation(kind: StoreKind) async throws {
        let (h, account, key, _) = try await Self.setUp(kind)
        let number = try await Self.buy(h, [Self.phones[0]], account.id, by: key).numbers[0]
        h.clock.advance(by: 86_400 * 10)
        h.provider.inject(.timeOut, on: .release)
        _ = await numberError { _ = try await h.service.release(accountId: account.id, numberId: number.id) }
        #expect(h.service.durableState().numbers[number.id]?.releaseRequestedBy == nil)
        _ = await h.service.reconcile()
        let refund = try #require(try Self.ledger(h, account.id).last)
        #expect(refund.kind == .refund && refund.actor == .reconciliation)
        // The same request settled by its own call names nobody: the call knew of no asker either.
        let direct = try await Self.buy(h, [Self.phones[1]], account.id, by: key).numbers[0]
        let released = try await h.service.release(accountId: account.id, numberId: direct.id)
        #expect(released.transaction?.actor == nil)
        try await h.check()
    }

    @Test(
        "renewals name system:billing; a grace-period release names system:grace-period",
        arguments: StoreKind.allCases)
    func numberdItself(kind: StoreKind) async throws {
        let (harness, account, key, admin) = try await Self.setUp(kind, funds: 266 + 133)
        var h = harness
        let numbers = try await Self.buy(h, Array(Self.phones.prefix(2)), account.id, by: key).numbers
        h.clock.set(.utc("2025-02-15T00:00:01Z"))
        let due = try await h.service.runBilling()
        #expect(due.renewed == 1 && due.markedPastDue == 1)
        let renewal = try #require(try Self.ledger(h, account.id).last)
        #expect(renewal.kind == .renewal && renewal.actor == .billing)
        let pastDue = try #require(numbers.first { h.service.durableState().numbers[$0.id]?.status == .pastDue })
        h.clock.set(.utc("2025-02-22T00:00:02Z"))
        #expect(try await h.service.runBilling().released == 1)
        try await h.restart()
        let released = try #require(h.service.durableState().numbers[pastDue.id])
        #expect(released.status == .released && released.releaseRequestedBy == .gracePeriod)
        #expect(released.refundTransactionId == nil, "an unpaid cycle refunds nothing")
        #expect(try Self.ledger(h, account.id).map(\.actor) == [admin, key, key, .billing])
        try await h.check()
    }
}
