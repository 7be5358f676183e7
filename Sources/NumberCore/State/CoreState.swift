import Foundation

/// Everything the core knows, changed only by applying ``CoreEvent``s.
public struct CoreState: Codable, Sendable, Hashable {
    /// Accounts by id.
    public internal(set) var accounts: [String: Account] = [:]
    /// API keys by id.
    public internal(set) var apiKeys: [String: ApiKey] = [:]
    /// Trunks by id.
    public internal(set) var trunks: [String: Trunk] = [:]
    /// Numbers (all statuses) by id.
    public internal(set) var numbers: [String: OwnedNumber] = [:]
    /// Each account's number ids in the order their purchases were recorded (a purchase that reconciliation settles
    /// late comes after numbers bought meanwhile).
    public internal(set) var accountNumbers: [String: [String]] = [:]
    /// Each account's count of numbers that are not released (checked against its limit on every purchase).
    public internal(set) var heldNumberCounts: [String: Int] = [:]
    /// Each account's transactions in posting order.
    public internal(set) var transactions: [String: [LedgerTransaction]] = [:]
    /// Transaction id → its account and position in that account's list, for lookups and id uniqueness. Snapshots
    /// hold it as id → account id (``TransactionLocation/encode(to:)``); reading one rebuilds it from `transactions`.
    public internal(set) var transactionAccounts: [String: TransactionLocation] = [:]
    /// Accounts whose ledger is not in `createdAt` order, with where its ordered tail starts (the position after its
    /// last entry stamped earlier than the one before it) and the latest stamp before that tail: derived (rebuilt when
    /// a snapshot is read). A decision stamps a transaction no earlier than its account's last
    /// (``ledgerStamp(_:_:)``), so only ledgers written before it did are here, and their tails grow in order; a
    /// statement searches a ledger, or a tail whose period starts after everything before it, by time
    /// (``NumberService/statement(accountId:start:end:authorizedBy:)``).
    public internal(set) var unsortedLedgers: [String: LedgerDisorder] = [:]
    /// Open purchase intents by id.
    public internal(set) var intents: [String: PurchaseIntent] = [:]
    /// Idempotency records by ``IdempotencyRecord/storageKey``.
    public internal(set) var idempotency: [String: IdempotencyRecord] = [:]
    /// E.164 → id of the number that holds it (active or past due, not released).
    public internal(set) var phoneOwners: [String: String] = [:]
    /// E.164 → id of the open intent that reserves it.
    public internal(set) var reservations: [String: String] = [:]
    /// E.164 → the watch on a number whose voided purchase may still land at the provider (see ``OrphanWatch``).
    public internal(set) var orphanWatch: [String: OrphanWatch] = [:]
    /// E.164 → an adoption's routing of the number to a trunk that may land at the provider (store format 9, see
    /// ``AdoptionRouteRequest``).
    public internal(set) var adoptionRoutes: [String: AdoptionRouteRequest] = [:]
    /// How many events were applied (a cheap identity for tests and snapshots).
    public internal(set) var eventCount: UInt64 = 0
    /// Each account's trunk ids, so listing or adding an account's trunks never scans every account's. Derived:
    /// not in snapshots, rebuilt from `trunks` when one is read.
    public internal(set) var accountTrunks: [String: Set<String>] = [:]
    /// Trunk ids by their provider trunk SID (``Trunk/sidKey(_:)``: Twilio's hex digits in lower case, so a record
    /// from before SIDs were kept so matches), so a SID registered by one account is refused to another without a
    /// scan of every trunk. Derived like `accountTrunks`.
    public internal(set) var providerTrunks: [String: Set<String>] = [:]
    /// How many numbers each account's open purchases reserve, so the numbers-per-account limit counts purchases in
    /// progress as well as numbers held. Derived like `accountTrunks`.
    public internal(set) var reservedNumberCounts: [String: Int] = [:]
    /// Every account id, ascending, so a page of ListAccounts finds its ids by binary search instead of a pass over
    /// every account. Derived like `accountTrunks`.
    public internal(set) var accountIds = SortedKeys()
    /// API key ids by the account they belong to (nil: admin keys), ascending, so a page of ListApiKeys finds its ids
    /// by binary search. Derived like `accountTrunks`.
    public internal(set) var accountApiKeys: [String?: SortedKeys] = [:]
    /// How many API keys are not revoked: what `apiKeysMax` bounds, read on every key creation without counting
    /// the table (revoked keys stay in `apiKeys`, listed with their revocation time, but no longer count). Derived
    /// like `accountTrunks`.
    public internal(set) var activeApiKeyCount = 0
    /// What billing and reconcile runs look up, kept only in the state decisions are made against (see
    /// ``WorkIndexes``).
    public internal(set) var work = WorkIndexes()
    /// Each account's numbers that are not released (see ``HeldNumbers``). Derived like `accountTrunks`.
    public internal(set) var held = HeldNumbers()
    /// Ids of the numbers with an open trunk change (``OwnedNumber/routeRequest``), so reconciliation and DeleteTrunk
    /// find them without reading every number. Derived like `accountTrunks`; kept in every copy of the state (a few
    /// ids at most, unlike ``WorkIndexes``): DeleteTrunk checks it against the durable state.
    public internal(set) var routeRequests: Set<String> = []

    /// An empty state.
    public init() {}

    // What snapshots hold. A new table or a renamed key is a new store format (``StoreFormat/current``'s bump rule).
    private enum CodingKeys: String, CodingKey {
        case accounts, apiKeys, trunks, numbers, accountNumbers, heldNumberCounts, transactions, transactionAccounts
        case intents, idempotency, phoneOwners, reservations, orphanWatch, adoptionRoutes, eventCount
    }

    /// Decodes a snapshot; `orphanWatch` and `adoptionRoutes` may be missing (snapshots written before they existed).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        accounts = try container.decode([String: Account].self, forKey: .accounts)
        apiKeys = try container.decode([String: ApiKey].self, forKey: .apiKeys)
        trunks = try container.decode([String: Trunk].self, forKey: .trunks)
        numbers = try container.decode([String: OwnedNumber].self, forKey: .numbers)
        accountNumbers = try container.decode([String: [String]].self, forKey: .accountNumbers)
        heldNumberCounts = try container.decode([String: Int].self, forKey: .heldNumberCounts)
        transactions = try container.decode([String: [LedgerTransaction]].self, forKey: .transactions)
        // Not read from the snapshot: derived from the lists, positions included (the snapshot's copy has no
        // positions, and rebuilding costs no more than decoding it).
        transactionAccounts = Self.locate(transactions)
        unsortedLedgers = Self.disorder(transactions)
        intents = try container.decode([String: PurchaseIntent].self, forKey: .intents)
        idempotency = try container.decode([String: IdempotencyRecord].self, forKey: .idempotency)
        phoneOwners = try container.decode([String: String].self, forKey: .phoneOwners)
        reservations = try container.decode([String: String].self, forKey: .reservations)
        orphanWatch = try container.decodeIfPresent([String: OrphanWatch].self, forKey: .orphanWatch) ?? [:]
        adoptionRoutes =
            try container.decodeIfPresent([String: AdoptionRouteRequest].self, forKey: .adoptionRoutes) ?? [:]
        eventCount = try container.decode(UInt64.self, forKey: .eventCount)
        // The derived indexes are not in snapshots: rebuilt from the tables.
        accountTrunks = Self.index(trunks, by: \.accountId)
        providerTrunks = Self.index(trunks, by: \.providerTrunkSidKey)
        reservedNumberCounts = Self.reservedCounts(intents)
        accountIds = SortedKeys(accounts.keys)
        accountApiKeys = Self.keysByAccount(apiKeys)
        activeApiKeyCount = Self.activeKeys(apiKeys)
        held = HeldNumbers(accountNumbers: accountNumbers, numbers: numbers)
        routeRequests = Self.openRouteRequests(numbers)
        work = WorkIndexes(of: self)
    }

    /// The ids of the numbers with an open route request (`routeRequests` rebuilt).
    static func openRouteRequests(_ numbers: [String: OwnedNumber]) -> Set<String> {
        Set(numbers.values.lazy.filter { $0.routeRequest != nil }.map(\.id))
    }

    /// The latest time the state records something happening at (an account or key made or revoked, a transaction,
    /// a purchase started, a number gone past due, asked to be released or released); nil when empty. A start-up
    /// compares the clock with it: a clock far ahead of everything recorded renews every number once for each
    /// month it skipped and expires every idempotency key.
    public var latestRecordedTime: Date? {
        var latest: Date?
        func see(_ date: Date?) {
            if let date, latest.map({ date > $0 }) ?? true { latest = date }
        }
        for account in accounts.values { see(account.createdAt) }
        for ledger in transactions.values { see(ledger.last?.createdAt) }
        for key in apiKeys.values {
            see(key.createdAt)
            see(key.revokedAt)
        }
        for intent in intents.values { see(intent.createdAt) }
        for number in numbers.values {
            see(number.pastDueSince)
            see(number.releaseRequestedAt)
            see(number.releasedAt)
            see(number.routeRequest?.at)
        }
        for route in adoptionRoutes.values { see(route.at) }
        return latest
    }

    /// Whether the state holds anything that exists at the provider: a number not released, a trunk, a purchase in
    /// progress or a number watched for a late purchase. Until it does, the data directory may move to another
    /// provider account without losing track of anything (``NumberDaemon/ProviderBinding``).
    public var holdsProviderResources: Bool {
        !phoneOwners.isEmpty || !trunks.isEmpty || !intents.isEmpty || !orphanWatch.isEmpty
    }

    /// The trunks of `accountId`, in no particular order.
    func trunks(of accountId: String) -> [Trunk] {
        (accountTrunks[accountId] ?? []).compactMap { trunks[$0] }
    }

    /// How many of the account's trunks numberd made at the provider (``Trunk/providerManaged``).
    func providerManagedTrunkCount(of accountId: String) -> Int {
        (accountTrunks[accountId] ?? []).count { trunks[$0]?.providerManaged == true }
    }

    /// How many trunks numberd knows on its provider account: distinct SIDs on record, those it made and those
    /// registered by their SID (a number is routed only to a trunk of its own provider account, so those are there
    /// too); what `providerTrunksMax` bounds, read without counting the table.
    var providerTrunkCount: Int { providerTrunks.count }

    /// The number ids of `accountId` in the order their purchases were recorded.
    func numberIDs(of accountId: String) -> [String] { accountNumbers[accountId] ?? [] }

    /// The transaction with `id`, found through its location (an idempotent retry's answer must not scan a ledger
    /// of millions under the decision lock).
    func transaction(_ id: String) -> LedgerTransaction? {
        guard let location = transactionAccounts[id], let ledger = transactions[location.accountId],
            ledger.indices.contains(location.index), ledger[location.index].id == id
        else { return nil }
        return ledger[location.index]
    }

    /// The ids (keys) of `table`'s records grouped by `owner`: how `accountTrunks`, `providerTrunks` and
    /// ``WorkIndexes/idempotencyMinutes`` are rebuilt.
    static func index<Record, Owner: Hashable>(
        _ table: [String: Record], by owner: (Record) -> Owner
    ) -> [Owner: Set<String>] {
        var index: [Owner: Set<String>] = [:]
        for (id, record) in table { index[owner(record), default: []].insert(id) }
        return index
    }

    /// The ids of `keys` by the account they belong to (nil: admin keys), ascending: how `accountApiKeys` is rebuilt.
    static func keysByAccount(_ keys: [String: ApiKey]) -> [String?: SortedKeys] {
        Self.index(keys, by: \.accountId).mapValues { SortedKeys($0) }
    }

    /// The numbers `intents` reserve per account: how `reservedNumberCounts` is rebuilt.
    static func reservedCounts(_ intents: [String: PurchaseIntent]) -> [String: Int] {
        var counts: [String: Int] = [:]
        for intent in intents.values { counts[intent.accountId, default: 0] += intent.items.count }
        return counts
    }

    /// How many of `keys` are not revoked: how `activeApiKeyCount` is rebuilt.
    static func activeKeys(_ keys: [String: ApiKey]) -> Int {
        keys.values.count { $0.revokedAt == nil }
    }

    /// Every transaction's location in `transactions`. An id listed twice keeps one location, so the invariant
    /// check (one location per row) reports it.
    static func locate(_ transactions: [String: [LedgerTransaction]]) -> [String: TransactionLocation] {
        var locations: [String: TransactionLocation] = [:]
        locations.reserveCapacity(transactions.values.reduce(0) { $0 + $1.count })
        for (accountId, ledger) in transactions {
            for (index, transaction) in ledger.enumerated() {
                locations[transaction.id] = TransactionLocation(accountId: accountId, index: index)
            }
        }
        return locations
    }

    /// Whether `id` is already used by anything in the state. Every id starts with its kind's prefix
    /// (``Identifier``), so only that kind's table can hold it; an id without a known prefix is looked up in all.
    func isTaken(_ id: String) -> Bool {
        switch Identifier.prefix(of: id) {
        case Identifier.account: accounts[id] != nil
        case Identifier.apiKey: apiKeys[id] != nil
        case Identifier.trunk: trunks[id] != nil
        case Identifier.number: numbers[id] != nil
        case Identifier.transaction: transactionAccounts[id] != nil
        case Identifier.intent: intents[id] != nil
        default:
            accounts[id] != nil || apiKeys[id] != nil || trunks[id] != nil || numbers[id] != nil
                || transactionAccounts[id] != nil || intents[id] != nil
        }
    }
}

/// Indexes for the background runs: numbers by next billing date, numbers whose release is pending, idempotency keys
/// by the minute their record was made. Only the state decisions are made against (the coordinator's speculative
/// state) keeps them: the durable state readers see and the store's copy for snapshots would pay for them on every
/// event and never read them. Like every derived index they are not in snapshots and are rebuilt when one is read.
///
/// Two `WorkIndexes` are always equal: when kept they are a function of the tables, so states compare by their
/// tables whether or not they keep them; the invariant checker compares kept indexes with a rebuild.
public struct WorkIndexes: Sendable, Hashable {
    /// Whether the indexes are kept up to date (false: empty and ignored).
    public private(set) var kept = true
    /// Ids of the active numbers (not released, not past due, no release requested), by next billing date: a billing
    /// run reads the dates up to now instead of every number.
    public internal(set) var billingDates: [Date: Set<String>] = [:]
    /// Ids of the past-due numbers (no release requested) by the minute of their past-due mark (``minute(_:)``,
    /// ``OwnedNumber/pastDueSince``): a billing run reads the minutes whose grace period is over instead of passing
    /// every past-due number on every run (a large account out of funds made each run of a catch-up walk all of its
    /// numbers marked so far: quadratic).
    public internal(set) var pastDueMinutes: [Int64: Set<String>] = [:]
    /// Ids of the past-due numbers (no release requested) by account and monthly fee: a billing run renews those of an
    /// account that can now pay the cheapest (funds added) without reading the others.
    public internal(set) var pastDueAccounts: [String: [Int64: Set<String>]] = [:]
    /// Ids of the numbers whose release was requested and has not happened (the provider call failed or is in
    /// flight): reconcile reads these instead of every number.
    public internal(set) var pendingReleases: Set<String> = []
    /// Idempotency storage keys by the minute their record was made (``minute(_:)``): a billing run reads the
    /// minutes past the time to live instead of every record.
    public internal(set) var idempotencyMinutes: [Int64: Set<String>] = [:]

    /// Kept, and empty (an empty state's).
    init() {}

    /// Not kept.
    static let notKept: WorkIndexes = {
        var indexes = WorkIndexes()
        indexes.kept = false
        return indexes
    }()

    /// Built from `state`'s tables.
    init(of state: CoreState) {
        for (id, number) in state.numbers where number.status != .released {
            file(number)
            if number.releaseRequestedAt != nil { pendingReleases.insert(id) }
        }
        idempotencyMinutes = CoreState.index(state.idempotency) { WorkIndexes.minute($0.createdAt) }
    }

    /// The minute `date` falls in (seconds since 1970 / 60, rounded down): the bucket of `idempotencyMinutes`.
    static func minute(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 / 60).rounded(.down))
    }

    // What `apply` calls as the tables change; each does nothing when the indexes are not kept. A set left empty is
    // removed with its bucket, as a rebuild would have it.

    /// Files a number that is not released: by billing date if active, else by when it became past due and by its
    /// account and fee. A number whose release was requested is not filed: billing skips it until the release is
    /// recorded or withdrawn (``CoreEvent/numberReleaseCancelled(numberId:)`` files it again), and a run must not walk
    /// it meanwhile (a provider incident leaving 100 000 releases in doubt made every run of a catch-up pass them all).
    mutating func file(_ number: OwnedNumber) {
        guard kept, number.releaseRequestedAt == nil else { return }
        if let since = number.pastDueSince, number.status == .pastDue {
            pastDueMinutes[Self.minute(since), default: []].insert(number.id)
            pastDueAccounts[number.accountId, default: [:]][number.monthlyFee, default: []].insert(number.id)
        } else {
            billingDates[number.nextBillingDate, default: []].insert(number.id)
        }
    }

    /// Removes a number filed by ``file(_:)`` as it was then (one with a release requested was not).
    mutating func unfile(_ number: OwnedNumber) {
        guard kept, number.releaseRequestedAt == nil else { return }
        if let since = number.pastDueSince, number.status == .pastDue {
            Self.remove(number.id, under: Self.minute(since), from: &pastDueMinutes)
            guard let account = pastDueAccounts.index(forKey: number.accountId) else { return }
            Self.remove(number.id, under: number.monthlyFee, from: &pastDueAccounts.values[account])
            if pastDueAccounts.values[account].isEmpty { pastDueAccounts.remove(at: account) }
        } else {
            Self.remove(number.id, under: number.nextBillingDate, from: &billingDates)
        }
    }

    mutating func file(key: String, madeAt createdAt: Date) {
        if kept { idempotencyMinutes[Self.minute(createdAt), default: []].insert(key) }
    }

    mutating func unfile(key: String, madeAt createdAt: Date) {
        if kept { Self.remove(key, under: Self.minute(createdAt), from: &idempotencyMinutes) }
    }

    mutating func releaseRequested(_ numberId: String) {
        if kept { pendingReleases.insert(numberId) }
    }

    mutating func releaseEnded(_ numberId: String) {
        if kept { pendingReleases.remove(numberId) }
    }

    private static func remove<Bucket: Hashable>(
        _ id: String, under bucket: Bucket, from index: inout [Bucket: Set<String>]
    ) {
        guard let position = index.index(forKey: bucket) else { return }
        index.values[position].remove(id)
        if index.values[position].isEmpty { index.remove(at: position) }
    }

    public static func == (lhs: WorkIndexes, rhs: WorkIndexes) -> Bool { true }

    public func hash(into hasher: inout Hasher) {}
}

extension CoreState {
    /// Whether numberd accounts for `phoneNumber` being owned at the provider: a customer holds it, a purchase in
    /// progress reserves it, or a voided purchase or a release watches it (numberd's own orphan, which the watch
    /// releases unless a purchase takes it over). Anything else the provider account owns, numberd did not buy.
    func accountsFor(_ phoneNumber: String) -> Bool {
        phoneOwners[phoneNumber] != nil || reservations[phoneNumber] != nil || orphanWatch[phoneNumber] != nil
    }

    /// This state keeping the work indexes (rebuilt from the tables if it did not) or not (dropped).
    func keepingWorkIndexes(_ keep: Bool) -> CoreState {
        guard keep != work.kept else { return self }
        var state = self
        state.work = keep ? WorkIndexes(of: self) : .notKept
        return state
    }
}

/// Where a ledger transaction is: its account, and its position in that account's list (posting order; entries are
/// never removed, so a position never changes).
public struct TransactionLocation: Encodable, Sendable, Hashable {
    /// The account the transaction belongs to.
    public let accountId: String
    /// Its position in `CoreState.transactions[accountId]`.
    public let index: Int

    /// Encodes the account id alone: the form snapshots have always had (positions are rebuilt on reading).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(accountId)
    }
}

extension CoreState {
    /// The time to stamp a new transaction of `accountId` decided at `now`: no earlier than the account's last, so
    /// its ledger stays in time order (a decision reads the clock before it waits for the decision lock, and one that
    /// read it later may have gone first).
    func ledgerStamp(_ accountId: String, _ now: Date) -> Date {
        guard let last = transactions[accountId]?.last?.createdAt, last > now else { return now }
        return last
    }
}

/// Where an account's ledger stops being out of time order (``CoreState/unsortedLedgers``).
public struct LedgerDisorder: Sendable, Hashable {
    /// The position of the ledger's last entry stamped earlier than the one before it: from here on, in order.
    public var tailStart: Int
    /// The latest stamp before `tailStart`: a period that starts after it finds every earlier entry before it.
    public var latestBefore: Date

    /// The disorder after `transaction` is appended at `index` behind `last`, given the disorder before (nil: none).
    static func after(
        _ disorder: LedgerDisorder?, appending transaction: LedgerTransaction, at index: Int,
        behind last: LedgerTransaction
    ) -> LedgerDisorder? {
        guard transaction.createdAt < last.createdAt else { return disorder }
        // The tail before this entry was in order, so its last entry is its latest.
        let latest = max(disorder?.latestBefore ?? last.createdAt, last.createdAt)
        return LedgerDisorder(tailStart: index, latestBefore: latest)
    }
}

extension CoreState {
    /// ``unsortedLedgers`` built from the ledgers.
    static func disorder(_ transactions: [String: [LedgerTransaction]]) -> [String: LedgerDisorder] {
        var found: [String: LedgerDisorder] = [:]
        for (accountId, ledger) in transactions {
            var disorder: LedgerDisorder?
            for index in ledger.indices.dropFirst() {
                disorder = LedgerDisorder.after(
                    disorder, appending: ledger[index], at: index, behind: ledger[index - 1])
            }
            found[accountId] = disorder
        }
        return found
    }
}
