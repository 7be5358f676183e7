import Foundation
import NumberCore
import Testing

/// A number whose release was asked for and is not yet recorded — its DELETE still running, or its outcome in doubt
/// until reconciliation settles it — used to be listed with its old status, counted in the listing's total monthly cost
/// and in the account's number limit, though billing already skipped it. The customer asked to give it back: it is
/// now listed as `releasing` (never silently dropped), costs nothing a month, leaves room under the limit once no
/// running call can withdraw its release, and any refund (of paid days) is credited once, when the release is recorded.
@Suite("A number being released: listed as releasing, not billed, outside the number limit")
struct ReleasingNumberTests {
    static let phones = (0..<4).map { "+1415555020\($0)" }

    /// An account with four numbers (the first two on a trunk), ten days into their cycle, whose first number's
    /// release timed out at the provider: in doubt, left to reconciliation.
    static func releaseInDoubt(
        _ kind: StoreKind, config: NumberServiceConfig = .defaults
    ) async throws -> (Harness, Account, Trunk, [OwnedNumber]) {
        let h = try await Harness(kind, config: config)
        let account = try await h.account(funds: 10_000)
        let trunk = try await h.service.createTrunk(accountId: account.id, name: "Main", providerTrunkSid: trunkSid(1))
        let onTrunk = try await h.buy(Array(phones.prefix(2)), for: account.id, trunkId: trunk.id).numbers
        let off = try await h.buy(Array(phones.suffix(2)), for: account.id).numbers
        h.clock.advance(by: 86_400 * 10)
        h.provider.inject(.timeOut, on: .release)
        let error = await numberError {
            _ = try await h.service.release(accountId: account.id, numberId: onTrunk[0].id)
        }
        #expect(error?.reason == .outcomeUnknown)
        return (h, account, trunk, onTrunk + off)
    }

    /// Every number of `request`'s listing, page by page.
    static func all(_ h: Harness, _ request: ListNumbersRequest) throws -> (ids: [String], pages: [NumberPage]) {
        var request = request
        var pages: [NumberPage] = []
        repeat {
            let page = try h.service.listNumbers(request)
            pages.append(page)
            request.pageToken = page.nextPageToken
        } while request.pageToken != nil
        return (pages.flatMap { $0.numbers.map(\.number.id) }, pages)
    }

    @Test(
        "listed as releasing, in the total but not the monthly cost, under each filter and page, before and after a restart",
        arguments: StoreKind.allCases)
    func listedAsReleasing(kind: StoreKind) async throws {
        let (harness, account, trunk, numbers) = try await Self.releaseInDoubt(kind)
        var h = harness
        let releasing = numbers[0]
        let balance = try h.service.balance(accountId: account.id).balance
        for round in 0..<2 {
            // Not dropped: every number not released is listed, the releasing one shown as such.
            let everything = try Self.all(h, ListNumbersRequest(accountId: account.id, pageSize: 1))
            #expect(everything.ids == numbers.map(\.id), "round \(round)")
            #expect(everything.pages.allSatisfy { $0.total == 4 && $0.monthlyCost == 3 * 133 }, "round \(round)")
            let shown = try h.service.number(accountId: account.id, numberId: releasing.id).number
            #expect(shown.listingStatus == .releasing && shown.status == .active && shown.releaseRequestedAt != nil)
            #expect(
                everything.pages.flatMap(\.numbers).map(\.number.listingStatus)
                    == [.releasing] + Array(repeating: .active, count: 3))
            // Filters: active leaves it out, releasing shows only it, and costs nothing a month.
            let active = try Self.all(h, ListNumbersRequest(accountId: account.id, status: .active, pageSize: 2))
            #expect(active.ids == numbers.dropFirst().map(\.id))
            #expect(active.pages.allSatisfy { $0.total == 3 && $0.monthlyCost == 3 * 133 })
            let inDoubt = try Self.all(h, ListNumbersRequest(accountId: account.id, status: .releasing, pageSize: 1))
            #expect(inDoubt.ids == [releasing.id])
            #expect(inDoubt.pages.allSatisfy { $0.total == 1 && $0.monthlyCost == 0 })
            #expect(try h.service.listNumbers(ListNumbersRequest(accountId: account.id, status: .pastDue)).total == 0)
            #expect(try h.service.listNumbers(ListNumbersRequest(accountId: account.id, status: .released)).total == 0)
            // The trunk filter counts it (it still routes there) and does not cost it.
            let routed = try Self.all(h, ListNumbersRequest(accountId: account.id, trunkId: trunk.id, pageSize: 1))
            #expect(routed.ids == numbers.prefix(2).map(\.id))
            #expect(routed.pages.allSatisfy { $0.total == 2 && $0.monthlyCost == 133 })
            let routedInDoubt = try h.service.listNumbers(
                ListNumbersRequest(accountId: account.id, status: .releasing, trunkId: trunk.id))
            #expect(routedInDoubt.numbers.map(\.number.id) == [releasing.id] && routedInDoubt.monthlyCost == 0)
            // A token is bound to its filter: the releasing listing's is not the active one's.
            let first = try h.service.listNumbers(
                ListNumbersRequest(accountId: account.id, status: .active, pageSize: 1))
            let crossed = await numberError {
                _ = try h.service.listNumbers(
                    ListNumbersRequest(accountId: account.id, status: .releasing, pageToken: first.nextPageToken))
            }
            #expect(crossed?.reason == .invalidPageToken)
            // Nothing refunded yet: the refund waits for the release to be recorded.
            #expect(try h.service.balance(accountId: account.id).balance == balance)
            try await h.restart()
        }
        // The queued DELETE lands; reconciliation records the release and its one refund.
        try await h.provider.release(sid: releasing.providerSid)
        #expect(await h.service.reconcile().releasesCompleted == [releasing.id])
        let after = try h.service.listNumbers(ListNumbersRequest(accountId: account.id))
        #expect(after.numbers.map(\.number.id) == numbers.dropFirst().map(\.id))
        #expect(after.total == 3 && after.monthlyCost == 3 * 133)
        #expect(try h.service.listNumbers(ListNumbersRequest(accountId: account.id, status: .releasing)).total == 0)
        let released = try h.service.listNumbers(ListNumbersRequest(accountId: account.id, status: .released))
        #expect(released.numbers.map(\.number.listingStatus) == [.released])
        // One refund, computed at the request (ten days into the cycle).
        let refund = BillingCalendar.proratedRefund(
            monthlyFee: 133, cycleStart: releasing.cycleStart, nextBillingDate: releasing.nextBillingDate,
            releaseAt: Harness.start.addingTimeInterval(86_400 * 10)
        ).amount
        #expect(refund > 0)
        #expect(try h.service.balance(accountId: account.id).balance == balance + refund)
        let refunds = try h.service.listTransactions(accountId: account.id).transactions.filter { $0.kind == .refund }
        #expect(refunds.map(\.amount) == [refund] && refunds.first?.numberId == releasing.id)
        try await h.check()
    }

    @Test(
        "the number limit leaves out a release in doubt; a purchase in its place fits, one more does not",
        arguments: StoreKind.allCases)
    func limitLeavesOutReleasesInDoubt(kind: StoreKind) async throws {
        var config = NumberServiceConfig.defaults
        config.limits.numbersPerAccountMax = 4
        let (h, account, _, numbers) = try await Self.releaseInDoubt(kind, config: config)
        h.provider.clearFaults()
        _ = try await h.buy(["+14155550299"], for: account.id)
        let over = await numberError { _ = try await h.buy(["+14155550298"], for: account.id) }
        #expect(over?.code == .resourceExhausted && over?.reason == .limitExceeded)
        // Listed: the four held and the one being released.
        let page = try h.service.listNumbers(ListNumbersRequest(accountId: account.id))
        #expect(page.total == 5 && page.monthlyCost == 4 * 133)
        #expect(await h.service.reconcile().releasesCompleted == [numbers[0].id])
        try await h.check()
    }

    @Test(
        "a release a running call still drives counts in the limit: refused outright, it is withdrawn and held again",
        arguments: StoreKind.allCases)
    func limitCountsReleasesStillDriven(kind: StoreKind) async throws {
        var config = NumberServiceConfig.defaults
        config.limits.numbersPerAccountMax = 2
        let h = try await Harness(kind, config: config)
        let account = try await h.account(funds: 10_000)
        let numbers = try await h.buy(Array(Self.phones.prefix(2)), for: account.id).numbers
        // The DELETE is refused outright; the look-up that decides whether the number is still ours waits.
        h.provider.inject(.fail(.unavailable), on: .release)
        h.provider.inject(.hangThenDo(gate: "lookUp"), on: .lookUp, phoneNumber: numbers[0].phoneNumber)
        let release = Task { try await h.service.release(accountId: account.id, numberId: numbers[0].id) }
        await h.provider.waitUntilReached("lookUp")
        // Listed as releasing meanwhile, and not billed...
        let during = try h.service.listNumbers(ListNumbersRequest(accountId: account.id))
        #expect(during.numbers.map(\.number.listingStatus) == [.releasing, .active] && during.monthlyCost == 133)
        // ...but still counted: the call may yet withdraw the release.
        let refused = await numberError { _ = try await h.buy([Self.phones[2]], for: account.id) }
        #expect(refused?.reason == .limitExceeded)
        h.provider.resume("lookUp")
        let error = await numberError { _ = try await release.value }
        #expect(error?.code == .unavailable && error?.reason != .outcomeUnknown)
        // Withdrawn: active and billed again; the account holds its limit, not more.
        let after = try h.service.listNumbers(ListNumbersRequest(accountId: account.id))
        #expect(after.numbers.map(\.number.listingStatus) == [.active, .active])
        #expect(after.total == 2 && after.monthlyCost == 2 * 133)
        #expect(h.provider.ownedPhoneNumbers == Set(Self.phones.prefix(2)))
        try await h.check()
    }

    @Test(
        "a release reconciliation drives stays outside the limit: a replacement at the limit is bought during its DELETE",
        arguments: StoreKind.allCases)
    func limitLeavesOutReleasesReconciliationDrives(kind: StoreKind) async throws {
        var config = NumberServiceConfig.defaults
        config.limits.numbersPerAccountMax = 4
        let (h, account, _, numbers) = try await Self.releaseInDoubt(kind, config: config)
        h.provider.clearFaults()
        // The next pass claims the release in doubt; its DELETE hangs (Twilio slow or down) for as long as it takes.
        h.provider.inject(.hangThenDo(gate: "delete"), on: .release)
        let pass = Task { await h.service.reconcile() }
        await h.provider.waitUntilReached("delete")
        // Reconciliation never withdraws a release: the number stays outside the limit, and a replacement fits...
        _ = try await h.buy(["+14155550299"], for: account.id)
        // ...but one more does not.
        let over = await numberError { _ = try await h.buy(["+14155550298"], for: account.id) }
        #expect(over?.code == .resourceExhausted && over?.reason == .limitExceeded)
        h.provider.resume("delete")
        #expect(await pass.value.releasesCompleted == [numbers[0].id])
        let page = try h.service.listNumbers(ListNumbersRequest(accountId: account.id))
        #expect(page.total == 4 && page.monthlyCost == 4 * 133)
        try await h.check()
    }

    @Test(
        "a grace release the billing run still drives counts in the limit: refused outright, it is withdrawn",
        arguments: StoreKind.allCases)
    func limitCountsGraceReleasesStillDriven(kind: StoreKind) async throws {
        var config = NumberServiceConfig.defaults
        config.limits.numbersPerAccountMax = 1
        let h = try await Harness(kind, config: config)
        let account = try await h.account(funds: 133)
        let number = try await h.buy([Self.phones[0]], for: account.id).numbers[0]
        // Unpaid at the next billing date, past due, then past its grace period: the billing run releases it.
        h.clock.advance(by: 86_400 * 32)
        _ = try await h.service.runBilling()
        h.clock.advance(by: TimeInterval(h.config.billing.gracePeriodSeconds + 60))
        // The DELETE is refused outright; the look-up that decides whether the number is still ours waits.
        h.provider.inject(.fail(.unavailable), on: .release)
        h.provider.inject(.hangThenDo(gate: "lookUp"), on: .lookUp, phoneNumber: number.phoneNumber)
        let run = Task { try await h.service.runBilling() }
        await h.provider.waitUntilReached("lookUp")
        #expect(try h.service.number(accountId: account.id, numberId: number.id).number.listingStatus == .releasing)
        // Still counted: the run may yet withdraw the release (the limit is checked before the balance).
        let refused = await numberError { _ = try await h.buy([Self.phones[1]], for: account.id) }
        #expect(refused?.reason == .limitExceeded)
        h.provider.resume("lookUp")
        #expect(try await run.value.releaseFailures == 1)
        // Withdrawn: past due again, and the account holds its limit, not more.
        let after = try h.service.listNumbers(ListNumbersRequest(accountId: account.id))
        #expect(after.numbers.map(\.number.listingStatus) == [.pastDue] && after.total == 1)
        try await h.check()
    }

    @Test("a grace release in doubt is listed as releasing, not past due", arguments: StoreKind.allCases)
    func graceReleaseInDoubt(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let account = try await h.account(funds: 133)
        let number = try await h.buy([Self.phones[0]], for: account.id).numbers[0]
        // Unpaid at the next billing date, past due, then past its grace period: released, but the DELETE times out.
        h.clock.advance(by: 86_400 * 32)
        _ = try await h.service.runBilling()
        #expect(try h.service.listNumbers(ListNumbersRequest(accountId: account.id, status: .pastDue)).total == 1)
        h.clock.advance(by: TimeInterval(h.config.billing.gracePeriodSeconds + 60))
        h.provider.inject(.timeOut, on: .release)
        let report = try await h.service.runBilling()
        #expect(report.releaseFailures == 1)
        let page = try h.service.listNumbers(ListNumbersRequest(accountId: account.id))
        #expect(page.numbers.map(\.number.listingStatus) == [.releasing] && page.total == 1 && page.monthlyCost == 0)
        #expect(try h.service.listNumbers(ListNumbersRequest(accountId: account.id, status: .pastDue)).total == 0)
        #expect(try h.service.number(accountId: account.id, numberId: number.id).number.listingStatus == .releasing)
        try await h.provider.release(sid: number.providerSid)
        #expect(await h.service.reconcile().releasesCompleted == [number.id])
        let released = try h.service.number(accountId: account.id, numberId: number.id).number
        #expect(
            released.listingStatus == .released && released.refundTransactionId == nil, "a past-due cycle is unpaid")
        try await h.check()
    }
}
