import Foundation
import Logging
import NumberCore
import Synchronization
import Testing

/// A provider whose buy of chosen numbers gets no answer (a timeout) while the request is still queued at the
/// provider: it lands only after the saga's look-up found nothing. Found by the fault matrix under load (a 1 s
/// Twilio timeout on a busy machine): the saga used to read "not owned" as "not bought", void the intent, and the
/// late purchase left a number paid at the provider without an owner.
private final class LateLandingProvider: NumberProvider {
    struct State {
        var owned: [String: ProvisionedNumber] = [:]
        /// Queued buys: phone → look-ups still to answer before it lands.
        var pending: [String: Int] = [:]
        var purchases: [String: Int] = [:]
        var nextSid = 1
        /// Set: the chosen numbers are bought normally from now on.
        var punctual = false
        /// Set: look-ups / releases fail with a provider outage (nothing changes at the provider).
        var lookUpsFail = false
        var releasesFail = false
    }

    let state = Mutex(State())
    /// Numbers whose buy times out and lands after the next look-up.
    let late: Set<String>
    /// Whether the failure is an answered 5xx (conclusive look-up) rather than a timeout.
    let answered: Bool
    /// How many look-ups answer "not owned" before the queued buy lands.
    let lookUpsBeforeLanding: Int

    init(late: Set<String>, answered: Bool, lookUpsBeforeLanding: Int = 1) {
        self.late = late
        self.answered = answered
        self.lookUpsBeforeLanding = lookUpsBeforeLanding
    }

    /// Offers any number not owned, looked up by its whole E.164 form, as a local number of the query's country.
    func search(_ query: ProviderSearchQuery) async throws -> [AvailableNumber] {
        guard let phone = query.contains, phone.hasPrefix("+"), state.withLock({ $0.owned[phone] == nil }) else {
            return []
        }
        return [
            AvailableNumber(
                phoneNumber: phone, friendlyName: phone, country: query.country, type: query.type,
                capabilities: NumberCapabilities(voice: true))
        ]
    }

    func price(country: String, type: NumberType) async throws -> ProviderPrice {
        ProviderPrice(country: country, type: type, monthlyCostMicros: 1_150_000, currency: "USD")
    }

    func buy(phoneNumber: String, trunkSid: String?) async throws -> ProvisionedNumber {
        if late.contains(phoneNumber) && !state.withLock({ $0.punctual }) {
            if answered {
                throw ProviderError(.outcomeUnknown, message: "HTTP 500", mayStillTakeEffect: false)
            }
            state.withLock { $0.pending[phoneNumber] = lookUpsBeforeLanding }
            throw ProviderError(.outcomeUnknown, message: "timed out", mayStillTakeEffect: true)
        }
        return state.withLock { Self.land(phoneNumber, in: &$0) }
    }

    func release(sid: String) async throws {
        try state.withLock { state in
            if state.releasesFail { throw ProviderError(.unavailable, message: "HTTP 503") }
            guard let phone = state.owned.first(where: { $0.value.sid == sid })?.key else {
                throw ProviderError(.notFound, message: "no \(sid)")
            }
            state.owned[phone] = nil
        }
    }

    func setTrunk(sid: String, trunkSid: String?) async throws {}

    func lookUp(phoneNumber: String) async throws -> ProvisionedNumber? {
        try state.withLock { state in
            if state.lookUpsFail { throw ProviderError(.unavailable, message: "HTTP 503") }
            let found = state.owned[phoneNumber]
            // The queued request lands just after the last "not owned" answer went out.
            if let left = state.pending[phoneNumber] {
                state.pending[phoneNumber] = left > 1 ? left - 1 : nil
                if left == 1 { _ = Self.land(phoneNumber, in: &state) }
            }
            return found
        }
    }

    private static func land(_ phone: String, in state: inout State) -> ProvisionedNumber {
        let number = ProvisionedNumber(
            sid: "PN\(state.nextSid)", phoneNumber: phone, friendlyName: phone,
            capabilities: NumberCapabilities(voice: true), dateCreated: Date())
        state.nextSid += 1
        state.owned[phone] = number
        state.purchases[phone, default: 0] += 1
        return number
    }
}

@Suite("a purchase whose request lands after the look-up")
struct LateLandingPurchaseTests {
    private let phones = ["+14155550101", "+14155550102"]
    private let logger = Logger(label: "late-landing", factory: { _ in SwiftLogNoOpLogHandler() })

    @Test("a timed-out buy the look-up cannot see yet stays open (OUTCOME_UNKNOWN) and reconciliation commits it")
    func timeoutThenLateLanding() async throws {
        let provider = LateLandingProvider(late: [phones[1]], answered: false)
        let service = try await NumberService.open(store: InMemoryNumberStore(), provider: provider, logger: logger)
        let account = try await service.createAccount(name: "Late", currency: "USD")
        _ = try await service.addFunds(accountId: account.id, amount: 10_000)
        var failure: NumberError?
        do {
            _ = try await service.purchase(PurchaseRequest(accountId: account.id, phoneNumbers: phones, country: "US"))
        } catch {
            failure = error
        }
        #expect(failure?.reason == .outcomeUnknown, "\(String(describing: failure))")
        // The hold stays; nothing is released behind the late request's back.
        #expect(service.durableState().intents.count == 1)
        #expect(provider.state.withLock { Set($0.owned.keys) } == Set(phones))

        let report = await service.reconcile()
        #expect(report.committed.count == 1)
        let state = service.durableState()
        #expect(state.intents.isEmpty)
        #expect(
            Set(phones.compactMap { state.phoneOwners[$0].flatMap { state.numbers[$0]?.accountId } }) == [account.id])
        #expect(provider.state.withLock { $0.purchases.values.allSatisfy { $0 == 1 } })
        let held = Set(state.numbers.values.filter { $0.status != .released }.map(\.phoneNumber))
        #expect(held == provider.state.withLock { Set($0.owned.keys) }, "a number at the provider has no owner")
        #expect(state.checkInvariants().isEmpty)
    }

    @Test("an answered 5xx with nothing owned is a definite failure: released, voided, nothing held")
    func answeredFailureIsDefinite() async throws {
        let provider = LateLandingProvider(late: [phones[1]], answered: true)
        let service = try await NumberService.open(store: InMemoryNumberStore(), provider: provider, logger: logger)
        let account = try await service.createAccount(name: "Answered", currency: "USD")
        _ = try await service.addFunds(accountId: account.id, amount: 10_000)
        var failure: NumberError?
        do {
            _ = try await service.purchase(PurchaseRequest(accountId: account.id, phoneNumbers: phones, country: "US"))
        } catch {
            failure = error
        }
        #expect(failure?.reason == .providerUnavailable, "\(String(describing: failure))")
        #expect(service.durableState().intents.isEmpty)
        #expect(provider.state.withLock { $0.owned.isEmpty }, "the first number was not released")
        #expect(try service.balance(accountId: account.id).available == 10_000)
    }

    @Test("reconciliation leaves a young incomplete purchase open past a look-up that cannot see the buy yet")
    func horizonWaitsForALateLanding() async throws {
        // The buy's request is still queued through the saga's look-up and the first reconciliation's.
        let provider = LateLandingProvider(late: [phones[1]], answered: false, lookUpsBeforeLanding: 2)
        let clock = ManualClock(Date(timeIntervalSince1970: 1_800_000_000))
        var config = NumberServiceConfig.defaults
        config.reconcile.inFlightHorizonSeconds = 600
        let service = try await NumberService.open(
            store: InMemoryNumberStore(), provider: provider, clock: clock, config: config, logger: logger)
        let account = try await service.createAccount(name: "Horizon", currency: "USD")
        _ = try await service.addFunds(accountId: account.id, amount: 10_000)
        await #expect(throws: NumberError.self) {
            _ = try await service.purchase(PurchaseRequest(accountId: account.id, phoneNumbers: phones, country: "US"))
        }
        clock.advance(by: 599)
        let early = await service.reconcile()
        #expect(early.unresolved.count == 1 && early.voided.isEmpty, "voided inside the horizon: \(early)")
        // The queued buy has landed now; past the horizon the next pass sees both numbers and commits.
        #expect(provider.state.withLock { Set($0.owned.keys) } == Set(phones))
        clock.advance(by: 2)
        let late = await service.reconcile()
        #expect(late.committed.count == 1, "\(late)")
        let state = service.durableState()
        let held = Set(state.numbers.values.filter { $0.status != .released }.map(\.phoneNumber))
        #expect(held == provider.state.withLock { Set($0.owned.keys) }, "a number at the provider has no owner")
    }

    /// A purchase of both numbers whose second buy times out and stays queued at the provider through
    /// `lookUpsBeforeLanding` look-ups, then reconciled past the 600 s horizon: the first number is released, the
    /// intent voided and the second number watched.
    private func voidedWithAQueuedBuy(
        lookUpsBeforeLanding: Int
    ) async throws -> (LateLandingProvider, NumberService, ManualClock, String) {
        let provider = LateLandingProvider(
            late: [phones[1]], answered: false, lookUpsBeforeLanding: lookUpsBeforeLanding)
        let clock = ManualClock(Date(timeIntervalSince1970: 1_800_000_000))
        var config = NumberServiceConfig.defaults
        config.reconcile.inFlightHorizonSeconds = 600
        let service = try await NumberService.open(
            store: InMemoryNumberStore(), provider: provider, clock: clock, config: config, logger: logger)
        let account = try await service.createAccount(name: "Orphan", currency: "USD")
        _ = try await service.addFunds(accountId: account.id, amount: 10_000)
        await #expect(throws: NumberError.self) {
            _ = try await service.purchase(PurchaseRequest(accountId: account.id, phoneNumbers: phones, country: "US"))
        }
        clock.advance(by: 601)
        let report = await service.reconcile()
        #expect(report.voided.count == 1, "\(report)")
        let state = service.durableState()
        #expect(state.intents.isEmpty && state.numbers.isEmpty)
        #expect(Set(state.orphanWatch.keys) == [phones[1]], "\(state.orphanWatch)")
        #expect(state.checkInvariants().isEmpty)
        return (provider, service, clock, account.id)
    }

    @Test("a buy that lands after reconciliation voided its purchase is released by the orphan sweep")
    func sweepReleasesALateLanding() async throws {
        // Look-ups: the saga's, reconciliation's, then the first sweep's; the request lands right after that one.
        let (provider, service, clock, _) = try await voidedWithAQueuedBuy(lookUpsBeforeLanding: 3)
        let first = await service.sweepOrphans()
        #expect(first.pending == [phones[1]] && first.released.isEmpty, "\(first)")
        #expect(provider.state.withLock { Set($0.owned.keys) } == [phones[1]], "the late request has landed")
        clock.advance(by: 60)
        let second = await service.sweepOrphans()
        #expect(second.released == [phones[1]], "\(second)")
        #expect(provider.state.withLock { $0.owned.isEmpty }, "an orphan is still paid at the provider")
        let state = service.durableState()
        #expect(state.orphanWatch.isEmpty && state.numbers.isEmpty && state.checkInvariants().isEmpty)
        #expect(await service.sweepOrphans() == OrphanSweepReport())
    }

    @Test("a sweep whose look-up or release fails keeps the watch (even past its window) and the next one releases")
    func sweepSurvivesProviderFailures() async throws {
        // The request lands right after reconciliation's look-up; the sweeps run past the watch window.
        let (provider, service, clock, _) = try await voidedWithAQueuedBuy(lookUpsBeforeLanding: 2)
        clock.advance(by: 86_400)
        provider.state.withLock { $0.lookUpsFail = true }
        let unanswered = await service.sweepOrphans()
        #expect(unanswered.pending == [phones[1]] && unanswered.expired.isEmpty, "\(unanswered)")
        provider.state.withLock { $0.lookUpsFail = false }
        // Landed; the release fails: the watch stays and the number is still at the provider.
        provider.state.withLock { $0.releasesFail = true }
        let refused = await service.sweepOrphans()
        #expect(refused.pending == [phones[1]] && refused.released.isEmpty, "\(refused)")
        #expect(provider.state.withLock { Set($0.owned.keys) } == [phones[1]])
        #expect(service.durableState().orphanWatch.keys.sorted() == [phones[1]])
        // The provider is back: released and the watch ends.
        provider.state.withLock { $0.releasesFail = false }
        #expect(await service.sweepOrphans().released == [phones[1]])
        #expect(provider.state.withLock { $0.owned.isEmpty })
        #expect(service.durableState().orphanWatch.isEmpty && service.durableState().checkInvariants().isEmpty)
    }

    @Test("a watched number that never lands is dropped when the window ends, not before")
    func watchExpires() async throws {
        let (provider, service, clock, _) = try await voidedWithAQueuedBuy(lookUpsBeforeLanding: 1_000)
        clock.advance(by: 86_399)
        #expect(await service.sweepOrphans().pending == [phones[1]])
        clock.advance(by: 1)
        #expect(await service.sweepOrphans().expired == [phones[1]])
        #expect(service.durableState().orphanWatch.isEmpty)
        #expect(provider.state.withLock { $0.owned.isEmpty })
    }

    /// Two purchases of one number each, both buys queued at the provider and never landing: two watches. (One
    /// purchase of both numbers makes one: its second buy is never sent once the first's outcome is unknown, and
    /// reconciliation watches only the buys that were.)
    @Test("one sweep settles at most orphanLookUpsPerSweep watches; the rest wait for the next")
    func sweepIsBounded() async throws {
        let provider = LateLandingProvider(late: Set(phones), answered: false, lookUpsBeforeLanding: 1_000)
        let clock = ManualClock(Date(timeIntervalSince1970: 1_800_000_000))
        var config = NumberServiceConfig.defaults
        config.reconcile.inFlightHorizonSeconds = 600
        config.reconcile.orphanLookUpsPerSweep = 1
        let service = try await NumberService.open(
            store: InMemoryNumberStore(), provider: provider, clock: clock, config: config, logger: logger)
        let account = try await service.createAccount(name: "Orphan", currency: "USD")
        _ = try await service.addFunds(accountId: account.id, amount: 10_000)
        for phone in phones {
            await #expect(throws: NumberError.self) {
                _ = try await service.purchase(
                    PurchaseRequest(accountId: account.id, phoneNumbers: [phone], country: "US"))
            }
        }
        clock.advance(by: 601)
        #expect(await service.reconcile().voided.count == 2)
        #expect(Set(service.durableState().orphanWatch.keys) == Set(phones))
        clock.advance(by: 86_400)
        let first = await service.sweepOrphans()
        #expect(first.expired.count == 1 && first.pending.count == 1, "\(first)")
        let second = await service.sweepOrphans()
        #expect(second.expired.count == 1 && second.pending.isEmpty, "\(second)")
        #expect(service.durableState().orphanWatch.isEmpty)
    }

    @Test("a watched number bought again through numberd is never released by the sweep")
    func watchedNumberBoughtAgain() async throws {
        let (provider, service, _, accountId) = try await voidedWithAQueuedBuy(lookUpsBeforeLanding: 1_000)
        provider.state.withLock { $0.punctual = true }
        let bought = try await service.purchase(
            PurchaseRequest(accountId: accountId, phoneNumbers: [phones[1]], country: "US"))
        #expect(bought.numbers.map(\.phoneNumber) == [phones[1]])
        // The commit keeps the watch, claimed by the number, while the voided buy may still land (store format 10):
        // the sweep keeps it, releases nothing.
        #expect(service.durableState().orphanWatch[phones[1]]?.claimedBy == bought.numbers.first?.id)
        let swept = await service.sweepOrphans()
        #expect(swept.released.isEmpty && swept.pending == [phones[1]], "\(swept)")
        #expect(provider.state.withLock { Set($0.owned.keys) } == [phones[1]])
    }

    @Test("a snapshot written before orphan watches existed still loads")
    func snapshotWithoutOrphanWatch() throws {
        let encoded = try JSONEncoder().encode(CoreState())
        var object = try #require(try JSONSerialization.jsonObject(with: encoded) as? [String: Any])
        #expect(object.removeValue(forKey: "orphanWatch") != nil)
        let old = try JSONSerialization.data(withJSONObject: object)
        #expect(try JSONDecoder().decode(CoreState.self, from: old) == CoreState())
    }

    @Test("the horizon is 0...86400 s", arguments: [(Int64(-1), false), (0, true), (86_400, true), (86_401, false)])
    func horizonEdges(seconds: Int64, valid: Bool) {
        var config = NumberServiceConfig.defaults
        config.reconcile.inFlightHorizonSeconds = seconds
        // The watch must cover the horizon and an hour (the default 24 h does not cover 86,400 s and an hour).
        config.reconcile.orphanWatchSeconds = 2_592_000
        #expect(config.validate().isEmpty == valid)
    }

    @Test(
        "the orphan watch is 0...2592000 s",
        arguments: [(Int64(-1), false), (0, true), (2_592_000, true), (2_592_001, false)])
    func orphanWatchEdges(seconds: Int64, valid: Bool) {
        var config = NumberServiceConfig.defaults
        config.reconcile.orphanWatchSeconds = seconds
        #expect(config.validate().isEmpty == valid)
    }

    /// A read-only review: a voided purchase's watch carries the block on purchases of its number while its buy may
    /// still land (the in-flight horizon + 3600 s), so a shorter watch lifted that block early. Off (0) stays allowed,
    /// and turns the block off with the watch.
    @Test(
        "an orphan watch that is on lasts at least the in-flight horizon + 3600 s, the late-buy window",
        arguments: [(Int64(0), true), (1, false), (4_199, false), (4_200, true)])
    func orphanWatchCoversTheLateBuyWindow(seconds: Int64, valid: Bool) {
        var config = NumberServiceConfig.defaults
        config.reconcile.inFlightHorizonSeconds = 600
        config.reconcile.orphanWatchSeconds = seconds
        let problems = config.validate()
        #expect(problems.isEmpty == valid, "\(problems)")
        if !valid {
            #expect(problems.count == 1 && problems[0].contains("at least inFlightHorizonSeconds + 3600 (4200)"))
        }
    }

    @Test("a sweep looks up 1...10000 watches", arguments: [(0, false), (1, true), (10_000, true), (10_001, false)])
    func lookUpsPerSweepEdges(count: Int, valid: Bool) {
        var config = NumberServiceConfig.defaults
        config.reconcile.orphanLookUpsPerSweep = count
        #expect(config.validate().isEmpty == valid)
    }
}
