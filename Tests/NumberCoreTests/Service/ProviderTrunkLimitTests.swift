import Foundation
import Synchronization
import Testing

@testable import NumberCore

/// Every trunk numberd creates at the provider lives on its one Twilio account, which holds 100 SIP trunks (Twilio's
/// per-account limit): ten tenants at their own limit of 10 used it up, and from then on every tenant's CreateTrunk
/// reached Twilio and was answered INVALID_ARGUMENT / INVALID_FIELD — the customer told their request was wrong, for
/// a quota that is the operator's. `providerTrunksMax` counts every trunk SID on record across every account — those
/// numberd made and those registered by their SID, which are on the same Twilio account — and those being created.
@Suite("Trunks on numberd's provider account, counted across every account (providerTrunksMax)")
struct ProviderTrunkLimitTests {
    /// At most 3 trunks numberd creates in all, 2 per account.
    static var config: NumberServiceConfig {
        var config = NumberServiceConfig.defaults
        config.limits.providerTrunksMax = 3
        config.limits.providerTrunksPerAccountMax = 2
        return config
    }

    @Test(
        "past the limit in all a creation is refused LIMIT_EXCEEDED before the provider; registered trunks count",
        arguments: StoreKind.allCases)
    func limitAcrossAccounts(kind: StoreKind) async throws {
        let h = try await Harness(kind, config: Self.config)
        let first = try await h.account(name: "First")
        let second = try await h.account(name: "Second")
        let third = try await h.account(name: "Third")
        _ = try await h.service.createManagedTrunk(accountId: first.id, name: "a")
        _ = try await h.service.createManagedTrunk(accountId: first.id, name: "b")
        // A trunk registered by its SID is on the same provider account: it counts.
        let registered = try await h.service.createTrunk(
            accountId: second.id, name: "elsewhere", providerTrunkSid: trunkSid(0x99))
        #expect(registered.providerManaged == nil && h.service.decisionState().providerTrunkCount == 3)
        // The third account has none of its own, and is under its own limit: the service's is reached.
        let refused = await numberError { _ = try await h.service.createManagedTrunk(accountId: third.id, name: "d") }
        #expect(
            refused?.code == .resourceExhausted && refused?.reason == .limitExceeded, "\(String(describing: refused))")
        #expect(refused?.details == ["max": "3"], "\(String(describing: refused))")
        #expect(refused?.message.contains("not this account's") == true, "\(String(describing: refused))")
        #expect(h.provider.calls(.createTrunk) == 2, "the provider was asked nothing")
        #expect(try h.service.listTrunks(accountId: third.id).isEmpty)
        // The registration deleted, another account's: a place is free.
        try await h.service.deleteTrunk(accountId: second.id, trunkId: registered.id)
        #expect(h.service.decisionState().providerTrunkCount == 2)
        let d = try await h.service.createManagedTrunk(accountId: third.id, name: "d")
        #expect(d.providerManaged == true && h.provider.trunkSids.count == 3)
        #expect(h.service.local.withLock { $0.trunkCreationsTotal == 0 && $0.trunkCreations.isEmpty })
        try await h.check()
    }

    @Test("concurrent creations in several accounts cannot pass the limit in all together")
    func concurrentCreations() async throws {
        final class Refusals: Sendable {
            let errors = Mutex<[NumberError]>([])
        }
        let h = try await Harness(.memory, config: Self.config)
        var accounts: [Account] = []
        for name in ["First", "Second", "Third"] { accounts.append(try await h.account(name: name)) }
        // Six at once, two per account (each within its own limit): the admitted wait at the provider until released.
        h.provider.inject(.hangThenDo(gate: "create"), on: .createTrunk, times: 6)
        let refusals = Refusals()
        let service = h.service
        let creations = accounts.flatMap { account in
            ["a", "b"].map { name in
                Task { () async -> NumberError? in
                    let error = await numberError {
                        _ = try await service.createManagedTrunk(accountId: account.id, name: name)
                    }
                    if let error { refusals.errors.withLock { $0.append(error) } }
                    return error
                }
            }
        }
        try await waitUntil { refusals.errors.withLock { $0.count } == 3 && h.provider.calls(.createTrunk) == 3 }
        #expect(h.service.local.withLock { $0.trunkCreationsTotal } == 3)
        h.provider.resume("create")
        var outcomes: [NumberError?] = []
        for creation in creations { outcomes.append(await creation.value) }
        #expect(outcomes.count { $0 == nil } == 3, "\(outcomes)")
        let refused = outcomes.compactMap { $0 }
        #expect(refused.allSatisfy { $0.reason == .limitExceeded && $0.details["max"] == "3" }, "\(refused)")
        #expect(h.provider.calls(.createTrunk) == 3 && h.provider.trunkSids.count == 3)
        #expect(h.service.decisionState().providerTrunkCount == 3)
        #expect(h.service.local.withLock { $0.trunkCreationsTotal == 0 && $0.trunkCreations.isEmpty })
        try await h.check()
    }

    @Test("after a restart, from the snapshot and the journal, the trunks on record still refuse past the limit")
    func countSurvivesARestart() async throws {
        var h = try await Harness(.file, config: Self.config)
        let first = try await h.account(name: "First")
        let second = try await h.account(name: "Second")
        _ = try await h.account(name: "Third")
        _ = try await h.service.createManagedTrunk(accountId: first.id, name: "a")
        _ = try await h.service.createTrunk(accountId: first.id, name: "elsewhere", providerTrunkSid: trunkSid(0x99))
        let b = try await h.service.createManagedTrunk(accountId: first.id, name: "b")
        try await h.service.deleteTrunk(accountId: first.id, trunkId: b.id)
        _ = try await h.service.createManagedTrunk(accountId: second.id, name: "c")
        // Eight records, past the harness's snapshot every 7: the restart reads a snapshot and the journal after it.
        try await h.restart()
        #expect(h.service.durableState().providerTrunkCount == 3)
        #expect(h.service.decisionState().providerTrunkCount == 3)
        let refused = await numberError { _ = try await h.service.createManagedTrunk(accountId: second.id, name: "e") }
        #expect(refused?.reason == .limitExceeded && refused?.details["max"] == "3", "\(String(describing: refused))")
        #expect(h.provider.trunkSids.count == 2)
        try await h.check()
    }

    @Test("the limit's range is checked")
    func checked() {
        var config = NumberServiceConfig.defaults
        #expect(config.limits.providerTrunksMax == 100)
        for wrong in [0, 100_001] {
            config.limits.providerTrunksMax = wrong
            #expect(config.validate() == ["limits.providerTrunksMax must be in 1...100000"])
        }
    }
}
