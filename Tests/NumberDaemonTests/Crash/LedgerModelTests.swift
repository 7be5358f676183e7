import Foundation
import NIOCore
import NumberAPI
import NumberClient
import Testing
import TwilioSimulator

@testable import NumberCore

/// The crash harness's model must catch what it is there to catch: a lost acknowledged operation, a refused one
/// that happened, an operation nobody asked for, a number the provider holds without an owner.
@Suite("crash harness model catches discrepancies", .serialized)
struct LedgerModelTests {
    @Test("lost, refused-but-done, unknown and half-done operations are all reported")
    func modelReportsDiscrepancies() async throws {
        try await withNumberd { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                let account = try await makeAccount(admin, name: "Model", funds: 0)
                _ = try await admin.addFunds(
                    AddFundsRequest(accountId: account.id, amount: 100_000, currency: "USD"),
                    options: CallOptions(idempotencyKey: "f1"))
                let phones = numberd.simulator.engine.availableNumbers(country: "US", type: .local, limit: 3)
                    .map(\.phoneNumber)
                let bought = try await withNumbersClient(numberd.client(key: account.key)) { client in
                    try await client.purchaseNumbers(
                        PurchaseNumbersRequest(
                            accountId: account.id, country: "US", numbers: [phones[0]], currency: "USD"))
                }
                let charge = bought.totalCharged
                let state = numberd.numberd.service.durableState()

                // The truth: nothing to report.
                let truthful = AccountModel(accountId: account.id, key: account.key)
                truthful.record(AccountModel.Funds(key: "f1", amount: 100_000, heard: .acknowledged))
                truthful.record(
                    AccountModel.Purchase(
                        phones: [phones[0]], heard: .acknowledged, numberIds: bought.numbers.map(\.number.id),
                        charged: charge))
                #expect(truthful.check(state, charge: charge, settled: true).isEmpty)
                // An acknowledged purchase whose answer named no number is caught.
                let unnamed = AccountModel(accountId: account.id, key: account.key)
                unnamed.record(AccountModel.Funds(key: "f1", amount: 100_000, heard: .acknowledged))
                unnamed.record(AccountModel.Purchase(phones: [phones[0]], heard: .acknowledged, charged: charge))
                #expect(unnamed.check(state, charge: charge, settled: true).contains { $0.contains("answered ids []") })
                // The same outcomes heard as "maybe" are allowed either way.
                let unsure = AccountModel(accountId: account.id, key: account.key)
                unsure.record(AccountModel.Funds(key: "f1", amount: 100_000, heard: .maybe))
                unsure.record(AccountModel.Purchase(phones: [phones[0]], heard: .maybe))
                unsure.record(AccountModel.Purchase(phones: [phones[1]], heard: .maybe))
                #expect(unsure.check(state, charge: charge, settled: true).isEmpty)

                // A lost acknowledged purchase and a lost acknowledged credit.
                let lost = AccountModel(accountId: account.id, key: account.key)
                lost.record(AccountModel.Funds(key: "f1", amount: 100_000, heard: .acknowledged))
                lost.record(AccountModel.Funds(key: "f2", amount: 5, heard: .acknowledged))
                lost.record(AccountModel.Purchase(phones: [phones[0]], heard: .acknowledged, charged: charge))
                lost.record(AccountModel.Purchase(phones: [phones[2]], heard: .acknowledged, charged: charge))
                let lostProblems = lost.check(state, charge: charge, settled: true)
                #expect(lostProblems.contains { $0.contains("acknowledged funds f2 lost") })
                #expect(lostProblems.contains { $0.contains("acknowledged purchase [\"\(phones[2])\"] lost") })

                // Refused operations that happened, and a half-done purchase.
                let refused = AccountModel(accountId: account.id, key: account.key)
                refused.record(AccountModel.Funds(key: "f1", amount: 100_000, heard: .refused))
                refused.record(AccountModel.Purchase(phones: [phones[0], phones[1]], heard: .refused))
                let refusedProblems = refused.check(state, charge: charge, settled: true)
                #expect(refusedProblems.contains { $0.contains("refused funds f1 credited") })
                #expect(refusedProblems.contains { $0.contains("half done") })
                #expect(refusedProblems.contains { $0.contains("refused purchase") })

                // Operations nobody asked for.
                let empty = AccountModel(accountId: account.id, key: account.key)
                let emptyProblems = empty.check(state, charge: charge, settled: true)
                #expect(emptyProblems.contains { $0.contains("funds transaction nobody asked for") })
                #expect(emptyProblems.contains { $0.contains("nobody bought") })
                // A wrong price is caught.
                #expect(!truthful.check(state, charge: charge + 1, settled: true).isEmpty)

                // The provider's view: a number bought behind numberd's back has no owner.
                #expect(providerProblems(state, simulator: numberd.simulator).isEmpty)
                try buyBehindNumberdsBack(numberd.simulator, phones[2])
                let orphans = providerProblems(state, simulator: numberd.simulator)
                #expect(
                    orphans.contains { $0.contains("\(phones[2]) owned at the provider without a committed owner") })
            }
        }
    }

    /// Two purchases of one number each, and the release of the second's number.
    private typealias BoughtAndReleased = (PurchaseNumbersResponse, PurchaseNumbersResponse, ReleaseNumberResponse)

    /// The checks of adjustments, releases and a model checked twice, each shown to fire on a crafted state (or a
    /// crafted model of what clients heard) and to stay quiet on the sound one: a review found none of them ever fired.
    @Test("releases, adjustments and a second check: each of their discrepancies is reported, the truth passes")
    func modelReportsReleaseAndAdjustmentDiscrepancies() async throws {
        try await withNumberd { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                let account = try await makeAccount(admin, name: "Releases", funds: 0)
                _ = try await admin.addFunds(
                    AddFundsRequest(accountId: account.id, amount: 100_000, currency: "USD"),
                    options: CallOptions(idempotencyKey: "f1"))
                _ = try await admin.adjustBalance(
                    AdjustBalanceRequest(accountId: account.id, amount: -300, currency: "USD", reason: "correction"),
                    options: CallOptions(idempotencyKey: "a1"))
                let beforePurchases = numberd.numberd.service.durableState()
                let phones = numberd.simulator.engine.availableNumbers(country: "US", type: .local, limit: 2)
                    .map(\.phoneNumber)
                let (kept, gone, release) = try await withNumbersClient(numberd.client(key: account.key)) {
                    (client: NumbersClient) async throws -> BoughtAndReleased in
                    let kept = try await client.purchaseNumbers(
                        PurchaseNumbersRequest(
                            accountId: account.id, country: "US", numbers: [phones[0]], currency: "USD"))
                    let gone = try await client.purchaseNumbers(
                        PurchaseNumbersRequest(
                            accountId: account.id, country: "US", numbers: [phones[1]], currency: "USD"))
                    let release = try await client.releaseNumber(
                        ReleaseNumberRequest(accountId: account.id, numberId: gone.numbers[0].number.id))
                    return (kept, gone, release)
                }
                let charge = kept.totalCharged
                #expect(gone.totalCharged == charge)
                let keptId = kept.numbers[0].number.id
                let goneId = gone.numbers[0].number.id
                let refund = release.transaction?.amount ?? 0
                let state = numberd.numberd.service.durableState()
                #expect(state.numbers[goneId]?.status == .released && refund > 0)

                /// What clients heard, as it happened; `change` alters it before it is recorded.
                func model(
                    _ change: (inout [AccountModel.Funds], inout AccountModel.Release) -> Void = { _, _ in }
                )
                    -> AccountModel
                {
                    var funds = [
                        AccountModel.Funds(key: "f1", amount: 100_000, heard: .acknowledged),
                        AccountModel.Funds(key: "a1", amount: -300, heard: .acknowledged, adjustment: true),
                    ]
                    var released = AccountModel.Release(numberId: goneId, heard: .acknowledged, refund: refund)
                    change(&funds, &released)
                    let heard = AccountModel(accountId: account.id, key: account.key)
                    for entry in funds { heard.record(entry) }
                    heard.record(
                        AccountModel.Purchase(
                            phones: [phones[0]], heard: .acknowledged, numberIds: [keptId], charged: charge))
                    heard.record(
                        AccountModel.Purchase(
                            phones: [phones[1]], heard: .acknowledged, numberIds: [goneId], charged: charge))
                    heard.record(released)
                    return heard
                }
                func problems(_ model: AccountModel, _ state: CoreState, settled: Bool = true) -> [String] {
                    model.check(state, charge: charge, settled: settled)
                }
                func reports(_ found: [String], _ text: String) -> Bool { found.contains { $0.contains(text) } }

                // The truth, checked twice (the model keeps what it saw between checks): nothing to report.
                let truthful = model()
                #expect(problems(truthful, state) == [])
                #expect(problems(truthful, state) == [], "a second check of the same state")

                // An adjustment recorded as funds added, and funds added recorded as an adjustment.
                let swapped = problems(
                    model { funds, _ in
                        funds[0].adjustment = true
                        funds[1].adjustment = false
                    }, state)
                #expect(reports(swapped, "funds f1 posted as"), "\(swapped)")
                #expect(reports(swapped, "funds a1 posted as"), "\(swapped)")

                // A purchase heard as "maybe", seen committed by one check, gone by the next.
                let unsure = AccountModel(accountId: account.id, key: account.key)
                unsure.record(AccountModel.Funds(key: "f1", amount: 100_000, heard: .maybe))
                unsure.record(AccountModel.Funds(key: "a1", amount: -300, heard: .maybe, adjustment: true))
                unsure.record(AccountModel.Purchase(phones: [phones[0]], heard: .maybe))
                unsure.record(AccountModel.Purchase(phones: [phones[1]], heard: .maybe))
                unsure.record(AccountModel.Release(numberId: goneId, heard: .maybe))
                #expect(problems(unsure, beforePurchases) == [], "not committed yet: either way")
                #expect(problems(unsure, state) == [])
                #expect(problems(unsure, state) == [], "still there at the second check")
                let vanished = problems(unsure, beforePurchases)
                #expect(reports(vanished, "purchase [\"\(phones[0])\"] was committed, then vanished"), "\(vanished)")

                // A release nobody asked for.
                let unasked = AccountModel(accountId: account.id, key: account.key)
                unasked.record(AccountModel.Funds(key: "f1", amount: 100_000, heard: .acknowledged))
                unasked.record(AccountModel.Funds(key: "a1", amount: -300, heard: .acknowledged, adjustment: true))
                unasked.record(
                    AccountModel.Purchase(
                        phones: [phones[0]], heard: .acknowledged, numberIds: [keptId], charged: charge))
                unasked.record(
                    AccountModel.Purchase(
                        phones: [phones[1]], heard: .acknowledged, numberIds: [goneId], charged: charge))
                let unaskedProblems = problems(unasked, state)
                #expect(reports(unaskedProblems, "number \(goneId) released without a request"), "\(unaskedProblems)")

                // A released number whose refund it does not name.
                var unlinked = state
                unlinked.numbers[goneId]?.refundTransactionId = nil
                let unlinkedProblems = problems(model(), unlinked)
                #expect(reports(unlinkedProblems, "number \(goneId) refund not linked"), "\(unlinkedProblems)")

                // A refund of a number that is not released (and so an acknowledged release lost).
                var unreleased = state
                unreleased.numbers[goneId]?.status = .active
                let unreleasedProblems = problems(model(), unreleased)
                #expect(
                    reports(unreleasedProblems, "number \(goneId) refunded but not released"), "\(unreleasedProblems)")
                #expect(reports(unreleasedProblems, "acknowledged release of \(goneId) lost"), "\(unreleasedProblems)")

                // A release still requested: reported once reconciliation should have settled it, not before.
                var pending = state
                pending.apply(.numberReleaseRequested(numberId: keptId, at: Date(), by: nil))
                #expect(problems(model(), pending, settled: false) == [])
                let pendingProblems = problems(model(), pending)
                #expect(reports(pendingProblems, "number \(keptId) release left pending"), "\(pendingProblems)")

                // An acknowledged release of a number still held.
                let heldStill = model()
                heldStill.record(AccountModel.Release(numberId: keptId, heard: .acknowledged))
                let heldProblems = problems(heldStill, state)
                #expect(reports(heldProblems, "acknowledged release of \(keptId) lost"), "\(heldProblems)")

                // A release answered with another refund than the ledger's.
                let misanswered = problems(model { _, released in released.refund = refund + 1 }, state)
                #expect(
                    reports(misanswered, "release of \(goneId) answered refund \(refund + 1)"), "\(misanswered)")

                // A release heard as refused that happened.
                let refusedRelease = problems(model { _, released in released.heard = .refused }, state)
                #expect(reports(refusedRelease, "refused release of \(goneId) happened"), "\(refusedRelease)")
            }
        }
    }
}
