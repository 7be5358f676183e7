import Foundation

/// A page of accounts.
public struct AccountPage: Sendable, Hashable {
    /// Accounts in id order.
    public var accounts: [Account]
    /// The token for the next page, nil at the end.
    public var nextPageToken: String?
}

extension NumberService {
    /// Every account (admin), a page at a time, in id order.
    public func listAccounts(pageSize: Int = 0, pageToken: String? = nil) throws(NumberError) -> AccountPage {
        let size = try Validation.pageSize(pageSize, limits: config.limits)
        let query = "accounts"
        let start = try PageToken.decode(pageToken, query: query) ?? 0
        return try coordinator.read { state throws(NumberError) in
            let ids = state.accounts.keys.sorted()
            guard start <= ids.count else { throw .invalidPageToken() }
            let end = min(ids.count, start + size)
            let page = ids[start..<end].compactMap { state.accounts[$0] }
            return AccountPage(
                accounts: page, nextPageToken: end < ids.count ? PageToken.encode(query: query, position: end) : nil)
        }
    }

    /// How many of the account's numbers (not released) route to each of its trunks, by trunk id (trunks without
    /// numbers are absent). One pass over the account's numbers, so listing T trunks costs O(numbers), not
    /// O(T × numbers).
    public func trunkNumberCounts(accountId: String) throws(NumberError) -> [String: Int] {
        try coordinator.read { state throws(NumberError) in
            _ = try state.requireAccount(accountId)
            var counts: [String: Int] = [:]
            for id in state.accountNumbers[accountId] ?? [] {
                guard let number = state.numbers[id], number.status != .released, let trunkId = number.trunkId else {
                    continue
                }
                counts[trunkId, default: 0] += 1
            }
            return counts
        }
    }
}
