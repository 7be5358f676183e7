/// Each account's numbers that are not released, as ascending positions in `CoreState.accountNumbers`, so that
/// listing them and the checks over them read those, not every number the account ever had (released numbers stay
/// in the state for good: an account that churns numbers would otherwise make each listing slower, under the lock
/// commits wait for). A release leaves its position in place, and the account's list is compacted in one pass once
/// such entries are half of it: O(1) amortized per release, and readers skip what is left in place.
///
/// Derived: not in snapshots, rebuilt from the tables. The entries left in place depend on history, so two always
/// compare equal (states compare by their tables); the invariant checker compares the live entries with a rebuild.
public struct HeldNumbers: Sendable, Hashable {
    private var positions: [String: [Int]] = [:]
    /// Released entries left in each account's list.
    private var releasedLeft: [String: Int] = [:]
    /// What each account's held numbers add up to (absent: none held).
    private var totals: [String: HeldTotals] = [:]
    /// What the held numbers routed to each trunk add up to, by trunk id (absent: none): whether a trunk is in use,
    /// and a trunk's listing totals, without reading its account's numbers (which a caller could otherwise make
    /// numberd do hundreds of times a second, under the locks every account's calls share).
    private var trunkTotals: [String: HeldTotals] = [:]

    /// Empty.
    init() {}

    /// Built from the tables.
    init(accountNumbers: [String: [String]], numbers: [String: OwnedNumber]) {
        for (accountId, ids) in accountNumbers {
            let held = ids.indices.filter { numbers[ids[$0]].map { $0.status != .released } ?? false }
            if !held.isEmpty { positions[accountId] = held }
            for position in held {
                let number = numbers[ids[position]]!
                totals[accountId, default: HeldTotals()].add(number.listingStatus, fee: number.monthlyFee, count: 1)
                addToTrunk(number, count: 1)
            }
        }
    }

    /// The account's positions, ascending: every number not released, and maybe some released ones.
    func positions(of accountId: String) -> [Int] { positions[accountId] ?? [] }

    /// What the account's held numbers add up to.
    func totals(of accountId: String) -> HeldTotals { totals[accountId] ?? HeldTotals() }

    /// What the held numbers routed to the trunk add up to.
    func totals(ofTrunk trunkId: String) -> HeldTotals { trunkTotals[trunkId] ?? HeldTotals() }

    /// Whether the totals are those of `rebuilt` (a rebuild from the tables), for the invariant checker.
    func totalsAgree(with rebuilt: HeldNumbers) -> Bool {
        totals.filter { $0.value != HeldTotals() } == rebuilt.totals
            && trunkTotals.filter { $0.value != HeldTotals() } == rebuilt.trunkTotals
    }

    /// Adds (`count` 1) or removes (-1) `number` to or from its trunk's totals, if it has a trunk.
    private mutating func addToTrunk(_ number: OwnedNumber, count: Int) {
        guard let trunkId = number.trunkId else { return }
        trunkTotals[trunkId, default: HeldTotals()].add(number.listingStatus, fee: number.monthlyFee, count: count)
        if count < 0, trunkTotals[trunkId] == HeldTotals() { trunkTotals.removeValue(forKey: trunkId) }
    }

    /// `number`, not released, was added at `position` (the end of its account's list).
    mutating func bought(_ number: OwnedNumber, position: Int) {
        positions[number.accountId, default: []].append(position)
        totals[number.accountId, default: HeldTotals()].add(number.listingStatus, fee: number.monthlyFee, count: 1)
        addToTrunk(number, count: 1)
    }

    /// A held number of the account changed (`old` before, `new` after; neither released): its status, or a release
    /// asked for or withdrawn, moves it between the totals' statuses (``OwnedNumber/listingStatus``), and a trunk
    /// change between its trunks' totals.
    mutating func changed(from old: OwnedNumber, to new: OwnedNumber) {
        let moved = old.listingStatus != new.listingStatus || old.monthlyFee != new.monthlyFee
        guard moved || old.trunkId != new.trunkId else { return }
        addToTrunk(old, count: -1)
        addToTrunk(new, count: 1)
        guard moved else { return }
        totals[old.accountId, default: HeldTotals()].add(old.listingStatus, fee: old.monthlyFee, count: -1)
        totals[new.accountId, default: HeldTotals()].add(new.listingStatus, fee: new.monthlyFee, count: 1)
    }

    /// `number`, held (as it was before), was released; true when its account's list is due for `compact`.
    mutating func released(_ number: OwnedNumber) -> Bool {
        let accountId = number.accountId
        addToTrunk(number, count: -1)
        totals[accountId, default: HeldTotals()].add(number.listingStatus, fee: number.monthlyFee, count: -1)
        let left = releasedLeft[accountId, default: 0] + 1
        releasedLeft[accountId] = left
        return left * 2 > positions[accountId]?.count ?? 0
    }

    /// Drops the account's released entries (`isReleased` tells them by position).
    mutating func compact(accountId: String, isReleased: (Int) -> Bool) {
        releasedLeft.removeValue(forKey: accountId)
        guard let index = positions.index(forKey: accountId) else { return }
        positions.values[index].removeAll(where: isReleased)
        if positions.values[index].isEmpty { positions.remove(at: index) }
    }

    public static func == (lhs: HeldNumbers, rhs: HeldNumbers) -> Bool { true }

    public func hash(into hasher: inout Hasher) {}
}

/// What an account's held numbers add up to, by the status the customer sees (``OwnedNumber/listingStatus``): a
/// listing's total and monthly cost, and the number limit's count, without reading them.
public struct HeldTotals: Sendable, Hashable {
    /// Active numbers.
    public private(set) var active = 0
    /// Their monthly fees, minor units.
    public private(set) var activeMonthlyCost: Int64 = 0
    /// Past-due numbers.
    public private(set) var pastDue = 0
    /// Their monthly fees, minor units.
    public private(set) var pastDueMonthlyCost: Int64 = 0
    /// Numbers being released (their release asked for, not yet recorded): listed, not billed, so no monthly cost.
    public private(set) var releasing = 0

    /// Adds (`count` 1) or removes (-1) a number of `status` and monthly `fee`; released numbers are not counted, and
    /// releasing ones only in number. Wrapping arithmetic: fees are bounded by the pricing limits, and a damaged
    /// snapshot with absurd ones must not trap while its derived indexes are rebuilt (the invariant checker reports it
    /// instead).
    mutating func add(_ status: OwnedNumber.ListingStatus, fee: Int64, count: Int) {
        switch status {
        case .active:
            active += count
            activeMonthlyCost = activeMonthlyCost &+ Int64(count) &* fee
        case .pastDue:
            pastDue += count
            pastDueMonthlyCost = pastDueMonthlyCost &+ Int64(count) &* fee
        case .releasing:
            releasing += count
        case .released:
            break
        }
    }

    /// How many held numbers have `status` (nil: all held, releasing ones included).
    func count(_ status: OwnedNumber.ListingStatus?) -> Int {
        switch status {
        case nil: active + pastDue + releasing
        case .active: active
        case .pastDue: pastDue
        case .releasing: releasing
        case .released: 0
        }
    }

    /// The monthly fees of the held numbers with `status` that are billed (nil: all held): releasing numbers cost
    /// nothing a month.
    func monthlyCost(_ status: OwnedNumber.ListingStatus?) -> Int64 {
        switch status {
        case nil: activeMonthlyCost &+ pastDueMonthlyCost
        case .active: activeMonthlyCost
        case .pastDue: pastDueMonthlyCost
        case .releasing, .released: 0
        }
    }
}
