import Foundation
import NumberCore
import Testing

/// A read-only review of interleavings: a purchase voided while its POST may still land at the provider left its
/// number watched, not blocked. Twilio answers a later POST of a number its account owns as an update applying that
/// POST's TrunkSid, so another tenant could buy the number at once and have it routed to the voided purchase's trunk
/// when the queued POST landed; and a buy whose answer was lost, settled by a look-up, committed a number the provider
/// routed to another tenant's trunk. Nothing noticed but the provider audit (`trunk_differs`), hours later.
@Suite("A voided purchase's late buy and other tenants' purchases of its number")
struct LateBuyTests {
    static let phone = "+14155550100"

    /// numberd's horizon (600 s): a voided purchase's buy may land until 600 s + 1 h after its void. A search's listing
    /// is trusted past that, so a purchase can still buy from one.
    static func config() -> NumberServiceConfig {
        var config = NumberServiceConfig.defaults
        config.reconcile.inFlightHorizonSeconds = 600
        config.caches.listingTTLSeconds = 86_400
        return config
    }

    /// Accounts B and A, each with a trunk (B and A); B's purchase of ``phone`` on its trunk times out (its POST
    /// queued at the provider) and reconciliation voids it past the horizon, watching the number. A, A's trunk, and
    /// the void's time.
    static func voidedWhileQueued(_ h: Harness) async throws -> (a: Account, ta: Trunk, voidedAt: Date) {
        let b = try await h.account(funds: 10_000, name: "B")
        let a = try await h.account(funds: 10_000, name: "A")
        let tb = try await h.service.createTrunk(accountId: b.id, name: "B", providerTrunkSid: trunkSid(0xb))
        let ta = try await h.service.createTrunk(accountId: a.id, name: "A", providerTrunkSid: trunkSid(0xa))
        h.provider.stock([Self.phone])
        h.provider.inject(.timeOut, on: .buy, phoneNumber: Self.phone)
        let lost = await numberError {
            _ = try await h.service.purchase(
                PurchaseRequest(accountId: b.id, phoneNumbers: [Self.phone], country: "US", trunkId: tb.id))
        }
        #expect(lost?.reason == .outcomeUnknown, "\(String(describing: lost))")
        h.clock.advance(by: 601)
        #expect(await h.service.reconcile().voided.count == 1)
        #expect(h.service.durableState().orphanWatch[Self.phone]?.accountId == b.id)
        return (a, ta, h.clock.now())
    }

    @Test(
        "another account cannot buy a number while a voided purchase's buy of it may still land; after that it can",
        arguments: StoreKind.allCases)
    func otherAccountWaitsForTheLateBuy(kind: StoreKind) async throws {
        let h = try await Harness(kind, config: Self.config())
        let (a, ta, voidedAt) = try await Self.voidedWhileQueued(h)
        let request = PurchaseRequest(accountId: a.id, phoneNumbers: [Self.phone], country: "US", trunkId: ta.id)
        // Refused in the words a number the provider does not offer gets, before anything is held or bought.
        let buys = h.provider.calls(.buy)
        let refused = await numberError { _ = try await h.service.purchase(request) }
        #expect(refused?.reason == .numberUnavailable, "\(String(describing: refused))")
        #expect(refused?.message.contains("does not offer it") == true, "\(String(describing: refused))")
        #expect(h.provider.calls(.buy) == buys)
        #expect(try h.service.balance(accountId: a.id).held == 0)
        // To the end of the window in which the sweep takes a number created then for the orphan (horizon + 1 h).
        h.clock.set(voidedAt.addingTimeInterval(600 + 3_600))
        let late = await numberError { _ = try await h.service.purchase(request) }
        #expect(late?.reason == .numberUnavailable, "\(String(describing: late))")
        h.clock.advance(by: 1)
        let bought = try await h.service.purchase(request)
        #expect(bought.numbers.map(\.phoneNumber) == [Self.phone] && bought.numbers[0].trunkId == ta.id)
        #expect(h.provider.owned(Self.phone)?.trunkSid == trunkSid(0xa))
        try await h.check()
    }

    /// B's queued POST landed (the number at the provider, on B's trunk); past the window A buys it from a search's
    /// listing (the look-up before the buy lets numberd's own watched orphan through) and A's POST is lost. The
    /// look-up that settles it — the purchase's own, or reconciliation's when that one fails too — finds the number on
    /// B's trunk: it is routed to A's before it is committed as A's.
    @Test(
        "a number a lost answer's look-up finds on another tenant's trunk is routed to the buyer's before the commit",
        arguments: StoreKind.allCases, [false, true])
    func lookUpRoutesToTheBuyersTrunk(kind: StoreKind, reconciled: Bool) async throws {
        let h = try await Harness(kind, config: Self.config())
        let (a, ta, _) = try await Self.voidedWhileQueued(h)
        let found = try await h.service.search(ProviderSearchQuery(country: "US", limit: 10), accountId: a.id)
        #expect(found.numbers.map(\.number.phoneNumber) == [Self.phone])
        _ = try await h.provider.buy(phoneNumber: Self.phone, trunkSid: trunkSid(0xb))
        h.clock.advance(by: 600 + 3_600 + 1)
        h.provider.inject(.dropRequest, on: .buy, phoneNumber: Self.phone)
        if reconciled {
            // The first look-up is the purchase's check of the listing; the second, settling the lost answer, fails.
            h.provider.inject(.stall(nanoseconds: 1), on: .lookUp, phoneNumber: Self.phone)
            h.provider.inject(.fail(.unavailable), on: .lookUp, phoneNumber: Self.phone)
        }
        let request = PurchaseRequest(accountId: a.id, phoneNumbers: [Self.phone], country: "US", trunkId: ta.id)
        if reconciled {
            let unknown = await numberError { _ = try await h.service.purchase(request) }
            #expect(unknown?.reason == .outcomeUnknown, "\(String(describing: unknown))")
            #expect(await h.service.reconcile().committed.count == 1)
        } else {
            let bought = try await h.service.purchase(request)
            #expect(bought.numbers.map(\.phoneNumber) == [Self.phone])
        }
        #expect(h.provider.owned(Self.phone)?.trunkSid == trunkSid(0xa), "A's number routed to B's trunk")
        let state = h.service.durableState()
        let number = try #require(state.phoneOwners[Self.phone].flatMap { state.numbers[$0] })
        #expect(number.accountId == a.id && number.trunkId == ta.id)
        try await h.check()
    }
}
