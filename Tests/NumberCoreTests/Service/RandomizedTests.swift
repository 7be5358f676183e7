import Foundation
import NumberCore
import TestSupport
import Testing

@Suite("Randomized concurrent operations with provider faults")
struct RandomizedTests {
    @Test(
        "random purchases, releases, funds and billing runs in parallel keep every invariant",
        arguments: StoreKind.allCases, Array(UInt64(1)...UInt64(8)))
    func chaos(kind: StoreKind, seed: UInt64) async throws {
        let h = try await Harness(kind)
        var generator = SplitMix64(seed: seed)
        var accounts: [String] = []
        for index in 0..<3 { accounts.append(try await h.account(funds: 600, name: "A\(index)").id) }
        let phones = (0..<24).map { "+1415555\(String(format: "%04d", 100 + $0))" }
        h.provider.stock(phones)
        let faults: [FakeProvider.Fault] = [
            .fail(.unavailable), .loseAnswer, .dropRequest, .stall(nanoseconds: 2_000_000), .fail(.numberUnavailable),
        ]
        for _ in 0..<12 {
            let fault = faults[Int(generator.next() % UInt64(faults.count))]
            let operation: FakeProvider.Operation = generator.next() % 3 == 0 ? .release : .buy
            h.provider.inject(fault, on: operation, phoneNumber: phones[Int(generator.next() % UInt64(phones.count))])
        }
        var plan: [(Int, String, [String])] = []
        for _ in 0..<120 {
            let account = accounts[Int(generator.next() % 3)]
            let count = 1 + Int(generator.next() % 3)
            let picked = (0..<count).map { _ in phones[Int(generator.next() % UInt64(phones.count))] }
            plan.append((Int(generator.next() % 4), account, Array(Set(picked)).sorted()))
        }
        let service = h.service
        let clock = h.clock
        await withTaskGroup(of: Void.self) { group in
            for (step, (kind, account, picked)) in plan.enumerated() {
                group.addTask {
                    switch kind {
                    case 0, 1:
                        _ = try? await service.purchase(
                            PurchaseRequest(accountId: account, phoneNumbers: picked, country: "US"))
                    case 2:
                        let owned = (try? service.listNumbers(ListNumbersRequest(accountId: account)))?.numbers ?? []
                        if let number = owned.first {
                            _ = try? await service.release(accountId: account, numberId: number.number.id)
                        }
                    default:
                        if step % 2 == 0 {
                            _ = try? await service.addFunds(accountId: account, amount: 50)
                        } else {
                            clock.advance(by: 86_400 * 3)
                            _ = try? await service.runBilling()
                        }
                    }
                }
            }
        }
        // The provider answers from now on: a fault for a number's release not taken yet would otherwise fail the
        // DELETE reconciliation sends to settle what the faults left.
        h.provider.clearFaults()
        _ = await h.service.reconcile()
        _ = await h.service.reconcile()
        let state = h.service.durableState()
        #expect(state.intents.isEmpty, "every intent settles once the provider answers")
        #expect(!state.numbers.isEmpty, "the run should have bought something")
        for account in accounts {
            let balance = try h.service.balance(accountId: account)
            #expect(balance.balance >= 0 && balance.held == 0)
        }
        try await h.check()
    }
}
