/// Checks of values the adapter puts into Twilio URLs and forms, so bad input fails before any request.
enum TwilioValidation {
    /// `prefix` + 32 hex digits, e.g. `PN3f94…`.
    static func isSid(_ value: String, prefix: String) -> Bool {
        let bytes = Array(value.utf8)
        guard bytes.count == 34, value.hasPrefix(prefix) else { return false }
        return bytes[2...].allSatisfy(isHexDigit)
    }

    /// E.164: `+`, a non-zero digit, then up to 14 more digits.
    static func isE164(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        guard (3...16).contains(bytes.count), bytes[0] == UInt8(ascii: "+"), bytes[1] != UInt8(ascii: "0") else {
            return false
        }
        return bytes[1...].allSatisfy(isDigit)
    }

    /// ISO 3166-1 alpha-2, upper case.
    static func isCountry(_ value: String) -> Bool {
        value.utf8.count == 2 && value.utf8.allSatisfy { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }
    }

    static func requireSid(_ value: String, prefix: String, field: String) throws(ProviderError) {
        guard isSid(value, prefix: prefix) else {
            throw ProviderError(.invalidArgument, message: "\(field) must be \(prefix) followed by 32 hex digits")
        }
    }

    static func requireE164(_ value: String) throws(ProviderError) {
        guard isE164(value) else {
            throw ProviderError(.invalidArgument, message: "phone number must be E.164 (+ and up to 15 digits)")
        }
    }

    static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        isDigit(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }
}
