import Foundation

extension NumberService {
    /// Creates a trunk for the account. With an empty `providerTrunkSid`, numberd creates the trunk at the provider
    /// first (Twilio Elastic SIP Trunking), named `<trunk id> <name>`, and manages it: deleting our trunk deletes it
    /// there too. It runs to its end even if the calling task is cancelled (``carriedThrough(_:)``): a trunk the
    /// provider made is recorded (a caller gone or a deadline passed used to leave it at the provider, unknown to
    /// numberd, which any account could repeat at will), and a creation whose answer was lost is looked up by that
    /// name at the provider before anything is concluded. The creation at the provider (and the DELETE that undoes
    /// it when its record is refused) waits for one of the account's provider slots (``withProviderChangeSlot(_:_:)``)
    /// like a release: a caller gone while it waited (or before) creates nothing. A trunk numberd creates needs
    /// `originationSipUri`, where the provider sends its calls, set on it before it is recorded
    /// (``addProviderOrigination(trunkSid:sipUri:name:)``): the trunk is on numberd's provider account, which the
    /// customer cannot configure, so without it the trunk's numbers would ring nowhere. A trunk registered by its SID
    /// takes none: its routing is the operator's; it must exist at the provider, not made by numberd
    /// (``requireProviderTrunk(_:)``, asked holding one of the account's provider slots as a creation is).
    public func createTrunk(
        accountId: String, name: String, providerTrunkSid: String, originationSipUri: String = "",
        authorizedBy: String? = nil
    ) async throws(NumberError) -> Trunk {
        let limits = config.limits
        let name = try Validation.name(name, field: "name", max: limits.nameLengthMax)
        let origination = try Self.origination(originationSipUri, registering: !providerTrunkSid.isEmpty)
        guard providerTrunkSid.isEmpty else {
            let sid = try Validation.providerTrunkSid(providerTrunkSid, max: limits.providerSidLengthMax)
            try coordinator.read { state throws(NumberError) in
                try Self.checkNewTrunk(state, accountId, name, limits, creating: 0)
                try Self.checkUnregistered(state, sid)
            }
            try await withProviderChangeSlot(accountId) { () async throws(NumberError) in
                try await self.requireProviderTrunk(sid)
            }
            return try await recordTrunk(
                accountId: accountId, name: name, sid: sid, id: nil, authorizedBy: authorizedBy)
        }
        // Check everything that can be checked before creating anything at the provider, and choose the trunk's id:
        // its name at the provider, which finds the trunk again when the provider's answer is lost.
        let (id, made, madeInAll) = try coordinator.read { state throws(NumberError) in
            try Self.checkNewTrunk(state, accountId, name, limits, creating: 0)
            return (
                Identifier.make(Identifier.trunk, taken: state.isTaken), state.providerManagedTrunkCount(of: accountId),
                state.providerTrunkCount
            )
        }
        // Counted as made from here on, the account's and in all, so that concurrent creations cannot all pass either
        // limit; the record checks again.
        let refusal = local.withLock { local -> NumberError? in
            let running = local.trunkCreations[accountId, default: 0]
            guard made + running < limits.providerTrunksPerAccountMax else { return Self.providerTrunkLimit(limits) }
            guard madeInAll + local.trunkCreationsTotal < limits.providerTrunksMax else {
                return Self.providerTrunksLimit(limits)
            }
            local.trunkCreations[accountId] = running + 1
            local.trunkCreationsTotal += 1
            return nil
        }
        if let refusal { throw refusal }
        // Given back however the call ends: the creation run to its end (``carriedThrough(_:)`` returns only then),
        // or never started (the caller gone, too many waiting for a slot).
        defer {
            local.withLock { local in
                let running = local.trunkCreations[accountId, default: 1] - 1
                local.trunkCreations[accountId] = running > 0 ? running : nil
                local.trunkCreationsTotal -= 1
            }
        }
        // One request (or a few) on the HTTP client every tenant shares, as a release is: an account looping
        // CreateTrunk and DeleteTrunk with a short deadline kept any number of them running after their callers.
        return try await withProviderChangeSlot(accountId) { () async throws(NumberError) -> Trunk in
            try await self.carriedThrough { () async throws(NumberError) -> Trunk in
                try await self.createManagedTrunk(
                    accountId: accountId, name: name, id: id, origination: origination, authorizedBy: authorizedBy)
            }
        }
    }

    /// Creates the trunk `id` at the provider, sets where it sends its calls (`origination`) and records it, once the
    /// caller holds one of its account's provider slots; deletes it there again if either of the last two fails.
    private func createManagedTrunk(
        accountId: String, name: String, id: String, origination: String, authorizedBy: String?
    ) async throws(NumberError) -> Trunk {
        // Its key revoked while it waited for its turn: nothing is created.
        try coordinator.read { state throws(NumberError) in try state.requireUnrevokedKey(authorizedBy) }
        local.withLock { _ = $0.trunksInFlight.insert(id) }
        defer { local.withLock { _ = $0.trunksInFlight.remove(id) } }
        let providerName = Self.providerTrunkName(id: id, name: name)
        let sid = try await createProviderTrunk(friendlyName: providerName, namePrefix: id + " ")
        try await addProviderOrigination(trunkSid: sid, sipUri: origination, name: providerName)
        do throws(NumberError) {
            return try await recordTrunk(
                accountId: accountId, name: name, sid: sid, id: id, originationSipUri: origination,
                authorizedBy: authorizedBy)
        } catch {
            // A concurrent change (or a store with no room) refused it after the provider made the trunk: don't
            // leave it there. Left there after all, "nothing was changed" is no longer true.
            if await deleteProviderTrunk(sid) { throw error }
            throw NumberError(
                .unavailable, .outcomeUnknown,
                "a trunk was created at the provider and could neither be recorded nor deleted there ("
                    + error.message + ")", details: ["trunkSid": sid], internalDetail: error.internalDetail)
        }
    }

    /// The checked `originationSipUri` (``Validation/originationSipUri(_:)``) of a trunk numberd creates, which needs
    /// one; empty for a trunk `registering` by its SID, which must not have one: numberd sets nothing on a trunk it
    /// did not make.
    private static func origination(_ value: String, registering: Bool) throws(NumberError) -> String {
        guard !registering else {
            guard value.isEmpty else {
                throw .invalid(
                    "origination_sip_uri",
                    "originationSipUri is for a trunk numberd creates; a trunk registered by its SID is routed "
                        + "where it was configured")
            }
            return ""
        }
        guard !value.isEmpty else {
            throw .invalid(
                "origination_sip_uri",
                "originationSipUri is required to create a trunk: the SIP URI its calls go to, such as "
                    + "sip:pbx.example.com:5060 (or give the SID of a trunk configured elsewhere)")
        }
        return try Validation.originationSipUri(value)
    }

    /// Sets where the trunk `trunkSid`, just made at the provider, sends its calls, naming the route as the trunk
    /// (`name`). When the provider does not set it — a refusal, an error, a lost answer — the trunk is deleted there
    /// again (the route goes with it if it was made all the same), so that no trunk that rings nowhere is left at the
    /// provider unrecorded and the call changed nothing; one that cannot be deleted either is an unknown outcome
    /// naming its SID, as when its record fails.
    private func addProviderOrigination(trunkSid: String, sipUri: String, name: String) async throws(NumberError) {
        do {
            try await provider.addOrigination(trunkSid: trunkSid, sipUri: sipUri, friendlyName: name)
        } catch {
            let refused = Self.originationNotSet(error)
            logger.warning(
                "the provider did not set a new trunk's origination; deleting the trunk there",
                metadata: ["trunkSid": "\(trunkSid)", "error": "\(error)"])
            if await deleteProviderTrunk(trunkSid) { throw refused }
            throw NumberError(
                .unavailable, .outcomeUnknown,
                "a trunk was created at the provider and could neither be given its origination nor be deleted there ("
                    + refused.message + ")", details: ["trunkSid": trunkSid], internalDetail: refused.internalDetail)
        }
    }

    /// What a creation whose origination the provider did not set answers once the trunk is deleted again: the
    /// provider refusing the URI is the caller's field to fix; its configuration or throttling is said as for any
    /// call; anything else — an outage, a lost answer (the deletion settled it) — made nothing, to retry later.
    private static func originationNotSet(_ error: any Error) -> NumberError {
        guard let error = error as? ProviderError else {
            return NumberError(
                .unavailable, .providerUnavailable, "the provider did not set the trunk's origination; retry later",
                internalDetail: "\(error)")
        }
        switch error.kind {
        case .invalidArgument:
            var refused = NumberError.provider(error)
            refused.details["field"] = "origination_sip_uri"
            refused.message = "the provider refused the origination SIP URI: " + error.message
            return refused
        case .authentication, .misconfigured, .rateLimited:
            return NumberError.provider(error)
        case .numberUnavailable, .notFound, .unavailable, .outcomeUnknown:
            return NumberError(
                .unavailable, .providerUnavailable, "the provider did not set the trunk's origination; retry later",
                details: ["providerKind": error.kind.rawValue], internalDetail: error.message)
        }
    }

    /// The name numberd gives a trunk it creates at the provider: the trunk's id, a space and its name, cut as the
    /// adapter cuts a `FriendlyName` (``TwilioProvider/friendlyNamePrefix(_:)``), so the name sent is the name found.
    /// The id, first, makes it unique and survives the cut.
    static func providerTrunkName(id: String, name: String) -> String {
        TwilioProvider.friendlyNamePrefix(id + " " + name)
    }

    /// Creates the trunk at the provider. A failure that may have created it all the same (a lost answer, a 5xx after
    /// the request was sent) is settled by looking for a trunk named with `namePrefix` (its id) at the provider:
    /// found, it is the trunk; not found after an answer that settles it (Twilio's own 5xx), nothing was made; not
    /// found while the request may still land (no answer, a gateway's 5xx), or the look-up failing too, the outcome
    /// stays unknown — logged with the name, so that an operator can find the trunk if it shows up.
    private func createProviderTrunk(friendlyName: String, namePrefix: String) async throws(NumberError) -> String {
        do {
            return try await provider.createTrunk(friendlyName: friendlyName)
        } catch {
            guard Self.mayHaveHappened(error) else { throw NumberError.fromProvider(error) }
            let found: String?
            do {
                found = try await provider.findTrunk(namePrefix: namePrefix)
            } catch let lookUp {
                logger.error(
                    "a trunk may have been created at the provider and could not be looked up; it is not recorded",
                    metadata: [
                        "friendlyName": "\(friendlyName)", "error": "\(error)", "lookUpError": "\(lookUp)",
                    ])
                throw NumberError(
                    .unavailable, .outcomeUnknown,
                    "the trunk's creation at the provider has an unknown outcome; it was not recorded: retry later",
                    internalDetail: "\(error); look-up: \(lookUp)")
            }
            guard let found else {
                if Self.mayStillTakeEffect(error) {
                    // The request may still be on its way through (no answer, a gateway's 5xx): it may yet land.
                    logger.error(
                        "a trunk creation had no answer and its trunk is not at the provider yet; it may still land, and would not be recorded",
                        metadata: ["friendlyName": "\(friendlyName)", "error": "\(error)"])
                    throw NumberError(
                        .unavailable, .outcomeUnknown,
                        "the trunk's creation at the provider has an unknown outcome; it was not recorded: retry later",
                        internalDetail: "\(error); not found by its name afterwards")
                }
                // Not there after an answer that settles it: nothing was made.
                throw NumberError(
                    .unavailable, .providerUnavailable, "the provider did not create the trunk; retry later",
                    internalDetail: "\(error); not found by its name afterwards")
            }
            logger.notice(
                "a trunk whose creation had no answer was found at the provider",
                metadata: ["friendlyName": "\(friendlyName)", "trunkSid": "\(found)"])
            return found
        }
    }

    /// Records the trunk `sid` (made at the provider by numberd when `id` is given, under that id if still free, with
    /// the origination numberd set on it).
    private func recordTrunk(
        accountId: String, name: String, sid: String, id: String?, originationSipUri: String? = nil,
        authorizedBy: String?
    ) async throws(NumberError) -> Trunk {
        let limits = config.limits
        let managed = id != nil
        let now = now()
        return try await coordinator.perform(admitting: !managed) { state throws(NumberError) in
            try state.requireUnrevokedKey(authorizedBy)
            try Self.checkNewTrunk(state, accountId, name, limits, creating: managed ? 1 : 0)
            // A SIP trunk registered by its SID is nobody else's: another account's trunk must not receive this
            // account's calls. (A trunk the provider just made is new; were it not, it is not deleted by the caller.)
            if !managed { try Self.checkUnregistered(state, sid) }
            let trunkId =
                id.flatMap { state.isTaken($0) ? nil : $0 } ?? Identifier.make(Identifier.trunk, taken: state.isTaken)
            let trunk = Trunk(
                id: trunkId, accountId: accountId, name: name, providerTrunkSid: sid, createdAt: now,
                providerManaged: managed ? true : nil, originationSipUri: originationSipUri)
            return ([.trunkCreated(trunk)], trunk)
        }
    }

    /// Refuses ALREADY_EXISTS when a trunk here has the provider trunk `sid` (looked up by ``Trunk/sidKey(_:)``: a
    /// record from before SIDs were kept in lower case may hold it in upper case).
    private static func checkUnregistered(_ state: CoreState, _ sid: String) throws(NumberError) {
        guard state.providerTrunks[Trunk.sidKey(sid)] == nil else {
            throw NumberError(
                .alreadyExists, .invalidField, "provider trunk \(sid) is already registered",
                details: ["field": "provider_trunk_sid"])
        }
    }

    /// Refuses a trunk registered by its SID that the provider does not have — a typing slip, a trunk of another
    /// provider account, one deleted in Twilio's console — as NOT_FOUND / TRUNK_NOT_FOUND naming the field: recorded,
    /// it would show only at the first purchase or trunk change routed to it, refused there by the provider, and in
    /// the operator's audit. Refused too, ALREADY_EXISTS: a trunk numberd made (named after its trunk id,
    /// ``providerTrunkName(id:name:)``), which numberd manages — one being created and not yet recorded, or being
    /// deleted, its record gone and its DELETE not yet sent (registered, it would be deleted at Twilio under its new
    /// record), or one a failed creation left (the provider audit's `trunk_unrecorded`). A provider that does not see
    /// its trunks (``NumberProvider/listsTrunks``) is trusted with the SID. A provider that cannot be asked refuses the
    /// registration as any call to it does (UNAVAILABLE, to retry): nothing is recorded unchecked.
    private func requireProviderTrunk(_ sid: String) async throws(NumberError) {
        guard provider.listsTrunks else { return }
        let found: ProviderTrunk?
        do {
            found = try await provider.trunk(sid: sid)
        } catch {
            throw NumberError.fromProvider(error)
        }
        guard let found else {
            throw NumberError(
                .notFound, .trunkNotFound,
                "the provider has no trunk \(sid): give the SID of an Elastic SIP trunk of numberd's Twilio account "
                    + "(Twilio's console, Elastic SIP Trunking), or no SID for numberd to create the trunk",
                details: ["field": "provider_trunk_sid", "providerTrunkSid": sid])
        }
        if let id = found.friendlyName.flatMap(Self.numberdTrunkId) {
            throw NumberError(
                .alreadyExists, .invalidField,
                "provider trunk \(sid) is one numberd created, named after its trunk \(id) (being created or deleted, "
                    + "or left by a creation that failed): numberd manages it; create a trunk without a SID instead",
                details: ["field": "provider_trunk_sid", "trunkId": id])
        }
    }

    /// The account may get another trunk named `name`; `creating`: 1 for a trunk numberd made at the provider, which
    /// counts in ``NumberServiceConfig/Limits/providerTrunksPerAccountMax`` and
    /// ``NumberServiceConfig/Limits/providerTrunksMax`` too.
    private static func checkNewTrunk(
        _ state: CoreState, _ accountId: String, _ name: String, _ limits: NumberServiceConfig.Limits, creating: Int
    ) throws(NumberError) {
        _ = try state.requireActiveAccount(accountId)
        if creating > 0, state.providerManagedTrunkCount(of: accountId) + creating > limits.providerTrunksPerAccountMax
        {
            throw providerTrunkLimit(limits)
        }
        if creating > 0, state.providerTrunkCount + creating > limits.providerTrunksMax {
            throw providerTrunksLimit(limits)
        }
        let owned = state.trunks(of: accountId)
        guard owned.count < limits.trunksPerAccountMax else {
            throw NumberError(
                .resourceExhausted, .limitExceeded, "the trunk limit of \(limits.trunksPerAccountMax) is reached",
                details: ["max": String(limits.trunksPerAccountMax)])
        }
        guard !owned.contains(where: { $0.name == name }) else {
            throw NumberError(.alreadyExists, .invalidField, "a trunk named \(name) exists", details: ["field": "name"])
        }
    }

    private static func providerTrunkLimit(_ limits: NumberServiceConfig.Limits) -> NumberError {
        NumberError(
            .resourceExhausted, .limitExceeded,
            "an account may have at most \(limits.providerTrunksPerAccountMax) trunks numberd creates at the provider",
            details: ["max": String(limits.providerTrunksPerAccountMax)])
    }

    /// Every trunk numberd made or registered lives on its one account at the provider, whose trunk quota (Twilio's,
    /// 100 by default) is the operator's: past ``NumberServiceConfig/Limits/providerTrunksMax`` a creation is refused
    /// here, not sent to the provider to come back INVALID_ARGUMENT as if the caller's request were wrong.
    private static func providerTrunksLimit(_ limits: NumberServiceConfig.Limits) -> NumberError {
        NumberError(
            .resourceExhausted, .limitExceeded,
            "the service's limit of \(limits.providerTrunksMax) trunks at the provider, shared by all accounts, is "
                + "reached: the operator's limit, not this account's; retry when trunks have been deleted or the "
                + "operator has raised it",
            details: ["max": String(limits.providerTrunksMax)])
    }

    /// The account's trunks, oldest first.
    public func listTrunks(accountId: String) throws(NumberError) -> [Trunk] {
        try coordinator.read { state throws(NumberError) in
            _ = try state.requireAccount(accountId)
            return state.trunksOldestFirst(of: accountId)
        }
    }

    /// Best effort: a trunk left at the provider costs nothing and holds no numbers; it is logged for cleanup.
    /// Whether it was deleted.
    @discardableResult
    private func deleteProviderTrunk(_ sid: String) async -> Bool {
        do {
            try await provider.deleteTrunk(sid: sid)
            return true
        } catch {
            logger.warning("could not delete a provider trunk", metadata: ["trunkSid": "\(sid)", "error": "\(error)"])
            return false
        }
    }

    /// Deletes a trunk that routes no numbers; a trunk numberd created at the provider is deleted there too, to the
    /// end even if the caller goes away (``carriedThrough(_:)``: a DELETE cut short left it there, recorded nowhere).
    /// That DELETE is asked for once, after the record is removed: one that fails is logged and leaves the trunk
    /// there, the call succeeding all the same (``deleteProviderTrunk(_:)``; the audit's `trunk_unrecorded`).
    /// That deletion waits for one of the account's provider slots (``withProviderChangeSlot(_:_:)``) before its
    /// record is removed: a caller gone before it started (or while it waited) deletes nothing.
    /// `evenIfSuspended` (an administrator's call) deletes a suspended account's trunk too, as its numbers can be
    /// taken off it and released, without making the account active again.
    public func deleteTrunk(
        accountId: String, trunkId: String, evenIfSuspended: Bool = false, authorizedBy: String? = nil
    ) async throws(NumberError) {
        // A caller gone before anything started (its deadline passed, it cancelled) starts nothing: from here on the
        // deletion runs to its end. An account looping CreateTrunk and DeleteTrunk with a 1 ms deadline left every
        // DELETE running after its caller, the record gone first so that the next creation was allowed at once.
        guard !Task.isCancelled else { throw Self.cancelledBeforeStart }
        // What the decision refuses is refused before the caller waits for a slot; a trunk registered by its SID
        // changes nothing at the provider and waits for none.
        let managed = try coordinator.read { state throws(NumberError) in
            try self.deletableTrunk(state, accountId: accountId, trunkId: trunkId, evenIfSuspended: evenIfSuspended)
                .providerManaged == true
        }
        let delete = { () async throws(NumberError) -> Void in
            try await self.carriedThrough { () async throws(NumberError) -> Void in
                try await self.deleteRecordedTrunk(
                    accountId: accountId, trunkId: trunkId, evenIfSuspended: evenIfSuspended, authorizedBy: authorizedBy
                )
            }
        }
        guard managed else { return try await delete() }
        try await withProviderChangeSlot(accountId, delete)
    }

    private func deleteRecordedTrunk(
        accountId: String, trunkId: String, evenIfSuspended: Bool, authorizedBy: String?
    ) async throws(NumberError) {
        // A trunk numberd made at the provider is still there from its record's removal until its DELETE is done: the
        // audit leaves it out meanwhile (marked in the decision, so no audit read falls between the two).
        var marked: String?
        defer { if let marked { local.withLock { _ = $0.trunksInFlight.remove(marked) } } }
        let recorded = try coordinator.read { state throws(NumberError) in
            // Its key revoked while it waited for its turn: nothing is deleted.
            try state.requireUnrevokedKey(authorizedBy)
            return try self.deletableTrunk(
                state, accountId: accountId, trunkId: trunkId, evenIfSuspended: evenIfSuspended)
        }
        if recorded.providerManaged == true { try await refuseIfProviderRoutes(to: recorded) }
        var deleted: Trunk?
        // Records of adoption routings to it that can no longer land (the check refuses one that may) end with it,
        // before reconciliation would have ended them: at most ``adoptionRoutesEndedPerRecordMax`` a record, so a
        // backlog of them ends in records of their own first (a record over the journal's limit stops every write).
        // Each round ends that many or deletes; a new routing to the trunk meanwhile refuses the deletion (TRUNK_IN_USE).
        while deleted == nil {
            deleted = try await coordinator.perform { state throws(NumberError) in
                try state.requireUnrevokedKey(authorizedBy)
                let trunk = try self.deletableTrunk(
                    state, accountId: accountId, trunkId: trunkId, evenIfSuspended: evenIfSuspended)
                let naming = state.adoptionRoutes.values.filter { $0.trunkId == trunkId }.map(\.phoneNumber).sorted()
                let routesEnded = naming.prefix(Self.adoptionRoutesEndedPerRecordMax)
                    .map { CoreEvent.adoptionRouteEnded(phoneNumber: $0) }
                guard naming.count <= Self.adoptionRoutesEndedPerRecordMax else { return (routesEnded, nil) }
                if trunk.providerManaged == true {
                    self.local.withLock { _ = $0.trunksInFlight.insert(trunk.providerTrunkSid) }
                    marked = trunk.providerTrunkSid
                }
                return (routesEnded + [.trunkDeleted(trunkId: trunkId)], trunk)
            }
        }
        guard marked != nil, let trunk = deleted else { return }
        await deleteProviderTrunk(trunk.providerTrunkSid)
    }

    /// The account's trunk `trunkId` if it may be deleted now: no number on it, no number being routed to it or with a
    /// change to it left open (``OwnedNumber/routeRequest``), none
    /// the provider may route to it after a trunk change that ended unknown or unrecorded (`Local.unsettledRoutes`:
    /// the trunk it asked for, the trunk a look-up then showed it on, and for a request that got no answer the trunk
    /// it asked for until it can no longer land; deleting the trunk at the provider would leave that number ringing
    /// nowhere, still billed — making the change again, or releasing the number, settles it), and no purchase in
    /// progress naming it. The cheapest checks come first and the first that fails answers: a trunk with numbers is
    /// refused without a look at anything else, and the open purchases, which no index finds by trunk, are looked at
    /// last and only when the account has one (its numbers reserved).
    private func deletableTrunk(
        _ state: CoreState, accountId: String, trunkId: String, evenIfSuspended: Bool
    ) throws(NumberError) -> Trunk {
        _ = try evenIfSuspended ? state.requireAccount(accountId) : state.requireActiveAccount(accountId)
        let trunk = try state.requireTrunk(trunkId, of: accountId)
        // Kept as numbers change (``HeldNumbers/totals(ofTrunk:)``): a refusal read every number the account held,
        // under the lock every account's writes wait for, as often as a caller asked.
        let inUse = state.held.totals(ofTrunk: trunkId).count(nil)
        guard inUse == 0 else { throw Self.trunkInUse(trunkId, numbers: inUse, also: nil) }
        let now = now()
        let (routing, unsettled, adopting) = local.withLock { local in
            (
                local.routing.values.contains(trunkId), local.unsettledRoutes.holds(trunkId, at: now),
                local.adoptionRoutes.values.contains { $0.trunkId == trunkId && $0.until > now }
            )
        }
        guard !routing else { throw Self.trunkInUse(trunkId, numbers: 0, also: "a number being routed to it") }
        // Durable, unlike what follows: a change to it whose outcome a crash or a lost answer left open.
        // Named (`numberId`): the number shows the change as `pending_trunk_change`, or only the trunk of its latest
        // change when this one asked for an earlier, replaced, one.
        if let requested = state.routeRequests.sorted().first(where: {
            state.numbers[$0]?.routeRequest?.trunkIds.contains(trunkId) == true
        }) {
            // A number whose release is under way is not to be released again: its release settles the change.
            let settles =
                state.numbers[requested]?.releaseRequestedAt != nil
                ? "its release, under way, settles it: delete the trunk once the release is recorded (one the "
                    + "provider keeps refusing shows in the provider audit as release_stuck)"
                : "reconciliation records where the provider routes the number once no change of it can land any "
                    + "more, or release the number"
            var refusal = Self.trunkInUse(
                trunkId, numbers: 0,
                also: "a number (\(requested)) whose trunk change to it is unsettled (its outcome unknown, or it may "
                    + "still land: \(settles))")
            refusal.details["numberId"] = requested
            throw refusal
        }
        guard !adopting else {
            throw Self.trunkInUse(
                trunkId, numbers: 0,
                also: "a number an adoption routes to it (running, or its routing got no answer and may land up "
                    + "to \(lateBuySeconds) s after it)")
        }
        guard !unsettled else {
            throw Self.trunkInUse(
                trunkId, numbers: 0,
                also: "a number the provider may route to it, its trunk change unsettled (its outcome unknown or "
                    + "unrecorded: make a change of the number, or release it, to settle it; a change request that "
                    + "got no answer may land up to \(lateBuySeconds) s after it, and holds the trunk until then)")
        }
        // An intent names a trunk of its own account, and reserves its numbers while open.
        let pending =
            state.reservedNumberCounts[accountId, default: 0] > 0
            && state.intents.values.contains { $0.trunkId == trunkId }
        guard !pending else { throw Self.trunkInUse(trunkId, numbers: 0, also: "a purchase in progress") }
        return trunk
    }

    /// At most this many of the numbers the provider routes to a trunk being deleted are looked at (one more is asked
    /// for, to tell "this many" from "more").
    static let providerTrunkNumbersShownMax = 20

    /// Refuses TRUNK_IN_USE when the provider routes numbers to `trunk`, which numberd made there and is about to
    /// delete there, leaving them ringing nowhere (Twilio takes the trunk off its numbers). Those numberd records on it
    /// refuse the deletion before this, as do the trunk changes it knows may still land (``OwnedNumber/routeRequest``,
    /// ``Local/unsettledRoutes``) — but a restart forgets the latter, and a number can be routed there in Twilio's
    /// console or by an adoption whose routing got no answer: the provider is asked (one page of the trunk's numbers). The
    /// refusal names the trunk's account's own numbers among them (`phoneNumbers`) and only counts the others
    /// (`otherNumbers`: held by no account, or by another, which the caller has no business seeing; the operator's
    /// audit names them). A trunk the provider no longer has routes none; a failed look-up deletes nothing.
    private func refuseIfProviderRoutes(to trunk: Trunk) async throws(NumberError) {
        let shownMax = Self.providerTrunkNumbersShownMax
        var routed: [String]
        do {
            routed = try await provider.phoneNumbers(onTrunk: trunk.providerTrunkSid, max: shownMax + 1)
        } catch {
            if (error as? ProviderError)?.kind == .notFound { return }
            throw NumberError.fromProvider(error)
        }
        guard !routed.isEmpty else { return }
        let more = routed.count > shownMax
        routed = Array(routed.prefix(shownMax))
        let own = try coordinator.read { state in
            routed.filter { state.phoneOwners[$0].flatMap { state.numbers[$0] }?.accountId == trunk.accountId }
        }
        let others = routed.count - own.count
        let one = routed.count == 1 && !more
        var message =
            "trunk \(trunk.id) has no numbers here, but the provider routes "
            + (more ? "more than \(shownMax) numbers" : one ? "a number" : "\(routed.count) numbers")
            + " to it: deleting it there would leave \(one ? "it" : "them") ringing nowhere, still billed."
        if !own.isEmpty {
            message +=
                " This account's \(own.joined(separator: ", ")): a trunk change numberd did not record (it stopped or "
                + "crashed meanwhile) or one made in Twilio's console; make the change again (numbers trunk assign or "
                + "unassign sends it to the provider), or release \(own.count == 1 ? "the number" : "them")."
        }
        if others > 0 {
            message +=
                " \(others)\(more ? " or more" : "") held by no account here or by another: an operator's numbers "
                + "audit names \(others == 1 && !more ? "it" : "them")."
        } else if more {
            message += " Past the first \(shownMax), others may be routed there too."
        }
        message += " Twilio's lists can lag a change by a moment: after one just made, try again shortly."
        var details = ["trunkId": trunk.id, "numbers": "0", "otherNumbers": String(others)]
        if !own.isEmpty { details["phoneNumbers"] = own.joined(separator: ",") }
        if more { details["more"] = "true" }
        throw NumberError(.failedPrecondition, .trunkInUse, message, details: details)
    }

    /// TRUNK_IN_USE for `trunkId`, which has `numbers` numbers, or none and what `also` says.
    private static func trunkInUse(_ trunkId: String, numbers: Int, also: String?) -> NumberError {
        let what = also ?? (numbers == 1 ? "1 number" : "\(numbers) numbers")
        return NumberError(
            .failedPrecondition, .trunkInUse, "trunk \(trunkId) has \(what)",
            details: ["trunkId": trunkId, "numbers": String(numbers)])
    }
}

extension CoreState {
    /// The trunk if it belongs to the account; another account's trunk is NOT_FOUND, like a missing one.
    func requireTrunk(_ trunkId: String, of accountId: String) throws(NumberError) -> Trunk {
        guard let trunk = trunks[trunkId], trunk.accountId == accountId else { throw .trunkNotFound(trunkId) }
        return trunk
    }
}
