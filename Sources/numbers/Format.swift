import Foundation
import NumberAPI

/// Text formatting for people: money, dates, tables.
enum Format {
    /// `100` USD → `1.00 USD` (ISO 4217 minor units, the table the server prices with).
    static func money(_ minor: Int64, _ currency: String) -> String { CurrencyMinorUnits.format(minor, currency) }

    /// Parses `25`, `25.5` or `25.50` into minor units of `currency`; nil if it is not such a number.
    static func minorUnits(_ text: String, currency: String) -> Int64? {
        CurrencyMinorUnits.parse(text, currency: currency)
    }

    /// ISO 8601 in UTC; `-` for the epoch (unset).
    static func date(_ date: Date?) -> String {
        guard let date, date.timeIntervalSince1970 != 0 else { return "-" }
        return date.formatted(.iso8601)
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

    /// Prints rows under headers with columns padded to their widest cell.
    static func table(_ headers: [String], _ rows: [[String]]) {
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
