import Foundation

/// Filters and paging for ``NumberService/listNumbers(_:)``.
public struct ListNumbersRequest: Sendable, Hashable {
    /// The account.
    public var accountId: String
    /// Only numbers with this status as the customer sees it (``OwnedNumber/listingStatus``: a number whose release
    /// is running or in doubt is `releasing`, not active or past due); nil means all but released, releasing ones
    /// included.
    public var status: OwnedNumber.ListingStatus?
    /// Only numbers on this trunk.
    public var trunkId: String?
    /// Page size; 0 means the default.
    public var pageSize: Int
    /// The token from the previous page.
    public var pageToken: String?

    /// Creates a request.
    public init(
        accountId: String, status: OwnedNumber.ListingStatus? = nil, trunkId: String? = nil, pageSize: Int = 0,
        pageToken: String? = nil
    ) {
        self.accountId = accountId
        self.status = status
        self.trunkId = trunkId
        self.pageSize = pageSize
        self.pageToken = pageToken
    }
}

/// A number with its trunk's name, as listings show it.
public struct NumberListing: Sendable, Hashable {
    /// The number.
    public var number: OwnedNumber
    /// The name of its trunk, if it has one.
    public var trunkName: String?
    /// For a number past due (not releasing): when its grace period ends, counting numberd's downtimes known now
    /// (``NumberService/graceDowntimes(at:)``) — the first billing run after it releases the number unless the
    /// account's money renews it first; a later stop of numberd (or a full disk) moves it on. nil otherwise.
    public var graceEndsAt: Date?

    /// The number with its trunk's name and, past due, when its grace period ends.
    public init(number: OwnedNumber, trunkName: String?, graceEndsAt: Date? = nil) {
        self.number = number
        self.trunkName = trunkName
        self.graceEndsAt = graceEndsAt
    }
}

/// A page of numbers.
public struct NumberPage: Sendable, Hashable {
    /// In the order numberd recorded them (a purchase that reconciliation settles late is listed after numbers bought
    /// meanwhile, though its `purchasedAt` is earlier).
    public var numbers: [NumberListing]
    /// The token for the next page, nil at the end.
    public var nextPageToken: String?
    /// How many numbers match the filters (all pages), releasing ones included when they match.
    public var total: Int
    /// The sum of the monthly fees of the matching numbers that are billed (active or past due: not releasing or
    /// released), minor units.
    public var monthlyCost: Int64
    /// The account's currency.
    public var currency: String
}

extension NumberService {
    /// The account's numbers, filtered and paged, with the total count and monthly cost. A number whose release was
    /// asked for and is not yet recorded (its DELETE running, or its outcome in doubt until reconciliation settles it)
    /// is listed as `releasing` — never silently dropped — and costs nothing a month: it is never billed again.
    ///
    /// A token is a position in the account's numbers, bound to the request's status and trunk filter. A page reads
    /// at most ``numberPageReadMax(pageSize:)`` of them, matching or not, so a filtered page may come back short (even
    /// empty) with a token: a walk lists every number that matches throughout it once, in the order numberd recorded
    /// them; numbers bought meanwhile come on later pages, and those released before their page is read drop out.
    public func listNumbers(_ request: ListNumbersRequest) throws(NumberError) -> NumberPage {
        let size = try Validation.pageSize(request.pageSize, limits: config.limits)
        let query = "numbers|\(request.accountId)|\(request.status?.rawValue ?? "-")|\(request.trunkId ?? "-")"
        let start = try PageToken.decode(request.pageToken, query: query) ?? 0
        let graceEnds = pastDueGraceEnds()
        return try coordinator.read { state throws(NumberError) in
            let account = try state.requireAccount(request.accountId)
            if let trunkId = request.trunkId { _ = try state.requireTrunk(trunkId, of: account.id) }
            let ids = state.numberIDs(of: account.id)
            guard start <= ids.count else { throw .invalidPageToken() }
            if request.status == .released {
                return Self.releasedPage(
                    state, account: account, ids: ids, trunkId: request.trunkId, start: start, size: size, query: query)
            }
            let listing = { (position: Int) -> NumberListing? in
                guard let number = state.numbers[ids[position]] else { return nil }
                let shown = number.listingStatus
                let statusOK = request.status.map { shown == $0 } ?? (shown != .released)
                guard statusOK, request.trunkId == nil || number.trunkId == request.trunkId else { return nil }
                return NumberListing(
                    number: number, trunkName: number.trunkId.flatMap { state.trunks[$0]?.name },
                    graceEndsAt: graceEnds(number))
            }
            // Held numbers only (positions in `ids`, so a page token means the same as for the released listing).
            let positions = state.held.positions(of: account.id)
            // The account's and each trunk's totals are kept as numbers change, so a page costs at most the numbers it
            // may read (``numberPageReadMax(pageSize:)``), not all the account holds.
            let totals = request.trunkId.map { state.held.totals(ofTrunk: $0) } ?? state.held.totals(of: account.id)
            let (total, monthlyCost) = (totals.count(request.status), totals.monthlyCost(request.status))
            // None to list (a trunk with no numbers, say): no page to look for among the account's numbers.
            guard total > 0 else {
                return NumberPage(numbers: [], nextPageToken: nil, total: 0, monthlyCost: 0, currency: account.currency)
            }
            let (page, next, _) = Self.readPage(
                positions[Self.firstIndex(in: positions, atLeast: start)...], size: size,
                readMax: Self.numberPageReadMax(pageSize: size), entry: listing)
            return NumberPage(
                numbers: page, nextPageToken: next.map { PageToken.encode(query: query, position: $0) }, total: total,
                monthlyCost: monthlyCost, currency: account.currency)
        }
    }

    /// Most of the account's numbers a page of ListNumbers reads, matching its filter or not: 4 × the page size, at
    /// least 1000. A filtered page steps over the numbers that do not match, and without a bound every page of
    /// `status: PAST_DUE` on an account of 10 000 active numbers and 1 past-due one read all 10 000 (under the durable
    /// state's lock, which the journal writer needs after every commit) to learn there was no next page.
    static func numberPageReadMax(pageSize: Int) -> Int { max(4 * pageSize, 1_000) }

    /// A page read from `positions` (ascending), keeping what `entry` makes of each (nil: not listed), and where the
    /// next page starts (nil: no next page), with how many positions it read. It stops once it holds `size` entries
    /// and finds the next one (which starts the next page), when the positions end, or when it has read `readMax`
    /// positions: the next page then starts at the first position not read, and this one may be short, even empty.
    static func readPage<Entry>(
        _ positions: some Sequence<Int>, size: Int, readMax: Int, entry: (Int) -> Entry?
    ) -> (entries: [Entry], next: Int?, read: Int) {
        var entries: [Entry] = []
        var read = 0
        for position in positions {
            guard read < readMax else { return (entries, position, read) }
            read += 1
            guard let found = entry(position) else { continue }
            guard entries.count < size else { return (entries, position, read) }
            entries.append(found)
        }
        return (entries, nil, read)
    }

    /// The index of the first of `positions` (ascending) that is at least `start`.
    static func firstIndex(in positions: [Int], atLeast start: Int) -> Int {
        var (low, high) = (0, positions.count)
        while low < high {
            let middle = (low + high) / 2
            if positions[middle] < start { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// A page of the account's released numbers, reading at most ``numberPageReadMax(pageSize:)`` of its numbers,
    /// released or held — not every number the account ever had (a year of churn at the purchase cap is most of a
    /// million, and this runs under the durable state's lock, which the journal writer needs after every commit).
    /// Released numbers keep no trunk, so a trunk filter matches none; their total is every number minus the held
    /// ones, and they cost nothing a month.
    private static func releasedPage(
        _ state: CoreState, account: Account, ids: [String], trunkId: String?, start: Int, size: Int, query: String
    ) -> NumberPage {
        guard trunkId == nil else {
            return NumberPage(numbers: [], nextPageToken: nil, total: 0, monthlyCost: 0, currency: account.currency)
        }
        let total = ids.count - (state.heldNumberCounts[account.id] ?? 0)
        let released = { (position: Int) -> NumberListing? in
            guard let number = state.numbers[ids[position]], number.status == .released else { return nil }
            return NumberListing(number: number, trunkName: nil)
        }
        let (page, next, _) = readPage(
            start..<ids.count, size: size, readMax: numberPageReadMax(pageSize: size), entry: released)
        return NumberPage(
            numbers: page, nextPageToken: next.map { PageToken.encode(query: query, position: $0) }, total: total,
            monthlyCost: 0, currency: account.currency)
    }

    /// One number of the account (another account's number is NOT_FOUND), by its id or by the E.164 number it holds
    /// now (a released number only by its id: the same E.164 may have been held, and released, more than once).
    public func number(accountId: String, numberId: String) throws(NumberError) -> NumberListing {
        let graceEnds = pastDueGraceEnds()
        return try coordinator.read { state throws(NumberError) in
            var id = numberId
            // Only this account's holder: another's id would show in the NOT_FOUND's message.
            if numberId.hasPrefix("+"), let holder = state.phoneOwners[numberId],
                state.numbers[holder]?.accountId == accountId
            {
                id = holder
            }
            let number = try state.requireNumber(id, of: accountId)
            return NumberListing(
                number: number, trunkName: number.trunkId.flatMap { state.trunks[$0]?.name },
                graceEndsAt: graceEnds(number))
        }
    }

    /// When a past-due number's grace period ends (``NumberListing/graceEndsAt``), by the downtimes billing counts
    /// now — read once, before the state's lock, for a whole page.
    private func pastDueGraceEnds() -> @Sendable (OwnedNumber) -> Date? {
        let downtimes = graceDowntimes(at: now())
        let grace = config.billing.gracePeriodSeconds
        return { number in
            guard number.listingStatus == .pastDue, let since = number.pastDueSince else { return nil }
            return downtimes.graceEnds(markedAt: since, grace: grace)
        }
    }

    /// Routes the number to a trunk (nil removes it from its trunk), at the provider first, then in our state; once
    /// started it runs to its end even if the calling task is cancelled (``carriedThrough(_:)``), so our state is not
    /// left behind the provider's. `evenIfSuspended` (an administrator's call) changes a suspended account's number
    /// too, as the same flag of `release` releases one: an operator can take a suspended account's numbers off its
    /// trunks (or move them) without making the account active again, which would let it buy meanwhile. A past-due
    /// number whose grace period is over is refused FAILED_PRECONDITION / NUMBER_NOT_ACTIVE before anything is sent
    /// (``refuseIfGraceOver(_:graceOverIfMarkedBy:)``).
    public func setTrunk(
        accountId: String, numberId: String, trunkId: String?, evenIfSuspended: Bool = false,
        authorizedBy: String? = nil
    ) async throws(NumberError) -> NumberListing {
        // A caller gone before anything started starts nothing (from here on the change runs to its end).
        guard !Task.isCancelled else { throw Self.cancelledBeforeStart }
        // What the decision refuses is refused before the caller waits for one of its account's provider slots — by a
        // decision (it writes nothing, and answers once what it saw is durable), checking what ``claimRoute`` checks: a
        // change or release of the number running or waiting is refused, as it would be after the wait. A change to
        // the trunk the number is recorded on is sent to the provider all the same, in its turn: the request is
        // idempotent there, and it repairs a number the provider routes elsewhere — after a change whose outcome was
        // unknown or unrecorded and not yet reconciled (``OwnedNumber/routeRequest``), or a change made in Twilio's
        // console. Answered at once without the provider, "it changes nothing" left such a number where it was.
        let graceOver = graceOverIfMarkedBy(at: now())
        try await coordinator.perform { state throws(NumberError) -> ([CoreEvent], Void) in
            _ = try evenIfSuspended ? state.requireAccount(accountId) : state.requireActiveAccount(accountId)
            let number = try state.requireUsableNumber(numberId, of: accountId)
            try Self.refuseIfGraceOver(number, graceOverIfMarkedBy: graceOver)
            if let id = trunkId, !id.isEmpty { _ = try state.requireTrunk(id, of: accountId) }
            try self.local.withLock { local throws(NumberError) -> Void in
                guard local.routing[numberId] == nil else { throw .trunkChangeInProgress(numberId) }
                guard !local.liveReleases.contains(numberId), local.waitingReleases[numberId] == nil else {
                    throw .releaseInProgress(numberId)
                }
            }
            return ([], ())
        }
        return try await withProviderChangeSlot(accountId) { () async throws(NumberError) -> NumberListing in
            try await self.carriedThrough { () async throws(NumberError) -> NumberListing in
                try await self.routeNumber(
                    accountId: accountId, numberId: numberId, trunkId: trunkId, evenIfSuspended: evenIfSuspended,
                    authorizedBy: authorizedBy)
            }
        }
    }

    /// A call whose caller was gone (cancelled, its deadline passed) before it started anything.
    static let cancelledBeforeStart = NumberError(.cancelled, .providerUnavailable, "cancelled before anything started")

    /// Claims the number under the decision lock (no other trunk change of it, no release of it and no deletion of
    /// the trunk it goes to can start until the change is recorded), changes it at the provider, then records it. Two
    /// changes of one number, or a change racing the deletion of its trunk, used to leave the provider and our state
    /// on different trunks.
    private func routeNumber(
        accountId: String, numberId: String, trunkId: String?, evenIfSuspended: Bool, authorizedBy: String?
    ) async throws(NumberError) -> NumberListing {
        let trunkId = trunkId?.isEmpty == true ? nil : trunkId
        let (number, trunk) = try await claimRoute(
            accountId: accountId, numberId: numberId, trunkId: trunkId, evenIfSuspended: evenIfSuspended,
            authorizedBy: authorizedBy)
        // Whether this call's request may still land (sent without an answer), even if the provider shows it made:
        // that may be where the number was before, the request still on its way. Only then does the in-flight horizon
        // start again from this call's end (``endRoute(_:mayLandLate:)``).
        var mayLandLate = false
        defer { endRoute(numberId, mayLandLate: mayLandLate) }
        do {
            try await provider.setTrunk(sid: number.providerSid, trunkSid: trunk?.providerTrunkSid)
        } catch {
            mayLandLate = Self.mayStillTakeEffect(error)
            // No answer (a timeout, a lost connection), or a removal whose DELETE gave up after an attempt that may
            // have reached the provider: the provider may route the number as asked already. Recorded only as the
            // provider shows it: left on the old trunk here while the provider routes to the new one, the new trunk
            // could be deleted under the number. Shown so, the change is recorded, but its request stays open while it
            // may still land (the number may have been there before, the request still on its way: a later change
            // settled at once would be undone by its landing for good). (Shown otherwise, the error stands: a retry of
            // the change tells the caller where the number is, as does any later change of the number, one back to the
            // recorded trunk included, since every change is sent to the provider. Until then `Local.unsettledRoutes`
            // keeps the trunk asked for, and the one the look-up showed, from being deleted under the number — added to
            // what earlier unsettled changes hold: a change back to the recorded trunk that got no answer either, its
            // look-up showing the first change landed, used to replace the first change's trunk with the recorded one,
            // and the trunk the provider routed the number to could be deleted. A request that got no answer may also
            // land after a later change is recorded, routing the number back: its trunk stays held until it no longer
            // can, as long as a voided purchase's buy may land. SIDs compare by ``Trunk/sidKey(_:)``: Twilio shows a
            // trunk recorded in upper case in lower case.)
            if Self.mayStillTakeEffect(error), let asked = trunk?.id {
                let until = now().addingTimeInterval(Double(lateBuySeconds))
                local.withLock { $0.unsettledRoutes.holdLate(asked, of: numberId, until: until) }
            }
            var lookedUp: ProvisionedNumber?
            if Self.mayHaveHappened(error) {
                lookedUp = try? await provider.lookUp(phoneNumber: number.phoneNumber)
                // Another SID is another purchase of the number: it says nothing of where this one is routed.
                if lookedUp?.sid != number.providerSid { lookedUp = nil }
            }
            guard let shown = lookedUp, shown.trunkSid.map(Trunk.sidKey) == trunk?.providerTrunkSidKey else {
                if Self.mayHaveHappened(error) {
                    var held = trunkIds(providerTrunkSid: lookedUp?.trunkSid, of: accountId)
                    if let asked = trunk?.id { held.insert(asked) }
                    local.withLock { $0.unsettledRoutes.hold(held, of: numberId) }
                }
                // The provider refused it outright: it routes the number as before, and the request is settled so
                // (left open, reconciliation would do the same, later).
                if !Self.mayHaveHappened(error) { await settleRouteRequest(numberId) }
                // Twilio's 404 for a number it sold us: right after a purchase it can answer so for a while
                // (twilio-api.md §8.6). Not the customer's NOT_FOUND — the number is theirs —, but a retry (a number
                // that stays missing there shows in the provider audit).
                if (error as? ProviderError)?.kind == .notFound {
                    throw NumberError(
                        .unavailable, .providerUnavailable,
                        "the provider does not show \(number.phoneNumber) yet (a number can take a moment to appear "
                            + "after its purchase); retry shortly", details: ["phoneNumber": number.phoneNumber])
                }
                // The request stays open (``OwnedNumber/routeRequest``): reconciliation records where the provider
                // routes the number once the change can no longer land (``reconcileRoutes(max:into:pass:)``). The
                // caller learns sooner where the number goes by asking again — the provider then routes it as asked,
                // and the change is recorded (its request kept open while this one may still land).
                if Self.mayHaveHappened(error) {
                    throw NumberError(
                        .unavailable, .outcomeUnknown,
                        "the trunk change may have reached the provider and may still take effect there; make it again "
                            + "to have the number routed as asked (reconciliation records where the provider routes "
                            + "the number once the change can no longer land)",
                        details: ["numberId": numberId],
                        internalDetail: "\(error)")
                }
                throw NumberError.fromProvider(error, phoneNumber: number.phoneNumber)
            }
        }
        do throws(NumberError) {
            let listing = try await recordRoute(
                accountId: accountId, numberId: numberId, trunkId: trunkId, keepOpen: mayLandLate)
            let recordedAt = now()
            local.withLock { $0.unsettledRoutes.settle(numberId, at: recordedAt) }
            return listing
        } catch {
            // As after a crash here: the provider may route the number as asked while the state says otherwise. Only
            // the caller can settle it (a retry sets the provider again, then records).
            if let asked = trunk?.id { local.withLock { $0.unsettledRoutes.hold([asked], of: numberId) } }
            throw Self.unrecorded(
                error, "the number's trunk was changed at the provider and the change is not recorded: retry it",
                details: ["numberId": numberId])
        }
    }

    /// Records a trunk change the provider has made, settling its route request. A request that may still land
    /// itself (`keepOpen`: its call got no answer, and a look-up showed the number where it asked), or that replaced
    /// open ones which may (``RouteRequest/earlier``, within the in-flight horizon), is not settled but recorded again
    /// after the change: the number is on the new trunk, and reconciliation settles where the provider routes it once
    /// none can land any more (one landing after a later change would route it back).
    private func recordRoute(
        accountId: String, numberId: String, trunkId: String?, keepOpen: Bool = false
    ) async throws(NumberError) -> NumberListing {
        let now = now()
        let graceEnds = pastDueGraceEnds()
        return try await coordinator.perform { state throws(NumberError) -> ([CoreEvent], NumberListing) in
            var current = try state.requireUsableNumber(numberId, of: accountId)
            let trunk = try trunkId.map { id throws(NumberError) in try state.requireTrunk(id, of: accountId) }
            let stillOpen = current.routeRequest.map {
                keepOpen || (!$0.earlier.isEmpty && self.mayStillLand(numberId, $0, at: now))
            }
            guard current.trunkId != trunk?.id || stillOpen == false else {
                // Already so, and nothing to settle, or the request stays open as it is.
                return ([], NumberListing(number: current, trunkName: trunk?.name, graceEndsAt: graceEnds(current)))
            }
            var events: [CoreEvent] = [.numberTrunkChanged(numberId: numberId, trunkId: trunk?.id)]
            current.trunkId = trunk?.id
            if let request = current.routeRequest, stillOpen == true {
                // Applied in this order, they leave the request open with the same `earlier` (and the earlier trunks
                // exist: DeleteTrunk refuses them while they are held).
                events += request.earlier.map {
                    .numberRouteRequested(numberId: numberId, trunkId: $0.isEmpty ? nil : $0, at: request.at)
                }
                events.append(.numberRouteRequested(numberId: numberId, trunkId: trunk?.id, at: request.at))
                current.routeRequest = RouteRequest(trunkId: trunk?.id, at: request.at, earlier: request.earlier)
            } else {
                current.routeRequest = nil
            }
            return (events, NumberListing(number: current, trunkName: trunk?.name, graceEndsAt: graceEnds(current)))
        }
    }

    /// Settles the number's open route request on the trunk it is recorded on, the provider having refused the change
    /// outright — unless it replaced open requests (``RouteRequest/earlier``), which may still land: reconciliation
    /// settles it then, from what the provider shows once they can no longer land. A failure to record it (a store
    /// with no room) leaves the request to reconciliation too.
    func settleRouteRequest(_ numberId: String) async {
        _ = try? await coordinator.perform { state throws(NumberError) -> ([CoreEvent], Void) in
            guard let number = state.numbers[numberId], number.status != .released,
                number.routeRequest?.earlier.isEmpty == true
            else { return ([], ()) }
            return ([.numberTrunkChanged(numberId: numberId, trunkId: number.trunkId)], ())
        }
    }

    /// Checks the number and trunk and claims the number for the change, one to the trunk it is recorded on included
    /// (see ``setTrunk(accountId:numberId:trunkId:evenIfSuspended:)``). A claim whose decision then fails (it waits
    /// for what it saw to be durable, which a store with no room can refuse) is handed back: left, it would refuse
    /// every later change or release of the number and keep billing's grace release off it. A past-due number whose
    /// grace period is over is not claimed (``refuseIfGraceOver(_:graceOverIfMarkedBy:)``).
    private func claimRoute(
        accountId: String, numberId: String, trunkId: String?, evenIfSuspended: Bool, authorizedBy: String?
    ) async throws(NumberError) -> (number: OwnedNumber, trunk: Trunk?) {
        var claimedHere = false
        let graceOver = graceOverIfMarkedBy(at: now())
        do throws(NumberError) {
            return try await coordinator.perform(admitting: true) { state throws(NumberError) in
                // Its key revoked while it waited for its turn: not sent.
                try state.requireUnrevokedKey(authorizedBy)
                _ = try evenIfSuspended ? state.requireAccount(accountId) : state.requireActiveAccount(accountId)
                let number = try state.requireUsableNumber(numberId, of: accountId)
                try Self.refuseIfGraceOver(number, graceOverIfMarkedBy: graceOver)
                let trunk = try trunkId.map { id throws(NumberError) in try state.requireTrunk(id, of: accountId) }
                try self.local.withLock { local throws(NumberError) -> Void in
                    guard local.routing[numberId] == nil else {
                        throw .trunkChangeInProgress(numberId)
                    }
                    // A release of the number asked for while this change waited for its slot, waiting or running:
                    // refused as the check before the wait refuses it. Claimed, the change would run for a number
                    // being given up, and the release behind it be refused after its wait (a trunk change running).
                    guard !local.liveReleases.contains(numberId), local.waitingReleases[numberId] == nil else {
                        throw .releaseInProgress(numberId)
                    }
                    local.routing[numberId] = .some(trunk?.id)
                    // The request this one replaces may still land until the horizon after when its call ended; this
                    // claim's own time must not stand in for that once it is replaced (``endRoute(_:mayLandLate:)``).
                    if let open = number.routeRequest, local.routesEnded[numberId] == nil {
                        local.routesEnded[numberId] = Self.inheritedCallsEnded(
                            startedAt: local.startedAt, from: open.at, horizon: config.reconcile.inFlightHorizonSeconds)
                    }
                }
                claimedHere = true
                // Recorded before anything is sent: from here on the change may land at the provider, and a crash
                // before its outcome is recorded leaves it for reconciliation to settle (``OwnedNumber/routeRequest``).
                // A change to the recorded trunk too: sent without an answer, it may land after a later change and
                // route the number back, which that change must know of (``RouteRequest/earlier``).
                return (
                    [.numberRouteRequested(numberId: numberId, trunkId: trunk?.id, at: self.now())], (number, trunk)
                )
            }
        } catch {
            if claimedHere { local.withLock { _ = $0.routing.removeValue(forKey: numberId) } }
            throw error
        }
    }

    /// Refuses a trunk change of `number` when it is past due and its grace period is over (marked at or before
    /// `graceOver`, ``graceOverIfMarkedBy(at:)``): billing's grace release of a number waits while a change of it
    /// runs (its DELETE would race the change at the provider), so a tenant that cannot pay kept its number past its
    /// grace period by sending the same change again and again. Funds added renew it at the next billing run, which
    /// makes it active again; without them that run releases it.
    static func refuseIfGraceOver(_ number: OwnedNumber, graceOverIfMarkedBy graceOver: Date) throws(NumberError) {
        guard number.status == .pastDue, let since = number.pastDueSince, since <= graceOver else { return }
        throw NumberError(
            .failedPrecondition, .numberNotActive,
            "\(number.id) is past due and its grace period is over: billing releases it unless its account can pay "
                + "the monthly fee by the next billing run", details: ["numberId": number.id])
    }

    /// The account's trunks whose provider SID is `sid` (none for nil, or one numberd does not know): where a number
    /// the provider routes to `sid` goes, as numberd records it.
    private func trunkIds(providerTrunkSid sid: String?, of accountId: String) -> Set<String> {
        guard let sid else { return [] }
        return coordinator.readDecisionState { $0.trunkIds(providerSid: sid, of: accountId) }
    }
}

extension CoreState {
    /// The account's numbers that count against its number limit: those not released, less those being released
    /// (``OwnedNumber/ListingStatus/releasing``) whose release no running call may still withdraw
    /// (`withdrawableReleases`) — their release is in doubt, queued for reconciliation or driven by a reconciliation
    /// pass, none of which ever withdraws one. A release a caller's call or a billing run still drives may be withdrawn
    /// (the provider refused it outright), so it still counts. `withdrawableReleases` is small (the calls and runs
    /// going on), so this reads no more than it.
    func countedForLimit(_ accountId: String, withdrawableReleases: Set<String>) -> Int {
        var driven = 0
        for id in withdrawableReleases {
            guard let number = numbers[id], number.accountId == accountId, number.listingStatus == .releasing
            else { continue }
            driven += 1
        }
        return (heldNumberCounts[accountId] ?? 0) - held.totals(of: accountId).count(.releasing) + driven
    }

    /// The number if it belongs to the account.
    func requireNumber(_ numberId: String, of accountId: String) throws(NumberError) -> OwnedNumber {
        guard let number = numbers[numberId], number.accountId == accountId else { throw .numberNotFound(numberId) }
        return number
    }

    /// The number if it belongs to the account, is not released and no release is pending.
    func requireUsableNumber(_ numberId: String, of accountId: String) throws(NumberError) -> OwnedNumber {
        let number = try requireNumber(numberId, of: accountId)
        guard number.status != .released else { throw .alreadyReleased(number) }
        guard number.releaseRequestedAt == nil else {
            throw NumberError(
                .aborted, .numberNotActive,
                "a release of \(numberId) is in progress (listed as releasing until the provider confirms it)",
                details: ["numberId": numberId])
        }
        return number
    }
}
