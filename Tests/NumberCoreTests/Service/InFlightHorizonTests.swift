import Foundation
import NumberCore
import Testing

/// Reconciliation's in-flight window (``NumberServiceConfig/Reconcile/inFlightHorizonSeconds``) counts from a
/// purchase's last buy, not from its opening: the numbers of a purchase are bought one after another, and against a
/// slow provider the last buy goes out long after the intent was opened. A review found a window counted from the
/// opening voiding a purchase whose last buy, sent a moment before, then landed — every number paid at the provider,
/// none owned.
@Suite("Reconciliation's in-flight window, from the last buy")
struct InFlightHorizonTests {
    static let phones = ["+14155550100", "+14155550101"]

    static func config() -> NumberServiceConfig {
        var config = NumberServiceConfig.defaults
        config.reconcile.inFlightHorizonSeconds = 600
        return config
    }

    @Test(
        "a purchase whose last buy timed out 700 s after it opened waits for it, then commits every number",
        arguments: StoreKind.allCases)
    func lastBuyLateInAPurchase(kind: StoreKind) async throws {
        let h = try await Harness(kind, config: Self.config())
        let account = try await h.account(funds: 10_000)
        h.provider.stock(Self.phones)
        // The first buy takes 700 s; the second times out at once, queued at the provider (it lands later).
        h.provider.inject(.hangThenDo(gate: "first"), on: .buy, phoneNumber: Self.phones[0])
        h.provider.inject(.timeOut, on: .buy, phoneNumber: Self.phones[1])
        let purchase = Task {
            try await h.service.purchase(
                PurchaseRequest(accountId: account.id, phoneNumbers: Self.phones, country: "US"))
        }
        await h.provider.waitUntilReached("first")
        h.clock.advance(by: 700)
        h.provider.resume("first")
        let lost = await numberError { _ = try await purchase.value }
        #expect(lost?.reason == .outcomeUnknown, "\(String(describing: lost))")
        // A pass right after: 700 s since the opening, none since the last buy — left for later, nothing released.
        let early = await h.service.reconcile()
        #expect(early.voided.isEmpty && early.committed.isEmpty && early.unresolved.count == 1, "\(early)")
        #expect(h.provider.calls(.release) == 0)
        // The queued buy lands; the next pass commits both numbers.
        _ = try await h.provider.buy(phoneNumber: Self.phones[1], trunkSid: nil)
        h.clock.advance(by: 60)
        let later = await h.service.reconcile()
        #expect(later.committed.count == 1 && later.voided.isEmpty, "\(later)")
        let owned = try h.service.listNumbers(ListNumbersRequest(accountId: account.id)).numbers.map(
            \.number.phoneNumber)
        #expect(Set(owned) == Set(Self.phones))
        try await h.check()
    }

    /// An intent a process before left open counts its window from when its buy can have ended at the latest: that
    /// process's end (this start at the latest), or 30 minutes (``NumberService/buySecondsMax``) after its opening if
    /// sooner. Counted from the start alone (until the forty-second session), restarts closer together than the window
    /// (a crash loop) kept it open, its hold on the balance with it, for good.
    @Test(
        "an intent a process before left open waits a window from when its buy can have ended; past it, voided",
        arguments: StoreKind.allCases)
    func windowFromTheStart(kind: StoreKind) async throws {
        var h = try await Harness(kind, config: Self.config())
        let account = try await h.account(funds: 10_000)
        h.provider.stock([Self.phones[0]])
        h.provider.inject(.timeOut, on: .buy, phoneNumber: Self.phones[0])
        let lost = await numberError {
            _ = try await h.service.purchase(
                PurchaseRequest(accountId: account.id, phoneNumbers: [Self.phones[0]], country: "US"))
        }
        #expect(lost?.reason == .outcomeUnknown)
        // A restart 20 minutes after the opening: the process before may have sent its buy just before it ended.
        h.clock.advance(by: 1_200)
        try await h.restart()
        let early = await h.service.reconcile()
        #expect(early.voided.isEmpty && early.unresolved.count == 1, "\(early)")
        // Restarts closer together than the window: the buy can have ended no later than 30 minutes after the
        // opening, so the window ends 40 minutes after it, whatever the restarts.
        for _ in 0..<3 {
            h.clock.advance(by: 300)
            try await h.restart()
            let again = await h.service.reconcile()
            #expect(again.voided.isEmpty && again.unresolved.count == 1, "\(again)")
        }
        h.clock.advance(by: 299)
        try await h.restart()
        #expect(await h.service.reconcile().voided.isEmpty, "one second before the window's end")
        // The window's end: voided, the number watched for a late landing.
        h.clock.advance(by: 1)
        try await h.restart()
        let later = await h.service.reconcile()
        #expect(later.voided.count == 1, "\(later)")
        #expect(try h.service.balance(accountId: account.id).balance == 10_000)
        try await h.check()
    }

    /// After a restore from a backup that still held a purchase open, the provider may have a number of it that
    /// someone bought since (a customer's purchase the restore forgot, or one made in Twilio's console): created after
    /// the intent's buys could have landed (``NumberService/latestBuy(of:)``), it is not the intent's. Reconciliation
    /// released it (a purchase of several whose other buy was lost), or committed it to the intent's account and
    /// routed it to that account's trunk (a purchase of one); it now leaves it alone, for the provider audit.
    @Test(
        "a number the provider has, created after the intent could have bought it, is neither released nor committed",
        arguments: StoreKind.allCases, [false, true])
    func laterPurchaseIsNotTheIntents(kind: StoreKind, alone: Bool) async throws {
        var h = try await Harness(kind, config: Self.config())
        let account = try await h.account(funds: 10_000)
        let phones = alone ? [Self.phones[0]] : Self.phones
        h.provider.stock(phones)
        if alone {
            h.provider.inject(.timeOut, on: .buy, phoneNumber: Self.phones[0])
        } else {
            h.provider.inject(.timeOut, on: .buy, phoneNumber: Self.phones[1])
        }
        let lost = await numberError {
            _ = try await h.service.purchase(
                PurchaseRequest(accountId: account.id, phoneNumbers: phones, country: "US"))
        }
        #expect(lost?.reason == .outcomeUnknown, "\(String(describing: lost))")
        // Two days on, the provider has the first number under a SID of a purchase made then.
        h.clock.advance(by: 2 * 86_400)
        let later = h.clock.now()
        h.provider.changeOwned(Self.phones[0]) { number in
            number = ProvisionedNumber(
                sid: "PN" + String(repeating: "7", count: 32), phoneNumber: Self.phones[0], friendlyName: "",
                trunkSid: nil, capabilities: NumberCapabilities(voice: true), dateCreated: later)
        }
        try await h.restart()
        h.clock.advance(by: 601)
        let report = await h.service.reconcile()
        #expect(report.voided.count == 1 && report.committed.isEmpty, "\(report)")
        #expect(h.provider.owned(Self.phones[0])?.sid == "PN" + String(repeating: "7", count: 32), "left alone")
        #expect(h.service.durableState().orphanWatch[Self.phones[0]] == nil, "not watched: the sweep would take it")
        #expect(try h.service.balance(accountId: account.id).balance == 10_000)
        try await h.check(leftForTheAudit: [Self.phones[0]])
    }

    /// A number the intent bought whose creation date no longer reads (the provider's answer unreadable) may as well be
    /// someone's later purchase: a compensation releases only dated ones, so it is neither released nor watched, and the
    /// provider audit names it. Without that filter reconciliation would release what may be a customer's number.
    @Test(
        "a number the provider has whose creation date does not read is neither released nor watched",
        arguments: StoreKind.allCases)
    func undatedNumberIsLeftForTheAudit(kind: StoreKind) async throws {
        var h = try await Harness(kind, config: Self.config())
        let account = try await h.account(funds: 10_000)
        h.provider.stock(Self.phones)
        h.provider.inject(.timeOut, on: .buy, phoneNumber: Self.phones[1])
        let lost = await numberError {
            _ = try await h.service.purchase(
                PurchaseRequest(accountId: account.id, phoneNumbers: Self.phones, country: "US"))
        }
        #expect(lost?.reason == .outcomeUnknown, "\(String(describing: lost))")
        let sid = try #require(h.provider.owned(Self.phones[0])?.sid)
        h.provider.changeOwned(Self.phones[0]) { $0?.dateCreated = nil }
        try await h.restart()
        h.clock.advance(by: 601)
        let report = await h.service.reconcile()
        #expect(report.voided.count == 1 && report.committed.isEmpty, "\(report)")
        #expect(h.provider.owned(Self.phones[0])?.sid == sid, "left alone")
        #expect(h.service.durableState().orphanWatch[Self.phones[0]] == nil, "not watched: the sweep would take it")
        #expect(try h.service.balance(accountId: account.id).balance == 10_000)
        try await h.check(leftForTheAudit: [Self.phones[0]])
    }

    /// The bound above is numberd's clock against Twilio's: while numberd's clock ignores a wall clock that stepped
    /// forward (2 h here), the intent's own number, landed late, carries a Twilio date that far past numberd's. It is
    /// still the intent's: committed, not left at the provider unowned.
    @Test(
        "a purchase's own late number, dated by a provider clock 2 h ahead of numberd's lagging one, is committed",
        arguments: StoreKind.allCases)
    func ownNumberWithALaggingClock(kind: StoreKind) async throws {
        var h = try await Harness(kind, config: Self.config())
        let account = try await h.account(funds: 10_000)
        h.provider.stock([Self.phones[0]])
        h.provider.inject(.timeOut, on: .buy, phoneNumber: Self.phones[0])
        let opened = h.clock.now()
        let lost = await numberError {
            _ = try await h.service.purchase(
                PurchaseRequest(accountId: account.id, phoneNumbers: [Self.phones[0]], country: "US"))
        }
        #expect(lost?.reason == .outcomeUnknown, "\(String(describing: lost))")
        // The queued buy lands; Twilio dates it by its clock, 2 h ahead of numberd's, which ignored the step.
        h.clock.behindWallClockSeconds = 7_200
        h.provider.changeOwned(Self.phones[0]) { number in
            number = ProvisionedNumber(
                sid: "PN" + String(repeating: "8", count: 32), phoneNumber: Self.phones[0], friendlyName: "",
                trunkSid: nil, capabilities: NumberCapabilities(voice: true), dateCreated: opened + 7_200)
        }
        try await h.restart()
        h.clock.advance(by: 601)
        let report = await h.service.reconcile()
        #expect(report.committed.count == 1 && report.voided.isEmpty, "\(report)")
        try await h.check()
    }

    @Test(
        "a purchase reconciliation commits two days later is the customer's from its buy: cycle and billing day",
        arguments: StoreKind.allCases)
    func committedLateKeepsItsPurchaseTime(kind: StoreKind) async throws {
        let h = try await Harness(kind, config: Self.config())
        let account = try await h.account(funds: 10_000)
        h.provider.stock([Self.phones[0]])
        // Bought at Twilio, the answer lost and the look-up failing: left to reconciliation.
        h.provider.inject(.loseAnswer, on: .buy)
        h.provider.inject(.fail(.unavailable), on: .lookUp)
        let opened = h.clock.now()
        let lost = await numberError {
            _ = try await h.service.purchase(
                PurchaseRequest(accountId: account.id, phoneNumbers: [Self.phones[0]], country: "US"))
        }
        #expect(lost?.reason == .outcomeUnknown, "\(String(describing: lost))")
        h.clock.advance(by: 2 * 86_400)
        #expect(await h.service.reconcile().committed.count == 1)
        let number = try #require(
            try h.service.listNumbers(ListNumbersRequest(accountId: account.id)).numbers.first?.number)
        #expect(number.purchasedAt == opened && number.cycleStart == opened)
        #expect(
            number.nextBillingDate == BillingCalendar.nextBillingDate(after: opened, anchorDay: number.billingAnchorDay)
        )
        try await h.check()
    }

    @Test(
        "a buy that waited 90 s before it went out and timed out: a 60 s window counts from its end, not its start",
        arguments: StoreKind.allCases)
    func windowFromTheBuysEnd(kind: StoreKind) async throws {
        var config = Self.config()
        config.reconcile.inFlightHorizonSeconds = 60
        let h = try await Harness(kind, config: config)
        let account = try await h.account(funds: 10_000)
        h.provider.stock([Self.phones[0]])
        // Queued at the HTTP client, retried before it was sent: 90 s before the POST left, then no answer.
        h.provider.inject(.hangThenTimeOut(gate: "queued"), on: .buy)
        let purchase = Task {
            try await h.service.purchase(
                PurchaseRequest(accountId: account.id, phoneNumbers: [Self.phones[0]], country: "US"))
        }
        await h.provider.waitUntilReached("queued")
        h.clock.advance(by: 90)
        h.provider.resume("queued")
        let lost = await numberError { _ = try await purchase.value }
        #expect(lost?.reason == .outcomeUnknown, "\(String(describing: lost))")
        let early = await h.service.reconcile()
        #expect(early.voided.isEmpty && early.unresolved.count == 1, "\(early)")
        h.clock.advance(by: 61)
        #expect(await h.service.reconcile().voided.count == 1)
        try await h.check()
    }
}
