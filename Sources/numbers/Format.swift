import Foundation
import NumberAPI

/// Text formatting for people: money, dates, tables.
enum Format {
    /// Currencies without minor units (ISO 4217 exponent 0).
    private static let zeroDecimal: Set<String> = ["JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF", "PYG"]

    /// Digits after the decimal point for `currency`.
    static func exponent(_ currency: String) -> Int { zeroDecimal.contains(currency) ? 0 : 2 }

    /// `100` USD → `1.00 USD`.
    static func money(_ minor: Int64, _ currency: String) -> String {
        let exponent = exponent(currency)
        guard exponent > 0 else { return "\(minor) \(currency)" }
        let scale = Int64(pow(10, Double(exponent)))
        let sign = minor < 0 ? "-" : ""
        let magnitude = minor.magnitude
        let fraction = String(magnitude % UInt64(scale))
        return
            "\(sign)\(magnitude / UInt64(scale)).\(String(repeating: "0", count: exponent - fraction.count))\(fraction) \(currency)"
    }

    /// Parses `25`, `25.5` or `25.50` into minor units of `currency`; nil if it is not such a number.
    static func minorUnits(_ text: String, currency: String) -> Int64? {
        let exponent = exponent(currency)
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let whole = Int64(parts[0]), whole >= 0 else { return nil }
        var fraction: Int64 = 0
        if parts.count == 2 {
            let digits = parts[1]
            guard !digits.isEmpty, digits.count <= exponent, digits.allSatisfy(\.isNumber), let value = Int64(digits)
            else {
                return nil
            }
            fraction = value * Int64(pow(10, Double(exponent - digits.count)))
        }
        let (scaled, overflow) = whole.multipliedReportingOverflow(by: Int64(pow(10, Double(exponent))))
        guard !overflow else { return nil }
        return scaled + fraction
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
