import Foundation
import Testing

@testable import NumberCore

/// A disk that falls behind (a slow or stalled `fdatasync`): the decided writes waiting behind the commit in flight
/// are capped (``NumberServiceConfig/Commits/queuedDecisionsMax``). Past the cap a call's new work is refused
/// `RESOURCE_EXHAUSTED` / `STORE_BUSY`, nothing changed, while what carries on work already started — here a purchase's
/// commit after Twilio sold it the number — is always queued, so a purchase admitted before the disk fell behind is
/// never left bought at the provider and unrecorded.
@Suite("a store behind its writes refuses new work, never started work")
struct StoreBusyTests {
    @Test(
        "two writes wait behind a held commit: new funds, accounts, purchases, releases, registered trunks and keys are refused STORE_BUSY; a purchase bought before is recorded past the cap; all durable once the disk catches up"
    )
    func newWorkRefusedStartedWorkQueued() async throws {
        var config = NumberServiceConfig.defaults
        config.commits.queuedDecisionsMax = 2
        let store = GatedStore(InMemoryNumberStore())
        let provider = FakeProvider()
        let service = try await NumberService.open(
            store: store, provider: provider, clock: ManualClock(Harness.start), config: config)
        defer { store.release() }  // a failed expectation must not leave the writes held for ever
        let account = try await service.createAccount(name: "Acme", currency: "USD")
        _ = try await service.addFunds(accountId: account.id, amount: 10_000)
        provider.stock(["+14155550100", "+14155550101", "+14155550102"])
        // A number owned before, for a release the cap refuses and that goes through once the disk caught up.
        let owned = try await service.purchase(
            PurchaseRequest(accountId: account.id, phoneNumbers: ["+14155550102"], country: "US")
        ).numbers[0]
        let posted = service.decisionState().transactions[account.id]?.count ?? 0
        // A purchase admitted while the disk keeps up: its intent is durable, Twilio sells it the number and the
        // answer waits at the gate.
        provider.inject(.hangAfter(gate: "sold"), on: .buy)
        let purchase = Task {
            try await service.purchase(
                PurchaseRequest(accountId: account.id, phoneNumbers: ["+14155550100"], country: "US"))
        }
        await provider.waitUntilReached("sold")
        // The disk falls behind: one commit in flight, two writes waiting — the cap.
        store.hold()
        let first = Task { try await service.addFunds(accountId: account.id, amount: 1) }
        try await store.waitUntilHolding(commits: 1)
        let queued = Task {
            async let second = service.addFunds(accountId: account.id, amount: 2)
            async let third = service.addFunds(accountId: account.id, amount: 3)
            return try await (second, third)
        }
        try await ConcurrencyTests.untilDecided(service) { $0.transactions[account.id]?.count == posted + 3 }
        // New work is refused at once, nothing decided.
        let newWork: [(String, @Sendable () async throws -> Void)] = [
            ("funds", { _ = try await service.addFunds(accountId: account.id, amount: 4) }),
            ("an account", { _ = try await service.createAccount(name: "Late", currency: "USD") }),
            (
                "a purchase",
                {
                    _ = try await service.purchase(
                        PurchaseRequest(accountId: account.id, phoneNumbers: ["+14155550101"], country: "US"))
                }
            ),
            ("a release", { _ = try await service.release(accountId: account.id, numberId: owned.id) }),
            (
                "a registered trunk",
                {
                    _ = try await service.createTrunk(accountId: account.id, name: "B", providerTrunkSid: trunkSid(0xb))
                }
            ),
            ("a key", { _ = try await service.createApiKey(name: "k", scope: .account, accountId: account.id) }),
        ]
        for (what, call) in newWork {
            let refused = await refusalAtOnce(call)
            #expect(refused?.code == .resourceExhausted, "\(what): \(String(describing: refused))")
            #expect(refused?.reason == .storeBusy && refused?.details["max"] == "2", "\(what)")
        }
        let decided = service.decisionState()
        #expect(decided.transactions[account.id]?.count == posted + 3 && decided.accounts.count == 1)
        #expect(decided.trunks.isEmpty && decided.apiKeys.isEmpty, "nothing of the refused trunk and key")
        #expect(decided.numbers[owned.id]?.releaseRequestedAt == nil, "the refused release is not requested")
        #expect(provider.buyCount("+14155550101") == 0, "a refused purchase sends nothing to Twilio")
        #expect(provider.calls(.release) == 0, "a refused release sends nothing to Twilio")
        // The purchase bought before goes on: its commit is queued past the cap, not refused.
        provider.resume("sold")
        try await ConcurrencyTests.untilDecided(service) {
            $0.numbers.values.contains { $0.phoneNumber == "+14155550100" }
        }
        store.release()
        let bought = try await purchase.value
        #expect(bought.numbers.map(\.phoneNumber) == ["+14155550100"])
        _ = try await (first.value, queued.value)
        // Caught up: new work is taken again — the refused release too, its claim on the number handed back.
        _ = try await service.addFunds(accountId: account.id, amount: 5)
        let released = try await service.release(accountId: account.id, numberId: owned.id)
        #expect(released.number.status == .released, "\(released.number.status)")
        _ = try await service.createTrunk(accountId: account.id, name: "B", providerTrunkSid: trunkSid(0xb))
        let durable = service.durableState()
        #expect(durable.checkInvariants() == [])
        #expect(durable.intents.isEmpty)
        #expect(try await store.load() == durable)
    }
}
