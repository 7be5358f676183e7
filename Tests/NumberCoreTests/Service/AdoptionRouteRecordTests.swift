import Foundation
import Synchronization
import Testing

@testable import NumberCore

/// An adoption's routing of a number to a trunk is recorded before it is sent (``AdoptionRouteRequest``, store format
/// 9). It used to live in memory only: a routing that got no answer just before a restart was forgotten, so another
/// account could adopt the number (the late request then routing its calls to the first account's trunk) and the trunk
/// could be deleted under a number the provider might still route there. A new service holds every recorded routing
/// for the late-buy window from the latest its call can have ended (the start, or 30 minutes after the record if
/// sooner); reconciliation ends the records that can no longer land.
@Suite("An adoption's routing, recorded before it is sent")
struct AdoptionRouteRecordTests {
    static let phone = AdoptNumberTests.phone

    /// numberd's own in-flight horizon (the core's default is 0: a request that got no answer can land no later).
    static var config: NumberServiceConfig {
        var config = NumberServiceConfig.defaults
        config.reconcile.inFlightHorizonSeconds = 600
        return config
    }

    static func lateBuySeconds(_ h: Harness) -> Double {
        Double(NumberService.lateBuySeconds(horizon: h.config.reconcile.inFlightHorizonSeconds))
    }

    /// Accounts A and B with a trunk each, and ``phone`` bought in Twilio's console (nobody here holds it).
    struct Tenants {
        let a: Account
        let b: Account
        let ta: Trunk
        let tb: Trunk
        let console: ProvisionedNumber

        init(_ h: Harness) async throws {
            a = try await h.account(funds: 10_000, name: "A")
            b = try await h.account(funds: 10_000, name: "B")
            ta = try await h.service.createTrunk(accountId: a.id, name: "A", providerTrunkSid: trunkSid(0xa))
            tb = try await h.service.createTrunk(accountId: b.id, name: "B", providerTrunkSid: trunkSid(0xb))
            console = AdoptNumberTests.boughtInConsole(h, AdoptionRouteRecordTests.phone, sid: 1)
        }

        /// `account`'s adoption of ``phone`` on `trunk`, refused or not; nil when it went through.
        func adopt(_ h: Harness, _ account: Account, on trunk: Trunk) async -> NumberError? {
            await numberError {
                _ = try await h.service.adoptNumber(
                    AdoptNumberTests.request(account.id, AdoptionRouteRecordTests.phone, trunkId: trunk.id))
            }
        }

        /// A's adoption on its trunk, whose routing gets no answer (still queued at the provider): refused, recorded.
        func unansweredAdoption(_ h: Harness) async -> NumberError? {
            h.provider.inject(.timeOut, on: .setTrunk, phoneNumber: AdoptionRouteRecordTests.phone)
            return await adopt(h, a, on: ta)
        }
    }

    @Test(
        "a routing without an answer is held across a restart: no other account adopts, its trunk is not deleted",
        arguments: StoreKind.allCases)
    func heldAcrossARestart(kind: StoreKind) async throws {
        var h = try await Harness(kind, config: Self.config)
        let t = try await Tenants(h)
        let (a, b, ta, tb) = (t.a, t.b, t.ta, t.tb)
        let first = await t.unansweredAdoption(h)
        #expect(first?.reason == .providerUnavailable, "\(String(describing: first))")
        #expect(h.service.durableState().adoptionRoutes[Self.phone]?.trunkId == ta.id, "recorded before it was sent")
        #expect(h.service.workLevels().adoptionRoutes == 1, "shown to the operator's gauge")
        // Most of the window passes, then numberd restarts: the new process cannot tell when the call ended, and
        // holds it for a window from the latest it can have (30 minutes after the record, before this start).
        h.clock.advance(by: Self.lateBuySeconds(h) - 60)
        try await h.restart()
        #expect(await h.service.reconcile().adoptionRoutesEnded.isEmpty, "it may still land")
        let calls = AdoptNumberTests.providerCalls(h)
        let refused = await numberError {
            _ = try await h.service.adoptNumber(AdoptNumberTests.request(b.id, Self.phone, trunkId: tb.id))
        }
        #expect(
            refused?.reason == .numberUnavailable && refused?.message.contains(ta.id) == true,
            "\(String(describing: refused))")
        #expect(AdoptNumberTests.providerCalls(h) == calls, "refused before the provider is asked")
        let inUse = await numberError { try await h.service.deleteTrunk(accountId: a.id, trunkId: ta.id) }
        #expect(inUse?.reason == .trunkInUse, "\(String(describing: inUse))")
        try await h.check(leftForTheAudit: [Self.phone])

        // Past when the first process would have let it go, it is still held, up to a second before the window ends.
        h.clock.advance(by: 61)
        let still = await numberError {
            _ = try await h.service.adoptNumber(AdoptNumberTests.request(b.id, Self.phone, trunkId: tb.id))
        }
        #expect(still?.reason == .numberUnavailable, "\(String(describing: still))")
        let heldUntil = Harness.start.addingTimeInterval(Double(NumberService.buySecondsMax) + Self.lateBuySeconds(h))
        h.clock.advance(by: heldUntil.timeIntervalSince(h.clock.now()) - 1)
        #expect(await h.service.reconcile().adoptionRoutesEnded.isEmpty)
        // Once it can no longer land, reconciliation ends the record; B adopts it.
        h.clock.advance(by: 1)
        #expect(await h.service.reconcile().adoptionRoutesEnded == [Self.phone])
        #expect(h.service.durableState().adoptionRoutes.isEmpty && h.service.workLevels().adoptionRoutes == 0)
        let adopted = try await h.service.adoptNumber(AdoptNumberTests.request(b.id, Self.phone, trunkId: tb.id))
        #expect(adopted.number.accountId == b.id && adopted.number.trunkId == tb.id)
        #expect(h.service.durableState().adoptionRoutes.isEmpty, "answered: ended in the adoption's record")
        try await h.service.deleteTrunk(accountId: a.id, trunkId: ta.id)
        try await h.restart()
        #expect(h.service.durableState().adoptionRoutes.isEmpty)
        try await h.check()
    }

    @Test(
        "a record from long before the start is not held again: the first reconciliation ends it",
        arguments: StoreKind.allCases)
    func oldRecordNotHeldAgain(kind: StoreKind) async throws {
        var h = try await Harness(kind, config: Self.config)
        let t = try await Tenants(h)
        #expect(await t.unansweredAdoption(h)?.reason == .providerUnavailable)
        // numberd stops with the record kept (no pass ended it) and starts again three hours later, and again.
        h.clock.advance(by: 3 * 3_600)
        try await h.restart()
        try await h.restart()
        #expect(await h.service.reconcile().adoptionRoutesEnded == [Self.phone], "its call ended 2.5 h ago at most")
        #expect(await t.adopt(h, t.b, on: t.tb) == nil)
        try await h.check()
    }

    @Test(
        "an answered routing is recorded before it is sent and ended in the adoption's own record",
        arguments: StoreKind.allCases)
    func answeredEndsInTheRecord(kind: StoreKind) async throws {
        var h = try await Harness(kind, config: Self.config)
        let a = try await h.account(funds: 10_000, name: "A")
        let ta = try await h.service.createTrunk(accountId: a.id, name: "A", providerTrunkSid: trunkSid(0xa))
        AdoptNumberTests.boughtInConsole(h, Self.phone, sid: 1)
        h.provider.inject(.hangBefore(gate: "sending"), on: .setTrunk, phoneNumber: Self.phone)
        let stopped = h.service
        let request = AdoptNumberTests.request(a.id, Self.phone, trunkId: ta.id)
        let adoption = Task { try await stopped.adoptNumber(request) }
        await h.provider.waitUntilReached("sending")
        #expect(
            h.service.durableState().adoptionRoutes[Self.phone]
                == AdoptionRouteRequest(phoneNumber: Self.phone, accountId: a.id, trunkId: ta.id, at: h.clock.now()))
        // numberd stops here (the request never leaves): the next process holds the number and the trunk.
        try await h.restart()
        h.provider.resume("sending")
        _ = await numberError { _ = try await adoption.value }
        let held = await numberError { try await h.service.deleteTrunk(accountId: a.id, trunkId: ta.id) }
        #expect(held?.reason == .trunkInUse, "\(String(describing: held))")
        // The same account on the same trunk adopts it: its routing answered. The one recorded before the restart
        // may still land: it goes on as the number's trunk change, open on the recorded trunk, which reconciliation
        // settles once it can no longer land (the in-flight horizon from this process's start).
        let adopted = try await h.service.adoptNumber(AdoptNumberTests.request(a.id, Self.phone, trunkId: ta.id))
        #expect(adopted.number.trunkId == ta.id && h.service.durableState().adoptionRoutes.isEmpty)
        #expect(h.service.durableState().numbers[adopted.number.id]?.routeRequest?.trunkId == ta.id)
        #expect(
            adopted.number == h.service.durableState().numbers[adopted.number.id],
            "answered as recorded: the open change shown (a review found the answer without it)")
        #expect(await h.service.reconcile().routesSettled.isEmpty, "it may still land")
        h.clock.advance(by: Double(h.config.reconcile.inFlightHorizonSeconds))
        #expect(await h.service.reconcile().routesSettled == [adopted.number.id])
        #expect(h.service.durableState().numbers[adopted.number.id]?.routeRequest == nil)

        // A second number, with no routing before: its record ends with the adoption.
        let other = "+14155550101"
        AdoptNumberTests.boughtInConsole(h, other, sid: 2)
        let second = try await h.service.adoptNumber(AdoptNumberTests.request(a.id, other, trunkId: ta.id))
        #expect(second.number.trunkId == ta.id && h.service.durableState().adoptionRoutes.isEmpty)
        #expect(await h.service.reconcile().adoptionRoutesEnded.isEmpty)
        try await h.check()
    }

    /// Found by a review: an adoption's routing that got no answer, then the adoption made again (answered) and the
    /// number moved to another trunk (answered, recorded at once), then the first routing landing late — Twilio routed
    /// the number to the first trunk while numberd said the second, for good, and the first trunk was deletable under
    /// it once its in-memory hold ended (or after a restart).
    @Test(
        "an adopted number whose earlier routing may still land: a later change stays open until it cannot, across a restart",
        arguments: StoreKind.allCases)
    func earlierRoutingIsTheNumbersOpenChange(kind: StoreKind) async throws {
        var h = try await Harness(kind, config: Self.config)
        let t = try await Tenants(h)
        let (a, ta, console) = (t.a, t.ta, t.console)
        let ta2 = try await h.service.createTrunk(accountId: a.id, name: "A2", providerTrunkSid: trunkSid(0xc))
        #expect(await t.unansweredAdoption(h)?.reason == .providerUnavailable)
        let adopted = try await h.service.adoptNumber(AdoptNumberTests.request(a.id, Self.phone, trunkId: ta.id))
        let id = adopted.number.id
        #expect(h.service.durableState().adoptionRoutes.isEmpty, "the number's own change now")
        #expect(h.service.durableState().numbers[id]?.routeRequest?.trunkId == ta.id, "the first routing may land")
        _ = try await h.service.setTrunk(accountId: a.id, numberId: id, trunkId: ta2.id)
        #expect(h.service.durableState().numbers[id]?.trunkId == ta2.id, "answered: recorded")
        #expect(h.service.durableState().numbers[id]?.routeRequest?.earlier == [ta.id], "kept open: A may still land")
        try await h.restart()
        // The first routing lands late: Twilio routes the number to A.
        try await h.provider.setTrunk(sid: console.sid, trunkSid: ta.providerTrunkSid)
        let inUse = await numberError { try await h.service.deleteTrunk(accountId: a.id, trunkId: ta.id) }
        #expect(inUse?.reason == .trunkInUse, "\(String(describing: inUse))")
        #expect(await h.service.reconcile().routesSettled.isEmpty, "nothing settled while a request may land")
        // Once nothing sent can land, reconciliation records where Twilio routes it: A.
        h.clock.advance(by: Double(h.config.reconcile.inFlightHorizonSeconds))
        #expect(await h.service.reconcile().routesSettled == [id])
        #expect(h.service.durableState().numbers[id]?.trunkId == ta.id)
        let stillOnIt = await numberError { try await h.service.deleteTrunk(accountId: a.id, trunkId: ta.id) }
        #expect(stillOnIt?.reason == .trunkInUse, "the number is on it")
        try await h.check()
    }

    @Test(
        "DeleteTrunk ends the records of routings to it that can no longer land, in its own decision",
        arguments: StoreKind.allCases)
    func deletionEndsStaleRecords(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let t = try await Tenants(h)
        let (a, ta) = (t.a, t.ta)
        #expect(await t.unansweredAdoption(h)?.reason == .providerUnavailable)
        let held = await numberError { try await h.service.deleteTrunk(accountId: a.id, trunkId: ta.id) }
        #expect(held?.reason == .trunkInUse, "\(String(describing: held))")
        h.clock.advance(by: Self.lateBuySeconds(h))
        try await h.service.deleteTrunk(accountId: a.id, trunkId: ta.id)
        #expect(h.service.durableState().adoptionRoutes.isEmpty && h.service.durableState().trunks[ta.id] == nil)
        #expect(await h.service.reconcile().adoptionRoutesEnded.isEmpty)
        try await h.check(leftForTheAudit: [Self.phone])
    }

    @Test(
        "a routing the provider refused ends its record at once (or, when that write fails, at the next reconciliation)",
        arguments: StoreKind.allCases)
    func refusedRoutingEnds(kind: StoreKind) async throws {
        // No pause after a write that found no room: the next write tries again at once.
        var config = NumberServiceConfig.defaults
        config.commits.noRoomRetryMilliseconds = 0
        config.commits.noRoomRetryMaxMilliseconds = 0
        let h = try await Harness(kind, config: config)
        let t = try await Tenants(h)
        h.provider.inject(.fail(.invalidArgument), on: .setTrunk, phoneNumber: Self.phone)
        let refused = await t.adopt(h, t.a, on: t.ta)
        #expect(refused != nil && refused?.reason != .providerUnavailable, "\(String(describing: refused))")
        #expect(h.service.durableState().adoptionRoutes.isEmpty, "nothing of it can land")
        if kind == .memory {
            // The end's write fails (the disk full just then): reconciliation ends it, at once.
            h.provider.inject(.fail(.invalidArgument), on: .setTrunk, phoneNumber: Self.phone)
            h.memoryStore.refuseForRoom(after: 1, times: 1)
            let again = await t.adopt(h, t.a, on: t.ta)
            #expect(again != nil && again?.reason != .providerUnavailable, "\(String(describing: again))")
            #expect(h.service.durableState().adoptionRoutes[Self.phone] != nil)
            #expect(await h.service.reconcile().adoptionRoutesEnded == [Self.phone])
            #expect(h.service.durableState().adoptionRoutes.isEmpty)
        }
        #expect(await t.adopt(h, t.b, on: t.tb) == nil)
        try await h.check()
    }

    /// One record ends at most ``NumberService/adoptionRoutesEndedPerRecordMax`` routings (its size bounded), and a
    /// pass at most `reconcile.itemsPerPassMax`: the rest wait for the next pass.
    @Test("a pass ends at most 256 records, and no more than its item limit; the next pass ends the rest")
    func endedPerPassAtTheirLimits() async throws {
        var wide = Self.config
        wide.reconcile.itemsPerPassMax = 1_000  // above the per-record limit (the default, 200, is below it)
        var h = try await Harness(.memory, config: wide)
        let a = try await h.account(name: "A")
        let ta = try await h.service.createTrunk(accountId: a.id, name: "A", providerTrunkSid: trunkSid(0xa))
        // Written as an earlier numberd left them (each a routing sent without an answer), then a start.
        let records = NumberService.adoptionRoutesEndedPerRecordMax + 1
        let events = (0..<records).map { n in
            CoreEvent.adoptionRouteRequested(
                AdoptionRouteRequest(
                    phoneNumber: "+1415555" + String(format: "%04d", n), accountId: a.id, trunkId: ta.id,
                    at: h.clock.now()))
        }
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
            h.store.commit(events) { done.resume(with: $0) }
        }
        try await h.restart()
        #expect(h.service.workLevels().adoptionRoutes == records)
        h.clock.advance(by: Double(NumberService.buySecondsMax) + Self.lateBuySeconds(h))
        #expect(await h.service.reconcile().adoptionRoutesEnded.count == records - 1)
        #expect(await h.service.reconcile().adoptionRoutesEnded == ["+14155550256"])
        #expect(h.service.durableState().adoptionRoutes.isEmpty)
        // Below that, the pass's item limit bounds it.
        var config = Self.config
        config.reconcile.itemsPerPassMax = 2
        try await h.restart(config: config)
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
            h.store.commit(Array(events.prefix(3))) { done.resume(with: $0) }
        }
        try await h.restart()
        h.clock.advance(by: Double(NumberService.buySecondsMax) + Self.lateBuySeconds(h))
        #expect(await h.service.reconcile().adoptionRoutesEnded.count == 2)
        #expect(await h.service.reconcile().adoptionRoutesEnded.count == 1)
        try await h.check()
    }

    /// DeleteTrunk ends the stale records naming its trunk in its own record — a backlog of them used to go into that
    /// one record whatever its size (a record over the journal's limit stops every write). Now at most
    /// ``NumberService/adoptionRoutesEndedPerRecordMax`` a record: the rest in records of their own before the one that
    /// deletes the trunk.
    @Test("DeleteTrunk ends a backlog of stale records naming the trunk at most 256 a record, then deletes it")
    func deleteTrunkEndsABacklogInBoundedRecords() async throws {
        let store = EventCountingStore()
        let clock = ManualClock(Harness.start)
        let provider = FakeProvider()
        var service = try await NumberService.open(store: store, provider: provider, clock: clock, config: Self.config)
        let a = try await service.createAccount(name: "A", currency: "USD")
        let ta = try await service.createTrunk(accountId: a.id, name: "A", providerTrunkSid: trunkSid(0xa))
        let cap = NumberService.adoptionRoutesEndedPerRecordMax
        let records = 2 * cap + 1
        let events = (0..<records).map { n in
            CoreEvent.adoptionRouteRequested(
                AdoptionRouteRequest(
                    phoneNumber: "+1415555" + String(format: "%04d", n), accountId: a.id, trunkId: ta.id,
                    at: clock.now()))
        }
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
            store.commit(events) { done.resume(with: $0) }
        }
        service = try await NumberService.open(store: store, provider: provider, clock: clock, config: Self.config)
        // Held while they may land: refused, nothing ended.
        let held = await numberError { try await service.deleteTrunk(accountId: a.id, trunkId: ta.id) }
        #expect(held?.reason == .trunkInUse, "\(String(describing: held))")
        #expect(service.durableState().adoptionRoutes.count == records)
        clock.advance(by: Double(NumberService.buySecondsMax + NumberService.lateBuySeconds(horizon: 600)))
        let before = store.recordCount
        try await service.deleteTrunk(accountId: a.id, trunkId: ta.id)
        #expect(store.endedPerRecord.suffix(from: before) == [cap, cap, 1], "256, 256, then 1 with the deletion")
        #expect(store.deletedAt == store.recordCount - 1, "the trunk deleted in the last record")
        #expect(service.durableState().adoptionRoutes.isEmpty && service.durableState().trunks[ta.id] == nil)
        #expect(service.durableState().checkInvariants().isEmpty)
    }

    @Test("each record names a trunk of its account, and replaying an unknown end is refused")
    func stateRules() throws {
        var state = CoreState()
        let account = Account(id: "ACC_ROUTE00001", name: "A", currency: "USD", createdAt: Harness.start)
        let trunk = Trunk(
            id: "TRK_ROUTE00001", accountId: account.id, name: "A", providerTrunkSid: trunkSid(0xa),
            createdAt: Harness.start)
        try state.applyChecked([.accountCreated(account), .trunkCreated(trunk)])
        let route = AdoptionRouteRequest(
            phoneNumber: Self.phone, accountId: account.id, trunkId: "TRK_ROUTE00002", at: Harness.start)
        #expect(throws: (any Error).self) { try state.applyChecked([.adoptionRouteRequested(route)]) }
        #expect(throws: (any Error).self) { try state.applyChecked([.adoptionRouteEnded(phoneNumber: Self.phone)]) }
        var held = route
        held.trunkId = trunk.id
        try state.applyChecked([.adoptionRouteRequested(held)])
        #expect(state.checkInvariants() == [])
        #expect(throws: (any Error).self) { try state.applyChecked([.trunkDeleted(trunkId: trunk.id)]) }
        try state.applyChecked([.adoptionRouteEnded(phoneNumber: Self.phone), .trunkDeleted(trunkId: trunk.id)])
        #expect(state.adoptionRoutes.isEmpty && state.trunks.isEmpty)
    }
}

/// An in-memory store that counts, per record, the adoption routings it ends, and notes the record deleting a trunk.
private final class EventCountingStore: NumberStore, @unchecked Sendable {
    private let inner = InMemoryNumberStore()
    private let counts = Mutex<(ended: [Int], deletedAt: Int?)>(([], nil))

    var endedPerRecord: [Int] { counts.withLock { $0.ended } }
    var recordCount: Int { counts.withLock { $0.ended.count } }
    var deletedAt: Int? { counts.withLock { $0.deletedAt } }

    func load() async throws -> CoreState { try await inner.load() }

    func commit(_ events: [CoreEvent], completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        counts.withLock { counts in
            if events.contains(where: { if case .trunkDeleted = $0 { true } else { false } }) {
                counts.deletedAt = counts.ended.count
            }
            counts.ended.append(events.count { if case .adoptionRouteEnded = $0 { true } else { false } })
        }
        inner.commit(events, completion: completion)
    }
}
