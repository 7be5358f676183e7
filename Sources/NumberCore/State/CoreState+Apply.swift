import Foundation

extension CoreState {
    /// Applies one event. Events come from decisions made against this state (or a journal of them), so an
    /// event that does not fit is a bug: it traps rather than silently diverging.
    public mutating func apply(_ event: CoreEvent) {
        eventCount += 1
        switch event {
        case .accountCreated(let account):
            precondition(accounts[account.id] == nil, "duplicate account")
            accounts[account.id] = account
        case .accountStatusChanged(let accountId, let status):
            precondition(accounts[accountId] != nil, "unknown account")
            accounts[accountId]!.status = status
        case .apiKeyCreated(let key):
            let sameId = apiKeys.updateValue(key, forKey: key.id)
            precondition(sameId == nil, "duplicate api key")
            accountApiKeys[key.accountId, default: []].insert(key.id)
            if key.revokedAt == nil { activeApiKeyCount += 1 }
        case .apiKeyRevoked(let keyId, let at):
            precondition(apiKeys[keyId] != nil, "unknown api key")
            if apiKeys[keyId]!.revokedAt == nil { activeApiKeyCount -= 1 }
            apiKeys[keyId]!.revokedAt = at
        case .apiKeysPurged(let keyIds):
            for keyId in keyIds {
                guard let key = apiKeys.removeValue(forKey: keyId), key.revokedAt != nil else {
                    preconditionFailure("purging an unknown or unrevoked api key")
                }
                guard let index = accountApiKeys.index(forKey: key.accountId) else { continue }
                accountApiKeys.values[index].remove(keyId)
                if accountApiKeys.values[index].isEmpty { accountApiKeys.remove(at: index) }
            }
        case .trunkCreated(let trunk):
            let sameId = trunks.updateValue(trunk, forKey: trunk.id)
            precondition(sameId == nil, "duplicate trunk")
            accountTrunks[trunk.accountId, default: []].insert(trunk.id)
            providerTrunks[trunk.providerTrunkSid, default: []].insert(trunk.id)
        case .trunkDeleted(let trunkId):
            guard let trunk = trunks.removeValue(forKey: trunkId) else { preconditionFailure("unknown trunk") }
            // An account without trunks has no entry, as when the index is rebuilt from a snapshot.
            accountTrunks[trunk.accountId]?.remove(trunkId)
            if accountTrunks[trunk.accountId]?.isEmpty == true { accountTrunks.removeValue(forKey: trunk.accountId) }
            providerTrunks[trunk.providerTrunkSid]?.remove(trunkId)
            if providerTrunks[trunk.providerTrunkSid]?.isEmpty == true {
                providerTrunks.removeValue(forKey: trunk.providerTrunkSid)
            }
        case .transactionPosted(let transaction):
            post(transaction)
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
            openIntent(intent)
        case .purchaseIntentCompensating(let intentId):
            precondition(intents[intentId] != nil, "unknown intent")
            intents[intentId]!.status = .compensating
        case .purchaseCommitted(let intentId, let numbers, let transactions):
            commitPurchase(intentId: intentId, numbers: numbers, transactions: transactions)
        case .purchaseIntentVoided(let intentId):
            closeIntent(intentId, dropKey: true)
        case .numberTrunkChanged(let numberId, let trunkId):
            precondition(numbers[numberId] != nil, "unknown number")
            numbers[numberId]!.trunkId = trunkId
        case .numberReleaseRequested(let numberId, let at):
            precondition(numbers[numberId] != nil, "unknown number")
            numbers[numberId]!.releaseRequestedAt = at
            if numbers[numberId]!.status != .released { work.releaseRequested(numberId) }
        case .numberReleaseCancelled(let numberId):
            precondition(numbers[numberId] != nil, "unknown number")
            numbers[numberId]!.releaseRequestedAt = nil
            work.releaseEnded(numberId)
        case .numberReleased(let numberId, let at, let refund):
            release(numberId: numberId, at: at, refund: refund)
        case .numberRenewed(let numberId, let transaction, let cycleStart, let nextBillingDate):
            post(transaction)
            guard let number = numbers[numberId] else { preconditionFailure("unknown number") }
            precondition(number.status != .released, "renewing a released number")
            work.unfile(number)
            held.changed(number, to: .active)
            numbers[numberId]!.status = .active
            numbers[numberId]!.pastDueSince = nil
            numbers[numberId]!.cycleStart = cycleStart
            numbers[numberId]!.nextBillingDate = nextBillingDate
            work.file(numbers[numberId]!)
        case .numberPastDue(let numberId, let at):
            guard let number = numbers[numberId], number.status != .released else {
                preconditionFailure("unknown or released number")
            }
            work.unfile(number)
            held.changed(number, to: .pastDue)
            numbers[numberId]!.status = .pastDue
            numbers[numberId]!.pastDueSince = at
            work.file(numbers[numberId]!)
        case .orphanWatchStarted(let watches):
            for watch in watches {
                precondition(phoneOwners[watch.phoneNumber] == nil, "watching an owned number")
                orphanWatch[watch.phoneNumber] = watch
            }
        case .orphanWatchEnded(let phoneNumber, _, _):
            let watch = orphanWatch.removeValue(forKey: phoneNumber)
            precondition(watch != nil, "unknown orphan watch")
        }
    }

    /// Applies events in order.
    public mutating func apply(_ events: some Sequence<CoreEvent>) {
        for event in events { apply(event) }
    }

    // The helpers below hash each key once: a check and a write go through `updateValue`, `removeValue` or a
    // dictionary index (every event is applied three times: speculative, durable and snapshot state). Checks are
    // never inside `precondition`, whose argument an unchecked build would not evaluate.

    private mutating func post(_ transaction: LedgerTransaction) {
        guard let account = accounts.index(forKey: transaction.accountId) else {
            preconditionFailure("transaction for unknown account")
        }
        let balance = accounts.values[account].balance + transaction.amount
        precondition(balance == transaction.balanceAfter && balance >= 0, "transaction balance does not add up")
        accounts.values[account].balance = balance
        let index = Self.append(transaction, to: &transactions[transaction.accountId, default: []])
        let sameId = transactionAccounts.updateValue(
            TransactionLocation(accountId: transaction.accountId, index: index), forKey: transaction.id)
        precondition(sameId == nil, "duplicate transaction id")
    }

    /// Appends `element` to `list` and returns its position.
    private static func append<Element>(_ element: Element, to list: inout [Element]) -> Int {
        list.append(element)
        return list.count - 1
    }

    private mutating func openIntent(_ intent: PurchaseIntent) {
        guard let account = accounts.index(forKey: intent.accountId) else {
            preconditionFailure("intent for unknown account")
        }
        let sameId = intents.updateValue(intent, forKey: intent.id)
        precondition(sameId == nil, "duplicate intent")
        accounts.values[account].held += intent.heldAmount
        reservedNumberCounts[intent.accountId, default: 0] += intent.items.count
        for item in intent.items {
            let reserved = reservations.updateValue(intent.id, forKey: item.phoneNumber)
            precondition(reserved == nil, "number reserved twice")
        }
    }

    /// Removes the intent and its hold and reservations, and returns it.
    @discardableResult
    private mutating func closeIntent(_ intentId: String, dropKey: Bool) -> PurchaseIntent {
        guard let intent = intents.removeValue(forKey: intentId) else { preconditionFailure("unknown intent") }
        accounts[intent.accountId]!.held -= intent.heldAmount
        reservedNumberCounts[intent.accountId]! -= intent.items.count
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
    ) {
        let intent = closeIntent(intentId, dropKey: false)
        for number in owned {
            let sameId = numbers.updateValue(number, forKey: number.id)
            precondition(sameId == nil, "duplicate number id")
            let owner = phoneOwners.updateValue(number.id, forKey: number.phoneNumber)
            precondition(owner == nil, "number owned twice")
            let position = Self.append(number.id, to: &accountNumbers[number.accountId, default: []])
            if number.status != .released {
                work.file(number)
                held.bought(number, position: position)
            }
            heldNumberCounts[number.accountId, default: 0] += 1
            // Bought again through numberd after a voided attempt: owned, so no longer a possible orphan.
            orphanWatch.removeValue(forKey: number.phoneNumber)
        }
        for transaction in transactions { post(transaction) }
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

    private mutating func release(numberId: String, at: Date, refund: LedgerTransaction?) {
        guard let number = numbers[numberId] else { preconditionFailure("unknown number") }
        precondition(number.status != .released, "number released twice")
        if let refund {
            precondition(number.refundTransactionId == nil, "second refund")
            post(refund)
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
        if phoneOwners[number.phoneNumber] == numberId {
            phoneOwners.removeValue(forKey: number.phoneNumber)
        }
    }
}
