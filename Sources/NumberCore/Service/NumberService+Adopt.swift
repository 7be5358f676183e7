import Foundation

/// A request to give an account a number the provider account already has and nobody here holds — what the provider
/// audit calls `unowned` (a number a customer bought before the store was restored from an older backup, or one bought
/// in Twilio's console).
public struct AdoptionRequest: Sendable, Hashable {
    /// What the account is charged for the number it is given, at the current price for its country and type.
    public enum Charge: String, Sendable, Hashable, CaseIterable {
        /// Setup fee and first month, as a purchase charges.
        case full
        /// The first month only: the number is recorded with no setup fee.
        case firstMonth = "first-month"
    }

    /// The account to give the number to.
    public var accountId: String
    /// E.164.
    public var phoneNumber: String
    /// ISO 3166-1 alpha-2 country of the number: with ``type``, what it is priced and listed as. The operator's word
    /// (Twilio's record of a number it has sold does not name it), checked against the number's country calling code:
    /// a `+1` number is not GB's (countries sharing a code — the 25 of +1, RU and KZ under +7, … — are not told apart).
    public var country: String
    /// The kind of number, checked against the provider's typed lists (``NumberProvider/lookUp(phoneNumber:type:)``).
    public var type: NumberType
    /// The account's trunk to route the number to; nil routes it nowhere. The number is routed so at the provider
    /// before it is recorded.
    public var trunkId: String?
    /// What is charged.
    public var charge: Charge
    /// At most this monthly fee (minor units of the account's currency); a higher current price is refused with
    /// `PRICE_CHANGED` before anything is sent to the provider. Nil = no limit.
    public var maxMonthlyFee: Int64?
    /// At most this setup fee; as ``maxMonthlyFee`` (only a `full` charge takes one).
    public var maxSetupFee: Int64?
    /// Who asked (the admin key's id): the charge names it.
    public var actor: LedgerActor?
    /// The id of the key the call was authorized by (nil: numberd's own): an adoption is not carried on for a key
    /// revoked while it waited for the provider (the price, the look-up, the routing), INVALID_CREDENTIALS at its next
    /// decision.
    public var authorizedBy: String?
    /// The key in the account's idempotency space (shared with its purchases, credits, adjustments and releases): a
    /// repeat of the request under it is answered with the adoption it recorded (``AdoptionResult/replayed``), or
    /// `REQUEST_IN_PROGRESS` while that one runs; the same key with other parameters is `IDEMPOTENCY_KEY_REUSED`.
    /// Recorded as a purchase's key is (the number is recorded through the purchase path), with the adoption's own
    /// fingerprint, so a PurchaseNumbers under it is refused too.
    public var idempotencyKey: String?

    /// Creates a request.
    public init(
        accountId: String, phoneNumber: String, country: String, type: NumberType = .local, trunkId: String? = nil,
        charge: Charge, maxMonthlyFee: Int64? = nil, maxSetupFee: Int64? = nil, actor: LedgerActor? = nil,
        authorizedBy: String? = nil, idempotencyKey: String? = nil
    ) {
        self.accountId = accountId
        self.phoneNumber = phoneNumber
        self.country = country
        self.type = type
        self.trunkId = trunkId
        self.charge = charge
        self.maxMonthlyFee = maxMonthlyFee
        self.maxSetupFee = maxSetupFee
        self.actor = actor
        self.authorizedBy = authorizedBy
        self.idempotencyKey = idempotencyKey
    }

    /// What a repeat under the key must ask for again (of a validated request): everything but the actor — another
    /// admin repeating it gets the first adoption. Its first part sets it apart from a purchase's fingerprint.
    var fingerprint: String {
        let limits = [maxMonthlyFee, maxSetupFee].map { $0.map { String($0) } ?? "-" }.joined(separator: "/")
        return Crypto.sha256Hex(
            ["adopt", phoneNumber, country, type.rawValue, trunkId ?? "-", charge.rawValue, limits].joined(
                separator: "|"))
    }
}

/// A number given to an account, with the transaction that charged for it.
public struct AdoptionResult: Sendable, Hashable {
    /// The account's number now.
    public var number: OwnedNumber
    /// The charge (kind `purchase`).
    public var transaction: LedgerTransaction
    /// Whether this is the adoption an earlier request under the same idempotency key recorded: nothing was done now.
    /// Its number is as it is now (released since, say), its transaction the first one.
    public var replayed = false
}

extension NumberService {
    /// Gives `request.accountId` a number the provider account has that nobody here holds, charged as
    /// ``AdoptionRequest/Charge`` says at the current price, its first cycle starting now.
    ///
    /// Checked first, from numberd's own state (nothing sent to the provider when they fail, not even for the price):
    /// the account (active), the trunk, the number (no account here holds it, no purchase reserves it, numberd is not
    /// releasing or watching it — a failed purchase or a release whose request may still land, which the orphan sweep
    /// may release: `NUMBER_UNAVAILABLE` until the sweep ends its watch —, no other adoption of it running or sent a
    /// routing that may still land) and the account's number limit; then the price (its currency the account's, within
    /// the caller's limits) and the balance. Then the provider is asked for the number (`NOT_FOUND` /
    /// `NUMBER_NOT_FOUND` when its account does not have it) and its routing settled: to the trunk asked for (sent when
    /// the provider routes it elsewhere), or, when none is asked for, kept as the provider has it — no trunk, or the
    /// account's trunk with that SID; another SID is refused `NOT_FOUND` / `TRUNK_NOT_FOUND` (register the trunk for
    /// the account, or name one), so an adoption never silently cuts a number's calls. Then everything is checked
    /// again and the number and its charge are recorded in one record: a crash or a failure before it records nothing
    /// (the number stays unowned, as it was; at most its routing changed) and the call can be repeated. An adoption
    /// whose answer was lost is repeated under its idempotency key (``AdoptionRequest/idempotencyKey``): answered with
    /// the adoption recorded (`replayed`), `REQUEST_IN_PROGRESS` while it runs. Repeated without one, it is refused
    /// `NUMBER_UNAVAILABLE`, "this account owns it already", when it was recorded; while another adoption of the
    /// number still runs, `ABORTED` / `REQUEST_IN_PROGRESS` (nothing done: repeat it once that one has ended — it may
    /// yet fail).
    ///
    /// Purchases of the number are refused while it runs, so no buy can route it to another tenant's trunk in between.
    /// The trunk to route to is resolved, and held against DeleteTrunk (``Local/adoptionRoutes``), in one decision,
    /// and held until the adoption is recorded or refused: a deletion decided before it (durable or not) refuses the
    /// adoption `TRUNK_NOT_FOUND` before anything is sent, one decided after it is refused `TRUNK_IN_USE`, so the
    /// number is never routed to a trunk being deleted. A routing the provider did not answer may still land there
    /// (for ``lateBuySeconds``, as a voided purchase's buy): until then only an adoption for the same account on the
    /// same trunk is taken, and no purchase, so the late request cannot send another tenant's calls there; once
    /// adopted, the trunk cannot be deleted under the number until then either. The routing is recorded before it is
    /// sent (``AdoptionRouteRequest``, store format 9; a full disk refuses the adoption `STORE_FULL` before anything is
    /// sent), so a restart keeps holding it: a new process holds every recorded routing for ``lateBuySeconds`` after
    /// the latest its call can have ended (``inheritedCallsEnded(startedAt:from:calls:horizon:)``), and
    /// reconciliation ends each record once its routing can no longer land.
    public func adoptNumber(_ request: AdoptionRequest) async throws(NumberError) -> AdoptionResult {
        let request = try validated(request)
        let phone = request.phoneNumber
        // One adoption (or purchase, before its intent) under a key at a time: a repeat while the first runs is
        // answered REQUEST_IN_PROGRESS, and the replay below, made holding the key, sees whatever the first recorded.
        let running = request.idempotencyKey.map { IdempotencyRecord.storageKey(accountId: request.accountId, key: $0) }
        if let running, let key = request.idempotencyKey {
            guard local.withLock({ $0.purchaseKeys.insert(running).inserted }) else { throw .requestInProgress(key) }
        }
        defer { if let running { local.withLock { _ = $0.purchaseKeys.remove(running) } } }
        if let key = request.idempotencyKey,
            let replay = try await replayPurchase(
                accountId: request.accountId, key: key, fingerprint: request.fingerprint)
        {
            return try Self.adoption(replaying: replay)
        }
        // After the replay: an adoption recorded before this check, under its key, is still answered from its record.
        try Validation.phoneNumber(phone, isIn: request.country, field: "phone_number")
        // What needs neither the price nor the provider, before asking for the price (a provider call when it is
        // not cached). A total of 0 passes any balance: the balance is checked with the price below.
        _ = try coordinator.read { state throws(NumberError) in try checkAdoptable(request, quote: nil, in: state) }
        let quote = try await adoptionQuote(request)
        // The claim that keeps purchases and other adoptions of the number off until this one ends: under the
        // decision lock, as a purchase's intent opens (which refuses a number claimed here), so a purchase decided
        // before the claim reserves the number in the state this reads.
        var claimed = false
        do throws(NumberError) {
            try await coordinator.perform { state throws(NumberError) in
                try checkAdoptable(request, quote: quote, in: state)
                guard local.withLock({ $0.adopting.insert(phone).inserted }) else {
                    throw .adoptionInProgress(phone, "another adoption of \(phone)")
                }
                claimed = true
                return ([], ())
            }
        } catch {
            if claimed { local.withLock { _ = $0.adopting.remove(phone) } }
            throw error
        }
        defer { local.withLock { _ = $0.adopting.remove(phone) } }
        // A caller gone before anything is sent stops here (numberd's drain cancels the calls it waited for); from
        // the routing's record on, the adoption runs to its end (``carriedThrough(_:)``): cut short, its routing
        // would end without an answer, held for an hour and more, the number unadopted.
        let provisioned: ProvisionedNumber
        do throws(NumberError) {
            provisioned = try await adoptionLookUp(request)
        } catch {
            // A look-up the caller's cancellation cut short fails as the provider being unavailable: it was not.
            if Task.isCancelled { throw Self.cancelledBeforeRouting }
            throw error
        }
        guard !Task.isCancelled else { throw Self.cancelledBeforeRouting }
        return try await carriedThrough { () async throws(NumberError) -> AdoptionResult in
            try await self.routeAndRecord(request, quote: quote, provisioned: provisioned)
        }
    }

    private static let cancelledBeforeRouting = NumberError(
        .cancelled, .providerUnavailable, "cancelled before anything was sent to the provider")

    /// The adoption from its trunk's decision on: routed at the provider when it must be, then recorded.
    private func routeAndRecord(
        _ request: AdoptionRequest, quote: PricingPolicy.Quote, provisioned: ProvisionedNumber
    ) async throws(NumberError) -> AdoptionResult {
        let phone = request.phoneNumber
        // The trunk, resolved from the decision state and — when the number is to be routed there — held against
        // DeleteTrunk in the same decision: a deletion decided before it, durable or not, refuses the adoption
        // TRUNK_NOT_FOUND here, nothing sent; one decided after it finds the hold (TRUNK_IN_USE). Resolved from the
        // durable state, with the hold set apart, a deletion decided in between was routed to and then made, the
        // number left ringing nowhere.
        var held: RouteHold?
        let trunk: Trunk?
        do throws(NumberError) {
            trunk = try await coordinator.perform(admitting: true) { state throws(NumberError) in
                // The account again, as it is now: suspended, drained or filled during the look-up, the adoption is
                // refused here, nothing sent, and not at its record after the number was routed to its trunk.
                try checkAdoptable(request, quote: quote, in: state)
                let resolved = try adoptionTrunk(request, provisioned: provisioned, in: state)
                guard let resolved, Trunk.sidKey(provisioned.trunkSid ?? "") != Trunk.sidKey(resolved.providerTrunkSid)
                else { return ([], resolved) }
                held = holdRoute(request, to: resolved)
                // Durable before it is sent: a restart after this holds it (``AdoptionRouteRequest``).
                let route = AdoptionRouteRequest(
                    phoneNumber: phone, accountId: request.accountId, trunkId: resolved.id, at: now())
                return ([.adoptionRouteRequested(route)], resolved)
            }
        } catch {
            // Held, then writes stopped before what the decision saw was durable: nothing was sent.
            if let held { local.withLock { $0.adoptionRoutes[phone] = held.earlier } }
            throw error
        }
        guard let trunk, let held else {
            // Nothing to route (the provider routes it to that trunk already, or nowhere and none is asked for): the
            // record's decision checks the trunk again, so a deletion decided meanwhile refuses it (nothing was sent
            // to the provider), and one decided after it finds the number on the trunk (TRUNK_IN_USE).
            return try await recordAdoption(
                request, quote: quote, provisioned: provisioned, trunkId: trunk?.id, hold: nil)
        }
        try await route(provisioned, to: trunk, for: request, earlier: held.earlier)
        do {
            return try await recordAdoption(
                request, quote: quote, provisioned: provisioned, trunkId: trunk.id, hold: held)
        } catch {
            // Not recorded: the hold gives way to what it replaced (an earlier unanswered routing keeps its window).
            local.withLock { $0.adoptionRoutes[phone] = held.earlier }
            // Refused after the provider routed it (the account suspended or out of funds meanwhile, the store full):
            // not "nothing done".
            var error = error
            error.message += "; \(phone) is routed to trunk \(trunk.id) at the provider since, and stays so"
            error.details["trunkId"] = trunk.id
            throw error
        }
    }

    /// The number at the provider as the `request.type` number it says it is (Twilio's typed list): a number the
    /// provider has as another kind is refused INVALID_ARGUMENT (field `type`) — adopted so, it would be priced and
    /// renewed as the wrong kind —, one it does not have NOT_FOUND / NUMBER_NOT_FOUND.
    private func adoptionLookUp(_ request: AdoptionRequest) async throws(NumberError) -> ProvisionedNumber {
        let phone = request.phoneNumber
        do {
            if let number = try await provider.lookUp(phoneNumber: phone, type: request.type) { return number }
            if try await provider.lookUp(phoneNumber: phone) != nil {
                // Which kind it is (an operator's walk: "adopt it as the kind it is" named none): a look-up a kind,
                // on this refusal only, whose own failure leaves the refusal as it is.
                var kind: NumberType?
                for other in NumberType.allCases where other != request.type {
                    if (try? await provider.lookUp(phoneNumber: phone, type: other)) != nil {
                        kind = other
                        break
                    }
                }
                throw NumberError(
                    .invalidArgument, .invalidField,
                    "the provider has \(phone), but not as a \(request.type.rawValue) number: "
                        + (kind.map { "it is a \($0.rawValue) number there; adopt it as one" }
                            ?? "adopt it as the kind it is"),
                    details: ["field": "type", "phoneNumber": phone])
            }
        } catch {
            throw .fromProvider(error, phoneNumber: phone)
        }
        throw NumberError(
            .notFound, .numberNotFound, "the provider account does not have \(phone)", details: ["phoneNumber": phone])
    }

    /// Holds the number's routing to `trunk` for this adoption until it is recorded or refused (``Local/adoptionRoutes``,
    /// with no end): the trunk cannot be deleted meanwhile, and only an adoption for the same account on the same trunk
    /// is taken. Called under the decision lock, in the decision that resolved the trunk (DeleteTrunk checks the holds
    /// in its own). Returns the hold, with the earlier unanswered routing of the number it replaced (this adoption's
    /// repeat), which keeps its own window.
    private func holdRoute(_ request: AdoptionRequest, to trunk: Trunk) -> RouteHold {
        let phone = request.phoneNumber
        let now = now()
        return local.withLock { local in
            let earlier = local.pendingAdoptionRoute(phone, at: now)
            // Bounded by the numbers whose routing may still land: those that no longer can go as one is added.
            local.adoptionRoutes = local.adoptionRoutes.filter { $0.value.until > now }
            local.adoptionRoutes[phone] = AdoptionRoute(
                accountId: request.accountId, trunkId: trunk.id, until: .distantFuture)
            return RouteHold(earlier: earlier)
        }
    }

    /// Routes the number to `trunk` at the provider, under the hold ``holdRoute(_:to:)`` set, which stays when it is
    /// answered (until the record). A refusal gives the hold back to `earlier`; a request that got no answer may
    /// still land, for as long as a voided purchase's buy may: the hold is kept until then (or `earlier`'s end, if
    /// later). One that may have been made but cannot land later (the provider's own 5xx) goes on as answered when a
    /// look-up shows the number on the trunk, else as unanswered (the provider's list can lag a change).
    private func route(
        _ provisioned: ProvisionedNumber, to trunk: Trunk, for request: AdoptionRequest, earlier: AdoptionRoute?
    ) async throws(NumberError) {
        let phone = request.phoneNumber
        do {
            try await provider.setTrunk(sid: provisioned.sid, trunkSid: trunk.providerTrunkSid)
        } catch {
            var mayLand = Self.mayStillTakeEffect(error)
            if !mayLand, Self.mayHaveHappened(error) {
                // Twilio's own 5xx to the POST: it may have been made. A look-up showing the number on the trunk says
                // it was: recorded as if answered. Anything else is held as a routing without an answer — Twilio's
                // list can lag a change, so "shown elsewhere" does not prove it was not made, and the number may ring
                // on the trunk, which must not be deleted under it; "unknown until reconciled" would be wrong too:
                // nothing reconciles an adoption.
                let shown = try? await provider.lookUp(phoneNumber: phone)
                if let shown, shown.sid == provisioned.sid,
                    shown.trunkSid.map(Trunk.sidKey) == Trunk.sidKey(trunk.providerTrunkSid)
                {
                    return
                }
                mayLand = true
            }
            guard mayLand else {
                local.withLock { $0.adoptionRoutes[phone] = earlier }
                // Nothing of it can land: its record ends now, unless an earlier routing it stood for may (a failed
                // write leaves it to reconciliation, which ends it the same way).
                if earlier == nil { await endAdoptionRoutes(max: 1, of: phone) }
                throw .fromProvider(error, phoneNumber: phone)
            }
            let until = max(self.now().addingTimeInterval(Double(lateBuySeconds)), earlier?.until ?? .distantPast)
            local.withLock {
                $0.adoptionRoutes[phone] = AdoptionRoute(accountId: request.accountId, trunkId: trunk.id, until: until)
            }
            throw NumberError(
                .unavailable, .providerUnavailable,
                "the provider did not confirm routing \(phone) to trunk \(trunk.id) and may still do it; nothing is "
                    + "recorded: adopt it again for \(request.accountId) on that trunk (until "
                    + "\(until.iso8601Milliseconds) no other adoption or purchase of it is taken)",
                details: ["phoneNumber": phone, "trunkId": trunk.id], internalDetail: "\(error)")
        }
    }

    /// The most adoption routing records one record ends (``endAdoptionRoutes(max:of:)``): 256 × 512 bytes estimated.
    static let adoptionRoutesEndedPerRecordMax = 256

    /// Ends the records of adoption routings that can no longer land (``AdoptionRouteRequest``) — every one, or only
    /// `phone`'s: neither running nor sent without an answer less than ``lateBuySeconds`` ago (a routing recorded by an
    /// earlier process counts from the latest its call can have ended). At most `max` (and
    /// ``adoptionRoutesEndedPerRecordMax``) a call, in one record, by number; returns their numbers (none when the
    /// write fails: the next pass tries again). Decided under the decision lock, where a running adoption holds its
    /// routing, so a routing recorded meanwhile is never ended.
    @discardableResult
    func endAdoptionRoutes(max: Int, of phone: String? = nil) async -> [String] {
        let recorded =
            (try? coordinator.read { state throws(NumberError) in
                phone.map { state.adoptionRoutes[$0] != nil } ?? !state.adoptionRoutes.isEmpty
            }) ?? false
        guard recorded else { return [] }
        let now = now()
        let ended = try? await coordinator.perform { state throws(NumberError) in
            let candidates = phone.map { [$0] } ?? state.adoptionRoutes.keys.sorted()
            let phones = local.withLock { local in
                Array(
                    candidates.filter {
                        state.adoptionRoutes[$0] != nil && local.pendingAdoptionRoute($0, at: now) == nil
                    }
                    .prefix(Swift.min(max, Self.adoptionRoutesEndedPerRecordMax)))
            }
            return (phones.map { CoreEvent.adoptionRouteEnded(phoneNumber: $0) }, phones)
        }
        return ended ?? []
    }

    /// The adoption a purchase record's replay stands for: one number, one charge (the fingerprint is an adoption's).
    private static func adoption(replaying replay: PurchaseResult) throws(NumberError) -> AdoptionResult {
        guard replay.numbers.count == 1, replay.transactions.count == 1 else {
            throw .internalFailure(
                "an adoption's idempotency record names \(replay.numbers.count) numbers and "
                    + "\(replay.transactions.count) transactions")
        }
        return AdoptionResult(number: replay.numbers[0], transaction: replay.transactions[0], replayed: true)
    }

    /// The request checked by every rule that needs no state, and normalized; INVALID_ARGUMENT otherwise. Fields are
    /// named as the proto's AdoptNumberRequest names them (the key as every keyed call's, `idempotencyKey`).
    func validated(_ request: AdoptionRequest) throws(NumberError) -> AdoptionRequest {
        var request = request
        request.idempotencyKey = try Validation.idempotencyKey(
            request.idempotencyKey, max: config.idempotency.keyLengthMax)
        request.phoneNumber = try Validation.phoneNumber(request.phoneNumber, field: "phone_number")
        request.country = try Validation.country(request.country)
        if request.trunkId?.isEmpty == true { request.trunkId = nil }
        let feeMax = config.pricing.feeMax
        request.maxMonthlyFee = try Validation.feeLimit(request.maxMonthlyFee, field: "max_monthly_fee", max: feeMax)
        request.maxSetupFee = try Validation.feeLimit(request.maxSetupFee, field: "max_setup_fee", max: feeMax)
        try LedgerActor.check(request.actor)
        return request
    }

    /// The price the adoption charges: the current quote, with no setup fee for a `first-month` charge, within the
    /// caller's limits.
    private func adoptionQuote(_ request: AdoptionRequest) async throws(NumberError) -> PricingPolicy.Quote {
        var quote = try await quote(country: request.country, type: request.type)
        // The currency before the limits: limits in the account's minor units say nothing of a price in another.
        let account = try coordinator.read { state throws(NumberError) in try state.requireAccount(request.accountId) }
        guard quote.currency == account.currency else {
            throw .priceCurrencyMismatch(account: account.currency, price: quote.currency)
        }
        if request.charge == .firstMonth { quote.setupFee = 0 }
        try quote.check(maxMonthlyFee: request.maxMonthlyFee, maxSetupFee: request.maxSetupFee)
        return quote
    }

    /// Refuses the adoption when `state` says it cannot be recorded: with no `quote` yet, all but the currency and the
    /// balance.
    @discardableResult
    private func checkAdoptable(
        _ request: AdoptionRequest, quote: PricingPolicy.Quote?, in state: CoreState
    ) throws(NumberError) -> Account {
        let phone = request.phoneNumber
        // The admin key that asked, not revoked since (a decision after a wait at the provider: the price, the
        // look-up, the routing).
        try state.requireUnrevokedKey(request.authorizedBy)
        let account = try state.requireActiveAccount(request.accountId)
        if let quote, account.currency != quote.currency {
            throw .priceCurrencyMismatch(account: account.currency, price: quote.currency)
        }
        let trunk = try request.trunkId.map { id throws(NumberError) in try state.requireTrunk(id, of: account.id) }
        if let owner = state.phoneOwners[phone], let number = state.numbers[owner] {
            throw number.accountId == account.id
                ? .numberUnavailable(phone, "this account owns it already (\(number.id))")
                : .numberUnavailable(phone, "\(number.id) of account \(number.accountId) holds it")
        }
        if let intentId = state.reservations[phone] {
            throw .numberUnavailable(phone, "purchase \(intentId) reserves it")
        }
        let now = now()
        if let watch = state.orphanWatch[phone] {
            let ends = watch.since.addingTimeInterval(TimeInterval(config.reconcile.orphanWatchSeconds))
            throw .numberUnavailable(
                phone,
                ends > now
                    ? "numberd watches it after \(watch.intentId) until \(ends.iso8601Milliseconds) (--orphan-watch), "
                        + "and its orphan sweep may release it at the provider; adopt it once the sweep has ended the watch"
                    : "numberd's watch of it after \(watch.intentId) ended at \(ends.iso8601Milliseconds) and the next "
                        + "orphan sweep settles it — releasing it at the provider if it is that purchase's late buy —; "
                        + "adopt it after that sweep")
        }
        if let route = local.withLock({ $0.pendingAdoptionRoute(phone, at: now) }),
            route.accountId != account.id || route.trunkId != request.trunkId
        {
            // A hold with no end is an adoption still running: its outcome is open, not this number's state.
            guard route.until != .distantFuture else {
                throw .adoptionInProgress(
                    phone, "an adoption of \(phone) for \(route.accountId), routing it to trunk \(route.trunkId),")
            }
            throw .numberUnavailable(
                phone,
                "an earlier adoption's routing of it to trunk \(route.trunkId) got no answer and may still land at the "
                    + "provider until \(route.until.iso8601Milliseconds): adopt it for \(route.accountId) on that "
                    + "trunk, or after then")
        }
        try state.requirePurchasable(
            [phone], by: account, onTrunk: trunk?.providerTrunkSid, total: quote?.firstCharge ?? 0,
            numbersMax: config.limits.numbersPerAccountMax, releasing: releasing, lateBuys: lateBuys(at: now),
            offeredAs: nil)
        return account
    }

    /// The trunk the adopted number is to be on: the one asked for, or, when none is, the account's trunk the provider
    /// routes it to (none when it routes it nowhere); a trunk SID the account has no trunk for is refused.
    private func adoptionTrunk(
        _ request: AdoptionRequest, provisioned: ProvisionedNumber, in state: CoreState
    ) throws(NumberError) -> Trunk? {
        if let trunkId = request.trunkId { return try state.requireTrunk(trunkId, of: request.accountId) }
        guard let sid = provisioned.trunkSid, !sid.isEmpty else { return nil }
        guard let trunkId = state.trunkIds(providerSid: sid, of: request.accountId).min() else {
            throw NumberError(
                .notFound, .trunkNotFound,
                "the provider routes \(request.phoneNumber) to trunk \(sid), which is none of \(request.accountId)'s "
                    + "trunks: name the trunk to route it to, or register \(sid) for the account first",
                details: ["phoneNumber": request.phoneNumber, "providerTrunkSid": sid])
        }
        return try state.requireTrunk(trunkId, of: request.accountId)
    }

    /// Records the number and its charge in one record, after checking everything again under the decision lock.
    /// Once recorded, this adoption's `hold` on the routing (if it routed the number) goes; a failure leaves it to
    /// the caller.
    private func recordAdoption(
        _ request: AdoptionRequest, quote: PricingPolicy.Quote, provisioned: ProvisionedNumber, trunkId: String?,
        hold: RouteHold?
    ) async throws(NumberError) -> AdoptionResult {
        let now = now()
        let textMax = config.limits.providerTextLengthMax
        let expiredBy = idempotencyKeysExpired(by: now)
        let recorded = try await coordinator.perform { state throws(NumberError) in
            // A record under the key now is another request's — this one's repeats wait on the key it holds, and its
            // replay was looked up holding it —: an AddFunds, adjustment or release under the same key meanwhile.
            if let key = request.idempotencyKey,
                let record = state.liveIdempotency(accountId: request.accountId, key: key, expiredBy: expiredBy)
            {
                throw .idempotencyKeyReused(key, record: record)
            }
            let account = try checkAdoptable(request, quote: quote, in: state)
            if let trunkId { _ = try state.requireTrunk(trunkId, of: account.id) }
            let item = PurchaseIntent.Item(
                phoneNumber: request.phoneNumber, setupFee: quote.setupFee, monthlyFee: quote.monthlyFee, listing: nil)
            // An intent opened and committed in the same record: the store's purchase path, so replay, the invariants
            // and every reader treat the number as any bought one. Never seen open.
            var taken = Set<String>()
            let isTaken = { (id: String) in state.isTaken(id) || taken.contains(id) }
            let intent = PurchaseIntent(
                id: Identifier.make(Identifier.intent, taken: isTaken), accountId: account.id, items: [item],
                country: request.country, type: request.type, trunkId: trunkId, currency: account.currency,
                heldAmount: quote.firstCharge, idempotencyKey: request.idempotencyKey, createdAt: now, status: .open,
                actor: request.actor)
            taken.insert(intent.id)
            let number = OwnedNumber.purchased(
                id: Identifier.make(Identifier.number, taken: isTaken), intent: intent, item: item,
                provisioned: provisioned, trunkId: trunkId, at: now, textMax: textMax)
            taken.insert(number.id)
            let transaction = LedgerTransaction(
                id: Identifier.make(Identifier.transaction, taken: isTaken), accountId: account.id, kind: .purchase,
                amount: -quote.firstCharge, balanceAfter: account.balance - quote.firstCharge,
                currency: account.currency, numberId: number.id,
                description: "Phone number adopted: \(request.phoneNumber)",
                createdAt: state.ledgerStamp(account.id, now), idempotencyKey: request.idempotencyKey,
                actor: request.actor)
            // The key as a purchase's: recorded pending with the intent, which the commit makes the number's.
            let key = request.idempotencyKey.map { key in
                CoreEvent.idempotencyRecorded(
                    IdempotencyRecord(
                        accountId: account.id, key: key, operation: .purchase, fingerprint: request.fingerprint,
                        createdAt: now, outcome: .pending(intentId: intent.id)))
            }
            // The routing's record ends with this one. A routing sent before that may still land — the hold this
            // adoption's replaced, or with no hold the one held (to this trunk: no other adoption is taken) — goes on
            // as the number's own trunk change, open on the recorded trunk: a later change of the number then carries
            // it (``RouteRequest/earlier``) and stays open until it can no longer land, DeleteTrunk refuses the trunk
            // durably, and reconciliation records where the provider routes the number once nothing sent can land.
            // Recorded on the number alone, a change answered meanwhile would be recorded at once, and the late
            // routing would leave the record wrong for good.
            let earlier = local.withLock { local in
                hold.map(\.earlier) ?? local.pendingAdoptionRoute(request.phoneNumber, at: now)
            }
            let stillLands = earlier.flatMap { $0.until > now ? $0 : nil }
            let routeEnded: [CoreEvent] =
                state.adoptionRoutes[request.phoneNumber] != nil
                ? [.adoptionRouteEnded(phoneNumber: request.phoneNumber)] : []
            let routeOpen: [CoreEvent] =
                stillLands.map { [.numberRouteRequested(numberId: number.id, trunkId: $0.trunkId, at: now)] } ?? []
            let events: [CoreEvent] =
                [.purchaseIntentOpened(intent)] + (key.map { [$0] } ?? [])
                + [.purchaseCommitted(intentId: intent.id, numbers: [number], transactions: [transaction])]
                + routeEnded + routeOpen
            // Answered as recorded: with the open change its routing left (shown as GetNumber shows it).
            var recorded = number
            recorded.routeRequest = stillLands.map { RouteRequest(trunkId: $0.trunkId, at: now) }
            return (events, (AdoptionResult(number: recorded, transaction: transaction), stillLands))
        }
        let (result, earlier) = recorded
        // The number is on its trunk now (DeleteTrunk counts it): this adoption's hold goes. The routing before it
        // that may still land is the number's open trunk change now, counted from when that routing's call ended
        // (`until` less the window it was held for; for a routing an earlier process recorded, the latest it can
        // have ended: ``inheritedCallsEnded(startedAt:from:calls:horizon:)``).
        local.withLock { local in
            local.adoptionRoutes.removeValue(forKey: request.phoneNumber)
            guard let earlier else { return }
            local.routeMayLandLate(
                result.number.id, trunkId: earlier.trunkId,
                ended: earlier.until.addingTimeInterval(-Double(lateBuySeconds)), until: earlier.until)
        }
        logger.notice(
            "number adopted",
            metadata: [
                "phoneNumber": "\(request.phoneNumber)", "sid": "\(provisioned.sid)", "account": "\(request.accountId)",
                "number": "\(result.number.id)", "charge": "\(request.charge.rawValue)",
                "amount": "\(quote.firstCharge)", "trunk": "\(trunkId ?? "none")",
                "actor": "\(request.actor?.rawValue ?? "none")",
            ])
        return result
    }
}

/// An adoption's routing of a number to a trunk that got no answer from the provider, which may still land there until
/// `until` (``NumberService/Local/adoptionRoutes``); `until` `.distantFuture`: an adoption still running, holding the
/// trunk until it is recorded or refused.
struct AdoptionRoute: Sendable {
    /// The account the adoption was for.
    var accountId: String
    /// The trunk it asked for.
    var trunkId: String
    /// When the request can no longer land.
    var until: Date
}

/// A running adoption's hold on its number's routing (``NumberService/Local/adoptionRoutes``), set with the trunk it
/// routes to: what it replaced, given back when the adoption is refused.
private struct RouteHold: Sendable {
    /// An earlier adoption's routing of the number that got no answer and may still land (this adoption's repeat).
    var earlier: AdoptionRoute?
}
