/// Input checks shared by the operations; each throws a typed ``NumberError`` naming the field.
enum Validation {
    /// Whether a name or description may not hold `scalar`: a control character, a line or paragraph separator (it
    /// breaks a log line as a newline does), or a bidirectional override or isolate (it reorders what a table or a log
    /// shows around it: an account name that displays as another's).
    static func isDisallowedInText(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .lineSeparator, .paragraphSeparator: return true
        default: return (0x202A...0x202E).contains(scalar.value) || (0x2066...0x2069).contains(scalar.value)
        }
    }

    /// A non-empty name of at most `max` Unicode scalars without control characters.
    ///
    /// Scalars, not characters: one character (a grapheme cluster) may hold any number of combining scalars, so a
    /// character count bounds nothing — "a" followed by 600 000 combining accents is one character of 1.2 MB, which
    /// would make its journal record too large for the store. A scalar is at most four UTF-8 bytes, so the scalar
    /// count bounds the bytes that reach the journal (``CoreEvent/bytesEstimate`` takes each limit at four bytes
    /// per scalar).
    static func name(_ value: String, field: String, max: Int) throws(NumberError) -> String {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw .invalid(field, "\(field) must not be empty") }
        try length(trimmed, field: field, max: max)
        guard !trimmed.unicodeScalars.contains(where: isDisallowedInText) else {
            throw .invalid(field, "\(field) contains control, line-separator or text-direction characters")
        }
        return trimmed
    }

    /// Refuses text of more than `max` Unicode scalars (counted up to `max + 1` only: the text may be megabytes).
    private static func length(_ text: String, field: String, max: Int) throws(NumberError) {
        guard text.unicodeScalars.dropFirst(max).isEmpty else {
            throw .limit(field, max: max, "\(field) is longer than \(max) characters (Unicode scalars)")
        }
    }

    /// A Twilio trunk SID as an administrator registers one: `TK` and 32 hex digits, what the Twilio adapter sends
    /// (``TwilioValidation/isSid(_:prefix:)``) — checked here, or a typo would fail every purchase naming the trunk
    /// with an error about a value the customer never sent. The hex digits come back in lower case, as Twilio writes
    /// them: SIDs are compared exactly (one trunk of one account per SID, the provider audit's listing), so the same
    /// trunk typed in upper case is the same SID.
    static func providerTrunkSid(_ value: String, max: Int) throws(NumberError) -> String {
        let sid = try name(value, field: "providerTrunkSid", max: max)
        guard TwilioValidation.isSid(sid, prefix: "TK") else {
            throw .invalid("providerTrunkSid", "provider trunk SID must be TK followed by 32 hex digits")
        }
        return "TK" + sid.dropFirst(2).lowercased()
    }

    /// An ISO 4217 code of a currency or fund that has a minor unit (``PricingPolicy/iso4217MinorUnits``), upper case.
    /// Any three letters passed before: an account in `ZZZ` could be funded, and then bought nothing, ever.
    static func currency(_ value: String) throws(NumberError) -> String {
        guard value.count == 3, value.unicodeScalars.allSatisfy({ ("A"..."Z").contains($0) }) else {
            throw .invalid("currency", "currency must be an ISO 4217 code like USD")
        }
        guard PricingPolicy.iso4217MinorUnits[value] != nil else {
            throw .invalid("currency", "\(value) is not an ISO 4217 currency code")
        }
        return value
    }

    /// An ISO 3166-1 alpha-2 code: two upper-case letters.
    static func country(_ value: String) throws(NumberError) -> String {
        guard value.count == 2, value.unicodeScalars.allSatisfy({ ("A"..."Z").contains($0) }) else {
            throw .invalid("country", "country must be an ISO 3166-1 alpha-2 code like US")
        }
        return value
    }

    /// An E.164 number: `+`, a non-zero digit, then 1 to 14 digits.
    static func phoneNumber(_ value: String) throws(NumberError) -> String {
        let scalars = Array(value.unicodeScalars)
        guard scalars.count >= 3, scalars.count <= 16, scalars[0] == "+", scalars[1] != "0",
            scalars.dropFirst().allSatisfy({ ("0"..."9").contains($0) })
        else {
            throw NumberError(
                .invalidArgument, .invalidField, "\(value.prefix(32)) is not an E.164 number",
                details: ["field": "phoneNumbers"])
        }
        return value
    }

    /// Optional text of at most `max` Unicode scalars (see ``name(_:field:max:)`` for why scalars).
    static func optionalText(_ value: String?, field: String, max: Int) throws(NumberError) -> String? {
        guard let value else { return nil }
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty { return nil }
        try length(trimmed, field: field, max: max)
        guard !trimmed.unicodeScalars.contains(where: isDisallowedInText) else {
            throw .invalid(field, "\(field) contains control, line-separator or text-direction characters")
        }
        return trimmed
    }

    /// Text from the provider, bounded as ``NumberServiceConfig/Limits/providerTextLengthMax`` says: control
    /// characters dropped, then cut to `max` Unicode scalars (at most 4 bytes each, so a scalar count bounds the
    /// bytes, which a character count does not). The provider is outside our control; its text reaches the journal.
    static func providerText(_ value: String, max: Int) -> String {
        let scalars = value.unicodeScalars
        guard scalars.count > max || scalars.contains(where: { $0.properties.generalCategory == .control }) else {
            return value
        }
        var kept = String.UnicodeScalarView()
        var count = 0
        for scalar in scalars where scalar.properties.generalCategory != .control {
            guard count < max else { break }
            kept.append(scalar)
            count += 1
        }
        return String(kept)
    }

    /// An idempotency key: printable ASCII, 1 to `max` characters.
    static func idempotencyKey(_ value: String?, max: Int) throws(NumberError) -> String? {
        guard let value else { return nil }
        guard !value.isEmpty else { throw .invalid("idempotencyKey", "idempotency key must not be empty") }
        guard value.utf8.count <= max else {
            throw .limit("idempotencyKey", max: max, "idempotency key is longer than \(max) bytes")
        }
        guard value.utf8.allSatisfy({ $0 >= 0x21 && $0 <= 0x7e }) else {
            throw .invalid("idempotencyKey", "idempotency key must be printable ASCII without spaces")
        }
        return value
    }

    /// A caller's limit on a fee, in minor units: 0...`max` (the pricing policy's `feeMax`, above which no price is
    /// charged); nil = no limit.
    static func feeLimit(_ value: Int64?, field: String, max: Int64) throws(NumberError) -> Int64? {
        guard let value else { return nil }
        guard value >= 0 else { throw .invalid(field, "\(field) must not be negative") }
        guard value <= max else { throw .limit(field, max: Int(max), "\(field) is larger than \(max)") }
        return value
    }

    /// Why `pattern` is not a number search pattern (nil when it is): at least two digits or letters (letters stand
    /// for their keypad digits), with `*` (any one digit) only in runs at its start or its end, never between them
    /// — Twilio's `Contains` rule, checked here so a caller gets a clear error instead of the provider's refusal.
    static func searchPatternProblem(_ pattern: Substring) -> String? {
        // A leading `+` anchors the pattern at the number's start, its country code first (Twilio's `Contains`).
        let anchored = pattern.hasPrefix("+")
        let scalars = Array((anchored ? pattern.dropFirst() : pattern).unicodeScalars)
        if anchored, scalars.first == "*" { return "+ anchors the pattern at the number's start: no * after it" }
        let leading = scalars.prefix { $0 == "*" }.count
        let trailing = leading == scalars.count ? 0 : scalars.reversed().prefix { $0 == "*" }.count
        let core = scalars[leading..<(scalars.count - trailing)]
        if core.contains("*") { return "* may stand only at the start or the end of the pattern, not between digits" }
        guard core.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)) }) else {
            return "the pattern may hold only digits, letters and *, and + at its start"
        }
        guard core.count >= 2 else { return "the pattern needs at least 2 digits or letters" }
        return nil
    }

    /// A page size: 0 means the default.
    static func pageSize(_ value: Int, limits: NumberServiceConfig.Limits) throws(NumberError) -> Int {
        if value == 0 { return limits.pageSizeDefault }
        guard value > 0 else { throw .invalid("pageSize", "page size must not be negative") }
        guard value <= limits.pageSizeMax else {
            throw .limit("pageSize", max: limits.pageSizeMax, "page size is larger than \(limits.pageSizeMax)")
        }
        return value
    }
}
