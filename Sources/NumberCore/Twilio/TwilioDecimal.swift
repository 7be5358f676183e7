/// Exact conversions of Twilio's decimal price strings ("1.15") to integer millionths, without `Double`.
enum TwilioDecimal {
    /// Largest integer part accepted (keeps `× 1_000_000` far from `Int64` overflow).
    static let integerDigitsMax = 12

    /// `"1.15"` → `1_150_000`. Accepts `digits[.digits]`; more than 6 fractional digits only if the extra ones
    /// are zeros (the value must be exact). Returns `nil` for anything else (signs, exponents, spaces, empty).
    static func micros(_ text: String) -> Int64? {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let integer = parts[0]
        let fraction = parts.count == 2 ? parts[1] : ""
        guard !integer.isEmpty, integer.utf8.count <= integerDigitsMax,
            integer.utf8.allSatisfy(TwilioValidation.isDigit),
            parts.count == 1 || !fraction.isEmpty, fraction.utf8.allSatisfy(TwilioValidation.isDigit)
        else { return nil }
        let significant = fraction.prefix(6)
        guard fraction.dropFirst(6).allSatisfy({ $0 == "0" }) else { return nil }
        let padded = significant + String(repeating: "0", count: 6 - significant.count)
        guard let whole = Int64(integer), let micros = Int64(padded) else { return nil }
        return whole * 1_000_000 + micros
    }
}
