import ArgumentParser
import Foundation
import NumberAPI
import NumberClient

struct Balance: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The balance: total, held by purchases in progress, available.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await reporting {
            let response = try await global.withClient {
                try await $0.getBalance(GetBalanceRequest(accountId: global.accountId))
            }
            try global.output(response) {
                print(
                    "\(response.accountId): balance \(Format.money(response.balance, response.currency)), held \(Format.money(response.held, response.currency)), available \(Format.money(response.available, response.currency))"
                )
            }
        }
    }
}

struct Transactions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The ledger (all of it, or a period's), newest first, with who caused each transaction.",
        discussion: """
            BY is the id of the API key whose call posted the transaction (KEY_…), or numberd itself: system:billing \
            (a renewal), system:grace-period (a past-due number's release), system:reconcile (reconciliation \
            finishing a request whose asker was not recorded); - for transactions posted before numberd recorded it.
            """)
    @OptionGroup var global: GlobalOptions
    @OptionGroup var page: PageSizeOption
    @Option(name: .customLong("page-token"), help: "From the previous page of the same command (the same period).")
    var pageToken: String?
    @OptionGroup(title: "Only a period's transactions (all without these)") var period: PeriodOptions

    func validate() throws { _ = try period.openBounds() }

    func run() async throws {
        try await reporting {
            let bounds = try period.openBounds()
            let response = try await global.withClient {
                try await $0.listTransactions(
                    ListTransactionsRequest(
                        accountId: global.accountId, pageSize: page.pageSize, pageToken: pageToken ?? "",
                        startTime: bounds.start, endTime: bounds.end))
            }
            try global.output(response) {
                Format.table(
                    // NUMBER: a refund's description names no number ("Prorated refund for 15 days remaining…").
                    ["ID", "TIME", "KIND", "CHANGE", "BALANCE", "BY", "NUMBER", "DESCRIPTION"],
                    response.transactions.map {
                        [
                            $0.id, Format.date($0.createdAt), Format.name($0.kind, dropping: "TRANSACTION_KIND_"),
                            Format.money($0.balanceChange, $0.currency), Format.money($0.balanceAfter, $0.currency),
                            Format.actor($0.actor), $0.phoneNumber.isEmpty ? "-" : $0.phoneNumber, $0.description,
                        ]
                    },
                    none: pageToken != nil
                        ? "no more transactions"
                        : period.arguments.isEmpty ? "no transactions" : "no transactions in the period")
                if !response.nextPageToken.isEmpty {
                    // The token is its period's and its account's own: the hint repeats them as given.
                    print(Format.moreHint(response.nextPageToken, period.arguments + global.accountArguments))
                }
            }
        }
    }
}

/// A period of time for `statement` and `transactions`: a UTC calendar month, or `--from`/`--to`.
/// The listings' `--page-size`. A negative size is a usage error (exit 64) here; one above the server's maximum (500)
/// is the server's to refuse, as a numberd could allow more. `--page-size -5` read `-5` as an option and said the
/// value was missing.
struct PageSizeOption: ParsableArguments {
    @Option(
        name: .customLong("page-size"), parsing: .unconditional,
        help: "Rows per page, 1...500; 0 = the server's default, 50.")
    var pageSize: Int32 = 0

    func validate() throws {
        guard pageSize >= 0 else {
            throw ValidationError("--page-size must be 1...500, or 0 for the server's default, not \(pageSize)")
        }
    }
}

struct PeriodOptions: ParsableArguments {
    @Option(help: "A calendar month in UTC, YYYY-MM.") var month: String?
    @Option(help: "The period's start: YYYY-MM-DD (midnight UTC) or an ISO 8601 time.") var from: String?
    @Option(help: "The instant after the period: YYYY-MM-DD (midnight UTC) or an ISO 8601 time.") var to: String?

    /// The options as given, to repeat them (a page token is its period's own): e.g. `["--month", "2026-11"]`. The
    /// values are dates the parser took (digits, `-`, `:`, `.`, `+`, `T`, `Z`), so they need no shell quoting.
    var arguments: [String] {
        [("--month", month), ("--from", from), ("--to", to)].flatMap { name, value in value.map { [name, $0] } ?? [] }
    }

    /// The period the options name; with none, the month `currentMonthOf` falls in (UTC), or nil without it.
    func period(currentMonthOf now: Date?) throws -> (start: Date, end: Date)? {
        if let month {
            guard from == nil, to == nil else { throw ValidationError("give --month or --from/--to, not both") }
            guard let start = Self.monthStart(month) else {
                throw ValidationError("--month takes YYYY-MM, 1900-01 to 9998-12, e.g. 2026-11")
            }
            return (start, Self.calendar.date(byAdding: .month, value: 1, to: start)!)
        }
        if from == nil, to == nil {
            guard let now else { return nil }
            let parts = Self.calendar.dateComponents([.year, .month], from: now)
            let start = Self.calendar.date(from: parts)!
            return (start, Self.calendar.date(byAdding: .month, value: 1, to: start)!)
        }
        guard let from, let to else { throw ValidationError("--from and --to go together") }
        guard let start = Self.time(from) else { throw Self.notATime("--from") }
        guard let end = Self.time(to) else { throw Self.notATime("--to") }
        guard end > start else {
            // An operator's walk: --from 55.4371Z --to 55.438Z were refused without the reason, the rounding.
            let finer = (try? Regex(#"\.\d{4,}"#)).map { from.contains($0) } ?? false
            throw ValidationError(
                "--to must be after --from"
                    + (finer
                        ? " (times count in whole milliseconds: a finer fraction is rounded up to the next, so --from "
                            + "\(Format.date(start)) --to \(Format.date(end)) here)" : ""))
        }
        return (start, end)
    }

    /// The bounds for a listing: a month, or `--from` and/or `--to` (either alone leaves that side open); none, both
    /// nil.
    func openBounds() throws -> (start: Date?, end: Date?) {
        if month != nil || (from != nil && to != nil), let period = try period(currentMonthOf: nil) {
            return (period.start, period.end)
        }
        let start = try from.map { text throws -> Date in
            guard let date = Self.time(text) else {
                throw Self.notATime("--from")
            }
            return date
        }
        let end = try to.map { text throws -> Date in
            guard let date = Self.time(text) else { throw Self.notATime("--to") }
            return date
        }
        return (start, end)
    }

    /// A `--from` or `--to` the parser did not take (an operator's walk: `0001-01-01` was told the format it had).
    static func notATime(_ flag: String) -> ValidationError {
        ValidationError(
            "\(flag) takes YYYY-MM-DD or an ISO 8601 time with its zone (2026-11-01T09:30:00Z), a real date of the "
                + "years 1900 to 9998")
    }

    static let calendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    /// `2026-11` → 2026-11-01T00:00:00Z: four digits and two, nothing else (`Int` reads a sign too: `2026-+1` was
    /// January).
    static func monthStart(_ text: String) -> Date? {
        guard text.allSatisfy({ $0 == "-" || ($0.isASCII && $0.isNumber) }) else { return nil }
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 4, parts[1].count == 2, let year = Int(parts[0]),
            let month = Int(parts[1]), (1900...9998).contains(year), (1...12).contains(month)
        else { return nil }
        return calendar.date(from: DateComponents(year: year, month: month, day: 1))
    }

    /// `2026-11-01` (midnight UTC) or an ISO 8601 time with its zone (`2026-11-01T09:30:00Z`).
    /// Nothing else: a time without its zone, a date with something after it, a day or hour out of range (Foundation's
    /// parsers read `2026-11-01T09:30Z` as midnight, roll `2026-02-30` into March): nil, a usage error.
    static func time(_ text: String) -> Date? {
        let pattern = #"^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$"#
        guard let regex = try? Regex(pattern), let match = try? regex.wholeMatch(in: text) else { return nil }
        func number(_ index: Int) -> Int? { match.output[index].substring.flatMap { Int($0) } }
        // Years whose dates a Gregorian calendar and a Timestamp both hold whole (before 1582 Foundation's calendar is
        // Julian, and it rolls the days the switch dropped).
        guard let year = number(1), let month = number(2), let day = number(3), (1900...9998).contains(year),
            (1...12).contains(month)
        else { return nil }
        var parts = DateComponents(year: year, month: month, day: day)
        guard let first = calendar.date(from: DateComponents(year: year, month: month, day: 1)),
            let days = calendar.range(of: .day, in: .month, for: first), days.contains(day)
        else { return nil }
        var offset = 0
        var fractionDigits = ""  // the second's fraction, as written
        if let hour = number(4), let minute = number(5) {
            let second = number(6) ?? 0
            guard hour < 24, minute < 60, second < 60, let zone = match.output[8].substring else { return nil }
            (parts.hour, parts.minute, parts.second) = (hour, minute, second)
            fractionDigits = match.output[7].substring.map { String($0.dropFirst()) } ?? ""
            if zone != "Z" {
                let digits = zone.dropFirst().filter(\.isNumber)
                guard let hours = Int(digits.prefix(2)), let minutes = Int(digits.suffix(2)), hours < 24, minutes < 60
                else { return nil }
                offset = (zone.hasPrefix("-") ? -1 : 1) * (hours * 3600 + minutes * 60)
            }
        }
        guard let whole = calendar.date(from: parts)?.addingTimeInterval(-Double(offset)) else { return nil }
        // Whole milliseconds (`.500`, `.123`, `.120000`) make the Double numberd's own stamps are,
        // `Date(timeIntervalSince1970: ms / 1000)`: a `createdAt` copied from `--json` or the TIME column then names
        // that very transaction's time. Added as seconds plus a fraction it could land on the Double beside it, and go
        // out as other nanoseconds than the stamp's.
        // A finer fraction is rounded up to the next millisecond: numberd stamps to the millisecond, so a bound of
        // `.0715` takes in the very transactions `.072` does — and the period shown (to the millisecond) is then the
        // one applied, where `.0715` was shown as `.071`, whose own transaction it left out.
        let nanoseconds = fractionDigits.padding(toLength: 9, withPad: "0", startingAt: 0)
        guard let milliseconds = Int64(nanoseconds.prefix(3)) else { return nil }
        let finer = nanoseconds.dropFirst(3).contains { $0 != "0" }
        let seconds = Int64(whole.timeIntervalSince1970)
        return Date(timeIntervalSince1970: Double(seconds * 1000 + milliseconds + (finer ? 1 : 0)) / 1000)
    }
}

struct StatementCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "statement",
        abstract: "The account's statement for a period: opening balance, changes by kind, closing balance.",
        discussion: """
            The period is a calendar month in UTC (--month 2026-11; the current month so far without any option), or \
            --from and --to: dates (2026-11-01, midnight UTC) or times (2026-11-01T09:30:00Z); --to is the first \
            instant after the period (numberd stamps to the millisecond: a finer fraction is rounded up to the next, \
            which takes in the same transactions). A transaction is in it by its time. Closing = opening + credits - debits \
            (the debits line shows them as the negative change they are, so the lines add up; --json gives both as \
            amounts of 0 or more); `numbers transactions` lists the entries themselves.
            """)
    @OptionGroup var global: GlobalOptions
    @OptionGroup var period: PeriodOptions

    func validate() throws { _ = try period.period(currentMonthOf: Date()) }

    func run() async throws {
        try await reporting {
            guard let (start, end) = try period.period(currentMonthOf: Date()) else { return }
            let response = try await global.withClient {
                try await $0.getStatement(
                    GetStatementRequest(accountId: global.accountId, startTime: start, endTime: end))
            }
            try global.output(response) {
                let currency = response.currency
                // A period's bounds are always set: the Unix epoch is a start like any other, not `-` (unset).
                let bounds = [response.startTime, response.endTime].map {
                    Format.timestamp($0, wholeSecondsShort: true)
                }
                print("\(response.accountId): \(bounds[0]) to \(bounds[1])")
                print("opening balance  \(Format.money(response.openingBalance, currency))")
                if response.lines.isEmpty { print("no transactions in the period") }
                if !response.lines.isEmpty {
                    Format.table(
                        ["KIND", "COUNT", "CHANGE"],
                        response.lines.map {
                            [
                                Format.name($0.kind, dropping: "TRANSACTION_KIND_"), String($0.count),
                                Format.money($0.balanceChange, currency),
                            ]
                        })
                }
                print("credits          \(Format.money(response.credits, currency))")
                print("debits           \(Format.money(-response.debits, currency))")
                print("closing balance  \(Format.money(response.closingBalance, currency))")
                if response.endTime > response.asOf {
                    print("(the period has not ended: as of \(Format.date(response.asOf)))")
                }
            }
        }
    }
}

struct Funds: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Credit an account, or correct its balance (admin).", subcommands: [Add.self, Adjust.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "numbers funds add AMOUNT --currency CODE (the account's currency: 25.00 --currency USD)")
        @OptionGroup var global: GlobalOptions
        @Argument(help: Funds.amountHelp) var amount: String
        @Option(help: Funds.currencyHelp) var currency: String
        @Option(help: "The transaction's description in the ledger (default: Funds added).") var description: String?
        @Option(name: .customLong("idempotency-key"), help: UnknownOutcome.keyHelp) var idempotencyKey: String?

        func run() async throws {
            try await reporting {
                let code = currency.uppercased()
                let minor = try Funds.minorUnits(amount, code)
                let key = idempotencyKey ?? NumbersClient.newIdempotencyKey()
                let (account, response) = try await global.withClient { client in
                    let account = try await Funds.account(global, client)
                    let request = AddFundsRequest(
                        accountId: account.id, amount: minor, currency: code, description: description ?? "")
                    let response = try await Funds.send(under: key, account: account.id, currency: code) {
                        try await client.addFunds(request, options: CallOptions(idempotencyKey: key))
                    }
                    return (account, response)
                }
                let result = FundsResult(
                    accountId: account.id, transaction: response.transaction, balance: response.balance,
                    replayed: response.replayed)
                let unwritten = UnknownOutcome.rerunToSee("the credit", idempotencyKey: key, account: account.id)
                try global.output(result, unwritten: unwritten) {
                    let transaction = response.transaction
                    print(
                        "added \(Format.money(transaction.amount, transaction.currency)) to \(Funds.named(account)) "
                            + "as \(transaction.id); \(Format.balanceLabel(replayed: response.replayed)) "
                            + Format.money(response.balance, transaction.currency))
                    if response.replayed { print(Format.replayNote("credit")) }
                }
            }
        }
    }
}

extension Funds {
    struct Adjust: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "numbers funds adjust AMOUNT --currency CODE --reason TEXT [--debit [--yes]]",
            discussion: """
                Posts a manual correction (an ADJUSTMENT transaction naming your admin key): a credit, or with \
                --debit a debit, which may not exceed the available balance. A debit asks first on stderr, naming the \
                amount and the account, and reads the answer from stdin: anything but 'yes' (or end of input) debits \
                nothing and exits 1; --yes skips the question. Run again with the --idempotency-key it prints after an \
                unknown outcome: the first adjustment is answered, nothing is posted twice.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: Funds.amountHelp) var amount: String
        @Option(help: Funds.currencyHelp) var currency: String
        @Option(help: "Why: shown as the transaction's description (required).") var reason: String
        @Flag(help: "Debit the amount instead of crediting it (asks first).") var debit = false
        @Flag(help: "Do not ask before a debit.") var yes = false
        @Option(name: .customLong("idempotency-key"), help: UnknownOutcome.keyHelp) var idempotencyKey: String?

        func run() async throws {
            try await reporting {
                let code = currency.uppercased()
                let minor = try Funds.minorUnits(
                    amount, code, hint: " (give it without a sign: --debit takes it away)")
                let key = idempotencyKey ?? NumbersClient.newIdempotencyKey()
                let (account, response) = try await global.withClient { client in
                    let account = try await Funds.account(global, client)
                    if debit, !yes {
                        // Under a key given, this may be the rerun an unknown outcome asked for: the first run may
                        // have debited already, which "not debited" would deny.
                        var refusal = "not debited"
                        if idempotencyKey != nil {
                            let flags = UnknownOutcome.rerunFlags(idempotencyKey: key, account: account.id)
                            refusal =
                                "not sent now; an earlier run under idempotency key \(key) may have debited already: "
                                + "rerun with --yes and the same \(flags) to see its result without a second debit"
                        }
                        try Question.confirm(
                            "Debit \(Format.money(minor, code)) from \(Funds.named(account))?", refusal: refusal)
                    }
                    let request = AdjustBalanceRequest(
                        accountId: account.id, amount: debit ? -minor : minor, currency: code, reason: reason)
                    let response = try await Funds.send(under: key, account: account.id, currency: code) {
                        try await client.adjustBalance(request, options: CallOptions(idempotencyKey: key))
                    }
                    return (account, response)
                }
                let result = FundsResult(
                    accountId: account.id, transaction: response.transaction, balance: response.balance,
                    replayed: response.replayed)
                let unwritten = UnknownOutcome.rerunToSee("the adjustment", idempotencyKey: key, account: account.id)
                try global.output(result, unwritten: unwritten) {
                    let transaction = response.transaction
                    let change = Format.money(transaction.balanceChange, transaction.currency)
                    print(
                        "adjusted \(Funds.named(account)) by \(change) as \(transaction.id); "
                            + "\(Format.balanceLabel(replayed: response.replayed)) "
                            + Format.money(response.balance, transaction.currency))
                    if response.replayed { print(Format.replayNote("adjustment")) }
                }
            }
        }
    }
}

struct Trunks: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "SIP trunks.", subcommands: [Create.self, ListTrunks.self, Delete.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "numbers trunks create --name NAME (--origination sip:… | --sid TK…)")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The trunk's name, unique in the account.") var name: String
        @Option(
            help: """
                Where Twilio sends the trunk's inbound calls: your PBX or SIP server's URI, \
                sip:[user@]host[:port][;params] (not sips:, no user:password: it is stored and shown). Required \
                unless --sid is given: numberd creates the trunk on its own Twilio account, which you cannot configure.
                """)
        var origination: String = ""
        @Option(
            help: """
                Register a Twilio Elastic SIP trunk configured elsewhere (TK…; admin key only), routed where it was \
                configured (no --origination); numberd checks that its Twilio account has it (exit 4, \
                TRUNK_NOT_FOUND, if not). Without it numberd creates the trunk at Twilio.
                """)
        var sid: String = ""

        func run() async throws {
            try await reporting {
                // Without --sid numberd creates the trunk at Twilio, where a lost answer may leave one unrecorded.
                let advice = sid.isEmpty ? UnknownOutcome.Unkeyed.trunkCreate : UnknownOutcome.Unkeyed.lookFirst
                let response = try await global.withClient(unkeyedAdvice: advice) {
                    try await $0.createTrunk(
                        CreateTrunkRequest(
                            accountId: global.accountId, name: name, providerTrunkSid: sid,
                            originationSipUri: origination))
                }
                try global.output(response) {
                    let trunk = response.trunk
                    let route = trunk.originationSipUri.isEmpty ? "" : ", its calls sent to \(trunk.originationSipUri)"
                    print("created \(trunk.id) \(trunk.name)\(route)")
                }
            }
        }
    }

    struct ListTrunks: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "numbers trunks list")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await reporting {
                let response = try await global.withClient {
                    try await $0.listTrunks(ListTrunksRequest(accountId: global.accountId))
                }
                try global.output(response) {
                    Format.table(
                        ["ID", "NAME", "PROVIDER SID", "ORIGINATION", "NUMBERS"],
                        response.trunks.map {
                            [
                                $0.id, $0.name, $0.providerTrunkSid.isEmpty ? "-" : $0.providerTrunkSid,
                                $0.originationSipUri.isEmpty ? "-" : $0.originationSipUri, "\($0.numberCount)",
                            ]
                        }, none: "no trunks")
                }
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "numbers trunks delete TRK_… (only one no number is on or may be routed to)",
            discussion: """
                Refused with TRUNK_IN_USE (exit 5, nothing done) while numbers are on the trunk (releasing ones \
                included; the error then prints the numbers list --trunk that shows them), while a number's trunk \
                change to it runs, got no answer or is unsettled (an open one shows in numbers show as a trunk \
                change), while an adoption routes a number to it (running, or sent without an answer that may still \
                land), while a purchase in progress names it, and, for a trunk numberd created at Twilio, while Twilio \
                routes numbers to it (asked before each deletion: a look-up that fails deletes nothing, exit 7). \
                numberd's message says which, and what settles it (proto/ERRORS.md, TRUNK_IN_USE).
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The trunk, TRK_….") var id: String

        func run() async throws {
            try await reporting {
                let response = try await global.withClient(unkeyedAdvice: UnknownOutcome.Unkeyed.trunkDelete) {
                    try await $0.deleteTrunk(DeleteTrunkRequest(accountId: global.accountId, trunkId: id))
                }
                try global.output(response) { print("deleted \(id)") }
            }
        }
    }
}

struct Accounts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Accounts (admin).", subcommands: [Create.self, ListAccounts.self, Suspend.self, Activate.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "numbers accounts create --name NAME [--currency USD]")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The account's name.") var name: String
        @Option(
            help: """
                The account's currency: the one numberd's Twilio account is billed in (USD for the simulator); in \
                another it can be funded but can buy nothing.
                """)
        var currency: String = "USD"

        func run() async throws {
            try await reporting {
                let response = try await global.withClient(unkeyedAdvice: UnknownOutcome.Unkeyed.lookFirst) {
                    try await $0.createAccount(CreateAccountRequest(name: name, currency: currency))
                }
                try global.output(response) {
                    print("created \(response.account.id) \(response.account.name) (\(response.account.currency))")
                }
            }
        }
    }

    struct Suspend: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "numbers accounts suspend ACC_…",
            discussion: """
                A suspended account keeps its numbers (renewals go on) and can be read, searched and funded, but its \
                own keys cannot buy, change or release numbers (nor dry-run a release) or create or delete trunks \
                until it is activated again; an admin key can still release its numbers (a dry run too), change \
                their trunks and delete its trunks (to stop what they cost, or take them off its trunks, without \
                activating it, which would let it buy meanwhile).
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The account ACC_….") var accountId: String

        func run() async throws {
            try await reporting { try await Accounts.setStatus(.suspended, accountId, global) }
        }
    }

    struct Activate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "numbers accounts activate ACC_…")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The account ACC_….") var accountId: String

        func run() async throws {
            try await reporting { try await Accounts.setStatus(.active, accountId, global) }
        }
    }

    /// Sets the account's status and prints it.
    static func setStatus(_ status: AccountStatus, _ accountId: String, _ global: GlobalOptions) async throws {
        let response = try await global.withClient(unkeyedAdvice: UnknownOutcome.Unkeyed.accountStatus) {
            try await $0.setAccountStatus(SetAccountStatusRequest(accountId: accountId, status: status))
        }
        try global.output(response) {
            let status = Format.name(response.account.status, dropping: "ACCOUNT_STATUS_")
            print("\(response.account.id) \(response.unchanged ? "was \(status) already" : "is \(status)")")
        }
    }

    struct ListAccounts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "numbers accounts list")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var page: PageSizeOption
        @Option(name: .customLong("page-token"), help: "From the previous page (its `more:` line).")
        var pageToken: String?

        func run() async throws {
            try await reporting {
                let response = try await global.withClient {
                    try await $0.listAccounts(ListAccountsRequest(pageSize: page.pageSize, pageToken: pageToken ?? ""))
                }
                try global.output(response) {
                    Format.table(
                        ["ID", "NAME", "BALANCE", "STATUS"],
                        response.accounts.map {
                            [
                                $0.id, $0.name, Format.money($0.balance, $0.currency),
                                Format.name($0.status, dropping: "ACCOUNT_STATUS_"),
                            ]
                        }, none: pageToken == nil ? "no accounts" : "no more accounts")
                    if !response.nextPageToken.isEmpty { print(Format.moreHint(response.nextPageToken, [])) }
                }
            }
        }
    }
}

enum ScopeOption: String, ExpressibleByArgument, CaseIterable {
    case admin, account, readOnly = "read-only"

    var api: KeyScope {
        switch self {
        case .admin: return .admin
        case .account: return .account
        case .readOnly: return .readOnly
        }
    }
}

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "API keys (admin).", subcommands: [Create.self, ListKeys.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "numbers keys create [--scope account|read-only|admin] [--name NAME] (--account for account keys)"
        )
        @OptionGroup var global: GlobalOptions
        @Option(
            help: """
                admin (every account, every call), account (its account's purchases, releases, trunks and reads), \
                read-only (its account's reads and release dry runs).
                """)
        var scope: ScopeOption = .account
        @Option(help: "A name for the key, to tell it apart in `numbers keys list`.") var name: String = "cli"

        /// An admin key acts on every account: `--account` with it was dropped without a word, and an operator could
        /// think the key was held to that account. (NUMBERS_ACCOUNT, set for other commands, is left alone; the result
        /// line says "every account".)
        func validate() throws {
            if scope == .admin, global.account != nil {
                throw ValidationError("an admin key acts on every account and belongs to none: leave out --account")
            }
        }

        func run() async throws {
            try await reporting {
                let response = try await global.withClient(unkeyedAdvice: UnknownOutcome.Unkeyed.lookFirst) {
                    try await $0.createApiKey(
                        CreateApiKeyRequest(
                            accountId: scope == .admin ? "" : global.accountId, scope: scope.api, name: name))
                }
                let id = response.apiKey.id
                let unwritten =
                    "the key \(id) was created and its secret, shown only once, is lost: revoke it "
                    + "(numbers keys revoke \(id)) and create another"
                try global.output(response, unwritten: unwritten) {
                    let whose = scope == .admin ? "every account" : response.apiKey.accountId
                    print("created \(id) (\(scope.rawValue), \(whose)); the secret is shown once:")
                    print(response.secret)
                }
            }
        }
    }

    struct ListKeys: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "numbers keys list [--account ACC_… | --admin] (without an account: the admin keys)")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "List the admin keys, whatever account --account or NUMBERS_ACCOUNT names.") var admin = false
        @OptionGroup var page: PageSizeOption
        @Option(name: .customLong("page-token"), help: "From the previous page, of the same account's (or admin) keys.")
        var pageToken: String?

        func run() async throws {
            try await reporting {
                let response = try await global.withClient {
                    try await $0.listApiKeys(
                        ListApiKeysRequest(
                            accountId: admin ? "" : global.accountId, pageSize: page.pageSize,
                            pageToken: pageToken ?? ""))
                }
                try global.output(response) {
                    Format.table(
                        ["ID", "SCOPE", "ACCOUNT", "NAME", "CREATED", "REVOKED"],
                        response.apiKeys.map {
                            [
                                $0.id, Format.name($0.scope, dropping: "KEY_SCOPE_"),
                                $0.accountId.isEmpty ? "-" : $0.accountId, $0.name,
                                Format.date($0.createdAt), Format.date($0.revokedAt),
                            ]
                        }, none: pageToken == nil ? "no API keys" : "no more API keys")
                    if !response.nextPageToken.isEmpty {
                        // The token is its account's own: the hint names it (or --admin) whatever the environment
                        // says by the next run.
                        let whose = admin || global.accountId.isEmpty ? ["--admin"] : ["--account", global.accountId]
                        print(Format.moreHint(response.nextPageToken, whose))
                    }
                }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "numbers keys revoke KEY_… [--account ACC_…] [--yes]",
            discussion: """
                Asks first on stderr and reads the answer from stdin: anything but 'yes' (or end of input) revokes \
                nothing and exits 1; --yes skips the question. A revoked key is refused from then on, for good. \
                With an account (--account or NUMBERS_ACCOUNT) the key must be one of that account's or an admin \
                key, else nothing is revoked (exit 4, API_KEY_NOT_FOUND: another account's), and the question names \
                its owner, scope and name; without one, it names an admin key so, and says of any other that its \
                account was not checked. Prints the key revoked with its account (or admin), scope and name.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The key, KEY_… (numbers keys list shows them).") var id: String
        @Flag(help: "Do not ask.") var yes = false

        func run() async throws {
            try await reporting {
                let account = global.accountId
                let response = try await global.withClient(unkeyedAdvice: UnknownOutcome.Unkeyed.keyRevoke) { client in
                    // The account named is checked, not ignored: an operator revoking one tenant's key by a
                    // mistyped id must not revoke another's.
                    let key = account.isEmpty ? nil : try await Self.key(id, of: account, client)
                    if !yes {
                        // Without an account, an admin key is still named; any other is said to be unchecked, where
                        // the question showed a bare id an operator could not tell from another tenant's.
                        let admin = key == nil ? try await Self.find(id, owner: "", client) : nil
                        let named =
                            (key ?? admin).map(Self.described)
                            ?? "\(id) (not an admin key; whose it is was not checked: --account ACC_… checks it)"
                        // "by this run": a rerun after an unknown outcome may find it revoked already.
                        try Question.confirm(
                            "Revoke \(named) for good? Calls with it are refused from then on.",
                            refusal: "not revoked by this run (numbers keys list shows whether an earlier one did)")
                    }
                    return try await client.revokeApiKey(RevokeApiKeyRequest(keyId: id))
                }
                // With when: revoking a key revoked before changes nothing, and says so.
                try global.output(response) {
                    let what = response.alreadyRevoked ? "already revoked" : "revoked"
                    print("\(what) \(Self.described(response.apiKey)) at \(Format.date(response.apiKey.revokedAt))")
                }
            }
        }
    }
}

extension Keys.Revoke {
    /// Keys asked for a page while looking for the key to revoke: 500, numberd's largest page.
    static let keyPageSize = 500
    /// Pages looked through for it, per owner (the account, then the admin keys): 1000, more than numberd keeps
    /// (`apiKeysMax` 100 000 and 10 000 revoked ones).
    static let keyPagesMax = 1000

    /// `id` among `account`'s keys or the admin keys (every page: an account named by NUMBERS_ACCOUNT must not stop
    /// an admin key's revocation), or API_KEY_NOT_FOUND naming the account, nothing revoked: another account's key.
    /// An account that does not exist (a NUMBERS_ACCOUNT left from another numberd, a typo) has no keys: the admin keys
    /// are still looked at.
    static func key(_ id: String, of account: String, _ client: NumbersClient) async throws -> ApiKey {
        var accountExists = true
        do {
            if let key = try await find(id, owner: account, client) { return key }
        } catch let error as RPCError where error.reason == "ACCOUNT_NOT_FOUND" {
            accountExists = false
        }
        if let key = try await find(id, owner: "", client) { return key }
        let which =
            accountExists ? "a key of account \(account)" : "an admin key, and account \(account) does not exist"
        throw RPCError(
            code: .notFound,
            message: accountExists
                ? "\(id) is neither \(which) nor an admin key: nothing revoked (numbers keys list --account \(account) "
                    + "lists its keys)"
                : "\(id) is not \(which) (--account or NUMBERS_ACCOUNT): nothing revoked",
            reason: "API_KEY_NOT_FOUND", details: ["keyId": id, "accountId": account])
    }

    /// `id` among the keys of `owner` (an account id; "" for the admin keys), every page; nil when it is not there.
    static func find(_ id: String, owner: String, _ client: NumbersClient) async throws -> ApiKey? {
        let request = ListApiKeysRequest(accountId: owner, pageSize: Int32(keyPageSize))
        do {
            // A server that hands out a next page for ever would keep the search going for ever: at most keyPagesMax.
            for try await page in client.pages(NumbersMethods.listApiKeys, request, pagesMax: keyPagesMax) {
                if let key = page.apiKeys.first(where: { $0.id == id }) { return key }
            }
        } catch let error as RPCError where error.reason == "PAGE_LIMIT" {
            throw CLIError(
                code: 1,
                message: "error: numberd listed more than \(keyPagesMax) pages of keys (\(keyPagesMax * keyPageSize), "
                    + "past any numberd's key limit) while looking for \(id): nothing revoked")
        }
        return nil
    }

    /// "KEY_… (account ACC_…, read-only key "name")", or "(admin key …)".
    static func described(_ key: ApiKey) -> String {
        let scope = Format.name(key.scope, dropping: "KEY_SCOPE_")
        let owner = key.accountId.isEmpty ? "admin key" : "account \(key.accountId), \(scope) key"
        return "\(key.id) (\(owner)\(key.name.isEmpty ? "" : " \"\(Format.visible(key.name))\""))"
    }
}

struct Health: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Is the server serving?",
        discussion: """
            Prints the status numberd answers (as JSON with --json) and exits 0 when it is serving; 7 when it answers \
            not serving (draining, or its store stopped taking writes: a restart recovers), as when it cannot be \
            reached.
            """)
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await reporting {
            let response = try await global.withClient(needsKey: false) {
                try await $0.healthCheck(HealthCheckRequest())
            }
            try global.output(response) {
                print("\(Format.name(response.status, dropping: "SERVING_STATUS_")) (version \(response.version))")
            }
            // A probe (a supervisor's, a script's) reads the status: not serving is numberd unavailable, exit 7.
            guard response.status == .serving else {
                throw CLIError(code: CLIError.exitCode(for: .unavailable), message: Self.notServing(response.status))
            }
        }
    }

    /// Why the run fails when numberd answers `status`, not serving.
    static func notServing(_ status: ServingStatus) -> String {
        guard status == .notServing else {
            return "numberd answers \(Format.name(status, dropping: "SERVING_STATUS_")), not serving"
        }
        return "numberd answers not serving: draining, or its store stopped taking writes (a restart recovers)"
    }
}

struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Back up numberd's store while it runs (admin).",
        discussion: """
            numberd writes a consistent copy of its store as of this call (every write acknowledged before it) into \
            its backup directory on its own host (--backup-dir, default <data-dir>/backups) as backup-<UTC time>/, \
            and removes backups beyond --backups-kept (default 7). The path printed is on numberd's host: check the \
            copy there with `numberd verify --data-dir PATH`, then copy it off the host. Exit 5 while another backup \
            is being written. Its deadline is 30 minutes unless --timeout says otherwise: a large store's snapshot \
            takes a while to write and read back, and a deadline that passes meanwhile leaves the outcome unknown \
            (exit 10) while the backup goes on: a rerun meanwhile answers BACKUP_IN_PROGRESS (exit 5).
            """)
    @OptionGroup var global: GlobalOptions

    /// The deadline of a backup without `--timeout`: writing and reading back a 4 GiB snapshot takes about a minute
    /// on a fast disk, many on a slow one.
    static let timeoutSeconds = 1_800

    func run() async throws {
        try await reporting {
            let options = CallOptions(timeout: .seconds(Int64(global.deadlineSeconds(Self.timeoutSeconds))))
            let response = try await global.withClient(unkeyedAdvice: UnknownOutcome.Unkeyed.backup) {
                try await $0.createBackup(CreateBackupRequest(), options: options)
            }
            try global.output(response) {
                print("backup \(response.name) at \(response.path)")
                print(
                    "  journal seq \(response.journalSeq), snapshot \(response.snapshotBytes) bytes "
                        + "(\(response.linked ? "hard link to the store's file" : "copy")), "
                        + "taken \(Format.date(response.createdAt))")
                for name in response.removed { print("  removed older backup \(name)") }
            }
        }
    }
}

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the last provider audit: where the Twilio account and numberd's store disagree (admin).",
        discussion: """
            numberd lists the Twilio account's numbers and trunks every --provider-audit-interval (6 h), twice a \
            minute apart, and reports what both listings show: every difference counted, the first 100 of each kind \
            listed (and logged). Nothing is changed on either side: what to do is the operator's call. By kind (the \
            numbers commands with --account, the difference's account):
              unowned (paid at Twilio, held by no one): give it to its customer with numbers adopt +E164 --account \
            ACC_… --country CC --charge full|first-month (charged at the current price, its first cycle starting \
            then), or release it in Twilio's console if no customer should have it.
              missing (billed, gone at Twilio): numbers release NUM_… (its refund computed as usual).
              sid_differs (held under another SID): numbers release NUM_…; once the next orphan sweep ends its \
            watch, numbers adopt the number for its customer (the other SID is most likely a purchase a restore from \
            an older backup forgot), or release it in Twilio's console only if no customer should have it.
              trunk_differs: numbers trunk assign NUM_… TRK_… to the trunk numberd records (numbers trunk unassign \
            NUM_… when it records none): the change is sent to Twilio even when it is recorded already.
              release_stuck (a release requested, or a past-due number's grace release due, more than a day ago; \
            Twilio refuses its DELETE): release it in Twilio's console; numberd's next try records it.
              purchase_stuck (reserved by a purchase being undone for more than a day; Twilio refuses its DELETE): release \
            it in Twilio's console; the next reconciliation voids the purchase, nothing charged, the money held \
            freed.
              trunk_missing (recorded, not at Twilio): numbers trunks create a new one, numbers trunk assign its \
            numbers to it, then numbers trunks delete the old one's TRK_….
              trunk_unrecorded (at Twilio, named as numberd names its trunks, recorded nowhere): delete it in \
            Twilio's console, only if no number routes to it.
            Exit 5 before the first audit has finished. With --run, starts an audit now instead (exit 5 while one \
            runs): its findings come once its two listings, --provider-audit-recheck apart, are done.
            """)
    @OptionGroup var global: GlobalOptions
    @Flag(name: .customLong("run"), help: "Start an audit now, in the background.") var start = false

    /// How long ago `date` was, roughly: `42 s`, `17 min`, `5 h`, `3 d` (an audit's findings age; a stale one may
    /// mean audits stopped).
    static func age(since date: Date, now: Date = Date()) -> String {
        let seconds = max(0, Int(now.timeIntervalSince(date)))
        switch seconds {
        case ..<120: return "\(seconds) s"
        case ..<7_200: return "\(seconds / 60) min"
        case ..<172_800: return "\(seconds / 3_600) h"
        default: return "\(seconds / 86_400) d"
        }
    }

    /// A line for each kind with more differences than the audit lists: numberd lists the first
    /// `differencesListedMax` of each kind (and logs those alone), and keeps no list of the rest.
    static func unlisted(_ response: GetProviderAuditResponse) -> [String] {
        response.counts.compactMap { counted -> String? in
            let listed = Int64(response.differences.count { $0.kind == counted.kind })
            guard counted.count > listed else { return nil }
            let rest = counted.count - listed
            return "  \(counted.kind): \(listed) of \(counted.count) listed; the other \(rest) are counted, not listed "
                + "anywhere (nor in numberd's log): the next audit lists them once these are settled"
        }
    }

    func run() async throws {
        try await reporting {
            if start {
                let started = try await global.withClient(unkeyedAdvice: UnknownOutcome.Unkeyed.auditRun) {
                    try await $0.runProviderAudit(RunProviderAuditRequest())
                }
                try global.output(started) {
                    // numberd's clock, not this machine's (a numberd before it sends none: the epoch, not said).
                    let at =
                        started.startedAt.timeIntervalSince1970 == 0 ? "" : " at \(Format.date(started.startedAt))"
                    print(
                        "provider audit started\(at): its listings are \(started.recheckSeconds) s apart; "
                            + "`numbers audit` shows its findings once it has finished after that")
                }
                return
            }
            let response = try await global.withClient { try await $0.getProviderAudit(GetProviderAuditRequest()) }
            try global.output(response) {
                let trunks =
                    response.trunksCompared
                    ? ", " + Format.count(response.providerTrunks, "trunk") : " (trunks not compared)"
                let atTwilio = Format.count(response.providerNumbers, "number")
                print(
                    "provider audit finished \(Format.date(response.finishedAt)) (\(Self.age(since: response.finishedAt)) "
                        + "ago): \(atTwilio) at Twilio, \(response.heldNumbers) held\(trunks)")
                let found = response.counts.filter { $0.count > 0 }
                print(
                    found.isEmpty
                        ? "  no differences" : "  " + found.map { "\($0.kind) \($0.count)" }.joined(separator: ", "))
                for line in Self.unlisted(response) { print(line) }
                for difference in response.differences {
                    let subject =
                        difference.phoneNumber.isEmpty
                        ? "trunk \(difference.trunkId.isEmpty ? "-" : difference.trunkId)" : difference.phoneNumber
                    let holder = [difference.numberId, difference.intentId, difference.accountId].filter { !$0.isEmpty }
                    print(
                        Format.visible(
                            "  \(difference.kind) \(subject) \(difference.providerSid)"
                                + (holder.isEmpty ? "" : " (" + holder.joined(separator: " of ") + ")")))
                }
                // An operator's walk: a later audit that failed (Twilio down) left these findings shown as the latest.
                if let failed = response.lastFailedAt {
                    print(
                        Format.visible(
                            "a later audit failed \(Format.date(failed)) (\(Self.age(since: failed)) ago): "
                                + "\(response.lastFailure); the findings above are older than it"))
                }
                if let running = response.runningSince {
                    print(
                        "an audit is running, started \(Format.date(running)) (\(Self.age(since: running)) ago): its "
                            + "findings replace these when it has finished")
                }
            }
        }
    }
}
