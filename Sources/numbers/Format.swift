import Foundation
import NumberAPI

/// Text formatting for people: money, dates, tables.
enum Format {
    /// `count` and `noun`, plural unless 1: "1 number", "3 numbers".
    static func count(_ count: some BinaryInteger, _ noun: String) -> String {
        "\(count) \(noun)\(count == 1 ? "" : "s")"
    }

    /// `100` USD → `1.00 USD` (ISO 4217 minor units, the table the server prices with).
    static func money(_ minor: Int64, _ currency: String) -> String { CurrencyMinorUnits.format(minor, currency) }

    /// `error: ` and numberd's status as `RPCError` describes it, but with the amounts in its metadata in major units
    /// of the `currency` beside them (`required=1.33 … currency=USD`, not `required=133`: the message before says
    /// "1.33 USD", and a reader took 133 for dollars). `--json` keeps numberd's minor units.
    static func error(_ error: RPCError) -> String {
        let currency = error.details["currency"]
        return "error: "
            + error.description { key, value in
                guard let currency, moneyDetails.contains(key), let minor = Int64(value) else { return value }
                return CurrencyMinorUnits.amount(minor, currency)
            }
    }

    /// The metadata keys numberd sends amounts in, minor units of its `currency` key (proto/ERRORS.md).
    static let moneyDetails: Set<String> = [
        "required", "available", "shortfall", "setupFee", "monthlyFee", "maxMonthlyFee", "maxSetupFee", "renewalCharge",
    ]

    /// Parses `25`, `25.5` or `25.50` into minor units of `currency`; nil if it is not such a number.
    static func minorUnits(_ text: String, currency: String) -> Int64? {
        CurrencyMinorUnits.parse(text, currency: currency)
    }

    /// ISO 8601 in UTC, with milliseconds when the time has any (`2026-11-01T09:30:00.500Z`; a whole second as
    /// `2026-11-01T09:30:00Z`); `-` for the epoch (unset). numberd stamps its ledger to the millisecond, and a time
    /// copied from here into `--from` / `--to` must be the stamp itself, not the second it falls in.
    static func date(_ date: Date?) -> String {
        guard let date, date.timeIntervalSince1970 != 0 else { return "-" }
        return timestamp(date, wholeSecondsShort: true)
    }

    /// `date` in ISO 8601 UTC to the millisecond, `2026-11-01T09:30:00.500Z` (`--json`'s times); with
    /// `wholeSecondsShort`, a whole second without them. Rounded to the nearest millisecond, not cut: numberd's stamps
    /// are whole milliseconds whose Double may lie just under them (.123 s is .12299990654), which a formatter that
    /// cuts prints as .122, a time before the stamp.
    static func timestamp(_ date: Date, wholeSecondsShort: Bool = false) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
        var (seconds, fraction) = milliseconds.quotientAndRemainder(dividingBy: 1000)
        // Division truncates toward zero: a time before 1970 takes its milliseconds from the second before.
        if fraction < 0 { (seconds, fraction) = (seconds - 1, fraction + 1000) }
        let whole = Date(timeIntervalSince1970: Double(seconds)).formatted(.iso8601)  // …T09:30:00Z
        guard fraction != 0 || !wholeSecondsShort else { return whole }
        let digits = String(fraction)
        return String(whole.dropLast()) + "." + String(repeating: "0", count: 3 - digits.count) + digits + "Z"
    }

    /// `text` with every Unicode scalar that shows nothing or rearranges what follows — controls (Cc), format
    /// characters (Cf: the bidi overrides such as U+202E, zero-width spaces and joiners) and line and paragraph
    /// separators (Zl, Zp) — written as `\u{XXXX}`. Names and places come from Twilio and from customers, and numberd
    /// strips only controls from them: a right-to-left override would show `A\u{202E}BC` as `ACB`, and a trunk name
    /// with a zero-width space would read as another's.
    static func visible(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isHidden) else { return text }
        var shown = ""
        for scalar in text.unicodeScalars {
            guard isHidden(scalar) else {
                shown.unicodeScalars.append(scalar)
                continue
            }
            let hex = String(scalar.value, radix: 16, uppercase: true)
            shown += "\\u{" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex + "}"
        }
        return shown
    }

    /// Whether `scalar` is one ``visible(_:)`` escapes.
    static func isHidden(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator: return true
        default: return false
        }
    }

    /// A number's trunk: its id and, when it has one, its name in parentheses (`TRK_1 (Production)`); `-` for none.
    /// The id first: names are free text, so a trunk named `-` read as no trunk and two trunks of one name looked
    /// alike.
    static func trunk(id: String?, name: String?) -> String {
        guard let id else { return "-" }
        guard let name, !name.isEmpty else { return id }
        return "\(id) (\(name))"
    }

    /// The line after a keyed command's result that the server answered from an earlier run under the same
    /// idempotency key (`replayed`): `what` (the purchase, credit, adjustment or release) was done then, not now.
    static func replayNote(_ what: String) -> String {
        "(the \(what) made earlier under this idempotency key: nothing was done now)"
    }

    /// What a keyed command's balance is: the balance after the earlier run a replay answers with (money may have
    /// moved since), else the balance now.
    static func balanceLabel(replayed: Bool) -> String { replayed ? "balance after it" : "balance" }

    /// The line telling how to ask for the next page: `more: --page-token T` and the options its token is tied to
    /// (numberd refuses a token with other filters, period or account), each quoted for a POSIX shell where it needs
    /// it, so the line can be pasted as it is.
    static func moreHint(_ token: String, _ arguments: [String]) -> String {
        (["more:", "--page-token"] + ([token] + arguments).map(shellQuoted)).joined(separator: " ")
    }

    /// `word` as a POSIX shell reads it back: as it is when it holds only characters no shell treats specially (and
    /// is not empty), else in single quotes (a quote inside as `'\''`).
    static func shellQuoted(_ word: String) -> String {
        let plain =
            !word.isEmpty
            && word.unicodeScalars.allSatisfy { scalar in
                scalar.isASCII
                    && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)
                        || "_-.,:/+@=%".unicodeScalars.contains(scalar))
            }
        return plain ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// `NUMBER_STATUS_PAST_DUE` → `past-due`.
    static func name<E: ProtoEnum>(_ value: E, dropping prefix: String) -> String {
        let text = value.description
        return (text.hasPrefix(prefix) ? String(text.dropFirst(prefix.count)) : text).lowercased()
            .replacingOccurrences(of: "_", with: "-")
    }

    /// A transaction's actor (a key id or `system:…`); `-` when none was recorded (a transaction from before numberd
    /// recorded it).
    static func actor(_ actor: String) -> String { actor.isEmpty ? "-" : actor }

    static func capabilities(_ c: Capabilities) -> String {
        [c.voice ? "voice" : nil, c.sms ? "sms" : nil, c.mms ? "mms" : nil, c.fax ? "fax" : nil].compactMap { $0 }
            .joined(separator: ",")
    }

    /// Prints rows under headers with columns padded to their widest cell, each cell ``visible(_:)``; with no rows,
    /// `none` (e.g. "no trunks") in place of a lone header line when given.
    static func table(_ headers: [String], _ rows: [[String]], none: String? = nil) {
        if rows.isEmpty, let none {
            print(none)
            return
        }
        let rows = rows.map { $0.map { visible($0) } }
        let widths = headers.indices.map { column in
            ([headers[column]] + rows.map { $0[column] }).map(\.count).max() ?? 0
        }
        func line(_ cells: [String]) -> String {
            zip(cells, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }
        print(line(headers))
        for row in rows { print(line(row)) }
    }
}
