import Foundation
import Testing

@testable import NumberCore

/// What one page of a listing reads, under the durable state's lock that the journal writer needs after every commit:
/// bounded by the page, not by everything the listing could hold.
@Suite("Page costs: accounts, API keys and filtered numbers")
struct PageCostTests {
    static let now = Date.utc("2025-01-15T10:30:00Z")

    /// A state with `count` accounts of random ids.
    static func accounts(_ count: Int) -> CoreState {
        var state = CoreState()
        for _ in 0..<count {
            let id = Identifier.make(Identifier.account, taken: { state.accounts[$0] != nil })
            state.apply(.accountCreated(Account(id: id, name: "A", currency: "USD", createdAt: now)))
        }
        return state
    }

    /// Every page of `keys` at `size`, each page's cost checked against `examinedMax`, and the keys listed.
    static func walk(_ keys: SortedKeys, size: Int, query: String, examinedMax: Int) throws -> [String] {
        var seen: [String] = []
        var token: String?
        repeat {
            let after = try PageToken.decodeKey(token, query: query)
            let page = NumberService.keysetPage(keys, after: after, size: size, query: query)
            #expect(page.examined <= examinedMax, "\(page.examined) keys examined for a page of \(size)")
            #expect(page.keys.count == size || page.next == nil)
            seen += page.keys
            token = page.next
        } while token != nil
        return seen
    }

    @Test("an accounts page of 50 among 100 000 examines its 50 ids and at most 17 more; a walk lists each id once")
    func accountPages() throws {
        let state = Self.accounts(100_000)
        let all = state.accounts.keys.sorted()
        let first = NumberService.keysetPage(state.accountIds, after: nil, size: 50, query: "accounts")
        #expect(first.keys == Array(all[0..<50]) && first.examined == 50)
        let after = try PageToken.decodeKey(first.next, query: "accounts")
        #expect(after == all[49])
        let second = NumberService.keysetPage(state.accountIds, after: after, size: 50, query: "accounts")
        #expect(second.keys == Array(all[50..<100]))
        // ⌈log2(100 001)⌉ = 17 ids to find where the page starts, then its own; a pass over every id cost 100 000.
        #expect(second.examined <= 50 + 17, "\(second.examined)")
        #expect(try Self.walk(state.accountIds, size: 500, query: "accounts", examinedMax: 500 + 17) == all)
        // A token's id need not exist: the page starts after it all the same.
        let between = all[99] + "0"
        let third = NumberService.keysetPage(state.accountIds, after: between, size: 50, query: "accounts")
        #expect(third.keys == Array(all[100..<150]))
        // The last page: no token for an empty page after it.
        let last = NumberService.keysetPage(state.accountIds, after: all[all.count - 51], size: 50, query: "accounts")
        #expect(last.keys == Array(all.suffix(50)) && last.next == nil)
        #expect(state.checkInvariants() == [])
    }

    @Test("admin keys page through their sorted index, which follows creation and purges, each key once")
    func adminKeyPages() throws {
        var state = CoreState()
        var live: [String] = []
        for index in 0..<5_000 {
            let id = Identifier.makeApiKeyId(taken: { state.apiKeys[$0] != nil })
            let key = ApiKey(
                id: id, name: "k\(index)", scope: .admin, accountId: nil, secretHash: "", createdAt: Self.now)
            state.apply(.apiKeyCreated(key))
            live.append(id)
        }
        // Revoke and purge every third key: the index drops them.
        let purged = stride(from: 0, to: live.count, by: 3).map { live[$0] }
        for id in purged { state.apply(.apiKeyRevoked(keyId: id, at: Self.now)) }
        state.apply(.apiKeysPurged(keyIds: purged))
        let kept = Set(live).subtracting(purged).sorted()
        let keys = try #require(state.accountApiKeys[nil])
        #expect(keys.count == kept.count && keys.isWellFormed)
        #expect(try Self.walk(keys, size: 50, query: "keys|-", examinedMax: 50 + 13) == kept)
        #expect(state.checkInvariants() == [])
    }

    @Test(
        "a filtered numbers page reads at most 4 × its size, at least 1000, and a walk lists every match once",
        arguments: [[0], [10_000], [0, 10_000], Array(stride(from: 3, to: 10_001, by: 7))])
    func filteredNumberPages(matching: [Int]) {
        // 10 001 held numbers; those at `matching` pass the filter (one past-due number among 10 000 active ones...).
        let positions = Array(0...10_000)
        let matches = Set(matching)
        var listed: [Int] = []
        var start = 0
        while true {
            let page = NumberService.readPage(
                positions[NumberService.firstIndex(in: positions, atLeast: start)...], size: 50,
                readMax: NumberService.numberPageReadMax(pageSize: 50)
            ) { (position: Int) -> Int? in matches.contains(position) ? position : nil }
            #expect(page.read <= 1_000, "a page read \(page.read) numbers")
            #expect(page.entries.count <= 50)
            listed += page.entries
            guard let next = page.next else { break }
            #expect(next > start, "every page moves on")
            start = next
        }
        #expect(listed == matching)
        #expect(NumberService.numberPageReadMax(pageSize: 500) == 2_000)
    }

    @Test("ListNumbers filtered by trunk stops a page after 1000 numbers read; the walk lists each match once")
    func listNumbersReadsAtMostItsBound() async throws {
        let h = try await Harness(.memory)
        let account = try await h.account(funds: 1_000_000)
        let trunk = try await h.service.createTrunk(accountId: account.id, name: "T", providerTrunkSid: trunkSid(1))
        // 1040 numbers; those at positions 2, 5 and 1029 on the trunk.
        let all = (0..<1_040).map { "+1415555" + String(format: "%04d", $0) }
        var phones = all[...]
        var onTrunk: [String] = []
        for (count, routed) in [(2, false), (1, true), (2, false), (1, true), (1_023, false), (1, true), (10, false)] {
            var left = count
            while left > 0 {
                let batch = Array(phones.prefix(min(left, 20)))
                phones.removeFirst(batch.count)
                left -= batch.count
                let bought = try await h.buy(batch, for: account.id, trunkId: routed ? trunk.id : nil).numbers
                if routed { onTrunk += bought.map(\.id) }
            }
        }
        #expect(h.service.durableState().numberIDs(of: account.id).count == 1_040)
        let query = "numbers|\(account.id)|-|\(trunk.id)"
        var listed: [String] = []
        var positions: [Int] = []
        var token: String?
        repeat {
            let page = try h.service.listNumbers(
                ListNumbersRequest(accountId: account.id, trunkId: trunk.id, pageSize: 1, pageToken: token))
            #expect(page.total == 3)
            listed += page.numbers.map(\.number.id)
            token = page.nextPageToken
            if let position = try PageToken.decode(token, query: query) { positions.append(position) }
        } while token != nil
        #expect(listed == onTrunk)
        // Page 1 finds the next match at 5; page 2 reads 5...1004 without finding one and stops there; page 3 ends.
        #expect(positions == [5, 1_005])
        try await h.check()
    }
}
