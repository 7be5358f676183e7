/// A broken invariant found by ``CoreState/checkInvariants()``.
public struct Violation: Sendable, Hashable, CustomStringConvertible {
    /// Which rule, e.g. `balance-equals-ledger`.
    public var rule: String
    /// What was found.
    public var message: String

    /// `rule: message`.
    public var description: String { "\(rule): \(message)" }
}

extension CoreState {
    /// Checks every rule the state must keep; an empty result means the state is sound. Also the basis of
    /// `numberd verify`.
    public func checkInvariants() -> [Violation] {
        var found: [Violation] = []
        checkAccounts(&found)
        checkNumbers(&found)
        checkNumberLists(&found)
        checkIntents(&found)
        checkReferences(&found)
        checkLedgerLinks(&found)
        checkIdempotency(&found)
        return found
    }

    /// What `numberd verify` reports as a warning, not a failure: the state serves as it is, but holds something an
    /// operator should look at. A trunk whose provider SID is not Twilio's form, `TK` and 32 hex digits
    /// (`trunk-sid-form`): numberd registered any letters and digits before it checked the form, and the Twilio
    /// adapter refuses such a SID, so every purchase or trunk change naming the trunk fails until the trunk is deleted
    /// and registered again by its SID at Twilio. Refusing the store would turn that into an outage.
    public func checkWarnings() -> [Violation] {
        trunks.values.filter { !TwilioValidation.isSid($0.providerTrunkSid, prefix: "TK") }.sorted { $0.id < $1.id }
            .map { trunk in
                Violation(
                    rule: "trunk-sid-form",
                    message: "\(trunk.id) has provider trunk SID \(trunk.providerTrunkSid), not TK and 32 hex digits")
            }
    }

    /// What is wrong with `number`'s billing cycle, if anything: an anchor day that is no day of a month, or a cycle
    /// start or next billing date outside the years the calendar is meant for (``BillingCalendar/supportedDates``).
    /// ``BillingCalendar`` traps on either, so a damaged or hand-edited record is refused at start (`numberd verify`
    /// names it) instead of trapping at the first billing run or refund, start after start.
    ///
    /// Not checked: that the next billing date is the one ``BillingCalendar/nextBillingDate(after:anchorDay:)`` gives
    /// for the cycle start and anchor. The service always writes it so (a purchase starts the cycle at the purchase, a
    /// renewal at the date it paid), but the store-format fixtures, which stand for stores older numberd wrote, do not
    /// (their cycles run 31 days from the purchase), nor does the core benchmark's built state; and a cycle off the
    /// calendar is harmless: billing reads the date as stored, and the renewal on it starts the next cycle on the
    /// calendar. Refusing such a store would turn that into an outage.
    static func cycleProblem(_ number: OwnedNumber) -> String? {
        guard (1...31).contains(number.billingAnchorDay) else {
            return "has billing anchor day \(number.billingAnchorDay), not 1...31"
        }
        let range = BillingCalendar.supportedDates
        guard range.contains(number.cycleStart), range.contains(number.nextBillingDate) else {
            return "has a cycle outside the years 1970...9999"
        }
        return nil
    }

    /// What is wrong with the sign of `transaction`'s amount for its kind: credits (funds added, refunds) are positive,
    /// debits (purchases, renewals) not positive, an adjustment either but not zero; nil when nothing is.
    static func signProblem(_ transaction: LedgerTransaction) -> String? {
        let amount = transaction.amount
        switch transaction.kind {
        case .fundsAdded, .refund: return amount > 0 ? nil : "credits \(amount), not a positive amount"
        // A free number (a zero price, which a pricing policy may allow) is still paid by a debit, of 0.
        case .purchase, .renewal: return amount <= 0 ? nil : "debits \(amount), a positive amount"
        case .adjustment: return amount != 0 ? nil : "adjusts by 0"
        }
    }

    /// Whether `amount` is exactly `-fee` (an amount of 0 for a fee of 0). Compared by adding the two, which reports an
    /// overflow instead of trapping: `-fee` traps for a fee of `Int64.min`, which a damaged record can hold, and the
    /// checker and replay must name such a record, not crash on it.
    static func isNegation(_ amount: Int64, of fee: Int64) -> Bool {
        let (sum, overflow) = amount.addingReportingOverflow(fee)
        return !overflow && sum == 0
    }

    /// What ties money to numbers: every number was paid for by exactly one purchase debit of its setup fee and first
    /// month, in its own account's ledger; a transaction about a number is in that number's account; a refund repays
    /// at most one month (what ``BillingCalendar`` prorates). And what ties a ledger to its account: it is kept under
    /// an account that exists, and each of its transactions names that account (the balance check sums a ledger by
    /// the key it is kept under, and listings and statements read it by that key).
    private func checkLedgerLinks(_ found: inout [Violation]) {
        var debits: [String: [LedgerTransaction]] = [:]
        for (accountId, ledger) in transactions.sorted(by: { $0.key < $1.key }) {
            if accounts[accountId] == nil {
                found.append(
                    Violation(
                        rule: "ledger-account",
                        message: "a ledger of \(ledger.count) transactions is kept under \(accountId), no account"))
            }
            for transaction in ledger {
                if transaction.accountId != accountId {
                    found.append(
                        Violation(
                            rule: "transaction-account",
                            message: "\(transaction.id) of \(transaction.accountId) is in \(accountId)'s ledger"))
                }
                if let problem = Self.signProblem(transaction) {
                    found.append(Violation(rule: "kind-sign", message: "\(transaction.id) of \(accountId) \(problem)"))
                }
                guard let numberId = transaction.numberId else {
                    if [.purchase, .renewal, .refund].contains(transaction.kind) {
                        found.append(
                            Violation(
                                rule: "transaction-number",
                                message:
                                    "\(transaction.id) of \(accountId), a \(transaction.kind.rawValue), names no number"
                            ))
                    }
                    continue
                }
                guard let number = numbers[numberId], number.accountId == accountId else {
                    found.append(
                        Violation(
                            rule: "transaction-number",
                            message: "\(transaction.id) of \(accountId) concerns \(numberId), not a number of it"))
                    continue
                }
                switch transaction.kind {
                case .purchase: debits[numberId, default: []].append(transaction)
                case .refund where transaction.amount < 0 || transaction.amount > number.monthlyFee:
                    found.append(
                        Violation(
                            rule: "refund-range",
                            message: "\(transaction.id) refunds \(transaction.amount) of a \(number.monthlyFee) month"))
                case .refund where number.refundTransactionId != transaction.id:
                    found.append(
                        Violation(
                            rule: "one-refund",
                            message:
                                "\(transaction.id) refunds \(numberId), whose refund is \(number.refundTransactionId ?? "none")"
                        ))
                case .renewal where !Self.isNegation(transaction.amount, of: number.monthlyFee):
                    found.append(
                        Violation(
                            rule: "renewal-fee",
                            message:
                                "\(transaction.id) renews \(numberId) for \(transaction.amount), its fee is \(number.monthlyFee)"
                        ))
                default: break
                }
            }
        }
        for number in numbers.values.sorted(by: { $0.id < $1.id }) {
            let paid = debits[number.id] ?? []
            let (charge, overflow) = number.setupFee.addingReportingOverflow(number.monthlyFee)
            if paid.count != 1 || overflow || !Self.isNegation(paid[0].amount, of: charge) {
                found.append(
                    Violation(
                        rule: "number-debit",
                        message: "\(number.id) has \(paid.count) purchase debits \(paid.map(\.amount)), "
                            + "its fees are \(number.setupFee) + \(number.monthlyFee)"))
            }
        }
    }

    /// Every idempotency record points at what it says: a pending one at the open intent of its key (a record left
    /// pending without one would block its key for good: pending records never expire), a result at records that
    /// exist; and every intent's account exists in the intent's currency.
    private func checkIdempotency(_ found: inout [Violation]) {
        for (storageKey, record) in idempotency.sorted(by: { $0.key < $1.key }) {
            var sound = storageKey == record.storageKey && accounts[record.accountId] != nil
            switch record.outcome {
            case .pending(let intentId):
                let intent = intents[intentId]
                sound =
                    sound && record.operation == .purchase && intent?.accountId == record.accountId
                    && intent?.idempotencyKey == record.key
            case .purchased(let numberIds, let transactionIds):
                sound =
                    sound && record.operation == .purchase
                    && numberIds.allSatisfy { numbers[$0]?.accountId == record.accountId }
                    && transactionIds.allSatisfy { transaction($0)?.accountId == record.accountId }
            case .fundsAdded(let transactionId):
                sound =
                    sound && record.operation == .addFunds
                    && transaction(transactionId)?.accountId == record.accountId
            case .adjusted(let transactionId):
                let posted = transaction(transactionId)
                sound =
                    sound && record.operation == .adjustment && posted?.accountId == record.accountId
                    && posted?.kind == .adjustment
            case .releaseRequested(let numberId, let renewalIds):
                sound =
                    sound && record.operation == .release && numbers[numberId]?.accountId == record.accountId
                    && renewalIds.allSatisfy {
                        let renewal = transaction($0)
                        return renewal?.kind == .renewal && renewal?.numberId == numberId
                    }
            }
            if !sound {
                found.append(
                    Violation(
                        rule: "idempotency-record",
                        message: "\(record.accountId)'s key record \(String(describing: record.outcome)) points nowhere"
                    ))
            }
        }
        for intent in intents.values.sorted(by: { $0.id < $1.id }) {
            if accounts[intent.accountId]?.currency != intent.currency {
                found.append(
                    Violation(rule: "intent-account", message: "\(intent.id) has no account in \(intent.currency)"))
            }
        }
    }

    private func checkAccounts(_ found: inout [Violation]) {
        var heldByAccount: [String: Int64] = [:]
        // Sums report an overflow instead of trapping: this checks hand-edited or damaged directories too.
        for intent in intents.values {
            let (sum, overflow) = heldByAccount[intent.accountId, default: 0].addingReportingOverflow(intent.heldAmount)
            if overflow {
                found.append(Violation(rule: "amount-range", message: "\(intent.accountId)'s holds overflow"))
            }
            heldByAccount[intent.accountId] = sum
        }
        for account in accounts.values.sorted(by: { $0.id < $1.id }) {
            let ledger = transactions[account.id] ?? []
            var running: Int64 = 0
            for (index, transaction) in ledger.enumerated() {
                let (sum, overflow) = running.addingReportingOverflow(transaction.amount)
                if overflow {
                    found.append(
                        Violation(
                            rule: "amount-range", message: "\(account.id)'s ledger overflows at \(transaction.id)"))
                }
                running = sum
                if transaction.balanceAfter != running {
                    found.append(
                        Violation(
                            rule: "balance-after",
                            message: "\(transaction.id) says \(transaction.balanceAfter), sum is \(running)"))
                }
                if running < 0 {
                    found.append(Violation(rule: "balance-non-negative", message: "\(account.id) went to \(running)"))
                }
                if transaction.currency != account.currency {
                    found.append(
                        Violation(rule: "currency", message: "\(transaction.id) is in \(transaction.currency)"))
                }
                if transactionAccounts[transaction.id] != TransactionLocation(accountId: account.id, index: index) {
                    found.append(Violation(rule: "transaction-index", message: "\(transaction.id) not indexed"))
                }
            }
            if running != account.balance {
                found.append(
                    Violation(
                        rule: "balance-equals-ledger",
                        message: "\(account.id) balance \(account.balance), ledger \(running)"))
            }
            if account.balance < 0 {
                found.append(
                    Violation(rule: "balance-non-negative", message: "\(account.id) balance \(account.balance)"))
            }
            let held = heldByAccount[account.id] ?? 0
            if account.held != held || held < 0 || held > account.balance {
                found.append(
                    Violation(
                        rule: "holds",
                        message: "\(account.id) held \(account.held), intents \(held), balance \(account.balance)"))
            }
        }
        let indexed = transactions.values.reduce(0) { $0 + $1.count }
        if indexed != transactionAccounts.count {
            found.append(
                Violation(rule: "transaction-index", message: "\(transactionAccounts.count) ids, \(indexed) rows"))
        }
    }

    private func checkNumbers(_ found: inout [Violation]) {
        var holders: [String: [String]] = [:]
        var refunds: [String: Int] = [:]
        for transactionsOfAccount in transactions.values {
            for transaction in transactionsOfAccount where transaction.kind == .refund {
                refunds[transaction.numberId ?? "", default: 0] += 1
            }
        }
        for number in numbers.values.sorted(by: { $0.id < $1.id }) {
            if number.status != .released { holders[number.phoneNumber, default: []].append(number.id) }
            let refundCount = refunds[number.id] ?? 0
            if refundCount > 1 || (refundCount == 1) != (number.refundTransactionId != nil) {
                found.append(Violation(rule: "one-refund", message: "\(number.id) has \(refundCount) refunds"))
            }
            if number.refundTransactionId != nil && number.status != .released {
                found.append(Violation(rule: "one-refund", message: "\(number.id) refunded but not released"))
            }
            if (number.status == .released) != (number.releasedAt != nil) {
                found.append(Violation(rule: "released-at", message: "\(number.id) status \(number.status.rawValue)"))
            }
            // A released number keeps its past-due date as history; the others must agree with their status.
            if number.status != .released && (number.status == .pastDue) != (number.pastDueSince != nil) {
                found.append(
                    Violation(rule: "past-due-since", message: "\(number.id) status \(number.status.rawValue)"))
            }
            if number.nextBillingDate <= number.cycleStart || number.monthlyFee < 0 || number.setupFee < 0 {
                found.append(Violation(rule: "billing-cycle", message: "\(number.id) has a bad cycle or fee"))
            } else if let problem = Self.cycleProblem(number) {
                found.append(Violation(rule: "billing-cycle", message: "\(number.id) \(problem)"))
            }
            if let account = accounts[number.accountId] {
                if account.currency != number.currency {
                    found.append(Violation(rule: "currency", message: "\(number.id) is in \(number.currency)"))
                }
            } else {
                found.append(Violation(rule: "number-account", message: "\(number.id) has no account"))
            }
            if !numberIDs(of: number.accountId).contains(number.id) {
                found.append(Violation(rule: "number-index", message: "\(number.id) not in its account's list"))
            }
        }
        var counts: [String: Int] = [:]
        for number in numbers.values where number.status != .released { counts[number.accountId, default: 0] += 1 }
        if counts != heldNumberCounts.filter({ $0.value != 0 }) {
            found.append(Violation(rule: "number-count", message: "per-account counts of held numbers are wrong"))
        }
        for (phone, ids) in holders where ids.count > 1 {
            found.append(Violation(rule: "owned-once", message: "\(phone) owned by \(ids.sorted())"))
        }
        for (phone, ids) in holders where phoneOwners[phone] != ids.first {
            found.append(Violation(rule: "owner-index", message: "\(phone) index is wrong"))
        }
        if phoneOwners.count != holders.count {
            found.append(Violation(rule: "owner-index", message: "\(phoneOwners.count) indexed, \(holders.count) held"))
        }
    }

    /// Each account's list of number ids (`accountNumbers`) is kept under an account that exists and holds that
    /// account's numbers once each, and nothing else: a snapshot's lists are read as they are, and listings, the held
    /// numbers' counts and monthly costs (``HeldNumbers``, rebuilt from these lists) read them, so an id in the wrong
    /// list would show one account's number, and its fee, to another. (That every number is in its own account's list
    /// is `number-index`, in `checkNumbers`.)
    private func checkNumberLists(_ found: inout [Violation]) {
        var owned: [String: Int] = [:]
        for number in numbers.values { owned[number.accountId, default: 0] += 1 }
        for (accountId, ids) in accountNumbers.sorted(by: { $0.key < $1.key }) {
            if accounts[accountId] == nil {
                found.append(
                    Violation(
                        rule: "number-list-account",
                        message: "a list of \(ids.count) numbers is kept under \(accountId), no account"))
            }
            var seen: Set<String> = []
            for id in ids {
                let owner = numbers[id]?.accountId
                if !seen.insert(id).inserted {
                    found.append(Violation(rule: "number-list", message: "\(accountId) lists \(id) more than once"))
                } else if owner != accountId {
                    let whose = owner.map { "a number of \($0)" } ?? "no number"
                    found.append(Violation(rule: "number-list", message: "\(accountId) lists \(id), \(whose)"))
                }
            }
            let count = owned[accountId] ?? 0
            if ids.count != count {
                found.append(
                    Violation(
                        rule: "number-list",
                        message: "\(accountId)'s list has \(ids.count) entries for its \(count) numbers"))
            }
        }
    }

    private func checkIntents(_ found: inout [Violation]) {
        var reserved = 0
        for intent in intents.values.sorted(by: { $0.id < $1.id }) {
            let sum = intent.items.reduce(Int64(0)) { $0 &+ $1.setupFee &+ $1.monthlyFee }
            if sum != intent.heldAmount {
                found.append(
                    Violation(rule: "intent-hold", message: "\(intent.id) holds \(intent.heldAmount), items \(sum)"))
            }
            // Its numbers are routed to it when the purchase commits: a trunk of the buyer's (deleting one is refused
            // while an intent names it).
            if let trunkId = intent.trunkId, trunks[trunkId]?.accountId != intent.accountId {
                found.append(
                    Violation(
                        rule: "intent-trunk",
                        message: "\(intent.id) names trunk \(trunkId), unknown or not of \(intent.accountId)"))
            }
            for item in intent.items {
                reserved += 1
                if reservations[item.phoneNumber] != intent.id {
                    found.append(
                        Violation(rule: "reservation", message: "\(item.phoneNumber) not reserved by \(intent.id)"))
                }
                if phoneOwners[item.phoneNumber] != nil {
                    found.append(Violation(rule: "reservation", message: "\(item.phoneNumber) reserved and owned"))
                }
            }
        }
        if reserved != reservations.count {
            found.append(
                Violation(rule: "reservation", message: "\(reservations.count) reservations, \(reserved) items"))
        }
    }

    private func checkReferences(_ found: inout [Violation]) {
        for number in numbers.values where number.status != .released {
            if let trunkId = number.trunkId, trunks[trunkId]?.accountId != number.accountId {
                found.append(Violation(rule: "trunk-reference", message: "\(number.id) routes to \(trunkId)"))
            }
            for trunkId in number.routeRequest?.trunkIds.sorted() ?? []
            where trunks[trunkId]?.accountId != number.accountId {
                found.append(
                    Violation(rule: "route-request", message: "\(number.id) is being routed to \(trunkId)"))
            }
        }
        for number in numbers.values {
            guard let earlier = number.routeRequest?.earlier, earlier != Array(Set(earlier)).sorted() else { continue }
            found.append(
                Violation(rule: "route-request", message: "\(number.id)'s replaced trunk changes are not sorted once"))
        }
        for number in numbers.values where number.status == .released && number.routeRequest != nil {
            found.append(
                Violation(rule: "route-request", message: "\(number.id) is released with a trunk change open"))
        }
        if routeRequests != Self.openRouteRequests(numbers) {
            found.append(
                Violation(rule: "route-index", message: "the open route requests disagree with the numbers"))
        }
        for key in apiKeys.values where key.scope != .admin {
            if key.accountId.flatMap({ accounts[$0] }) == nil {
                found.append(Violation(rule: "key-account", message: "\(key.id) has no account"))
            }
        }
        for trunk in trunks.values where accounts[trunk.accountId] == nil {
            found.append(Violation(rule: "trunk-account", message: "\(trunk.id) has no account"))
        }
        if accountTrunks != Self.index(trunks, by: \.accountId) {
            found.append(
                Violation(rule: "trunk-index", message: "the per-account trunk index disagrees with the trunks"))
        }
        if providerTrunks != Self.index(trunks, by: \.providerTrunkSidKey) {
            found.append(
                Violation(rule: "trunk-sid-index", message: "the trunk index by provider SID disagrees with the trunks")
            )
        }
        if reservedNumberCounts != Self.reservedCounts(intents) {
            found.append(
                Violation(rule: "reserved-count", message: "the numbers counted as reserved disagree with the intents"))
        }
        if unsortedLedgers != Self.disorder(transactions) {
            found.append(
                Violation(
                    rule: "ledger-order", message: "the ledgers known out of time order disagree with the ledgers"))
        }
        if !accountIds.isWellFormed || accountIds != SortedKeys(accounts.keys) {
            found.append(Violation(rule: "account-index", message: "the sorted account ids disagree with the accounts"))
        }
        let keyRunsBroken = accountApiKeys.values.contains { !$0.isWellFormed }
        if keyRunsBroken || accountApiKeys != Self.keysByAccount(apiKeys) {
            found.append(Violation(rule: "key-index", message: "the per-account key index disagrees with the keys"))
        }
        let activeKeys = Self.activeKeys(apiKeys)
        if activeApiKeyCount != activeKeys {
            found.append(
                Violation(
                    rule: "key-count", message: "\(activeApiKeyCount) keys counted as not revoked, \(activeKeys) are"))
        }
        let rebuiltHeld = HeldNumbers(accountNumbers: accountNumbers, numbers: numbers)
        if !held.totalsAgree(with: rebuiltHeld) {
            found.append(
                Violation(rule: "held-totals", message: "the held numbers' counts or monthly costs are wrong"))
        }
        for accountId in Set(accountNumbers.keys).union(accounts.keys).sorted() {
            let positions = held.positions(of: accountId)
            let ids = numberIDs(of: accountId)
            let live = positions.filter { $0 < ids.count && numbers[ids[$0]]?.status != .released }
            if live != rebuiltHeld.positions(of: accountId) || positions != positions.sorted()
                || Set(positions).count != positions.count || positions.contains(where: { $0 >= ids.count })
            {
                found.append(
                    Violation(
                        rule: "held-index", message: "\(accountId)'s held-number index disagrees with its numbers"))
            }
        }
        if work.kept {
            // `WorkIndexes` always compare equal: compare their members.
            let rebuilt = WorkIndexes(of: self)
            if work.billingDates != rebuilt.billingDates {
                found.append(
                    Violation(rule: "billing-index", message: "the billing-date index disagrees with the numbers"))
            }
            if work.pastDueMinutes != rebuilt.pastDueMinutes || work.pastDueAccounts != rebuilt.pastDueAccounts {
                found.append(
                    Violation(rule: "past-due-index", message: "the past-due indexes disagree with the numbers"))
            }
            if work.pendingReleases != rebuilt.pendingReleases {
                found.append(
                    Violation(rule: "release-index", message: "the pending-release index disagrees with the numbers"))
            }
            if work.idempotencyMinutes != rebuilt.idempotencyMinutes {
                found.append(
                    Violation(
                        rule: "idempotency-index", message: "the idempotency-minute index disagrees with the records"))
            }
        }
        for (phone, watch) in orphanWatch.sorted(by: { $0.key < $1.key }) {
            // Owned only by the number of the watch's account that claimed it (``OrphanWatch/claimedBy``).
            let owner = phoneOwners[phone]
            let ownedRightly =
                owner == watch.claimedBy && (owner.map { numbers[$0]?.accountId == watch.accountId } ?? true)
            if watch.phoneNumber != phone || !ownedRightly || !watch.isSoundlyCounted
                || accounts[watch.accountId] == nil
            {
                found.append(
                    Violation(
                        rule: "orphan-watch",
                        message: "\(phone) is watched but owned, misfiled, miscounted or unaccounted"))
            }
        }
        for (phone, route) in adoptionRoutes.sorted(by: { $0.key < $1.key }) {
            if route.phoneNumber != phone || trunks[route.trunkId]?.accountId != route.accountId {
                found.append(
                    Violation(
                        rule: "adoption-route",
                        message: "\(phone)'s adoption routing to \(route.trunkId) is misfiled or names no trunk of "
                            + route.accountId))
            }
        }
    }
}
