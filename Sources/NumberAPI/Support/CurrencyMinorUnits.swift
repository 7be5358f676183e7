/// ISO 4217 minor units: how many digits a currency has after the decimal point. Every amount in the API is an
/// integer count of these minor units (cents for USD, yen for JPY, fils for KWD), so a client shows and parses money
/// with this table, and the server prices with the same one (`NumberCore.PricingPolicy.defaults`: a test checks that
/// the two agree).
public enum CurrencyMinorUnits {
    /// Every currency whose minor unit is not two digits (ISO 4217, list one, 2024).
    public static let exceptions: [String: Int] = [
        "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0, "RWF": 0, "UGX": 0,
        "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
        "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
        "CLF": 4, "UYW": 4,
    ]

    /// Digits after the decimal point for `currency` (an ISO 4217 code, in any case, as numberd takes it); 2 for any
    /// code not in `exceptions`. A review: "jpy" read as two digits made `parse("2500", currency: "jpy")` 250,000 yen.
    public static func digits(_ currency: String) -> Int {
        exceptions[currency] ?? exceptions[currency.uppercased()] ?? 2
    }

    /// `100` USD → `1.00 USD`, `1500` JPY → `1500 JPY`, `-1250` KWD → `-1.250 KWD` (the code in upper case).
    public static func format(_ minor: Int64, _ currency: String) -> String {
        "\(amount(minor, currency)) \(currency.uppercased())"
    }

    /// ``format(_:_:)`` without the code: `100` USD → `1.00`, `1500` JPY → `1500`, `-1250` KWD → `-1.250`.
    public static func amount(_ minor: Int64, _ currency: String) -> String {
        let digits = digits(currency)
        let sign = minor < 0 ? "-" : ""
        let magnitude = minor.magnitude
        guard digits > 0 else { return "\(sign)\(magnitude)" }
        let scale = power(digits)
        let fraction = String(magnitude % scale)
        let padding = String(repeating: "0", count: digits - fraction.count)
        return "\(sign)\(magnitude / scale).\(padding)\(fraction)"
    }

    /// Parses a non-negative amount written in major units (`25`, `25.5`, `25.50`) into minor units of `currency`;
    /// nil if it is not such a number, has more fraction digits than the currency, or does not fit an `Int64`.
    public static func parse(_ text: String, currency: String) -> Int64? {
        try? parsed(text, currency: currency).get()
    }

    /// Why an amount did not parse (``parsed(_:currency:)``).
    public enum ParseFailure: Error, Sendable, Equatable {
        /// Not digits with at most one point and at most the currency's minor digits after it.
        case malformed
        /// Written as an amount of the currency, but more minor units than an `Int64` holds.
        case tooLarge
    }

    /// ``parse(_:currency:)``, saying why an amount does not parse: a caller tells "not an amount" from "too large".
    public static func parsed(_ text: String, currency: String) -> Result<Int64, ParseFailure> {
        let digits = digits(currency)
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, !parts[0].isEmpty, parts[0].allSatisfy(\.isASCIIDigit) else {
            return .failure(.malformed)
        }
        if parts.count == 2 {
            let written = parts[1]
            guard !written.isEmpty, written.count <= digits, written.allSatisfy(\.isASCIIDigit) else {
                return .failure(.malformed)
            }
        }
        guard let whole = Int64(parts[0]) else { return .failure(.tooLarge) }
        let fraction = parts.count == 2 ? Int64(parts[1])! * Int64(power(digits - parts[1].count)) : 0
        let (scaled, overflow) = whole.multipliedReportingOverflow(by: Int64(power(digits)))
        guard !overflow else { return .failure(.tooLarge) }
        let (sum, sumOverflow) = scaled.addingReportingOverflow(fraction)
        return sumOverflow ? .failure(.tooLarge) : .success(sum)
    }

    private static func power(_ exponent: Int) -> UInt64 {
        var value: UInt64 = 1
        for _ in 0..<exponent { value *= 10 }
        return value
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
