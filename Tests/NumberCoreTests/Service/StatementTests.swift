import Foundation
import TestSupport
import Testing

@testable import NumberCore

@Suite("Statements: an account's balance and changes over a period")
struct StatementTests {
    @Test("opening, changes by kind, closing; the period is [start, end)", arguments: StoreKind.allCases)
    func monthStatement(kind: StoreKind) async throws {
        let h = try await Harness(kind)  // 2025-01-15T10:30Z
        let account = try await h.account(funds: 10_000)
        h.clock.set(.utc("2025-01-31T23:59:59Z"))
        _ = try await h.service.adjustBalance(accountId: account.id, amount: -500, reason: "December's fix")
        h.clock.set(.utc("2025-02-01T00:00:00Z"))  // the first instant of February: in it
        let bought = try await h.buy(["+14155550100"], for: account.id)
        let charge = -bought.transactions[0].amount
        h.clock.set(.utc("2025-02-10T12:00:00Z"))
        _ = try await h.service.addFunds(accountId: account.id, amount: 2_000)
        let release = try await h.service.release(accountId: account.id, numberId: bought.numbers[0].id)
        let refund = try #require(release.transaction).amount
        h.clock.set(.utc("2025-03-01T00:00:00Z"))  // the instant after February: not in it
        _ = try await h.service.addFunds(accountId: account.id, amount: 7)

        let february = try await h.service.statement(
            accountId: account.id, start: .utc("2025-02-01T00:00:00Z"), end: .utc("2025-03-01T00:00:00Z"))
        #expect(february.openingBalance == 9_500 && february.currency == "USD")
        #expect(february.credits == 2_000 + refund && february.debits == charge)
        #expect(february.closingBalance == 9_500 - charge + 2_000 + refund)
        #expect(
            february.lines == [
                .init(kind: .fundsAdded, count: 1, balanceChange: 2_000),
                .init(kind: .purchase, count: 1, balanceChange: -charge),
                .init(kind: .refund, count: 1, balanceChange: refund),
            ])
        #expect(february.transactionCount == 3 && february.asOf == .utc("2025-03-01T00:00:00Z"))

        // Consecutive periods join up; the whole ledger's closing balance is the balance.
        let march = try await h.service.statement(
            accountId: account.id, start: .utc("2025-03-01T00:00:00Z"), end: .utc("2025-04-01T00:00:00Z"))
        #expect(march.openingBalance == february.closingBalance && march.lines.map(\.kind) == [.fundsAdded])
        #expect(march.closingBalance == (try h.service.balance(accountId: account.id).balance))
        let january = try await h.service.statement(
            accountId: account.id, start: .utc("2025-01-01T00:00:00Z"), end: .utc("2025-02-01T00:00:00Z"))
        #expect(january.openingBalance == 0 && january.closingBalance == february.openingBalance)
        #expect(january.lines.map(\.kind) == [.fundsAdded, .adjustment] && january.debits == 500)

        // Before the account existed: nothing.
        let before = try await h.service.statement(
            accountId: account.id, start: .utc("2024-01-01T00:00:00Z"), end: .utc("2024-02-01T00:00:00Z"))
        #expect(before.openingBalance == 0 && before.closingBalance == 0 && before.lines.isEmpty)
        try await h.check()
    }

    @Test("an empty or backwards period and an unknown account are refused", arguments: StoreKind.allCases)
    func refusals(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let account = try await h.account(funds: 100)
        let now = h.clock.now()
        for end in [now, now.addingTimeInterval(-1)] {
            let error = await numberError {
                _ = try await h.service.statement(accountId: account.id, start: now, end: end)
            }
            #expect(error?.code == .invalidArgument && error?.details["field"] == "end_time")
        }
        let unknown = await numberError {
            _ = try await h.service.statement(
                accountId: "ACC_000000000000", start: now, end: now.addingTimeInterval(1))
        }
        #expect(unknown?.reason == .accountNotFound)
        // One second is a period; the funds added at its first instant are in it, not in the opening balance.
        let second = try await h.service.statement(accountId: account.id, start: now, end: now.addingTimeInterval(1))
        #expect(second.transactionCount == 1 && second.openingBalance == 0 && second.closingBalance == 100)
    }

    /// A review found a statement that waited for its turn (the account's statements at their limit) read for a key
    /// revoked meanwhile: the revocation is the answer to a leaked key, and calls that waited past it are refused.
    @Test("a statement that waited for its turn is not read for a key revoked meanwhile")
    func keyRevokedWhileWaiting() async throws {
        var config = NumberServiceConfig.defaults
        config.limits.statementsInFlightPerAccountMax = 1
        let h = try await Harness(.memory, config: config)
        let account = try await h.account(funds: 100)
        let key = try await h.service.createApiKey(name: "leaked", scope: .readOnly, accountId: account.id).key
        let (start, end) = (h.clock.now(), h.clock.now().addingTimeInterval(1))
        #expect(await h.service.statements.take(account.id) == .taken, "the one slot held")
        let (service, accountId, keyId) = (h.service, account.id, key.id)
        let waiting = Task {
            try await service.statement(accountId: accountId, start: start, end: end, authorizedBy: keyId)
        }
        try await waitUntil { h.service.statements.counts(account.id) == (holding: 1, waiting: 1) }
        _ = try await h.service.revokeApiKey(keyId: key.id)
        h.service.statements.give(account.id)
        let refused = await numberError { _ = try await waiting.value }
        #expect(refused?.reason == .invalidCredentials, "\(String(describing: refused))")
        #expect(h.service.statements.counts(account.id) == (holding: 0, waiting: 0), "its slot given back")
        // Another key of the account reads it.
        let other = try await h.service.createApiKey(name: "kept", scope: .readOnly, accountId: account.id).key
        let statement = try await h.service.statement(
            accountId: account.id, start: start, end: end, authorizedBy: other.id)
        #expect(statement.closingBalance == 100)
    }

    /// A decision reads the clock before it waits for the decision lock, so one that read it later can go first: its
    /// transaction is stamped no earlier than the account's last, and the ledger stays in time order for the statement's
    /// search by time.
    @Test("a transaction decided after a later-stamped one is stamped no earlier: the ledger stays in time order")
    func stampsKeepOrder() async throws {
        let h = try await Harness(.memory)
        let account = try await h.account(funds: 1_000)
        h.clock.advance(by: -3_600)  // a decision that read the clock earlier
        let credit = try await h.service.addFunds(accountId: account.id, amount: 5)
        #expect(credit.createdAt == Harness.start)
        let ledger = try #require(h.service.durableState().transactions[account.id])
        #expect(zip(ledger, ledger.dropFirst()).allSatisfy { $0.createdAt <= $1.createdAt })
        #expect(h.service.durableState().unsortedLedgers.isEmpty)
        try await h.check()
    }

    /// A ledger written before decisions kept it in time order (an older numberd) is summed whole, not searched: the
    /// search would miss an entry out of place — unless the period starts after every entry before the ledger's ordered
    /// tail, which is then searched. Read back from JSON, it is known to be out of order again, its tail with it.
    @Test("a ledger out of time order is summed whole, or its ordered tail searched; a snapshot read back knows it")
    func unsortedLedger() async throws {
        var state = CoreState()
        let t = { (minute: Double) in Date.utc("2025-01-15T10:00:00Z").addingTimeInterval(minute * 60) }
        state.apply(.accountCreated(Account(id: "ACC_1", name: "A", currency: "USD", createdAt: t(0))))
        var balance: Int64 = 0
        let entries: [(Double, Int64)] = [(1, 500), (5, -100), (3, 40), (9, -7), (7, 2), (11, 30), (13, -1)]
        for (index, (minute, amount)) in entries.enumerated() {
            balance += Int64(amount)
            state.apply(
                .transactionPosted(
                    LedgerTransaction(
                        id: "TXN_\(index)", accountId: "ACC_1", kind: amount > 0 ? .fundsAdded : .adjustment,
                        amount: Int64(amount), balanceAfter: balance, currency: "USD", numberId: nil, description: "x",
                        createdAt: t(minute), idempotencyKey: nil)))
        }
        // Out of place at minutes 3 and 7: the ordered tail starts at the 7, after a latest stamp of 9.
        let disorder = LedgerDisorder(tailStart: 4, latestBefore: t(9))
        #expect(state.unsortedLedgers == ["ACC_1": disorder])
        #expect(state.checkInvariants() == [])
        let decoded = try JSONDecoder().decode(CoreState.self, from: JSONEncoder().encode(state))
        #expect(decoded.unsortedLedgers == ["ACC_1": disorder])
        let service = NumberService(
            store: InMemoryNumberStore(), state: state, provider: FakeProvider(), clock: ManualClock(t(60)))
        // [4, 8): the entries at minutes 5 and 7, out of place between 3 and 9.
        let statement = try await service.statement(accountId: "ACC_1", start: t(4), end: t(8), chunk: 2)
        #expect(statement.openingBalance == 540 && statement.credits == 2 && statement.debits == 100)
        #expect(statement.closingBalance == 442 && statement.transactionCount == 2)
        // [10, 12): after everything before the tail, so the tail is searched: the entry at minute 11.
        let late = try await service.statement(accountId: "ACC_1", start: t(10), end: t(12), chunk: 2)
        #expect(late.openingBalance == 435 && late.credits == 30 && late.debits == 0 && late.closingBalance == 465)
        // [9, 12) reaches the 9 before the tail: summed whole.
        let reaching = try await service.statement(accountId: "ACC_1", start: t(9), end: t(12), chunk: 2)
        #expect(reaching.openingBalance == 442 && reaching.credits == 30 && reaching.debits == 7)
        // Listed by period too: read backwards (pages may come short), or searched in the tail.
        let listed = try Self.pages(service, "ACC_1", size: 1, t(4), t(8))
        #expect(listed.ids == ["TXN_4", "TXN_1"])
        #expect(try Self.pages(service, "ACC_1", size: 5, t(10), t(14)).ids == ["TXN_6", "TXN_5"])
        // A broken index is an invariant violation (`numberd verify` reports it).
        var broken = state
        broken.unsortedLedgers = [:]
        #expect(broken.checkInvariants().map(\.rule) == ["ledger-order"])
    }

    /// A period listing of an out-of-order ledger reads it backwards, at most ``NumberService/periodScanMax`` entries a
    /// page: the entry just past them is left to the next page, which the token reaches.
    @Test("an out-of-order ledger's period page reads at most 16 384 entries; the next page goes on from there")
    func periodScanStopsAtItsLimit() async throws {
        #expect(NumberService.periodScanMax == 16_384)
        var state = CoreState()
        let t = { (minute: Double) in Date.utc("2025-01-15T10:00:00Z").addingTimeInterval(minute * 60) }
        state.apply(.accountCreated(Account(id: "ACC_1", name: "A", currency: "USD", createdAt: t(0))))
        // Minutes 10, 5 (out of order), 7 (the one asked for), then the limit's worth after them.
        let minutes = [10.0, 5, 7] + (0..<NumberService.periodScanMax).map { 100 + Double($0) / 1000 }
        for (index, minute) in minutes.enumerated() {
            state.apply(
                .transactionPosted(
                    LedgerTransaction(
                        id: "TXN_\(index)", accountId: "ACC_1", kind: .fundsAdded, amount: 1,
                        balanceAfter: Int64(index + 1), currency: "USD", numberId: nil, description: "x",
                        createdAt: t(minute), idempotencyKey: nil)))
        }
        #expect(state.unsortedLedgers["ACC_1"] != nil)
        let service = NumberService(
            store: InMemoryNumberStore(), state: state, provider: FakeProvider(), clock: ManualClock(t(60 * 24)))
        // The first page reads the last 16 384 entries and stops just short of TXN_2.
        let listed = try Self.pages(service, "ACC_1", size: 10, t(6), t(8))
        #expect(listed.ids == ["TXN_2"] && listed.sizes == [0, 1], "\(listed)")
    }

    /// The ids of every page of `listTransactions` for the period, following the tokens, and the pages' sizes.
    static func pages(
        _ service: NumberService, _ accountId: String, size: Int, _ start: Date?, _ end: Date?
    ) throws -> (ids: [String], sizes: [Int]) {
        var ids: [String] = []
        var sizes: [Int] = []
        var token: String?
        repeat {
            let page = try service.listTransactions(
                accountId: accountId, pageSize: size, pageToken: token, start: start, end: end)
            ids += page.transactions.map(\.id)
            sizes.append(page.transactions.count)
            token = page.nextPageToken
        } while token != nil
        return (ids, sizes)
    }

    @Test(
        "a period's transactions, newest first a page at a time; a token is its period's own",
        arguments: StoreKind.allCases)
    func periodPages(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let account = try await h.account()
        var ids: [(String, Date)] = []
        for day in 0..<10 {
            h.clock.set(Harness.start.addingTimeInterval(Double(day) * 86_400))
            ids.append((try await h.service.addFunds(accountId: account.id, amount: Int64(day + 1)).id, h.clock.now()))
        }
        let day = { (n: Double) in Harness.start.addingTimeInterval(n * 86_400) }
        // Days 2...6: newest first, in pages of 2 (2, 2, 1).
        let middle = try Self.pages(h.service, account.id, size: 2, day(2), day(7))
        #expect(middle.ids == ids[2...6].reversed().map(\.0) && middle.sizes == [2, 2, 1])
        // Only a start, only an end, the bounds inclusive and exclusive.
        #expect(try Self.pages(h.service, account.id, size: 3, day(8), nil).ids == [ids[9].0, ids[8].0])
        #expect(try Self.pages(h.service, account.id, size: 3, nil, day(1)).ids == [ids[0].0])
        #expect(try Self.pages(h.service, account.id, size: 3, day(3.5), day(3.6)).ids.isEmpty)
        // A token made for one period is refused for another, or for the whole ledger.
        let first = try h.service.listTransactions(
            accountId: account.id, pageSize: 2, start: day(2), end: day(7))
        for (start, end) in [(day(2), day(8)), (nil, nil)] as [(Date?, Date?)] {
            let refused = await numberError {
                _ = try h.service.listTransactions(
                    accountId: account.id, pageSize: 2, pageToken: first.nextPageToken, start: start, end: end)
            }
            #expect(refused?.reason == .invalidPageToken, "\(String(describing: refused))")
        }
        // A token made outside the period (a client can make one: it is base64 of the query's hash and a position) is
        // refused, not read: the page's range would run backwards and trap numberd.
        let query =
            "transactions|\(account.id)|\(Int64(day(2).timeIntervalSince1970 * 1000))|\(Int64(day(7).timeIntervalSince1970 * 1000))"
        let forged = await numberError {
            _ = try h.service.listTransactions(
                accountId: account.id, pageSize: 2, pageToken: PageToken.encode(query: query, position: 1),
                start: day(2), end: day(7))
        }
        #expect(forged?.reason == .invalidPageToken, "\(String(describing: forged))")
        let backwards = await numberError {
            _ = try h.service.listTransactions(accountId: account.id, start: day(3), end: day(3))
        }
        #expect(backwards?.details["field"] == "end_time")
        try await h.check()
    }

    @Test("one statement of an account at a time: the next waits its turn, past the waiting limit STATEMENTS_BUSY")
    func statementsInTurn() async throws {
        var config = NumberServiceConfig.defaults
        config.limits.statementsWaitingPerAccountMax = 0
        let h = try await Harness(.memory, config: config)
        let account = try await h.account(funds: 100)
        #expect(await h.service.statements.take(account.id) == .taken)  // one being read
        let busy = await numberError {
            _ = try await h.service.statement(
                accountId: account.id, start: Harness.start, end: Harness.start.addingTimeInterval(1))
        }
        #expect(busy?.code == .resourceExhausted && busy?.reason == .statementsBusy, "\(String(describing: busy))")
        #expect(busy?.details["max"] == "0")
        // Another account's is read.
        let other = try await h.account(funds: 7, name: "Other")
        let theirs = try await h.service.statement(
            accountId: other.id, start: Harness.start, end: Harness.start.addingTimeInterval(1))
        #expect(theirs.closingBalance == 7)
        h.service.statements.give(account.id)
        let mine = try await h.service.statement(
            accountId: account.id, start: Harness.start, end: Harness.start.addingTimeInterval(1))
        #expect(mine.closingBalance == 100)
        #expect(h.service.statements.counts(account.id) == (holding: 0, waiting: 0))
    }

    @Test(
        "two statements at once in all (statementsInFlightMax): a third account's waits, past statementsWaitingMax busy"
    )
    func statementsInTurnAcrossAccounts() async throws {
        var config = NumberServiceConfig.defaults
        config.limits.statementsWaitingMax = 0
        let h = try await Harness(.memory, config: config)
        let (first, second, third) = (
            try await h.account(funds: 1, name: "A"), try await h.account(funds: 2, name: "B"),
            try await h.account(funds: 3, name: "C")
        )
        // Two being read, of two accounts: the limit in all, though neither account is at its own.
        #expect(await h.service.statements.take(first.id) == .taken)
        #expect(await h.service.statements.take(second.id) == .taken)
        let busy = await numberError {
            _ = try await h.service.statement(
                accountId: third.id, start: Harness.start, end: Harness.start.addingTimeInterval(1))
        }
        #expect(busy?.code == .resourceExhausted && busy?.reason == .statementsBusy, "\(String(describing: busy))")
        h.service.statements.give(first.id)
        let theirs = try await h.service.statement(
            accountId: third.id, start: Harness.start, end: Harness.start.addingTimeInterval(1))
        #expect(theirs.closingBalance == 3)
        h.service.statements.give(second.id)
        #expect(h.service.statements.counts(third.id) == (holding: 0, waiting: 0))
    }

    /// A random ledger of credits and debits at random times (some at the same instant, some in posting order behind
    /// their neighbours), and random periods, against sums worked out from the ledger's list; with every chunk size from
    /// one entry up, so the chunk bounds fall everywhere.
    @Test("sums match the ledger for random periods and chunk sizes")
    func randomPeriods() async throws {
        var generator = SplitMix64(seed: 20_261_201)
        let h = try await Harness(.memory)
        let account = try await h.account()
        for _ in 0..<40 {
            h.clock.set(Harness.start.addingTimeInterval(Double(Int.random(in: 0...(86_400 * 90), using: &generator))))
            let balance = try h.service.balance(accountId: account.id).balance
            if balance > 0, Bool.random(using: &generator) {
                let amount = Int64.random(in: 1...balance, using: &generator)
                _ = try await h.service.adjustBalance(accountId: account.id, amount: -amount, reason: "debit")
            } else {
                _ = try await h.service.addFunds(
                    accountId: account.id, amount: .random(in: 1...5_000, using: &generator))
            }
        }
        let ledger = try h.service.listTransactions(accountId: account.id, pageSize: 500).transactions
        #expect(ledger.count == 40)
        for round in 0..<60 {
            let a = Harness.start.addingTimeInterval(Double(Int.random(in: -86_400...(86_400 * 91), using: &generator)))
            let b = a.addingTimeInterval(Double(Int.random(in: 1...(86_400 * 40), using: &generator)))
            let inPeriod = ledger.filter { $0.createdAt >= a && $0.createdAt < b }
            let opening = ledger.filter { $0.createdAt < a }.reduce(Int64(0)) { $0 + $1.amount }
            let statement = try await h.service.statement(
                accountId: account.id, start: a, end: b, chunk: round % 7 + 1)
            #expect(statement.openingBalance == opening)
            #expect(statement.credits == inPeriod.filter { $0.amount > 0 }.reduce(0) { $0 + $1.amount })
            #expect(statement.debits == inPeriod.filter { $0.amount < 0 }.reduce(0) { $0 - $1.amount })
            #expect(statement.closingBalance == opening + inPeriod.reduce(0) { $0 + $1.amount })
            #expect(statement.transactionCount == inPeriod.count)
            #expect(statement.lines.map(\.count).reduce(0, +) == inPeriod.count)
        }
    }
}
