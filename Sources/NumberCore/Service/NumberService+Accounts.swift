import Foundation

extension NumberService {
    /// Creates an account with a zero balance.
    public func createAccount(name: String, currency: String) async throws(NumberError) -> Account {
        let name = try Validation.name(name, field: "name", max: config.limits.nameLengthMax)
        let currency = try Validation.currency(currency)
        let now = now()
        let accountsMax = config.limits.accountsMax
        return try await coordinator.perform(admitting: true) { state throws(NumberError) in
            guard state.accounts.count < accountsMax else {
                throw NumberError(
                    .resourceExhausted, .limitExceeded, "the account limit of \(accountsMax) is reached",
                    details: ["max": String(accountsMax)])
            }
            let account = Account(
                id: Identifier.make(Identifier.account, taken: state.isTaken), name: name, currency: currency,
                createdAt: now)
            return ([.accountCreated(account)], account)
        }
    }

    /// One account.
    public func account(_ accountId: String) throws(NumberError) -> Account {
        try coordinator.read { state throws(NumberError) in try state.requireAccount(accountId) }
    }

    /// Suspends or reactivates an account (suspended accounts can read but not buy, add trunks, or release; an
    /// administrator's release, trunk change or trunk deletion excepted: `evenIfSuspended`).
    public func setAccountStatus(_ accountId: String, _ status: Account.Status) async throws(NumberError) -> Account {
        try await setAccountStatusReportingChange(accountId, status).account
    }

    /// ``setAccountStatus(_:_:)``, saying too whether this call changed the status: `changed` is false when the
    /// account had it already and nothing was written, so that an audit log does not show a change that was not made.
    public func setAccountStatusReportingChange(
        _ accountId: String, _ status: Account.Status
    ) async throws(NumberError) -> (account: Account, changed: Bool) {
        try await coordinator.perform { state throws(NumberError) in
            var account = try state.requireAccount(accountId)
            guard account.status != status else { return ([], (account, false)) }
            account.status = status
            return ([.accountStatusChanged(accountId: accountId, status: status)], (account, true))
        }
    }

    /// The balance, the amount held by purchases in progress, and what is available.
    public func balance(accountId: String) throws(NumberError) -> BalanceSummary {
        let account = try account(accountId)
        return BalanceSummary(
            accountId: account.id, balance: account.balance, held: account.held, available: account.available,
            currency: account.currency)
    }

    /// Credits `amount` minor units (admin), naming `actor` (the admin key) in the transaction. A retry with the same
    /// `idempotencyKey` returns the first transaction, with the first call's actor, whoever retries.
    public func addFunds(
        accountId: String, amount: Int64, description: String? = nil, idempotencyKey: String? = nil,
        actor: LedgerActor? = nil
    ) async throws(NumberError) -> LedgerTransaction {
        try await addFundsOutcome(
            accountId: accountId, amount: amount, description: description, idempotencyKey: idempotencyKey,
            actor: actor
        ).transaction
    }

    /// ``addFunds(accountId:amount:description:idempotencyKey:actor:)``, saying whether the transaction is the first
    /// one of a retried key (nothing credited now).
    public func addFundsOutcome(
        accountId: String, amount: Int64, description: String? = nil, idempotencyKey: String? = nil,
        actor: LedgerActor? = nil
    ) async throws(NumberError) -> (transaction: LedgerTransaction, replayed: Bool) {
        let limits = config.limits
        guard amount > 0 else { throw .invalid("amount", "amount must be positive") }
        guard amount <= limits.fundsAmountMax else {
            throw .limit(
                "amount", max: Int(limits.fundsAmountMax),
                "amount is larger than \(limits.fundsAmountMax) (minor units of the account's currency)")
        }
        let description =
            try Validation.optionalText(description, field: "description", max: limits.descriptionLengthMax)
            ?? "Funds added"
        return try await post(
            .fundsAdded, accountId: accountId, amount: amount, description: description, idempotencyKey: idempotencyKey,
            actor: actor)
    }

    /// Posts a manual correction (admin), naming `actor`: a credit, or a debit that cannot exceed the available
    /// balance. `reason` is required (the transaction's description). A retry with the same `idempotencyKey` returns
    /// the first transaction (`replayed`) and changes nothing; the same key with another amount or reason is refused.
    public func adjustBalance(
        accountId: String, amount: Int64, reason: String, idempotencyKey: String? = nil, actor: LedgerActor? = nil
    ) async throws(NumberError) -> (transaction: LedgerTransaction, replayed: Bool) {
        let limits = config.limits
        guard amount != 0 else { throw .invalid("amount", "amount must not be zero") }
        guard amount.magnitude <= limits.fundsAmountMax.magnitude else {
            throw .limit(
                "amount", max: Int(limits.fundsAmountMax),
                "amount is larger than \(limits.fundsAmountMax) either way (minor units of the account's currency)")
        }
        let reason = try Validation.name(reason, field: "reason", max: limits.descriptionLengthMax)
        return try await post(
            .adjustment, accountId: accountId, amount: amount, description: reason, idempotencyKey: idempotencyKey,
            actor: actor)
    }

    /// Posts one transaction not tied to a number (funds added, an adjustment) under an optional idempotency key,
    /// whose record names the operation and a fingerprint of the amount and description: a retry with the same key
    /// returns the first transaction; the key used for anything else is refused. A debit may not exceed the available
    /// balance, a credit may not take the balance past `balanceMax`.
    private func post(
        _ kind: LedgerTransaction.Kind, accountId: String, amount: Int64, description: String, idempotencyKey: String?,
        actor: LedgerActor?
    ) async throws(NumberError) -> (transaction: LedgerTransaction, replayed: Bool) {
        let limits = config.limits
        try LedgerActor.check(actor)
        let key = try Validation.idempotencyKey(idempotencyKey, max: config.idempotency.keyLengthMax)
        let operation: IdempotencyRecord.Operation = kind == .adjustment ? .adjustment : .addFunds
        let fingerprint = Crypto.sha256Hex("\(operation.rawValue)|\(amount)|\(description)")
        let now = now()
        let expiredBy = idempotencyKeysExpired(by: now)
        return try await coordinator.perform(admitting: true) { state throws(NumberError) in
            let account = try state.requireAccount(accountId)
            if let key, let record = state.liveIdempotency(accountId: accountId, key: key, expiredBy: expiredBy) {
                guard record.operation == operation, record.fingerprint == fingerprint,
                    let transactionId = record.postedTransactionId,
                    let first = state.transaction(transactionId)
                else { throw .idempotencyKeyReused(key, record: record) }
                return ([], (first, true))
            }
            if amount < 0, account.available < -amount {
                throw .insufficientBalance(required: -amount, available: account.available, currency: account.currency)
            }
            let (balance, overflow) = account.balance.addingReportingOverflow(amount)
            // A debit is never refused for the ceiling: a refund may have taken the balance past it.
            guard !overflow, amount < 0 || balance <= limits.balanceMax else {
                throw NumberError(
                    .failedPrecondition, .limitExceeded,
                    "the balance would exceed \(PricingPolicy.display(limits.balanceMax, account.currency))",
                    details: ["max": String(limits.balanceMax)])
            }
            let transaction = LedgerTransaction(
                id: Identifier.make(Identifier.transaction, taken: state.isTaken), accountId: accountId, kind: kind,
                amount: amount, balanceAfter: balance, currency: account.currency, numberId: nil,
                description: description, createdAt: state.ledgerStamp(accountId, now), idempotencyKey: key,
                actor: actor)
            var events: [CoreEvent] = [.transactionPosted(transaction)]
            if let key {
                let outcome: IdempotencyRecord.Outcome =
                    kind == .adjustment
                    ? .adjusted(transactionId: transaction.id) : .fundsAdded(transactionId: transaction.id)
                events.append(
                    .idempotencyRecorded(
                        IdempotencyRecord(
                            accountId: accountId, key: key, operation: operation, fingerprint: fingerprint,
                            createdAt: now, outcome: outcome)))
            }
            return (events, (transaction, false))
        }
    }

    /// The account's transactions, newest first, a page at a time; with `start` and/or `end`, those stamped in
    /// `[start, end)` only. A ledger in time order (``CoreState/ledgerStamp(_:_:)``) — or the ordered tail of an older
    /// one, when the period starts after everything before it — is searched for the period's bounds, and pages within
    /// them. An older ledger out of order is read backwards from the token's position, at most
    /// ``periodScanMax`` entries per page: a page may then hold fewer than `pageSize` (or none) and still have a next
    /// token.
    public func listTransactions(
        accountId: String, pageSize: Int = 0, pageToken: String? = nil, start: Date? = nil, end: Date? = nil
    ) throws(NumberError) -> TransactionPage {
        let size = try Validation.pageSize(pageSize, limits: config.limits)
        if let start, let end, end <= start { throw .invalid("end_time", "end_time must be after start_time") }
        // A period's pages are its own: a token is refused for another period (times in whole milliseconds).
        let period = [start, end].map { $0.map { String(Int64(($0.timeIntervalSince1970 * 1000).rounded())) } ?? "" }
        let query =
            start == nil && end == nil
            ? "transactions|\(accountId)" : "transactions|\(accountId)|\(period[0])|\(period[1])"
        let position = try PageToken.decode(pageToken, query: query)
        return try coordinator.read { state throws(NumberError) in
            _ = try state.requireAccount(accountId)
            let all = state.transactions[accountId] ?? []
            // Positions count from the oldest, so a token stays valid while new transactions are appended.
            guard (position ?? 0) <= all.count else { throw .invalidPageToken() }
            guard let bounds = Self.periodBounds(in: all, disorder: state.unsortedLedgers[accountId], start, end) else {
                return Self.scanPage(
                    all, accountId: accountId, state: state, size: size, from: position ?? all.count, query: query,
                    in: (start ?? .distantPast)..<(end ?? .distantFuture))
            }
            // A token is only made inside the period: one before it is not ours (the ranges below would trap).
            if let position, position < bounds.lowerBound { throw .invalidPageToken() }
            let upper = min(position ?? bounds.upperBound, bounds.upperBound)
            let lower = max(bounds.lowerBound, upper - size)
            let page = Array(all[lower..<upper].reversed())
            let next = lower > bounds.lowerBound ? PageToken.encode(query: query, position: lower) : nil
            return TransactionPage(
                transactions: page, nextPageToken: next, total: all.count, phoneNumbers: state.phoneNumbers(of: page))
        }
    }

    /// Most entries an out-of-order ledger's page reads (``listTransactions(accountId:pageSize:pageToken:start:end:)``).
    static let periodScanMax = 16_384

    /// The positions of a ledger stamped in `[start, end)` (either bound open), found by binary search; nil when the
    /// ledger is out of order where the period reaches (`disorder`).
    static func periodBounds(
        in ledger: [LedgerTransaction], disorder: LedgerDisorder?, _ start: Date?, _ end: Date?
    ) -> Range<Int>? {
        guard start != nil || end != nil else { return ledger.indices }
        var ordered = ledger.indices
        if let disorder {
            guard let start, disorder.latestBefore < start else { return nil }
            ordered = disorder.tailStart..<ledger.count
        }
        let lower = start.map { firstIndex(in: ledger[ordered], notBefore: $0) } ?? 0
        let upper = end.map { firstIndex(in: ledger[ordered], notBefore: $0) } ?? ledger.count
        return lower..<max(lower, upper)
    }

    /// A page of an out-of-order ledger's entries in `period`, read backwards from `position`: at most `size` of them,
    /// and at most ``periodScanMax`` entries read; the next token continues where the reading stopped.
    private static func scanPage(
        _ ledger: [LedgerTransaction], accountId: String, state: CoreState, size: Int, from position: Int,
        query: String, in period: Range<Date>
    ) -> TransactionPage {
        var page: [LedgerTransaction] = []
        var index = position
        let floor = max(0, position - periodScanMax)
        while index > floor, page.count < size {
            index -= 1
            if period.contains(ledger[index].createdAt) { page.append(ledger[index]) }
        }
        return TransactionPage(
            transactions: page, nextPageToken: index > 0 ? PageToken.encode(query: query, position: index) : nil,
            total: ledger.count, phoneNumbers: state.phoneNumbers(of: page))
    }
}

/// A page of ledger transactions.
public struct TransactionPage: Sendable, Hashable {
    /// Newest first.
    public var transactions: [LedgerTransaction]
    /// The token for the next (older) page, nil at the end.
    public var nextPageToken: String?
    /// How many transactions the account has.
    public var total: Int
    /// The E.164 number each transaction of the page concerns, by number id, read with the page (a released
    /// number keeps its record, so every id resolves).
    public var phoneNumbers: [String: String] = [:]
}

extension CoreState {
    /// The E.164 number each of `transactions` concerns, by number id (a released number keeps its record).
    func phoneNumbers(of transactions: [LedgerTransaction]) -> [String: String] {
        var phones: [String: String] = [:]
        for numberId in transactions.lazy.compactMap(\.numberId) where phones[numberId] == nil {
            phones[numberId] = numbers[numberId]?.phoneNumber
        }
        return phones
    }

    /// The account, or NOT_FOUND.
    func requireAccount(_ accountId: String) throws(NumberError) -> Account {
        guard let account = accounts[accountId] else { throw .accountNotFound(accountId) }
        return account
    }

    /// Refuses UNAUTHENTICATED when the key a call was authorized by (`keyId`; nil: a call of numberd's own) has been
    /// revoked (or purged) since: a call that waited for its turn at the provider is not carried out for a key revoked
    /// meanwhile, the documented answer to a leaked key.
    func requireUnrevokedKey(_ keyId: String?) throws(NumberError) {
        guard let keyId else { return }
        guard let key = apiKeys[keyId], key.revokedAt == nil else { throw NumberError.invalidCredentials }
    }

    /// The account if it exists and is active.
    func requireActiveAccount(_ accountId: String) throws(NumberError) -> Account {
        let account = try requireAccount(accountId)
        guard account.status == .active else {
            throw NumberError(
                .failedPrecondition, .accountInactive, "account \(accountId) is \(account.status.rawValue)",
                details: ["accountId": accountId])
        }
        return account
    }

    /// The key's record unless it dates from `expiredBy` or before (``NumberServiceConfig/idempotencyKeysExpired(by:revealed:)``; older records
    /// count as gone). One whose work is unsettled lives on (``isUnsettled(_:)``).
    func liveIdempotency(accountId: String, key: String, expiredBy: Date) -> IdempotencyRecord? {
        guard let record = idempotency[IdempotencyRecord.storageKey(accountId: accountId, key: key)] else { return nil }
        return record.createdAt > expiredBy || isUnsettled(record) ? record : nil
    }

    /// Whether `record`'s request is still unsettled — a purchase still open (pending), or a release still requested
    /// (at the provider, or in doubt until reconciliation records it) — so that it neither expires nor counts as
    /// gone: a retry under its key must learn the outcome, however long that takes.
    func isUnsettled(_ record: IdempotencyRecord) -> Bool {
        switch record.outcome {
        case .pending: true
        case .releaseRequested(let numberId, _):
            numbers[numberId].map { $0.status != .released && record.askedForRelease(of: $0) } ?? false
        case .purchased, .fundsAdded, .adjusted: false
        }
    }
}

extension NumberService {
    /// How many ledger entries a statement sums per hold of the durable state's lock: a statement of an account with
    /// a long ledger holds up the commits that wait for that lock (on the journal's writer) a chunk at a time.
    static let statementChunk = 16_384

    /// The account's statement for `[start, end)`: its balance before each bound and the period's transactions by kind,
    /// a transaction being in the period by its `createdAt`. A ledger in time order (every one a decision stamped,
    /// ``CoreState/ledgerStamp(_:_:)``) is searched for the period's bounds and only the period is read: the opening
    /// and closing balances are the `balanceAfter` of the entries before each bound, and the period's sums must give
    /// the one from the other (else INTERNAL: a broken ledger). An older ledger out of order is summed whole. Either way
    /// the ledger is read as it stood at the first read (``Statement/asOf``), a chunk per hold of the lock (entries are
    /// only ever appended, so the chunks add up to one ledger); a caller gone between chunks stops it. At most
    /// ``NumberServiceConfig/Limits/statementsInFlightPerAccountMax`` statements of an account and
    /// ``NumberServiceConfig/Limits/statementsInFlightMax`` in all run at once, the others waiting their turn
    /// (RESOURCE_EXHAUSTED / STATEMENTS_BUSY past the waiting limits): a long period of a long ledger costs CPU in
    /// proportion, and any read key may ask for one.
    /// `authorizedBy` is the id of the key the call was authorized by (nil: numberd's own): a statement that waited
    /// for its turn is not read for a key revoked meanwhile (UNAUTHENTICATED / INVALID_CREDENTIALS).
    public func statement(
        accountId: String, start: Date, end: Date, authorizedBy: String? = nil
    ) async throws(NumberError) -> Statement {
        try await statement(
            accountId: accountId, start: start, end: end, authorizedBy: authorizedBy, chunk: Self.statementChunk)
    }

    /// ``statement(accountId:start:end:authorizedBy:)`` summing `chunk` entries per read (tests cross chunk bounds
    /// with small ones).
    func statement(
        accountId: String, start: Date, end: Date, authorizedBy: String? = nil, chunk: Int
    ) async throws(NumberError) -> Statement {
        precondition(chunk > 0, "a statement reads at least one entry at a time")
        guard end > start else { throw .invalid("end_time", "end_time must be after start_time") }
        _ = try coordinator.read { state throws(NumberError) in try state.requireAccount(accountId) }
        try await waitForSlot(statements, accountId, cancelled: Self.cancelledBeforeStart, busy: .statementsBusy) {
            "too many statements \($0) wait to be read; retry when one has ended"
        }
        defer { statements.give(accountId) }
        // The period's entries and the balance before them, as of the read that fixes the ledger's length: nothing
        // stamped after it is counted.
        let (account, asOf, range, balances) = try coordinator.read { state throws(NumberError) in
            try state.requireUnrevokedKey(authorizedBy)
            let account = try state.requireAccount(accountId)
            let ledger = state.transactions[accountId] ?? []
            // A ledger out of order is searched in its ordered tail when every entry before it is before the period.
            guard let bounds = Self.periodBounds(in: ledger, disorder: state.unsortedLedgers[accountId], start, end)
            else {
                return (account, now(), 0..<ledger.count, (opening: Int64?.none, closing: Int64?.none))
            }
            let balance = { (index: Int) in index > 0 ? ledger[index - 1].balanceAfter : 0 }
            return (
                account, now(), bounds,
                (opening: Optional(balance(bounds.lowerBound)), closing: Optional(balance(bounds.upperBound)))
            )
        }
        var sums = StatementSums(opening: balances.opening ?? 0)
        var position = range.lowerBound
        while position < range.upperBound {
            guard !Task.isCancelled else { throw Self.cancelledBeforeStart }
            let upper = min(range.upperBound, position + chunk)
            try coordinator.read { state throws(NumberError) in
                guard let ledger = state.transactions[accountId], ledger.count >= upper else {
                    throw NumberError.internalFailure("the ledger of \(accountId) shrank during a statement")
                }
                for transaction in ledger[position..<upper] {
                    try sums.add(transaction, start: start, end: end)
                }
            }
            position = upper
            if position < range.upperBound { await Task.yield() }
        }
        let closing = try StatementSums.sum(sums.opening, sums.credits - sums.debits)
        if let expected = balances.closing, closing != expected {
            throw NumberError.internalFailure(
                "the ledger of \(accountId) does not add up: \(sums.opening) + \(sums.credits) - \(sums.debits) is not "
                    + "its balance \(expected) at the period's end")
        }
        return Statement(
            accountId: account.id, currency: account.currency, start: start, end: end, openingBalance: sums.opening,
            closingBalance: closing, credits: sums.credits, debits: sums.debits,
            lines: LedgerTransaction.Kind.allCases.compactMap { kind in
                sums.lines[kind].map { Statement.Line(kind: kind, count: $0.count, balanceChange: $0.change) }
            },
            transactionCount: sums.lines.values.reduce(0) { $0 + $1.count }, asOf: asOf)
    }

    /// The position of the first entry of a ledger in time order stamped at or after `time` (its end if none).
    static func firstIndex(in ledger: ArraySlice<LedgerTransaction>, notBefore time: Date) -> Int {
        var low = ledger.startIndex
        var high = ledger.endIndex
        while low < high {
            let middle = (low + high) / 2
            if ledger[middle].createdAt < time { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

/// What a statement adds up as it reads the ledger.
private struct StatementSums {
    var opening: Int64
    var credits: Int64 = 0
    var debits: Int64 = 0
    var lines: [LedgerTransaction.Kind: (count: Int, change: Int64)] = [:]

    mutating func add(_ transaction: LedgerTransaction, start: Date, end: Date) throws(NumberError) {
        let amount = transaction.amount
        guard transaction.createdAt < end else { return }
        guard transaction.createdAt >= start else { return opening = try Self.sum(opening, amount) }
        if amount >= 0 {
            credits = try Self.sum(credits, amount)
        } else {
            debits = try Self.sum(debits, -amount)
        }
        let line = lines[transaction.kind] ?? (0, 0)
        lines[transaction.kind] = (line.count + 1, try Self.sum(line.change, amount))
    }

    /// `a + b`, or an error where it would not fit (sums of a ledger whose every balance fits: only credits and debits
    /// taken apart, over an enormous ledger near `Int64.max` balances).
    static func sum(_ a: Int64, _ b: Int64) throws(NumberError) -> Int64 {
        let (total, overflow) = a.addingReportingOverflow(b)
        guard !overflow else {
            throw NumberError(
                .failedPrecondition, .limitExceeded, "the period's sums do not fit in 64 bits: ask for a shorter period"
            )
        }
        return total
    }
}

/// An account's statement for a period (``NumberService/statement(accountId:start:end:authorizedBy:)``).
public struct Statement: Sendable, Hashable {
    /// One kind of transaction in the period.
    public struct Line: Sendable, Hashable {
        public var kind: LedgerTransaction.Kind
        public var count: Int
        /// Their signed sum, minor units.
        public var balanceChange: Int64
    }

    public var accountId: String
    public var currency: String
    /// The period's first instant.
    public var start: Date
    /// The instant after the period.
    public var end: Date
    /// The sum of every transaction before `start`.
    public var openingBalance: Int64
    /// The sum of every transaction before `end` posted by `asOf`: `openingBalance + credits - debits`.
    public var closingBalance: Int64
    /// The period's credits (≥ 0).
    public var credits: Int64
    /// The period's debits as a magnitude (≥ 0).
    public var debits: Int64
    /// One per kind with transactions in the period, in ``LedgerTransaction/Kind`` order.
    public var lines: [Line]
    public var transactionCount: Int
    /// When the ledger was read: transactions posted later are not counted.
    public var asOf: Date
}
