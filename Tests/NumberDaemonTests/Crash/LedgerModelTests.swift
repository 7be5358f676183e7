import Foundation
import NIOCore
import NumberAPI
import NumberClient
import NumberCore
import Testing
import TwilioSimulator

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
                try await buyBehindNumberdsBack(numberd, phones[2])
                let orphans = providerProblems(state, simulator: numberd.simulator)
                #expect(
                    orphans.contains { $0.contains("\(phones[2]) owned at the provider without a committed owner") })
            }
        }
    }

    /// Buys `phone` at the simulator directly (its engine, no HTTP), as a saga lost without a trace would leave it.
    private func buyBehindNumberdsBack(_ numberd: RunningNumberd, _ phone: String) async throws {
        let credentials = numberd.simulator.credentials
        let authorization = Data("\(credentials.accountSid):\(credentials.authToken)".utf8).base64EncodedString()
        let encoded = phone.replacingOccurrences(of: "+", with: "%2B")
        let action = numberd.simulator.engine.handle(
            SimulatorRequest(
                method: "POST", target: "/2010-04-01/Accounts/\(credentials.accountSid)/IncomingPhoneNumbers.json",
                headers: [
                    ("Authorization", "Basic " + authorization),
                    ("Content-Type", "application/x-www-form-urlencoded"),
                ],
                body: Array("PhoneNumber=\(encoded)".utf8)))
        guard case .respond(let response) = action, response.status == 201 else {
            throw HarnessError("the direct buy failed: \(action)")
        }
    }
}
