import Foundation
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
