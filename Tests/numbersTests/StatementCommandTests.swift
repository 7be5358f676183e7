import ArgumentParser
import Foundation
import NumberAPI
import NumberServer
import Synchronization
import Testing

@testable import numbers

/// `numbers statement`: the period the CLI asks for (a UTC month, the current one by default, or --from/--to) and what
/// it prints. The built `numbers` runs as a process against a stub server (`swift build --build-tests` first).
@Suite("numbers statement")
struct StatementCommandTests {
    final class Received: Sendable {
        let calls = Mutex<[GetStatementRequest]>([])
        var all: [GetStatementRequest] { calls.withLock { $0 } }
    }

    static func router(_ received: Received) -> RPCRouter {
        var router = RPCRouter()
        router.register(NumbersMethods.getStatement) { request, _ in
            received.calls.withLock { $0.append(request) }
            return GetStatementResponse(
                accountId: request.accountId, currency: "USD",
                startTime: request.startTime ?? Date(timeIntervalSince1970: 0),
                endTime: request.endTime ?? Date(timeIntervalSince1970: 0),
                openingBalance: 10_000, closingBalance: 10_867, credits: 2_000, debits: 1_133,
                lines: [
                    StatementLine(kind: .fundsAdded, count: 1, balanceChange: 2_000),
                    StatementLine(kind: .renewal, count: 3, balanceChange: -1_133),
                ],
                transactionCount: 4, asOf: Date(timeIntervalSince1970: 1_764_547_200))
        }
        return router
    }

    static func utc(_ text: String) -> Date { try! Date(text, strategy: .iso8601) }

    @Test(
        "--month, --from/--to as dates or times, and the current month by default: the period sent and the sums shown")
    func periods() async throws {
        let received = Received()
        try await withStubServer(router: Self.router(received)) { server in
            let connection = [
                "--server", "127.0.0.1:\(server.port)", "--ca", server.caFile, "--key", "nk_admin", "--account",
                "ACC_7",
            ]
            let month = try await runNumbers(["statement", "--month", "2024-02"] + connection)
            #expect(month.status == 0, "\(month)")
            for line in [
                "ACC_7: 2024-02-01T00:00:00Z to 2024-03-01T00:00:00Z", "opening balance  100.00 USD",
                "funds-added  1      20.00 USD", "renewal      3      -11.33 USD", "credits          20.00 USD",
                "debits           -11.33 USD", "closing balance  108.67 USD",
            ] {
                #expect(month.stdout.contains(line), "\(line) in \(month.stdout)")
            }
            let range = try await runNumbers(
                ["statement", "--from", "2026-11-15", "--to", "2026-11-16T09:30:00Z"] + connection)
            #expect(range.status == 0, "\(range)")
            let current = try await runNumbers(["statement"] + connection)
            #expect(current.status == 0, "\(current)")
            let json = try await runNumbers(["statement", "--month", "2026-12", "--json"] + connection)
            #expect(json.stdout.contains("\"closingBalance\" : 10867"), "\(json.stdout)")
            // Times with offsets, without seconds, with fractions.
            for (from, to) in [
                ("2026-11-01T09:30Z", "2026-11-01T12:30:00+02:00"), ("2026-11-01T09:30:00.250-0500", "2026-12-31"),
            ] {
                let result = try await runNumbers(["statement", "--from", from, "--to", to] + connection)
                #expect(result.status == 0, "\(from) \(to): \(result)")
            }
        }
        let calls = received.all
        try #require(calls.count == 6)
        #expect(calls[4].startTime == Self.utc("2026-11-01T09:30:00Z"))
        #expect(calls[4].endTime == Self.utc("2026-11-01T10:30:00Z"))
        #expect(calls[5].startTime == Self.utc("2026-11-01T14:30:00Z").addingTimeInterval(0.25))
        #expect(calls[5].endTime == Self.utc("2026-12-31T00:00:00Z"))
        #expect(calls.allSatisfy { $0.accountId == "ACC_7" })
        #expect(
            calls[0].startTime == Self.utc("2024-02-01T00:00:00Z")
                && calls[0].endTime == Self.utc("2024-03-01T00:00:00Z"))
        #expect(
            calls[1].startTime == Self.utc("2026-11-15T00:00:00Z")
                && calls[1].endTime == Self.utc("2026-11-16T09:30:00Z"))
        // The current UTC month: from its first instant to the next month's.
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let monthStart = calendar.date(from: calendar.dateComponents([.year, .month], from: Date()))!
        #expect(calls[2].startTime == monthStart)
        #expect(calls[2].endTime == calendar.date(byAdding: .month, value: 1, to: monthStart)!)
    }

    @Test("a period from the Unix epoch shows its start as that instant, not as unset")
    func epochStart() async throws {
        let received = Received()
        try await withStubServer(router: Self.router(received)) { server in
            let result = try await runNumbers(
                ["statement", "--from", "1970-01-01", "--to", "2026-01-01"] + UnknownOutcomeTests.connection(server))
            #expect(result.status == 0, "\(result)")
            #expect(
                result.stdout.contains("ACC_1: 1970-01-01T00:00:00Z to 2026-01-01T00:00:00Z\n"), "\(result.stdout)")
        }
        #expect(received.all.map(\.startTime) == [Date(timeIntervalSince1970: 0)])
    }

    @Test("--month takes four ASCII digits, a dash and two: no sign, no other digits")
    func monthDigits() {
        #expect(PeriodOptions.monthStart("2026-01") == Self.utc("2026-01-01T00:00:00Z"))
        #expect(PeriodOptions.monthStart("2026-12") == Self.utc("2026-12-01T00:00:00Z"))
        for text in ["2026-+1", "+026-01", "2026--1", "2026-1", "２０２６-01", "2026-０1", "2026-01-"] {
            #expect(PeriodOptions.monthStart(text) == nil, "\(text)")
        }
    }

    /// A bound of `37.0715` was sent as it is but shown as `37.071`: a transaction stamped `37.071` lay inside the
    /// period shown and outside the one applied. numberd stamps to the millisecond, so the bound is rounded up to the
    /// next one, which takes in the same transactions, and is shown as it is applied.
    @Test("a fraction finer than a millisecond is rounded up to the next one; whole milliseconds are kept")
    func subMillisecondBounds() {
        let base = Self.utc("2026-12-05T23:07:37Z")
        func milliseconds(_ text: String) -> Double? {
            PeriodOptions.time(text).map { (($0.timeIntervalSince(base)) * 1000).rounded() }
        }
        #expect(milliseconds("2026-12-05T23:07:37.0715Z") == 72)
        #expect(milliseconds("2026-12-05T23:07:37.071000001Z") == 72)
        #expect(milliseconds("2026-12-05T23:07:37.071Z") == 71)
        #expect(milliseconds("2026-12-05T23:07:37.071000000Z") == 71)
        #expect(milliseconds("2026-12-05T23:07:37.9995Z") == 1000)
        #expect(milliseconds("2026-12-05T23:07:37Z") == 0)
        // The Date is the one a millisecond stamp makes, as for whole milliseconds.
        #expect(PeriodOptions.time("2026-12-05T23:07:37.0715Z") == PeriodOptions.time("2026-12-05T23:07:37.072Z"))
    }

    /// An operator's walk: `--from 0001-01-01` was told "--from takes YYYY-MM-DD or an ISO 8601 time", which it was;
    /// `--from …55.4371Z --to …55.438Z`, "--to must be after --from", which it was before the rounding.
    @Test("a date outside 1900...9998 names the years; --to not after --from once rounded says the rounding")
    func periodRefusalsSayWhy() throws {
        let old = try PeriodOptions.parse(["--from", "0001-01-01", "--to", "2027-01-01"])
        do {
            _ = try old.period(currentMonthOf: nil)
            Issue.record("year 1 was taken")
        } catch let error as ValidationError {
            #expect(error.message.contains("a real date of the years 1900 to 9998"), "\(error.message)")
        }
        let rounded = try PeriodOptions.parse(
            ["--from", "2026-12-05T23:07:55.4371Z", "--to", "2026-12-05T23:07:55.438Z"])
        do {
            _ = try rounded.period(currentMonthOf: nil)
            Issue.record("a period empty once --from is rounded up was taken")
        } catch let error as ValidationError {
            #expect(
                error.message.contains("a finer fraction is rounded up to the next")
                    && error.message.contains("--from 2026-12-05T23:07:55.438Z --to 2026-12-05T23:07:55.438Z"),
                "\(error.message)")
        }
    }

    /// `numbers transactions` takes the same period options: a month or --from/--to, none for the whole ledger.
    @Test("transactions --month and --from/--to ask for that period; without them, the whole ledger")
    func transactionsPeriod() async throws {
        let received = Mutex<[ListTransactionsRequest]>([])
        var router = RPCRouter()
        router.register(NumbersMethods.listTransactions) { request, _ in
            received.withLock { $0.append(request) }
            return ListTransactionsResponse(nextPageToken: "next")
        }
        try await withStubServer(router: router) { server in
            let connection = [
                "--server", "127.0.0.1:\(server.port)", "--ca", server.caFile, "--key", "nk_admin", "--account",
                "ACC_7",
            ]
            let month = try await runNumbers(["transactions", "--month", "2026-02"] + connection)
            // The next page's hint repeats the period: a token is its period's own.
            #expect(
                month.status == 0 && month.stdout.contains("more: --page-token next --month 2026-02 --account ACC_7\n"))
            let range = try await runNumbers(
                ["transactions", "--from", "2026-11-15", "--to", "2026-11-16T09:30:00Z"] + connection)
            #expect(range.status == 0, "\(range)")
            #expect(
                range.stdout.contains(
                    "more: --page-token next --from 2026-11-15 --to 2026-11-16T09:30:00Z --account ACC_7\n"),
                "\(range.stdout)")
            let all = try await runNumbers(["transactions"] + connection)
            #expect(all.status == 0 && all.stdout.contains("more: --page-token next --account ACC_7\n"), "\(all)")
            // Either bound alone leaves the other side open.
            let since = try await runNumbers(["transactions", "--from", "2026-11-15"] + connection)
            #expect(since.status == 0, "\(since)")
            let bad = try await runNumbers(["transactions", "--from", "2026-11-15T10:00"] + connection)
            #expect(bad.status == 64, "\(bad)")
        }
        let calls = received.withLock { $0 }
        try #require(calls.count == 4)
        #expect(calls[3].startTime == Self.utc("2026-11-15T00:00:00Z") && calls[3].endTime == nil)
        #expect(
            calls[0].startTime == Self.utc("2026-02-01T00:00:00Z")
                && calls[0].endTime == Self.utc("2026-03-01T00:00:00Z"))
        #expect(
            calls[1].startTime == Self.utc("2026-11-15T00:00:00Z")
                && calls[1].endTime == Self.utc("2026-11-16T09:30:00Z"))
        #expect(calls[2].startTime == nil && calls[2].endTime == nil)
    }

    /// Two ledger stamps as numberd makes them, whole milliseconds: `Date(timeIntervalSince1970: ms / 1000)`.
    static let halfSecond = Date(timeIntervalSince1970: Double(1_767_000_000_500) / 1000)  // 2025-12-29T09:20:00.500Z
    static let odd = Date(timeIntervalSince1970: Double(1_767_000_000_123) / 1000)  // 2025-12-29T09:20:00.123Z

    /// `--json` wrote whole seconds, so a `createdAt` a script fed back to `--from` / `--to` fell before its
    /// transaction: a period's pages missed or counted twice the transactions of that second.
    @Test("transactions --json and TIME keep the milliseconds, and a time fed back to --from is the stamp itself")
    func millisecondsKept() async throws {
        let received = Mutex<[ListTransactionsRequest]>([])
        var router = RPCRouter()
        router.register(NumbersMethods.listTransactions) { request, _ in
            received.withLock { $0.append(request) }
            return ListTransactionsResponse(transactions: [
                Transaction(id: "TXN_half", currency: "USD", createdAt: Self.halfSecond),
                Transaction(id: "TXN_odd", currency: "USD", createdAt: Self.odd),
            ])
        }
        try await withStubServer(router: router) { server in
            let connection = UnknownOutcomeTests.connection(server)
            let json = try await runNumbers(["transactions", "--json"] + connection)
            #expect(json.status == 0, "\(json)")
            #expect(json.stdout.contains(#""createdAt" : "2025-12-29T09:20:00.500Z""#), "\(json.stdout)")
            #expect(json.stdout.contains(#""createdAt" : "2025-12-29T09:20:00.123Z""#), "\(json.stdout)")
            let table = try await runNumbers(["transactions"] + connection)
            #expect(table.stdout.contains("TXN_half  2025-12-29T09:20:00.500Z "), "\(table.stdout)")
            let from = try await runNumbers(["transactions", "--from", "2025-12-29T09:20:00.123Z"] + connection)
            #expect(from.status == 0, "\(from)")
        }
        let calls = received.withLock { $0 }
        try #require(calls.count == 3)
        #expect(calls[2].startTime == Self.odd, "\(String(describing: calls[2].startTime))")
    }

    @Test(
        "a malformed or contradictory period is a usage error (64): nothing asked",
        arguments: [
            ["--month", "2026-13"], ["--month", "2026-1"], ["--month", "2026-+1"], ["--month", "nov"],
            ["--from", "2026-11-01"], ["--to", "2026-11-01"], ["--from", "2026-11-02", "--to", "2026-11-01"],
            ["--from", "2026-11-01", "--to", "2026-11-01"],
            ["--month", "2026-11", "--from", "2026-11-01", "--to", "2026-12-01"],
            ["--from", "yesterday", "--to", "2026-11-01"], ["--from", "2026-11-01T09:30:00", "--to", "2026-12-01"],
            ["--from", "2026-11-01 09:30:00Z", "--to", "2026-12-01"],
            ["--from", "2026-11-01junk", "--to", "2026-12-01"],
            ["--from", "2026-11-1", "--to", "2026-12-01"], ["--from", "2026-02-30", "--to", "2026-12-01"],
            ["--from", "2026-11-01T25:00:00Z", "--to", "2026-12-01"],
            ["--from", "2026-11-01", "--to", "2026-12-01T10:00+25:00"],
            ["--month", "9999-12"], ["--from", "1582-10-10", "--to", "2026-12-01"],
            ["--from", "2026-11-01", "--to", "9999-12-31T23:59:59.999999999Z"],
        ])
    func refused(options: [String]) async throws {
        let received = Received()
        try await withStubServer(router: Self.router(received)) { server in
            let result = try await runNumbers(
                ["statement"] + options + [
                    "--server", "127.0.0.1:\(server.port)", "--ca", server.caFile, "--key", "nk_admin", "--account",
                    "ACC_7",
                ])
            #expect(result.status == 64, "\(result)")
        }
        #expect(received.all.isEmpty)
    }
}
