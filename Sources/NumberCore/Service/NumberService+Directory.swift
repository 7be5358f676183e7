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
    /// paging), so accounts created while a client pages never shift or repeat rows; one pass over the accounts
    /// keeps only the page's smallest ids (most ids are rejected by one comparison with the largest kept), instead of
    /// sorting every id. Tokens are keys: a position token from an older numberd is refused (INVALID_PAGE_TOKEN).
    public func listAccounts(pageSize: Int = 0, pageToken: String? = nil) throws(NumberError) -> AccountPage {
        let size = try Validation.pageSize(pageSize, limits: config.limits)
        let query = "accounts"
        let after = try PageToken.decodeKey(pageToken, query: query)
        return try coordinator.read { state throws(NumberError) in
            // The `size + 1` smallest ids after the token, ascending (the extra one tells whether more follow).
            var smallest: [String] = []
            smallest.reserveCapacity(size + 1)
            for id in state.accounts.keys {
                if let after, id <= after { continue }
                if smallest.count == size + 1, id >= smallest[size] { continue }
                var low = 0
                var high = smallest.count
                while low < high {
                    let middle = (low + high) / 2
                    if smallest[middle] < id { low = middle + 1 } else { high = middle }
                }
                smallest.insert(id, at: low)
                if smallest.count > size + 1 { smallest.removeLast() }
            }
            let ids = smallest.prefix(size)
            let next = smallest.count > size ? ids.last.map { PageToken.encode(query: query, after: $0) } : nil
            return AccountPage(accounts: ids.compactMap { state.accounts[$0] }, nextPageToken: next)
        }
    }

    /// How many of the account's numbers (not released) route to each of its trunks, by trunk id (trunks without
    /// numbers are absent). One pass over the account's held numbers, so listing T trunks costs O(numbers), not
    /// O(T × numbers), and released numbers cost nothing.
    public func trunkNumberCounts(accountId: String) throws(NumberError) -> [String: Int] {
        try coordinator.read { state throws(NumberError) in
            _ = try state.requireAccount(accountId)
            var counts: [String: Int] = [:]
            for (_, number) in state.heldNumbers(of: accountId) {
                if let trunkId = number.trunkId { counts[trunkId, default: 0] += 1 }
            }
            return counts
        }
    }
}
