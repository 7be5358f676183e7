import Foundation

/// A page of accounts.
public struct AccountPage: Sendable, Hashable {
    /// Accounts in id order.
    public var accounts: [Account]
    /// The token for the next page, nil at the end.
    public var nextPageToken: String?
}

extension NumberService {
    /// Every account (admin), a page at a time, in id order. The token holds the last id of its page (keyset
    /// paging), so accounts created while a client pages never shift or repeat rows: ids are random, so one created
    /// mid-walk is listed only if its id sorts after the token's. A page is found by binary search in the sorted ids
    /// the state keeps (``CoreState/accountIds``), O(log n + page size) under the durable state's lock, whatever the
    /// number of accounts. Tokens are keys: a position token from an older numberd is refused (INVALID_PAGE_TOKEN).
    public func listAccounts(pageSize: Int = 0, pageToken: String? = nil) throws(NumberError) -> AccountPage {
        let size = try Validation.pageSize(pageSize, limits: config.limits)
        let query = "accounts"
        let after = try PageToken.decodeKey(pageToken, query: query)
        return try coordinator.read { state throws(NumberError) in
            let (ids, next, _) = Self.keysetPage(state.accountIds, after: after, size: size, query: query)
            return AccountPage(accounts: ids.compactMap { state.accounts[$0] }, nextPageToken: next)
        }
    }

    /// One page of `keys` in ascending order after `after` (from the first when nil), the token of the next page (nil
    /// at the end) and how many keys the page examined: the binary search for its start (at most ⌈log2(n + 1)⌉ keys)
    /// and the page's own. Whether more follow is known from the position, without reading another key.
    static func keysetPage(
        _ keys: SortedKeys, after: String?, size: Int, query: String
    ) -> (keys: [String], next: String?, examined: Int) {
        var examined = 0
        var start = 0
        if let after { start = keys.firstPosition(after: after, examined: &examined) }
        let page = keys.keys(from: start, limit: size)
        examined += page.count
        let more = start + page.count < keys.count
        return (page, more ? page.last.map { PageToken.encode(query: query, after: $0) } : nil, examined)
    }

    /// The `count` smallest of `keys` greater than `after` (all keys when nil), ascending, in one pass.
    static func smallest<Key: Comparable>(_ count: Int, of keys: some Sequence<Key>, after: Key?) -> [Key] {
        var smallest: [Key] = []
        guard count > 0 else { return smallest }
        smallest.reserveCapacity(count)
        for key in keys {
            if let after, key <= after { continue }
            if smallest.count == count, key >= smallest[count - 1] { continue }
            var low = 0
            var high = smallest.count
            while low < high {
                let middle = (low + high) / 2
                if smallest[middle] < key { low = middle + 1 } else { high = middle }
            }
            smallest.insert(key, at: low)
            if smallest.count > count { smallest.removeLast() }
        }
        return smallest
    }

    /// Up to `count` of `keys` in ascending order starting after `cursor` and wrapping around to the smallest: a
    /// capped pass that goes on where the last one stopped.
    static func rotation<Key: Comparable>(_ count: Int, of keys: some Collection<Key>, after cursor: Key?) -> [Key] {
        let first = smallest(count, of: keys, after: cursor)
        guard first.count < count, let cursor else { return first }
        return first + smallest(count - first.count, of: keys.lazy.filter { $0 <= cursor }, after: nil)
    }

    /// How many of the account's numbers (not released) route to each of its trunks, by trunk id (trunks without
    /// numbers are absent), from the totals kept per trunk: O(trunks), whatever the account holds.
    public func trunkNumberCounts(accountId: String) throws(NumberError) -> [String: Int] {
        try coordinator.read { state throws(NumberError) in
            _ = try state.requireAccount(accountId)
            return state.trunkNumberCounts(of: accountId)
        }
    }

    /// The account's trunks, oldest first, each with how many of its numbers route to it — read from one state, so a
    /// number moved between two reads cannot show on no listed trunk.
    public func listTrunksCounted(accountId: String) throws(NumberError) -> [(trunk: Trunk, numbers: Int)] {
        try coordinator.read { state throws(NumberError) in
            _ = try state.requireAccount(accountId)
            let counts = state.trunkNumberCounts(of: accountId)
            return state.trunksOldestFirst(of: accountId).map { ($0, counts[$0.id] ?? 0) }
        }
    }
}

extension CoreState {
    /// Numbers (not released) per trunk id of the account, from the totals kept per trunk
    /// (``HeldNumbers/totals(ofTrunk:)``).
    func trunkNumberCounts(of accountId: String) -> [String: Int] {
        var counts: [String: Int] = [:]
        for trunk in trunks(of: accountId) {
            let count = held.totals(ofTrunk: trunk.id).count(nil)
            if count > 0 { counts[trunk.id] = count }
        }
        return counts
    }

    /// The account's trunks, oldest first (ties by id).
    func trunksOldestFirst(of accountId: String) -> [Trunk] {
        trunks(of: accountId).sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }
}
