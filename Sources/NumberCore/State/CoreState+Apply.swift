import Foundation

extension CoreState {
    /// Applies one event. Events come from decisions made against this state, so an event that does not fit is a
    /// bug: it traps rather than silently diverging. Events read back from a journal go through
    /// ``applyChecked(_:)`` instead, so that a record that does not fit is reported, not a crash.
    public mutating func apply(_ event: CoreEvent) {
        do {
            try applyChecked(event)
        } catch {
            preconditionFailure(error.description)
        }
    }

    /// Applies one event, or throws if it does not fit the state (an unknown or duplicate id, a balance that does
    /// not add up, a number released twice...): what replaying a journal uses, so that a record that passes its
    /// checksum but contradicts the records before it stops a start-up or `numberd verify` with a message naming
    /// the record, instead of trapping. After a throw the state is partly changed and must be dropped.
    public mutating func applyChecked(_ event: CoreEvent) throws(CoreStateInconsistency) {
        eventCount += 1
        switch event {
        case .accountCreated(let account):
            guard accounts[account.id] == nil else { throw .init("duplicate account \(account.id)") }
            accounts[account.id] = account
            accountIds.insert(account.id)
        case .accountStatusChanged(let accountId, let status):
            guard accounts[accountId] != nil else { throw .init("unknown account \(accountId)") }
            accounts[accountId]!.status = status
        case .apiKeyCreated(let key):
            if let accountId = key.accountId, accounts[accountId] == nil {
                throw .init("api key \(key.id) of unknown account \(accountId)")
            }
            let sameId = apiKeys.updateValue(key, forKey: key.id)
            guard sameId == nil else { throw .init("duplicate api key \(key.id)") }
            accountApiKeys[key.accountId, default: []].insert(key.id)
            if key.revokedAt == nil { activeApiKeyCount += 1 }
        case .apiKeyRevoked(let keyId, let at):
            guard apiKeys[keyId] != nil else { throw .init("unknown api key \(keyId)") }
            if apiKeys[keyId]!.revokedAt == nil { activeApiKeyCount -= 1 }
            apiKeys[keyId]!.revokedAt = at
        case .apiKeysPurged(let keyIds):
            for keyId in keyIds {
                guard let key = apiKeys.removeValue(forKey: keyId), key.revokedAt != nil else {
                    throw .init("purging api key \(keyId), unknown or not revoked")
                }
                guard let index = accountApiKeys.index(forKey: key.accountId) else { continue }
                accountApiKeys.values[index].remove(keyId)
                if accountApiKeys.values[index].isEmpty { accountApiKeys.remove(at: index) }
            }
        case .trunkCreated(let trunk):
            guard accounts[trunk.accountId] != nil else {
                throw .init("trunk \(trunk.id) of unknown account \(trunk.accountId)")
            }
            let sameId = trunks.updateValue(trunk, forKey: trunk.id)
            guard sameId == nil else { throw .init("duplicate trunk \(trunk.id)") }
            accountTrunks[trunk.accountId, default: []].insert(trunk.id)
            providerTrunks[trunk.providerTrunkSidKey, default: []].insert(trunk.id)
        case .trunkDeleted(let trunkId):
            // An adoption's routing to it ends first (in the same decision, once it can no longer land).
            if let route = adoptionRoutes.values.first(where: { $0.trunkId == trunkId }) {
                throw .init("trunk \(trunkId) deleted while an adoption routes \(route.phoneNumber) to it")
            }
            guard let trunk = trunks.removeValue(forKey: trunkId) else { throw .init("unknown trunk \(trunkId)") }
            // An account without trunks has no entry, as when the index is rebuilt from a snapshot.
            accountTrunks[trunk.accountId]?.remove(trunkId)
            if accountTrunks[trunk.accountId]?.isEmpty == true { accountTrunks.removeValue(forKey: trunk.accountId) }
            let sidKey = trunk.providerTrunkSidKey
            providerTrunks[sidKey]?.remove(trunkId)
            if providerTrunks[sidKey]?.isEmpty == true { providerTrunks.removeValue(forKey: sidKey) }
        case .transactionPosted(let transaction):
            // Only what is tied to no other event: funds added and adjustments, of no number. A purchase, renewal or
            // refund comes with the event that gives it its meaning (and whose checks it must pass).
            guard transaction.kind == .fundsAdded || transaction.kind == .adjustment, transaction.numberId == nil else {
                throw .init(
                    "transaction \(transaction.id) of kind \(transaction.kind.rawValue) posted on its own "
                        + "(number \(transaction.numberId ?? "none"))")
            }
            try post(transaction)
        case .idempotencyRecorded(let record):
            if let old = idempotency.updateValue(record, forKey: record.storageKey) {
                work.unfile(key: old.storageKey, madeAt: old.createdAt)
            }
            work.file(key: record.storageKey, madeAt: record.createdAt)
        case .idempotencyExpired(let keys):
            for key in keys {
                if let old = idempotency.removeValue(forKey: key) { work.unfile(key: key, madeAt: old.createdAt) }
            }
        case .purchaseIntentOpened(let intent):
            try openIntent(intent)
        case .purchaseIntentCompensating(let intentId):
            guard intents[intentId] != nil else { throw .init("unknown intent \(intentId)") }
            intents[intentId]!.status = .compensating
        case .purchaseCommitted(let intentId, let numbers, let transactions):
            try commitPurchase(intentId: intentId, numbers: numbers, transactions: transactions)
        case .purchaseIntentVoided(let intentId):
            try closeIntent(intentId, dropKey: true)
        case .numberTrunkChanged(let numberId, let trunkId):
            guard let number = numbers[numberId], number.status != .released else {
                throw .init("trunk change of unknown or released number \(numberId)")
            }
            if let trunkId, trunks[trunkId]?.accountId != number.accountId {
                throw .init("number \(numberId) routed to trunk \(trunkId), unknown or of another account")
            }
            numbers[numberId]!.trunkId = trunkId
            numbers[numberId]!.routeRequest = nil
            routeRequests.remove(numberId)
            held.changed(from: number, to: numbers[numberId]!)
        case .numberRouteRequested(let numberId, let trunkId, let at):
            guard let number = numbers[numberId], number.status != .released else {
                throw .init("trunk change requested of unknown or released number \(numberId)")
            }
            if let trunkId, trunks[trunkId]?.accountId != number.accountId {
                throw .init("number \(numberId) being routed to trunk \(trunkId), unknown or of another account")
            }
            // Over an open request, which may still land: what it asked for is kept (``RouteRequest/earlier``).
            numbers[numberId]!.routeRequest =
                number.routeRequest?.replaced(by: trunkId, at: at) ?? RouteRequest(trunkId: trunkId, at: at)
            routeRequests.insert(numberId)
        case .numberReleaseRequested(let numberId, let at, let actor, let key):
            guard let number = numbers[numberId] else {
                throw .init("release requested of unknown number \(numberId)")
            }
            numbers[numberId]!.releaseRequestedAt = at
            numbers[numberId]!.releaseRequestedBy = actor
            numbers[numberId]!.releaseRequestKey = key
            if number.status != .released {
                // Out of the billing indexes until the request ends (``WorkIndexes/file(_:)``).
                work.unfile(number)
                work.releaseRequested(numberId)
                held.changed(from: number, to: numbers[numberId]!)
            }
        case .numberReleaseCancelled(let numberId):
            guard let number = numbers[numberId] else {
                throw .init("release cancelled of unknown number \(numberId)")
            }
            numbers[numberId]!.releaseRequestedAt = nil
            numbers[numberId]!.releaseRequestedBy = nil
            numbers[numberId]!.releaseRequestKey = nil
            work.releaseEnded(numberId)
            if number.status != .released {
                // Billed again: back in the billing indexes (a requested release kept it out of them), under a
                // billing date or past-due mark that may be past.
                work.file(numbers[numberId]!)
                held.changed(from: number, to: numbers[numberId]!)
            }
        case .numberReleased(let numberId, let at, let refund):
            try release(numberId: numberId, at: at, refund: refund)
        case .numberRenewed(let numberId, let transaction, let cycleStart, let nextBillingDate):
            guard let number = numbers[numberId], number.status != .released else {
                throw .init("renewal of unknown or released number \(numberId)")
            }
            // The cycle that was due, paid with the month's fee in the number's own account: a second renewal of one
            // cycle, or one of another amount, is refused (replay and `numberd verify` included).
            guard transaction.kind == .renewal, transaction.numberId == numberId,
                transaction.accountId == number.accountId, Self.isNegation(transaction.amount, of: number.monthlyFee),
                cycleStart == number.nextBillingDate, nextBillingDate > cycleStart
            else {
                throw .init(
                    "renewal \(transaction.id) of \(numberId) is not its due cycle's fee (\(transaction.kind.rawValue) "
                        + "\(transaction.amount) from \(cycleStart), due \(number.nextBillingDate), fee \(number.monthlyFee))"
                )
            }
            try post(transaction)
            work.unfile(number)
            numbers[numberId]!.status = .active
            numbers[numberId]!.pastDueSince = nil
            numbers[numberId]!.cycleStart = cycleStart
            numbers[numberId]!.nextBillingDate = nextBillingDate
            held.changed(from: number, to: numbers[numberId]!)
            work.file(numbers[numberId]!)
        case .numberPastDue(let numberId, let at):
            guard let number = numbers[numberId], number.status != .released else {
                throw .init("unknown or released number \(numberId) past due")
            }
            work.unfile(number)
            numbers[numberId]!.status = .pastDue
            numbers[numberId]!.pastDueSince = at
            held.changed(from: number, to: numbers[numberId]!)
            work.file(numbers[numberId]!)
        case .orphanWatchStarted(let watches):
            for watch in watches {
                // Only the number that claimed it (``OrphanWatch/claimedBy``), of the watch's account, may own it.
                if let owner = phoneOwners[watch.phoneNumber] {
                    guard watch.claimedBy == owner, numbers[owner]?.accountId == watch.accountId else {
                        throw .init("watching \(watch.phoneNumber), a number owned through numberd")
                    }
                } else if watch.claimedBy != nil {
                    throw .init("\(watch.phoneNumber)'s watch claimed by \(watch.claimedBy!), which does not own it")
                }
                guard watch.isSoundlyCounted else {
                    throw .init("\(watch.phoneNumber)'s watch counts \(watch.earlierBuys ?? 0) more numbers to release")
                }
                orphanWatch[watch.phoneNumber] = watch
            }
        case .orphanWatchEnded(let phoneNumber, _, _):
            guard orphanWatch.removeValue(forKey: phoneNumber) != nil else {
                throw .init("ending an unknown watch on \(phoneNumber)")
            }
        case .adoptionRouteRequested(let route):
            guard trunks[route.trunkId]?.accountId == route.accountId, accounts[route.accountId] != nil else {
                throw .init(
                    "adoption routing \(route.phoneNumber) to trunk \(route.trunkId), unknown or not of account "
                        + route.accountId)
            }
            adoptionRoutes[route.phoneNumber] = route
        case .adoptionRouteEnded(let phoneNumber):
            guard adoptionRoutes.removeValue(forKey: phoneNumber) != nil else {
                throw .init("ending an unknown adoption routing of \(phoneNumber)")
            }
        }
    }

    /// Applies events in order.
    public mutating func apply(_ events: some Sequence<CoreEvent>) {
        for event in events { apply(event) }
    }

    /// Applies events in order through ``applyChecked(_:)``.
    public mutating func applyChecked(_ events: some Sequence<CoreEvent>) throws(CoreStateInconsistency) {
        for event in events { try applyChecked(event) }
    }

    // The helpers below hash each key once: a check and a write go through `updateValue`, `removeValue` or a
    // dictionary index (every event is applied three times: speculative, durable and snapshot state).

    private mutating func post(_ transaction: LedgerTransaction) throws(CoreStateInconsistency) {
        guard let account = accounts.index(forKey: transaction.accountId) else {
            throw .init("transaction \(transaction.id) of unknown account \(transaction.accountId)")
        }
        let (balance, overflow) = accounts.values[account].balance.addingReportingOverflow(transaction.amount)
        guard !overflow, balance == transaction.balanceAfter, balance >= 0 else {
            throw .init(
                "transaction \(transaction.id): balance \(accounts.values[account].balance) + amount "
                    + "\(transaction.amount) does not give its balance after, \(transaction.balanceAfter), or is negative"
            )
        }
        accounts.values[account].balance = balance
        let previous = transactions[transaction.accountId]?.last
        let index = Self.append(transaction, to: &transactions[transaction.accountId, default: []])
        if let previous, previous.createdAt > transaction.createdAt {
            unsortedLedgers[transaction.accountId] = LedgerDisorder.after(
                unsortedLedgers[transaction.accountId], appending: transaction, at: index, behind: previous)
        }
        let sameId = transactionAccounts.updateValue(
            TransactionLocation(accountId: transaction.accountId, index: index), forKey: transaction.id)
        guard sameId == nil else { throw .init("duplicate transaction \(transaction.id)") }
    }

    /// Appends `element` to `list` and returns its position.
    private static func append<Element>(_ element: Element, to list: inout [Element]) -> Int {
        list.append(element)
        return list.count - 1
    }

    private mutating func openIntent(_ intent: PurchaseIntent) throws(CoreStateInconsistency) {
        guard let account = accounts.index(forKey: intent.accountId) else {
            throw .init("intent \(intent.id) of unknown account \(intent.accountId)")
        }
        if let trunkId = intent.trunkId, trunks[trunkId]?.accountId != intent.accountId {
            throw .init("intent \(intent.id) names trunk \(trunkId), unknown or not of \(intent.accountId)")
        }
        let sameId = intents.updateValue(intent, forKey: intent.id)
        guard sameId == nil else { throw .init("duplicate intent \(intent.id)") }
        // A damaged record's hold must not trap replay: it is reported, like a balance that overflows (`post`).
        let (held, overflow) = accounts.values[account].held.addingReportingOverflow(intent.heldAmount)
        guard !overflow else {
            throw .init(
                "intent \(intent.id) holds \(intent.heldAmount) on top of the \(accounts.values[account].held) "
                    + "\(intent.accountId) holds: it overflows")
        }
        accounts.values[account].held = held
        reservedNumberCounts[intent.accountId, default: 0] += intent.items.count
        for item in intent.items {
            let reserved = reservations.updateValue(intent.id, forKey: item.phoneNumber)
            guard reserved == nil else { throw .init("\(item.phoneNumber) reserved twice (intent \(intent.id))") }
        }
    }

    /// Removes the intent and its hold and reservations, and returns it.
    @discardableResult
    private mutating func closeIntent(
        _ intentId: String, dropKey: Bool
    ) throws(CoreStateInconsistency) -> PurchaseIntent {
        guard let intent = intents.removeValue(forKey: intentId) else { throw .init("unknown intent \(intentId)") }
        // A snapshot that passes its checksum may still hold an intent of an account it does not (a faulty build's, or
        // one edited by hand and re-summed): replay and `numberd verify` report it instead of trapping.
        guard let account = accounts.index(forKey: intent.accountId) else {
            throw .init("closing intent \(intentId) of unknown account \(intent.accountId)")
        }
        let (held, overflow) = accounts.values[account].held.subtractingReportingOverflow(intent.heldAmount)
        guard !overflow else {
            throw .init(
                "closing intent \(intentId) takes its \(intent.heldAmount) off the \(accounts.values[account].held) "
                    + "\(intent.accountId) holds: it overflows")
        }
        accounts.values[account].held = held
        // Rebuilt from the intents when a snapshot is read, so present; a state that lacks it is not trapped on.
        reservedNumberCounts[intent.accountId, default: 0] -= intent.items.count
        if reservedNumberCounts[intent.accountId] == 0 { reservedNumberCounts.removeValue(forKey: intent.accountId) }
        for item in intent.items {
            if let reservation = reservations.index(forKey: item.phoneNumber),
                reservations.values[reservation] == intentId
            {
                reservations.remove(at: reservation)
            }
        }
        // A voided purchase charged nothing: the key is freed so the client can retry with it.
        if dropKey, let key = intent.idempotencyKey {
            let storageKey = IdempotencyRecord.storageKey(accountId: intent.accountId, key: key)
            if let old = idempotency.removeValue(forKey: storageKey) {
                work.unfile(key: storageKey, madeAt: old.createdAt)
            }
        }
        return intent
    }

    private mutating func commitPurchase(
        intentId: String, numbers owned: [OwnedNumber], transactions: [LedgerTransaction]
    ) throws(CoreStateInconsistency) {
        let intent = try closeIntent(intentId, dropKey: false)
        for number in owned {
            guard number.accountId == intent.accountId else {
                throw .init(
                    "number \(number.id) of account \(number.accountId) in intent \(intentId) of \(intent.accountId)")
            }
            // As a trunk change of the number would be (`numberTrunkChanged`).
            if let trunkId = number.trunkId, trunks[trunkId]?.accountId != intent.accountId {
                throw .init(
                    "number \(number.id) of intent \(intentId) routed to trunk \(trunkId), unknown or not of "
                        + intent.accountId)
            }
            let sameId = numbers.updateValue(number, forKey: number.id)
            guard sameId == nil else { throw .init("duplicate number \(number.id)") }
            let owner = phoneOwners.updateValue(number.id, forKey: number.phoneNumber)
            guard owner == nil else { throw .init("\(number.phoneNumber) owned twice (\(owner!) and \(number.id))") }
            let position = Self.append(number.id, to: &accountNumbers[number.accountId, default: []])
            if number.status != .released {
                work.file(number)
                held.bought(number, position: position)
            }
            heldNumberCounts[number.accountId, default: 0] += 1
            // Bought again through numberd after a voided attempt: owned, so no longer a possible orphan.
            orphanWatch.removeValue(forKey: number.phoneNumber)
        }
        for transaction in transactions { try post(transaction) }
        guard let key = intent.idempotencyKey else { return }
        let storageKey = IdempotencyRecord.storageKey(accountId: intent.accountId, key: key)
        guard let record = idempotency.index(forKey: storageKey) else { return }
        idempotency.values[record].outcome = .purchased(
            numberIds: owned.map(\.id), transactionIds: transactions.map(\.id))
        // The key lives its time from when its result exists: a purchase settled long after its intent opened (an
        // unknown outcome reconciled a day later) must still replay to a retry, not expire at once.
        let made = idempotency.values[record].createdAt
        if let settled = transactions.first?.createdAt, settled > made {
            idempotency.values[record].createdAt = settled
            if WorkIndexes.minute(settled) != WorkIndexes.minute(made) {
                work.unfile(key: storageKey, madeAt: made)
                work.file(key: storageKey, madeAt: settled)
            }
        }
    }

    private mutating func release(
        numberId: String, at: Date, refund: LedgerTransaction?
    ) throws(CoreStateInconsistency) {
        guard let number = numbers[numberId] else { throw .init("release of unknown number \(numberId)") }
        guard number.status != .released else { throw .init("number \(numberId) released twice") }
        if let refund {
            guard number.refundTransactionId == nil else { throw .init("second refund of number \(numberId)") }
            try post(refund)
            numbers[numberId]!.refundTransactionId = refund.id
        }
        work.unfile(number)
        work.releaseEnded(numberId)
        numbers[numberId]!.status = .released
        numbers[numberId]!.releasedAt = at
        heldNumberCounts[number.accountId, default: 0] -= 1
        if held.released(number) {
            let (ids, numbers) = (numberIDs(of: number.accountId), self.numbers)
            held.compact(accountId: number.accountId) { numbers[ids[$0]]?.status == .released }
        }
        numbers[numberId]!.trunkId = nil
        // The provider routes a released number nowhere: a trunk change still open has nothing left to settle.
        numbers[numberId]!.routeRequest = nil
        routeRequests.remove(numberId)
        if phoneOwners[number.phoneNumber] == numberId {
            phoneOwners.removeValue(forKey: number.phoneNumber)
        }
        // A voided purchase's watch this number claimed watches again: its late POST would buy a number nobody owns.
        if orphanWatch[number.phoneNumber]?.claimedBy == numberId {
            orphanWatch[number.phoneNumber]!.claimedBy = nil
        }
    }
}

/// An event that does not fit the state it is applied to (``CoreState/applyChecked(_:)``).
public struct CoreStateInconsistency: Error, CustomStringConvertible, Sendable {
    /// What does not fit, naming the ids involved.
    public let description: String

    init(_ description: String) { self.description = description }
}
