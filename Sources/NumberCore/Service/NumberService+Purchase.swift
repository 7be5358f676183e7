import Foundation
import Logging

/// What a purchase did.
public struct PurchaseResult: Sendable, Hashable {
    /// The numbers bought, in request order.
    public var numbers: [OwnedNumber]
    /// One debit per number: setup fee + first month.
    public var transactions: [LedgerTransaction]
    /// Whether this is the stored result of an earlier request with the same idempotency key.
    public var replayed: Bool
}

extension NumberService {
    /// Buys the numbers: holds the amount in a durable intent, buys each at the provider, then commits the debit
    /// and the numbers in one record, or releases what was bought and voids the hold. Nothing is charged unless
    /// every number was bought.
    /// The checks before anything is held (the request, the listings and the price, which may ask the provider) run
    /// in the calling task and stop when it is cancelled: a caller gone, a deadline passed, numberd stopping (whose
    /// drain closes the connections it waited for) then starts nothing. From the durable intent on, the purchase runs
    /// to its end even if the calling task is cancelled: see ``carriedThrough(_:)``.
    public func purchase(_ request: PurchaseRequest) async throws(NumberError) -> PurchaseResult {
        let request = try validated(request)
        let fingerprint = request.fingerprint
        if let replay = try await replayPurchase(request, fingerprint: fingerprint) { return replay }
        // Before the provider calls `prepare` makes, which the caller would only make again (`openIntent` checks under
        // the lock, which is what counts).
        if request.replayOnly { throw .idempotencyKeyGone(request.idempotencyKey) }
        // One attempt under a key at a time until its intent is open (``Local/purchaseKeys``).
        let running = request.idempotencyKey.map { IdempotencyRecord.storageKey(accountId: request.accountId, key: $0) }
        if let running, let key = request.idempotencyKey {
            guard local.withLock({ $0.purchaseKeys.insert(running).inserted }) else { throw .requestInProgress(key) }
        }
        defer { if let running { local.withLock { _ = $0.purchaseKeys.remove(running) } } }
        let prepared: (listings: [String: AvailableNumber], quote: PricingPolicy.Quote)
        do {
            prepared = try await prepare(request)
        } catch {
            // An earlier attempt with the same key may have opened (even bought) meanwhile — the number then no
            // longer on offer is its doing: the retry gets that purchase's answer, not this refusal.
            if request.idempotencyKey != nil, let replay = try await replayPurchase(request, fingerprint: fingerprint) {
                return replay
            }
            // A provider call the caller's cancellation cut short fails as the provider being unavailable: it was not.
            if Task.isCancelled { throw Self.cancelledBeforeHold }
            throw error
        }
        // Checked here, not only by the provider calls above: a purchase whose listings were all fresh asked nothing.
        guard !Task.isCancelled else { throw Self.cancelledBeforeHold }
        return try await carriedThrough { () async throws(NumberError) -> PurchaseResult in
            try await self.buy(request, prepared: prepared, fingerprint: fingerprint)
        }
    }

    /// Numbers numberd releases at the provider: its orphans, and the releases a running call may still withdraw.
    var releasing: (orphans: Set<String>, withdrawable: Set<String>) {
        local.withLock { ($0.releasingOrphans, $0.withdrawableReleases) }
    }

    private static let cancelledBeforeHold = NumberError(
        .cancelled, .providerUnavailable, "cancelled before anything was held")

    /// The purchase from its durable intent on: opens it (the hold), buys, then commits or compensates.
    private func buy(
        _ request: PurchaseRequest, prepared: (listings: [String: AvailableNumber], quote: PricingPolicy.Quote),
        fingerprint: String
    ) async throws(NumberError) -> PurchaseResult {
        let opened = try await openIntent(
            request, quote: prepared.quote, listings: prepared.listings, fingerprint: fingerprint)
        if let replay = opened.replay { return replay }
        let (intent, trunkSid) = (opened.intent!, opened.trunkSid)
        defer {
            // Settled (committed or voided): its last buy's time is of no more use; left open, reconciliation's
            // window counts from it.
            let settled = (try? coordinator.read { $0.intents[intent.id] == nil }) ?? false
            local.withLock { local in
                local.liveIntents.remove(intent.id)
                if settled {
                    local.buysSent.removeValue(forKey: intent.id)
                    local.reroutesSent.removeValue(forKey: intent.id)
                }
            }
        }
        switch await buyAll(intent, trunkSid: trunkSid) {
        case .bought(let provisioned):
            CrashPoint.afterProviderBuyBeforeCommit.hit()
            do throws(NumberError) {
                return try await commitPurchase(intent, provisioned: provisioned)
            } catch {
                // The intent holds the money durably: reconciliation commits the purchase once there is room.
                throw Self.unrecorded(
                    error,
                    "the numbers were bought at the provider and the purchase is not recorded yet; it will be "
                        + "reconciled: retry with the same idempotency key for its result",
                    details: ["intentId": intent.id])
            }
        case .failed(let error, let bought, let watching):
            // A release without an answer stops the compensation there, not to keep the caller through a timeout per
            // number: the intent stays compensating, as after any failed release, and reconciliation releases the rest.
            _ = await compensate(intent, bought: bought, watching: watching)
            // Left open (its mark or void found no room): reconciliation settles it, by the provider's word — which,
            // for a buy concluded failed by a look-up that did not show it yet, may be a commit. Not a failure, then.
            // From the durable state (a failed write's decision stays in the decision state) or writes stopped.
            let open = (try? coordinator.read { $0.intents[intent.id]?.status == .open }) ?? true
            if open || coordinator.failure != nil {
                throw NumberError(
                    .unavailable, .outcomeUnknown,
                    "the purchase failed at the provider (\(error.message)) and is not settled here yet; it will be "
                        + "reconciled: retry with the same idempotency key for its result",
                    details: ["intentId": intent.id], internalDetail: error.internalDetail)
            }
            throw error
        case .unknown(let error):
            logger.warning(
                "purchase outcome unknown; left for reconciliation",
                metadata: ["intent": "\(intent.id)", "reason": "\(error.reason)"])
            throw error
        }
    }

    /// What is checked before anything is held: the account (active), its currency, the trunk, the numbers'
    /// availability here and the number limit — from numberd's own state, so a request any of them refuses costs no
    /// provider call —, then, with at most ``NumberServiceConfig/Limits/purchaseChecksInFlightPerAccountMax`` purchases
    /// of the account past this point at once (the others wait their turn), the price (cached, or asked for) against
    /// the caller's limits, the balance, and the listings at the provider. `openIntent` checks again under the decision
    /// lock, which is what counts.
    private func prepare(
        _ request: PurchaseRequest
    ) async throws(NumberError) -> (listings: [String: AvailableNumber], quote: PricingPolicy.Quote) {
        let account = try coordinator.read { state throws(NumberError) in
            try state.requireActiveAccount(request.accountId)
        }
        if let currency = request.currency, currency != account.currency {
            throw .currencyMismatch(expected: account.currency, got: currency)
        }
        // The trunk's SID: a voided purchase of the account's whose buy may still land routes the number to its own.
        var trunkSid: String?
        if let trunkId = request.trunkId {
            trunkSid = try coordinator.read { state throws(NumberError) in
                try state.requireTrunk(trunkId, of: account.id).providerTrunkSid
            }
        }
        let numbersMax = config.limits.numbersPerAccountMax
        let releasing = self.releasing
        let lateBuys = self.lateBuys(at: now())
        // The account's own numbers and purchases, and the number limit, first (no price needed: a total of 0 passes
        // any balance); other tenants' numbers only after the price and the balance, below.
        try coordinator.read { state throws(NumberError) in
            try state.requirePurchasable(
                request.phoneNumbers, by: account, onTrunk: trunkSid, total: 0, numbersMax: numbersMax,
                releasing: releasing, lateBuys: lateBuys, offeredAs: nil)
        }
        try await waitForSlot(purchaseChecks, account.id, cancelled: Self.cancelledBeforeHold, busy: .purchasesBusy) {
            "too many purchases \($0) wait to check their numbers at the provider; retry when one has ended"
        }
        defer { purchaseChecks.give(account.id) }
        // The price (a provider call when it is not cached), within the slot like the listings' calls below.
        let quote = try await quote(country: request.country, type: request.type)
        guard quote.currency == account.currency else {
            throw .priceCurrencyMismatch(account: account.currency, price: quote.currency)
        }
        // This quote is the one the intent holds and the commit charges, so what passes here is what is paid.
        try quote.check(maxMonthlyFee: request.maxMonthlyFee, maxSetupFee: request.maxSetupFee)
        let (total, overflow) = quote.firstCharge.multipliedReportingOverflow(by: Int64(request.phoneNumbers.count))
        guard !overflow else { throw .overflow("purchase total") }
        // Another tenant's number is refused as one the provider does not offer, and where such a refusal would come:
        // the numbers before it are checked at the provider first, so which number a refusal names, and its reason,
        // are those of a request whose number the provider does not offer (a two-number request told a held number
        // from an unoffered one by which of them the refusal named).
        do {
            try coordinator.read { state throws(NumberError) in
                try state.requirePurchasable(
                    request.phoneNumbers, by: state.requireAccount(account.id), onTrunk: trunkSid, total: total,
                    numbersMax: numbersMax, releasing: releasing, lateBuys: lateBuys, offeredAs: Self.offering(request))
            }
        } catch  where error.reason == .numberUnavailable {
            if let phone = error.details["phoneNumber"], let index = request.phoneNumbers.firstIndex(of: phone) {
                _ = try await checkListings(request, upTo: index)
            }
            throw error
        }
        return (try await checkListings(request), quote)
    }

    /// What a purchase asked for, as its refusals name it: US local.
    static func offering(_ request: PurchaseRequest) -> NumberError.Offering {
        NumberError.Offering(country: request.country, type: request.type)
    }

    /// Why a number the provider does not offer as `offering` is refused ("… as a US local number", and where the
    /// country shares its calling code, that the number may be another country's) — and one another tenant holds or
    /// is buying, or the provider's account holds outside numberd, in exactly the same words
    /// (``CoreState/requireAvailable(_:to:onTrunk:releasing:lateBuys:offeredAs:)``): the hint once told them apart.
    static func notOffered(_ offering: NumberError.Offering) -> String {
        "the provider does not offer it as a \(offering.country) \(offering.type.rawValue) number"
            + Validation.sharedCodeHint(offering.country)
    }

    /// The request checked by every rule that needs no state (how many numbers, their form, no number twice, the
    /// country, currency and fee limits, the idempotency key) and normalized; INVALID_ARGUMENT otherwise. The
    /// purchase runs it first; the RPC layer runs it before charging the account's purchase cap, so a request that
    /// can never succeed is refused as invalid and takes nothing from the cap.
    public func validated(_ request: PurchaseRequest) throws(NumberError) -> PurchaseRequest {
        var request = request
        let limits = config.limits
        // `field` names the proto's field (PurchaseNumbersRequest.numbers), as every INVALID_FIELD does.
        guard !request.phoneNumbers.isEmpty else { throw .invalid("numbers", "no numbers to purchase") }
        guard request.phoneNumbers.count <= limits.purchaseNumbersMax else {
            throw .limit(
                "numbers", max: limits.purchaseNumbersMax,
                "at most \(limits.purchaseNumbersMax) numbers per purchase")
        }
        for phone in request.phoneNumbers { _ = try Validation.phoneNumber(phone) }
        var listed = Set<String>()
        if let twice = request.phoneNumbers.first(where: { !listed.insert($0).inserted }) {
            throw .invalid("numbers", "\(twice) appears twice")
        }
        request.country = try Validation.country(request.country)
        // Of another country by its calling code (a +44 number bought as US's): said as adoptions say it, not left to
        // the provider's look-up, which calls it not available.
        for phone in request.phoneNumbers { try Validation.phoneNumber(phone, isIn: request.country) }
        if let currency = request.currency { request.currency = try Validation.currency(currency) }
        if request.trunkId?.isEmpty == true { request.trunkId = nil }
        let feeMax = config.pricing.feeMax
        request.maxMonthlyFee = try Validation.feeLimit(request.maxMonthlyFee, field: "max_monthly_fee", max: feeMax)
        request.maxSetupFee = try Validation.feeLimit(request.maxSetupFee, field: "max_setup_fee", max: feeMax)
        request.idempotencyKey = try Validation.idempotencyKey(
            request.idempotencyKey, max: config.idempotency.keyLengthMax)
        return request
    }

    /// Every number must be on offer as the request's country and type — the price is the country's and type's, so
    /// a number declared as another kind would be charged another price — and have the required capabilities, as
    /// the provider's inventory lists them. A number not seen in a recent search is looked up there first (a
    /// search of that country and type anchored at the whole number). Nothing is held or bought before this passes.
    /// A number whose listing came from a recent search is checked not to have been bought on the provider account
    /// since (``requireNotBoughtElsewhere(_:offeredAs:)``), in its turn. Each number is checked whole before the next,
    /// in the request's order, so the first refusal names the first number any check refuses. Returns the listings by
    /// E.164 (they give the numbers their locality, region and postal code). `end`: only the numbers before that index
    /// (the ones a refusal of the number there must not pass over).
    private func checkListings(
        _ request: PurchaseRequest, upTo end: Int? = nil
    ) async throws(NumberError) -> [String: AvailableNumber] {
        var listings: [String: AvailableNumber] = [:]
        for phone in request.phoneNumbers.prefix(end ?? request.phoneNumbers.count) {
            var found = listing(for: phone)
            let searchedRecently = found != nil
            if !searchedRecently {
                // Anchored at the start only: where numbers differ in length, longer numbers that begin with this one
                // match too, in the provider's order. A full page is asked for and the exact number picked from it.
                let query = ProviderSearchQuery(
                    country: request.country, type: request.type, contains: phone, limit: Self.exactSearchLimit)
                // Not remembered: the cache is for listings clients searched, which purchases must not evict.
                do {
                    found = try await provider.search(query).first { $0.phoneNumber == phone }?
                        .boundingText(to: config.limits.providerTextLengthMax)
                } catch {
                    throw NumberError.fromProvider(
                        error, phoneNumber: phone, offering: .init(country: request.country, type: request.type))
                }
            }
            guard let listing = found else {
                throw .numberUnavailable(phone, Self.notOffered(Self.offering(request)))
            }
            // The field named is the one that differs: the country when it does (whatever the type), else the type.
            guard listing.country == request.country else {
                throw .invalid("country", "\(phone) is a \(listing.country) number, not a \(request.country) one")
            }
            guard listing.type == request.type else {
                throw .invalid("type", "\(phone) is a \(listing.country) \(listing.type.rawValue) number")
            }
            let missing = request.requiredCapabilities.filter { !listing.capabilities.has($0) }.map { $0.rawValue }
                .sorted()
            guard missing.isEmpty else {
                throw NumberError(
                    .failedPrecondition, .capabilityMissing,
                    "\(phone) has no \(missing.joined(separator: ", ")) capability",
                    details: ["phoneNumber": phone, "missing": missing.joined(separator: ",")])
            }
            // A recent search's listing is checked at the provider's account here, in the request's order, so a
            // number held there outside numberd is refused where a number not offered would be.
            if searchedRecently { try await requireNotBoughtElsewhere(phone, offeredAs: Self.offering(request)) }
            listings[phone] = listing
        }
        return listings
    }

    /// Twilio answers a POST of a number its account already owns with 201, as an update of that number
    /// (twilio-api.md §8.7): buying one that was bought on the account outside numberd (in Twilio's console, by
    /// another system) since the customer's search would charge the customer for it, route it to their trunk and, at
    /// their release, delete it from under its real user. So a number whose listing comes from a recent search is
    /// looked up on the account first, and one owned there that numberd does not account for
    /// (``CoreState/accountsFor(_:)``) is refused: `NUMBER_UNAVAILABLE`, nothing held or bought, with the words a
    /// number the provider does not offer gets (`offeredAs`, "US local"), as another tenant's does: the number may be
    /// a tenant's that a restore forgot, and the caller learns nothing of what the service's account holds (the
    /// operator's log names it, at warning). One numberd
    /// accounts for goes on to the intent, which refuses what a customer holds or a purchase reserves and lets a
    /// purchase take over numberd's own orphan — another tenant's voided purchase's only once that purchase's buy can
    /// no longer land, and the account's own until then only on the trunk that buy carried
    /// (``CoreState/requireAvailable(_:to:onTrunk:releasing:lateBuys:offeredAs:)``); a buy's answer, or a lost
    /// answer's look-up, that finds it routed to another trunk routes it to the buyer's (``routeFound(_:to:)``). A
    /// look-up that fails refuses the purchase the same way a failed search does (nothing held; the caller may retry).
    /// A search anchored at the number needs no look-up: the provider offers no number its account owns.
    private func requireNotBoughtElsewhere(
        _ phone: String, offeredAs: NumberError.Offering
    ) async throws(NumberError) {
        let owned: ProvisionedNumber?
        do {
            owned = try await provider.lookUp(phoneNumber: phone)
        } catch {
            throw NumberError.fromProvider(error, phoneNumber: phone)
        }
        guard let owned, !(try coordinator.read { state throws(NumberError) in state.accountsFor(phone) }) else {
            return
        }
        logger.warning(
            "refused a purchase of a number the provider account already owns outside numberd",
            metadata: ["phoneNumber": "\(phone)", "providerSid": "\(owned.sid)"])
        throw .numberUnavailable(phone, Self.notOffered(offeredAs))
    }

    /// Results asked for when a number is looked up by a search anchored at it: Twilio's most per search (its
    /// searches do not page, twilio-api.md §8.3).
    static let exactSearchLimit = 30

    /// The stored result when the key was used before for the same request (or the error a pending first use or
    /// other parameters give). A record in the durable state is answered at once, without the decision lock or a
    /// wait. A key unknown to the speculative state too — the usual case — answers nothing yet, so the purchase goes
    /// on without waiting for anyone's pending writes (`openIntent` looks again under the lock). A record only in the
    /// speculative state (its first use still being written) is answered through `perform`, once what it rests on
    /// is durable — without the provider calls the purchase would make before `openIntent` found it.
    private func replayPurchase(
        _ request: PurchaseRequest, fingerprint: String
    ) async throws(NumberError) -> PurchaseResult? {
        guard let key = request.idempotencyKey else { return nil }
        return try await replayPurchase(accountId: request.accountId, key: key, fingerprint: fingerprint)
    }

    /// ``replayPurchase(_:fingerprint:)`` for the purchase path's requests under `key` of `accountId`: PurchaseNumbers
    /// and AdoptNumber (whose record is a purchase's, with its own fingerprint).
    func replayPurchase(
        accountId: String, key: String, fingerprint: String
    ) async throws(NumberError) -> PurchaseResult? {
        let expiredBy = idempotencyKeysExpired(by: now())
        let lookUp = { (state: CoreState) throws(NumberError) -> PurchaseResult? in
            _ = try state.requireAccount(accountId)
            guard let record = state.liveIdempotency(accountId: accountId, key: key, expiredBy: expiredBy)
            else {
                return nil
            }
            return try state.replay(record, key: key, fingerprint: fingerprint)
        }
        if let durable = try coordinator.read(lookUp) { return durable }
        let decision = { (state: CoreState) throws(NumberError) in ([CoreEvent](), try lookUp(state)) }
        if let speculative = try? coordinator.decide(decision), speculative.result == nil { return nil }
        return try await coordinator.perform(decision)
    }

    /// Whether the request's idempotency key already stands for a purchase of this same request by its account
    /// (settled or still running) in the durable state: it is a retry, which replays and never buys anything new (the
    /// RPC layer does not charge such a retry against the account's purchase cap, so a client can always learn its
    /// first result). The answer can change before the purchase runs — the key may expire meanwhile — so such a
    /// request is sent with ``PurchaseRequest/replayOnly``, which the purchase checks under the decision lock.
    public func isPurchaseRetry(_ request: PurchaseRequest) -> Bool {
        guard let key = request.idempotencyKey else { return false }
        let expiredBy = idempotencyKeysExpired(by: now())
        let record = try? coordinator.read { state throws(NumberError) in
            state.liveIdempotency(accountId: request.accountId, key: key, expiredBy: expiredBy)
        }
        guard let record = record ?? nil else { return false }
        return record.operation == .purchase && record.fingerprint == request.fingerprint
    }

    private struct Opened: Sendable {
        var intent: PurchaseIntent?
        var trunkSid: String?
        var replay: PurchaseResult?
    }

    /// Decides and durably records the intent: the hold and the reservations.
    private func openIntent(
        _ request: PurchaseRequest, quote: PricingPolicy.Quote, listings: [String: AvailableNumber],
        fingerprint: String
    ) async throws(NumberError) -> Opened {
        let now = now()
        let items = request.phoneNumbers.map { phone in
            PurchaseIntent.Item(
                phoneNumber: phone, setupFee: quote.setupFee, monthlyFee: quote.monthlyFee, listing: listings[phone])
        }
        let (total, overflow) = quote.firstCharge.multipliedReportingOverflow(by: Int64(items.count))
        guard !overflow else { throw .overflow("purchase total") }
        let expiredBy = idempotencyKeysExpired(by: now)
        let lateBuys = self.lateBuys(at: now)
        let numbersMax = config.limits.numbersPerAccountMax
        // The intent this decision claimed for its call, handed back if its record is refused (a store with no room).
        var claimed: String?
        do throws(NumberError) {
            return try await coordinator.perform(admitting: true) { state throws(NumberError) in
                // The key first, as `replayPurchase` does: a retry whose first attempt is being carried out gets
                // that attempt's answer (or REQUEST_IN_PROGRESS), not a definite refusal for a key revoked or an
                // account suspended since — which would say "not bought" of a purchase that was.
                if let key = request.idempotencyKey,
                    let record = state.liveIdempotency(accountId: request.accountId, key: key, expiredBy: expiredBy)
                {
                    return ([], Opened(replay: try state.replay(record, key: key, fingerprint: fingerprint)))
                }
                try state.requireUnrevokedKey(request.authorizedBy)
                let account = try state.requireActiveAccount(request.accountId)
                if request.replayOnly { throw .idempotencyKeyGone(request.idempotencyKey) }
                guard account.currency == quote.currency else {
                    throw .priceCurrencyMismatch(account: account.currency, price: quote.currency)
                }
                let trunk = try request.trunkId.map { id throws(NumberError) in
                    try state.requireTrunk(id, of: account.id)
                }
                let releasing = self.releasing
                try state.requirePurchasable(
                    request.phoneNumbers, by: account, onTrunk: trunk?.providerTrunkSid, total: total,
                    numbersMax: numbersMax, releasing: releasing, lateBuys: lateBuys,
                    offeredAs: Self.offering(request))
                // An adoption of one is running, or sent a routing that may still land (``adoptNumber(_:)``): it would
                // race this buy at the provider. Told as another tenant's hold is.
                if let phone = local.withLock({ local in
                    request.phoneNumbers.first { local.adoptionHolds($0, at: now) }
                }) {
                    throw .numberUnavailable(phone, NumberService.notOffered(Self.offering(request)))
                }
                let intent = PurchaseIntent(
                    id: Identifier.make(Identifier.intent, taken: state.isTaken), accountId: account.id, items: items,
                    country: request.country, type: request.type, trunkId: trunk?.id, currency: account.currency,
                    heldAmount: total, idempotencyKey: request.idempotencyKey, createdAt: now, status: .open,
                    actor: request.authorizedBy.map(LedgerActor.apiKey))
                var events: [CoreEvent] = [.purchaseIntentOpened(intent)]
                if let key = request.idempotencyKey {
                    events.append(
                        .idempotencyRecorded(
                            IdempotencyRecord(
                                accountId: account.id, key: key, operation: .purchase, fingerprint: fingerprint,
                                createdAt: now, outcome: .pending(intentId: intent.id))))
                }
                // Claimed under the decision lock, so a concurrent reconcile can never see it unclaimed.
                local.withLock { _ = $0.liveIntents.insert(intent.id) }
                claimed = intent.id
                return (events, Opened(intent: intent, trunkSid: trunk?.providerTrunkSid))
            }
        } catch {
            if let claimed { local.withLock { _ = $0.liveIntents.remove(claimed) } }
            throw error
        }
    }

    /// How buying went at the provider.
    enum BuyOutcome: Sendable {
        /// Every number is ours at the provider, in item order.
        case bought([ProvisionedNumber])
        /// A definite failure; `bought` must be released, and the numbers in `watching` may still turn up at the
        /// provider without an owner (see ``compensate(_:bought:watching:)``).
        case failed(NumberError, bought: [ProvisionedNumber], watching: [String])
        /// A number's fate is unknown (the answer was lost and the look-up failed).
        case unknown(NumberError)
    }

    /// Buys each number in turn; a lost answer is settled by a look-up, never by buying again. A number the answer or
    /// the look-up shows routed to another trunk is routed to the purchase's first (``routeBeforeCommit(_:to:of:)``).
    func buyAll(_ intent: PurchaseIntent, trunkSid: String?) async -> BuyOutcome {
        var bought: [ProvisionedNumber] = []
        for (index, item) in intent.items.enumerated() {
            // When the buy ended (answered, failed, or settled by a look-up): its POST left at the latest then —
            // after its turn in the HTTP client's queue and any retries before it was sent, which take minutes —, and
            // how many items' buys were sent (the rest, after a return here, never were).
            defer {
                let ended = now()
                local.withLock { $0.buysSent[intent.id] = (ended: ended, attempted: index + 1) }
            }
            do {
                let number = try await provider.buy(
                    phoneNumber: item.phoneNumber, trunkSid: trunkSid, country: intent.country, type: intent.type)
                guard number.phoneNumber == item.phoneNumber else {
                    let error = NumberError(.unavailable, .providerUnavailable, "the provider sold another number")
                    // One the provider created before this purchase opened is no buy of it: a number the account
                    // already held (Twilio answers a POST of a number it owns as an update), an operator's, perhaps
                    // being adopted. Nor is one it gives no creation date for known to be (reconciliation leaves
                    // such numbers alone too). Neither released nor watched (the sweep would release it): a release
                    // cannot be undone; the provider audit names it if nobody owns it through numberd.
                    let earliest = earliestCreation(ofBuyOpenedAt: intent.createdAt)
                    let routedHere = trunkSid.map { number.trunkSid?.lowercased() == $0.lowercased() } ?? false
                    if number.dateCreated.map({ $0 < earliest }) ?? true {
                        // Said at error: a provider mix-up, which may have left the number paid by nobody, or routed
                        // someone's number to this purchase's trunk (the POST's, applied as an update).
                        logger.error(
                            """
                            the provider answered a buy with another number, which this purchase may not have bought: \
                            not released; check it at the provider (the audit lists it if nobody owns it)
                            """,
                            metadata: [
                                "intent": "\(intent.id)", "asked": "\(item.phoneNumber)",
                                "number": "\(number.phoneNumber)", "sid": "\(number.sid)",
                                "date_created": "\(number.dateCreated?.formatted(.iso8601) ?? "none")",
                                "earliest_buy": "\(earliest.formatted(.iso8601))",
                                "routed_to_this_purchase": "\(routedHere)",
                            ])
                        return .failed(error, bought: bought, watching: [])
                    }
                    bought.append(number)
                    // Not one of the intent's items: if its release fails, only a watch remembers it.
                    return .failed(error, bought: bought, watching: [number.phoneNumber])
                }
                // Twilio answers a POST of a number its account owns as an update (twilio-api.md §8.7): one another
                // account's late buy landed on, and the sweep has not released yet, keeps that account's trunk under a
                // POST that names none.
                if let noAnswer = await routeBeforeCommit(number, to: trunkSid, of: intent.id) {
                    return .unknown(Self.outcomeUnknown(item.phoneNumber, of: intent, "\(noAnswer)"))
                }
                bought.append(number)
            } catch let error as ProviderError where !Self.mayHaveHappened(error) {
                return .failed(.provider(error, phoneNumber: item.phoneNumber), bought: bought, watching: [])
            } catch {
                // Timeout, reset, cancellation: the number may have been bought. Ask, don't buy again.
                switch await lookUpOwned(item.phoneNumber) {
                case .owned(let number):
                    if let noAnswer = await routeBeforeCommit(number, to: trunkSid, of: intent.id) {
                        // Owned, maybe routed elsewhere still: left open for reconciliation, which looks and routes
                        // again.
                        return .unknown(Self.outcomeUnknown(item.phoneNumber, of: intent, "\(noAnswer)"))
                    }
                    bought.append(number)
                case .notOwned where Self.mayStillTakeEffect(error):
                    // No answer came back: the request may still land after this look-up (a timed-out request
                    // queued at the provider). Voiding now would leave that number paid without an owner, so the
                    // intent stays open and reconciliation settles it later.
                    return .unknown(Self.outcomeUnknown(item.phoneNumber, of: intent, "\(error)"))
                case .notOwned:
                    let failure = NumberError(
                        .unavailable, .providerUnavailable,
                        "the provider did not complete the purchase of \(item.phoneNumber)",
                        details: ["phoneNumber": item.phoneNumber], internalDetail: "\(error)")
                    // The provider answered (a 5xx, an unreadable 2xx), so the look-up is taken as conclusive; but a
                    // look-up can lag a purchase that did happen, so the number is watched like a voided one.
                    return .failed(failure, bought: bought, watching: [item.phoneNumber])
                case .unknown(let lookUpError):
                    return .unknown(Self.outcomeUnknown(item.phoneNumber, of: intent, "\(lookUpError)"))
                }
            }
        }
        return .bought(bought)
    }

    /// The error of a buy of `phoneNumber` whose outcome reconciliation settles; `detail` says why, to the log only.
    private static func outcomeUnknown(
        _ phoneNumber: String, of intent: PurchaseIntent, _ detail: String
    ) -> NumberError {
        NumberError(
            .unavailable, .outcomeUnknown,
            "the purchase of \(phoneNumber) has an unknown outcome; it will be reconciled",
            details: ["phoneNumber": phoneNumber, "intentId": intent.id], internalDetail: detail)
    }

    /// Whether a failed buy may still take effect at the provider (no answer came back); errors that are not
    /// ``ProviderError`` (cancellation) count as such.
    static func mayStillTakeEffect(_ error: any Error) -> Bool {
        (error as? ProviderError)?.mayStillTakeEffect ?? true
    }

    /// Whether a failed change may have been made at the provider all the same, so that only a look-up can tell: an
    /// unknown outcome (a POST without a usable answer), any error marked `mayStillTakeEffect` (a DELETE that gave up
    /// after an attempt that may have reached the provider, whatever kind its last answer gave), or an error that is
    /// not a ``ProviderError`` (cancellation).
    static func mayHaveHappened(_ error: any Error) -> Bool {
        guard let error = error as? ProviderError else { return true }
        return error.kind == .outcomeUnknown || error.mayStillTakeEffect
    }

    enum LookUp: Sendable {
        case owned(ProvisionedNumber)
        case notOwned
        case unknown(NumberError)
    }

    /// Routes `number` — as a buy's answer or the look-up that settles a lost one shows it — to `trunkSid`, the
    /// purchase's trunk, when the provider routes it elsewhere: it may be another account's late buy of it (that
    /// account's purchase voided while its POST was queued at the provider, landed since) and route to that account's
    /// trunk, which would get this buyer's calls. SIDs are compared by ``Trunk/sidKey(_:)``: a trunk recorded in upper
    /// case is the one Twilio shows in lower case. Throws the provider's error when the change fails.
    func routeFound(_ number: ProvisionedNumber, to trunkSid: String?) async throws {
        guard number.trunkSid.map(Trunk.sidKey) != trunkSid.map(Trunk.sidKey) else { return }
        logger.warning(
            "a bought number routes to another trunk at the provider; routing it to the purchase's",
            metadata: [
                "phoneNumber": "\(number.phoneNumber)", "sid": "\(number.sid)",
                "found": "\(number.trunkSid ?? "none")", "trunk": "\(trunkSid ?? "none")",
            ])
        try await provider.setTrunk(sid: number.sid, trunkSid: trunkSid)
    }

    /// Routes `number` to the purchase's trunk (``routeFound(_:to:)``) before it is committed; nil when the purchase
    /// may commit it: routed so, or the provider refused the change outright — a trunk deleted in Twilio's console,
    /// say, which every later pass would be refused alike while the intent kept the customer's hold, the number's
    /// reservation and the idempotency key "in progress" for ever, and numberd paid for the number. That refusal is
    /// logged and the number committed as before; the provider audit reports it (`trunk_differs`). The error when
    /// the provider gave no answer and the change may yet be made (or land): the intent is left for reconciliation,
    /// which looks the number up and routes it again; one that may land late is noted for intent `intentId`'s commit
    /// (``Local/reroutesSent``).
    func routeBeforeCommit(
        _ number: ProvisionedNumber, to trunkSid: String?, of intentId: String
    ) async -> NumberError? {
        do {
            try await routeFound(number, to: trunkSid)
            return nil
        } catch {
            let refused = NumberError.fromProvider(error, phoneNumber: number.phoneNumber)
            let mayLand = Self.mayStillTakeEffect(error)
            if mayLand {
                let ended = now()
                local.withLock { local in
                    var sent = local.reroutesSent[intentId] ?? (ended: ended, phones: [])
                    sent.ended = max(sent.ended, ended)
                    sent.phones.insert(number.phoneNumber)
                    local.reroutesSent[intentId] = sent
                }
            }
            if mayLand || ProviderPass.isNoAnswer(refused) { return refused }
            logger.warning(
                "the provider refused to route a bought number to its purchase's trunk; committed all the same",
                metadata: [
                    "phoneNumber": "\(number.phoneNumber)", "sid": "\(number.sid)",
                    "found": "\(number.trunkSid ?? "none")", "trunk": "\(trunkSid ?? "none")", "error": "\(error)",
                ])
            return nil
        }
    }

    func lookUpOwned(_ phoneNumber: String) async -> LookUp {
        do {
            if let number = try await provider.lookUp(phoneNumber: phoneNumber) { return .owned(number) }
            return .notOwned
        } catch {
            return .unknown(.fromProvider(error, phoneNumber: phoneNumber))
        }
    }

    /// Commits the debit and the numbers and clears the intent, in one record. The debits name who asked for the
    /// purchase (``PurchaseIntent/actor``), or `actorIfUnrecorded` for an intent opened without one.
    ///
    /// The numbers are purchased — their first cycle begins, their billing day is fixed — when the intent was opened
    /// (its money held, its buys sent right after), not when this records it: reconciliation may commit hours or
    /// days later (Twilio not answering its look-ups), and the number was the customer's at Twilio, routed to its
    /// trunk and billed to numberd, from the buy. The debit is posted now, in the ledger's order.
    func commitPurchase(
        _ intent: PurchaseIntent, provisioned: [ProvisionedNumber], actorIfUnrecorded: LedgerActor? = nil
    ) async throws(NumberError) -> PurchaseResult {
        let now = now()
        let actor = intent.actor ?? actorIfUnrecorded
        let textMax = config.limits.providerTextLengthMax
        let reroutes = local.withLock { $0.reroutesSent[intent.id] }
        let result = try await coordinator.perform { state throws(NumberError) in
            // One being undone (compensating) releases what it bought: charged for as well, the account would pay for
            // numbers it never gets. Only an open intent commits; one settled or being undone elsewhere meanwhile
            // (which nothing should do while its purchase runs) has an outcome this caller cannot tell: its key's
            // replay, once the intent is settled, tells it.
            let current = state.intents[intent.id]
            guard let current, current.status == .open else {
                throw NumberError(
                    .unavailable, .outcomeUnknown,
                    "the purchase is being settled elsewhere and is not committed here; retry with the same "
                        + "idempotency key for its result",
                    details: ["intentId": intent.id],
                    internalDetail: "intent \(intent.id) is \(current?.status.rawValue ?? "gone"), not committed")
            }
            // Accounts are never removed: one missing is a damaged state, which the commit leaves as it is.
            guard let account = state.accounts[intent.accountId] else {
                throw .internalFailure("intent \(intent.id): its account \(intent.accountId) is not in the state")
            }
            let trunkId = intent.trunkId.flatMap { state.trunks[$0] != nil ? $0 : nil }
            var balance = account.balance
            var numbers: [OwnedNumber] = []
            var transactions: [LedgerTransaction] = []
            var taken = Set<String>()
            let isTaken = { (id: String) in state.isTaken(id) || taken.contains(id) }
            let stamp = state.ledgerStamp(account.id, now)
            for (item, bought) in zip(intent.items, provisioned) {
                let number = OwnedNumber.purchased(
                    id: Identifier.make(Identifier.number, taken: isTaken), intent: intent, item: item,
                    provisioned: bought, trunkId: trunkId, at: intent.createdAt, textMax: textMax)
                taken.insert(number.id)
                let charge = item.setupFee + item.monthlyFee
                balance -= charge
                let transaction = LedgerTransaction(
                    id: Identifier.make(Identifier.transaction, taken: isTaken), accountId: account.id, kind: .purchase,
                    amount: -charge, balanceAfter: balance, currency: account.currency, numberId: number.id,
                    description: "Phone number setup: \(item.phoneNumber)", createdAt: stamp,
                    idempotencyKey: intent.idempotencyKey, actor: actor)
                taken.insert(transaction.id)
                numbers.append(number)
                transactions.append(transaction)
            }
            precondition(balance >= 0, "a held purchase cannot overdraw")
            let event = CoreEvent.purchaseCommitted(intentId: intent.id, numbers: numbers, transactions: transactions)
            // A re-route to the trunk (or, with none, off the trunk found) sent without an answer may land after
            // this: the number's own trunk change, open (shown in the answer as GetNumber shows it).
            var routeOpen: [CoreEvent] = []
            if let reroutes {
                for index in numbers.indices where reroutes.phones.contains(numbers[index].phoneNumber) {
                    routeOpen.append(.numberRouteRequested(numberId: numbers[index].id, trunkId: trunkId, at: now))
                    numbers[index].routeRequest = RouteRequest(trunkId: trunkId, at: now)
                }
            }
            // The account's own voided purchase's number, bought again while that purchase's POST may still land: its
            // watch stays, claimed by the number (``OrphanWatch/claimedBy``), so a release within the window leaves
            // the late POST to land on a number the watch still releases.
            let lateBuys = self.lateBuys(at: now)
            let claimed = numbers.compactMap { number -> OrphanWatch? in
                guard var watch = state.orphanWatch[number.phoneNumber], watch.intentId.hasPrefix(Identifier.intent),
                    watch.accountId == account.id, lateBuys.contains(watch)
                else { return nil }
                watch.claimedBy = number.id
                return watch
            }
            let claims: [CoreEvent] = claimed.isEmpty ? [] : [.orphanWatchStarted(claimed)]
            return (
                [event] + routeOpen + claims,
                PurchaseResult(numbers: numbers, transactions: transactions, replayed: false)
            )
        }
        // Counted from when the last re-route ended, and its trunk held until it can no longer land, as a trunk change
        // sent without an answer is (``Local/routesEnded``, ``Local/unsettledRoutes``).
        if let reroutes {
            let until = reroutes.ended.addingTimeInterval(Double(lateBuySeconds))
            local.withLock { local in
                for number in result.numbers {
                    guard let request = number.routeRequest else { continue }
                    local.routeMayLandLate(number.id, trunkId: request.trunkId, ended: reroutes.ended, until: until)
                }
                local.reroutesSent.removeValue(forKey: intent.id)
            }
        }
        return result
    }

    /// Releases what was bought and voids the intent; if a release fails the intent stays (compensating) and
    /// reconciliation finishes the job, so no number stays paid at the provider without an owner. `watching` are
    /// numbers that may still turn up at the provider with nobody owning them (a buy that may land late, a number
    /// the provider sold in place of the one asked for): each gets an orphan watch (unless the watch window is 0)
    /// in the first record this writes — with the compensating mark when something must be released, so a number
    /// that is not one of the intent's items is remembered even if its release fails and reconciliation voids the
    /// intent — or else with the void; one such number whose release went through is no orphan, and its watch ends with
    /// the void. When the store has no room for the mark, such a number whose release fails is watched in a record of
    /// its own (``watchUnmarked(_:of:at:)``). A bought number whose release the provider answers "not found" is watched
    /// in the void's record too: right after a purchase Twilio can answer 404 for a number it did sell (its lists and
    /// deletes lag the purchase), and it would stay paid there with nobody owning it.
    ///
    /// Returns false when a release got no answer (``ProviderPass/isNoAnswer(_:)``: a timeout, an unavailable or
    /// misconfigured provider; a 404 or a refusal is an answer). The releases after it are not sent: each would cost
    /// another timeout, a minute with the adapter's retries, while a live purchase's caller waits or a reconciliation
    /// pass, which counts the failure against its limit, holds up the sweep and the next passes. The intent stays
    /// compensating either way, and a later pass releases the rest.
    func compensate(_ intent: PurchaseIntent, bought: [ProvisionedNumber], watching: [String] = []) async -> Bool {
        let now = now()
        func watches(_ phones: [String], _ state: CoreState) -> [CoreEvent] {
            orphanWatchEvents(
                phones.filter { state.phoneOwners[$0] == nil }, accountId: intent.accountId, startedBy: intent.id,
                buyTrunkSid: state.buyTrunkSid(of: intent), at: now, over: state)
        }
        var watched = false
        // A number sold in place of the one asked for is in no reservation (the intent's items are in its own until the
        // void): another purchase may be buying it, or own it by now — Twilio answers its buy 201 with the same SID —,
        // or an adoption claimed it before the mark (it is in this Twilio account, unowned), and this DELETE would
        // take it. One held so is left to that purchase or adoption (its watch ends when it is recorded; an adoption
        // the watch refuses at its record leaves it to the sweep); any other is kept off purchases and adoptions from
        // the mark until its DELETE is done.
        let substitutes = bought.map(\.phoneNumber).filter { phone in
            !intent.items.contains { $0.phoneNumber == phone }
        }
        var heldElsewhere: Set<String> = []
        var blockedHere: [String] = []
        // The mark was decided but the store had no room to record it.
        var unmarked = false
        if !bought.isEmpty && intent.status == .open {
            // Whether this hold of the lock marked it (false: someone else already did; go on releasing).
            let marked: Bool
            do throws(NumberError) {
                marked = try await coordinator.perform { state throws(NumberError) in
                    guard state.intents[intent.id]?.status == .open else { return ([], false) }
                    heldElsewhere = Set(
                        substitutes.filter { phone in
                            state.phoneOwners[phone] != nil
                                || state.reservations[phone].map { $0 != intent.id } ?? false
                                || local.withLock { $0.adoptionHolds(phone, at: now) }
                        })
                    blockedHere = local.withLock { local in
                        substitutes.filter { !heldElsewhere.contains($0) && local.releasingOrphans.insert($0).inserted }
                    }
                    return ([.purchaseIntentCompensating(intentId: intent.id)] + watches(watching, state), true)
                }
            } catch  where error.reason == .storeFull {
                // Decided (its look at who holds each substitute stands) but not recorded. Without the durable mark a
                // DELETE of an item could race reconciliation committing the open intent, so the items are left to
                // it; a number sold in place of one asked for is no item, and nothing else would ever release it.
                unmarked = true
                marked = false
            } catch {
                return true
            }
            watched = marked
        }
        var released = true
        // False once a DELETE got no answer: the rest are not sent.
        var answered = true
        var unseen: [String] = []
        // Unseen numbers whose DELETE may still land: kept off purchases like the sweep's (``blockPurchases(_:)``).
        var inFlight: [String] = []
        // Numbers whose DELETE went through: E.164 → the SID gone.
        var deleted: [String: String] = [:]
        for number in bought
        where !heldElsewhere.contains(number.phoneNumber) && (!unmarked || substitutes.contains(number.phoneNumber)) {
            do {
                try await provider.release(sid: number.sid)
                deleted[number.phoneNumber] = number.sid
                // Gone at the provider: a purchase of it now gets a new SID, which no DELETE of this one can take.
                if blockedHere.contains(number.phoneNumber) {
                    local.withLock { _ = $0.releasingOrphans.remove(number.phoneNumber) }
                }
            } catch let error as ProviderError where error.kind == .notFound {
                unseen.append(number.phoneNumber)
                if error.mayStillTakeEffect { inFlight.append(number.phoneNumber) }
            } catch {
                released = false
                logger.error(
                    "compensating release failed; left for reconciliation",
                    metadata: ["intent": "\(intent.id)", "sid": "\(number.sid)", "error": "\(error)"])
                if ProviderPass.isNoAnswer(.fromProvider(error, phoneNumber: number.phoneNumber)) {
                    answered = false
                    break
                }
            }
        }
        if unmarked {
            // The intent is left open for reconciliation, which settles its items — and only them: the mark's watch of
            // a substitute was never recorded, and the sweep lifts the block of a number nobody watches. A substitute
            // whose DELETE did not go through is watched in a record of its own, or nothing would ever release it.
            await watchUnmarked(
                substitutes.filter { !heldElsewhere.contains($0) && deleted[$0] == nil }, of: intent, at: now)
            return answered
        }
        guard released else { return answered }
        let unwatched = watched ? [] : watching
        let withVoid = (unwatched + unseen.filter { !unwatched.contains($0) }).filter { deleted[$0] == nil }
        _ = try? await coordinator.perform { state throws(NumberError) in
            self.blockPurchases(inFlight)
            guard state.intents[intent.id] != nil else { return ([], true) }
            // A substitute the mark watched and the DELETE took is no orphan, and no buy of it is in flight: its
            // watch would only keep other accounts' purchases of it off for nothing (`CoreState.requireAvailable`).
            let gone: [CoreEvent] = deleted.keys.sorted().compactMap { phone -> CoreEvent? in
                guard let watch = state.orphanWatch[phone], watch.intentId == intent.id, let sid = deleted[phone]
                else { return nil }
                // Unless a watch it replaced still has a buy to watch for (``OrphanWatch/earlierBuys``).
                return watch.released(sid: sid, at: now)
            }
            return ([.purchaseIntentVoided(intentId: intent.id)] + watches(withVoid, state) + gone, true)
        }
        return answered
    }

    /// Watches `phones` — substitutes a compensation could not delete after the store had no room for its mark, which
    /// was to watch them — in a record of their own; a store with no room is tried again as a refused release's
    /// withdrawal is, `noRoomRetryMilliseconds` + 10 ms later, at most ``withdrawalAttemptsMax`` times. Numbers owned
    /// through numberd are left out; one watched already is watched for this buy as well (a watch that ended with the
    /// other's first release would have left this one's number). Given up, the provider audit names the number
    /// (`unowned`).
    private func watchUnmarked(_ phones: [String], of intent: PurchaseIntent, at now: Date) async {
        guard !phones.isEmpty else { return }
        for attempt in 1...Self.withdrawalAttemptsMax {
            do throws(NumberError) {
                _ = try await coordinator.perform { state throws(NumberError) -> ([CoreEvent], Bool) in
                    let unowned = phones.filter { state.phoneOwners[$0] == nil }
                    let events = self.orphanWatchEvents(
                        unowned, accountId: intent.accountId, startedBy: intent.id,
                        buyTrunkSid: state.buyTrunkSid(of: intent), at: now, over: state)
                    return (events, true)
                }
                return
            } catch  where error.reason == .storeFull && attempt < Self.withdrawalAttemptsMax {
                try? await Task.sleep(for: .milliseconds(config.commits.noRoomRetryMilliseconds + 10))
            } catch {
                logger.error(
                    "a number the provider sold in place of another could be neither released nor watched",
                    metadata: ["intent": "\(intent.id)", "numbers": "\(phones)", "error": "\(error)"])
                return
            }
        }
    }
}

extension CoreState {
    /// What a purchase of `phones` by `account` on the provider trunk `trunkSid` (nil: none) for `total` must find, in
    /// this order: none of them the account's own or being bought by it, or being released by numberd, or of a purchase
    /// of the account's voided on another trunk while its buy may still land
    /// (``requireAvailable(_:to:onTrunk:releasing:lateBuys:offeredAs:)``), room under the account's number limit,
    /// `total` available, then none held or being bought by another tenant, nor one whose purchase by another tenant
    /// was voided while its buy may still land (`lateBuys`) — after the balance, so an account without the money cannot
    /// learn which numbers others hold (every purchase it asks for is INSUFFICIENT_BALANCE alike), and refused in the
    /// words the provider's refusal of a number it does not offer gets (`offeredAs`, "US local"), so a funded one
    /// cannot tell them apart by the answer either; with `offeredAs` nil, other tenants' numbers are not looked at (the
    /// first checks, before the price is known). Numbers held and numbers other purchases of the account are buying
    /// count in the limit: K purchases at once must not each see room for themselves. A number being released does not
    /// count (the customer gave it back; it is never billed again), unless a running call that may still withdraw it
    /// drives its release (a caller's release, a grace release): one the provider refuses outright is withdrawn and
    /// held again, and must have been counted. Reconciliation's releases are never withdrawn: they do not count.
    func requirePurchasable(
        _ phones: [String], by account: Account, onTrunk trunkSid: String?, total: Int64, numbersMax: Int,
        releasing: (orphans: Set<String>, withdrawable: Set<String>), lateBuys: LateBuyWindow,
        offeredAs: NumberError.Offering?
    ) throws(NumberError) {
        let withdrawable = releasing.withdrawable
        let releasing = releasing.orphans
        // Only the account's own releases here: another tenant's is told, after the balance, as a number not offered.
        for phone in phones {
            try requireAvailable(
                phone, to: account.id, onTrunk: trunkSid,
                releasing: releasing.contains(phone) && releasedBy(account.id, phone) ? [phone] : [],
                lateBuys: lateBuys, offeredAs: nil)
        }
        let active =
            countedForLimit(account.id, withdrawableReleases: withdrawable) + (reservedNumberCounts[account.id] ?? 0)
        guard active + phones.count <= numbersMax else {
            throw NumberError(
                .resourceExhausted, .limitExceeded, "an account may hold at most \(numbersMax) numbers",
                details: ["max": String(numbersMax)])
        }
        guard account.available >= total else {
            throw .insufficientBalance(required: total, available: account.available, currency: account.currency)
        }
        guard let offeredAs else { return }
        for phone in phones {
            try requireAvailable(
                phone, to: account.id, onTrunk: trunkSid, releasing: releasing, lateBuys: lateBuys,
                offeredAs: offeredAs)
        }
    }

    /// Whether `phone`, being released at the provider, is `accountId`'s to hear so: its number, or its watch (a release
    /// of its in doubt, a voided purchase of its).
    func releasedBy(_ accountId: String, _ phone: String) -> Bool {
        orphanWatch[phone]?.accountId == accountId || phoneOwners[phone].flatMap { numbers[$0]?.accountId } == accountId
    }

    /// Whether a search may offer `phone` to `accountId` ("" for a search of no account): not when a purchase by it
    /// would be refused whatever it named (``requireAvailable(_:to:onTrunk:releasing:lateBuys:offeredAs:)``) — a
    /// number held here, reserved by a purchase, being released by numberd, or whose voided purchase by another
    /// account may still land. The account's own voided purchase's number stays offered (it may buy it on that buy's
    /// trunk).
    func mayOffer(_ phone: String, to accountId: String, releasing: Set<String>, lateBuys: LateBuyWindow) -> Bool {
        guard phoneOwners[phone] == nil, reservations[phone] == nil, !releasing.contains(phone) else { return false }
        guard let watch = orphanWatch[phone], lateBuys.contains(watch) else { return true }
        return watch.accountId == accountId
    }

    /// Refuses `phone` as `NUMBER_UNAVAILABLE` when a number here holds it, a purchase reserves it, numberd is
    /// releasing it at the provider (`releasing`: numberd's own orphans, to retry later), or a purchase of it was
    /// voided while its buy may still land at the provider (a `PIN_…` orphan watch in `lateBuys`,
    /// ``NumberService/lateBuys(at:)``): Twilio takes that late POST as an update of the number its account then owns
    /// and routes it to the voided purchase's trunk. Another tenant's would send this buyer's calls to that tenant; the
    /// account's own, made on another trunk than `trunkSid` (this purchase's, nil for none), would route the number
    /// away from the trunk numberd records — which could then be deleted while the number still goes there — so the
    /// account may buy it only on the trunk that buy carried (``OrphanWatch/buyTrunkSid``; not known: not at all) until
    /// the window ends. Only the account's own number, purchase or voided purchase is named as such; another tenant's —
    /// looked at only with `offeredAs` — gets the answer a number the provider does not offer as that country and type
    /// gets, whichever it is, so nothing tells a tenant what others own or are buying.
    func requireAvailable(
        _ phone: String, to accountId: String, onTrunk trunkSid: String?, releasing: Set<String>,
        lateBuys: LateBuyWindow, offeredAs: NumberError.Offering?
    ) throws(NumberError) {
        if let owner = phoneOwners[phone] {
            if numbers[owner]?.accountId == accountId {
                throw .numberUnavailable(phone, "this account owns it already")
            }
            if let offeredAs { throw .numberUnavailable(phone, NumberService.notOffered(offeredAs)) }
        }
        if let intentId = reservations[phone] {
            if intents[intentId]?.accountId == accountId {
                throw .numberUnavailable(phone, "a purchase of it by this account is in progress")
            }
            if let offeredAs { throw .numberUnavailable(phone, NumberService.notOffered(offeredAs)) }
        }
        if releasing.contains(phone) {
            // Another tenant's release in doubt, or a voided purchase's number a restart watches, said "being released"
            // to any purchase: that the number was someone's.
            if let offeredAs, !releasedBy(accountId, phone) {
                throw .numberUnavailable(phone, NumberService.notOffered(offeredAs))
            }
            throw .numberUnavailable(phone, "it is being released at the provider")
        }
        guard let watch = orphanWatch[phone], lateBuys.contains(watch) else { return }
        if watch.accountId == accountId {
            // "" stands for no trunk on both sides (``OrphanWatch/buyTrunkSid``).
            guard let buyTrunkSid = watch.buyTrunkSid, Trunk.sidKey(buyTrunkSid) == Trunk.sidKey(trunkSid ?? "") else {
                // A watch that does not know its POST's trunk (an older record, a trunk since deleted) admits none.
                // The same trunk is offered only while the account has a trunk with its SID: once that trunk is
                // deleted no purchase can name it, and the refusal said to buy on it all the same.
                let when = hasTrunk(providerSid: watch.buyTrunkSid, of: accountId) ? "with the same trunk, or " : ""
                throw .numberUnavailable(
                    phone,
                    "a purchase of it by this account was voided while its request may still reach the provider; buy "
                        + "it \(when)after \(lateBuys.end(of: watch).iso8601Milliseconds)")
            }
        } else if let offeredAs {
            throw .numberUnavailable(phone, NumberService.notOffered(offeredAs))
        }
    }

    /// Whether a purchase by the account can carry the provider trunk SID `sid` (``OrphanWatch/buyTrunkSid``): `""`
    /// (no trunk) always, another when one of the account's trunks has it, nil (not known) never.
    func hasTrunk(providerSid sid: String?, of accountId: String) -> Bool {
        guard let sid else { return false }
        return sid.isEmpty || !trunkIds(providerSid: sid, of: accountId).isEmpty
    }

    /// The account's trunks whose provider SID is `sid` (none for one numberd does not know).
    func trunkIds(providerSid sid: String, of accountId: String) -> Set<String> {
        (providerTrunks[Trunk.sidKey(sid)] ?? []).filter { trunks[$0]?.accountId == accountId }
    }

    /// The provider trunk SID `intent`'s buys carried (``OrphanWatch/buyTrunkSid``): its trunk's, `""` for none; nil
    /// when its trunk is no longer recorded (an open intent's trunk cannot be deleted: not known, then).
    func buyTrunkSid(of intent: PurchaseIntent) -> String? {
        guard let trunkId = intent.trunkId else { return "" }
        return trunks[trunkId]?.providerTrunkSid
    }

    /// The stored purchase result for an idempotency record, or the error a mismatch or open intent gives.
    func replay(_ record: IdempotencyRecord, key: String, fingerprint: String) throws(NumberError) -> PurchaseResult {
        guard record.operation == .purchase, record.fingerprint == fingerprint else {
            throw .idempotencyKeyReused(key, record: record)
        }
        switch record.outcome {
        case .pending: throw .requestInProgress(key)
        case .purchased(let numberIds, let transactionIds):
            return PurchaseResult(
                numbers: numberIds.compactMap { numbers[$0] },
                transactions: transactionIds.compactMap { transaction($0) },
                replayed: true)
        case .fundsAdded, .adjusted, .releaseRequested: throw .idempotencyKeyReused(key, record: record)
        }
    }
}

extension OwnedNumber {
    /// A number just bought through `intent`: the cycle starts now, the anchor is today's UTC day. The provider's
    /// friendly name, used when the intent kept no listing, is bounded to `textMax` scalars.
    static func purchased(
        id: String, intent: PurchaseIntent, item: PurchaseIntent.Item, provisioned: ProvisionedNumber,
        trunkId: String?, at now: Date, textMax: Int
    ) -> OwnedNumber {
        let anchor = BillingCalendar.anchorDay(of: now)
        return OwnedNumber(
            id: id, accountId: intent.accountId, phoneNumber: item.phoneNumber,
            friendlyName: item.listing?.friendlyName ?? Validation.providerText(provisioned.friendlyName, max: textMax),
            country: intent.country,
            region: item.listing?.region, locality: item.listing?.locality, postalCode: item.listing?.postalCode,
            type: intent.type, capabilities: provisioned.capabilities, status: .active, trunkId: trunkId,
            setupFee: item.setupFee, monthlyFee: item.monthlyFee, currency: intent.currency,
            providerSid: provisioned.sid, purchasedAt: now, billingAnchorDay: anchor, cycleStart: now,
            nextBillingDate: BillingCalendar.nextBillingDate(after: now, anchorDay: anchor))
    }
}
