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

    /// Empty.
    init() {}

    /// Built from the tables.
    init(accountNumbers: [String: [String]], numbers: [String: OwnedNumber]) {
        for (accountId, ids) in accountNumbers {
            let held = ids.indices.filter { numbers[ids[$0]].map { $0.status != .released } ?? false }
            if !held.isEmpty { positions[accountId] = held }
        }
    }

    /// The account's positions, ascending: every number not released, and maybe some released ones.
    func positions(of accountId: String) -> [Int] { positions[accountId] ?? [] }

    /// A number not released was added at `position` (the end of the account's list).
    mutating func bought(accountId: String, position: Int) {
        positions[accountId, default: []].append(position)
    }

    /// A held number of the account was released; true when the account's list is due for `compact`.
    mutating func released(accountId: String) -> Bool {
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
