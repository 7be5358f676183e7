#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
    /// them, so the same trunk typed in upper case is the same SID (SIDs are compared by ``Trunk/sidKey(_:)``, which
    /// lower-cases a record from before this too: one trunk of one account per SID, the provider audit's listing).
    static func providerTrunkSid(_ value: String, max: Int) throws(NumberError) -> String {
        let sid = try name(value, field: "provider_trunk_sid", max: max)
        guard TwilioValidation.isSid(sid, prefix: "TK") else {
            throw .invalid("provider_trunk_sid", "provider trunk SID must be TK followed by 32 hex digits")
        }
        return Trunk.sidKey(sid)
    }

    /// The longest origination SIP URI, in bytes (fixed). Twilio documents no limit for an Origination URL's
    /// `SipUrl`; 255 is a host name's limit and more than any PBX address needs, and it bounds the journal record of
    /// the trunk that holds it (``CoreEvent/bytesEstimate``).
    static let originationSipUriBytesMax = 255

    /// A SIP URI Twilio may send a trunk's calls to (an Origination URL's `SipUrl`): `sip:`, an optional `user@`, a
    /// host — a name of letters, digits and hyphens in dot-separated labels, an IPv4 address (which reads as such a
    /// name) or an IPv6 address in brackets (one `inet_pton` reads) —, an optional port 1...65535, then optional
    /// `;parameters` and `?headers` (RFC 3261's URI headers, passed to Twilio as they are), neither holding an `@`.
    /// Twilio takes no `sips:` (its docs: "`sips` is NOT supported"), so a trunk created with one would be refused at
    /// Twilio after the trunk was made. Refused too: a password in the user part (`user:password@`), which would be
    /// stored, shown to every key that may read the account's trunks, printed by the CLI and logged; and an `@` after
    /// the host, which makes the host another than the one checked (`sip:h;x=@e` is user `h;x=` at host `e`).
    /// Printable ASCII only, without spaces or the characters a URI never holds unescaped (quotes, angle brackets,
    /// backslashes, braces, `|`, `^`, backticks), at most ``originationSipUriBytesMax`` bytes: the text goes into a
    /// form body, a journal record and the CLI's tables as it is. The scheme is returned in lower case (RFC 3261
    /// compares schemes without case), the rest as given.
    static func originationSipUri(_ value: String) throws(NumberError) -> String {
        let field = "origination_sip_uri"
        let max = originationSipUriBytesMax
        guard value.utf8.count <= max else {
            throw .limit(field, max: max, "\(field) is longer than \(max) bytes")
        }
        let forbidden = Set("\"<>\\^`{|}".utf8)
        guard value.utf8.allSatisfy({ (0x21...0x7e).contains($0) && !forbidden.contains($0) }) else {
            throw .invalid(
                field, "\(field) must be printable ASCII without spaces, quotes, angle brackets or backslashes")
        }
        let scheme = value.prefix { $0 != ":" }.lowercased()
        guard scheme != "sips" else {
            throw .invalid(field, "\(field) must use the sip: scheme: Twilio does not take sips: origination URIs")
        }
        guard scheme == "sip", value.count > 4 else {
            throw .invalid(field, "\(field) must be a SIP URI such as sip:pbx.example.com:5060")
        }
        let rest = value.dropFirst(4)
        // The user part, if any, ends at its `@`, which it cannot hold unescaped (RFC 3261): one `@` at most, before
        // any `;` or `?`. One after them would end a user part holding them (RFC 3261 allows `;` and `?` there), so
        // the host Twilio reads would be the text after it, not the one checked here.
        let beforeParameters = rest.prefix { $0 != ";" && $0 != "?" }
        guard !rest.dropFirst(beforeParameters.count).contains("@") else {
            throw .invalid(field, "\(field) has an @ after its host, in its parameters or headers")
        }
        let hostPort = beforeParameters.split(separator: "@", omittingEmptySubsequences: false)
        guard hostPort.count <= 2, hostPort.count == 1 || !hostPort[0].isEmpty else {
            throw .invalid(field, "\(field) has a malformed user part before its host")
        }
        guard hostPort.count == 1 || !hostPort[0].contains(":") else {
            throw .invalid(
                field,
                "\(field) has a password in its user part (user:password@): it would be stored and shown to every "
                    + "key that reads the trunk")
        }
        guard let problem = hostPortProblem(hostPort[hostPort.count - 1]) else {
            return "sip:" + String(rest)
        }
        throw .invalid(field, "\(field) \(problem), as in sip:pbx.example.com:5060")
    }

    /// Why `text` is not `host[:port]` (nil when it is): a host name of dot-separated labels of letters, digits and
    /// hyphens (an IPv4 address is one), or an IPv6 address in brackets that `inet_pton` reads (`[:]`, `[1:2]` are
    /// not addresses); a port of 1 to 5 digits, 1...65535.
    private static func hostPortProblem(_ text: Substring) -> String? {
        var host = text
        var port: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return "has an IPv6 address without its closing ]" }
            let address = text[text.index(after: text.startIndex)..<close]
            guard isIPv6Address(address) else { return "has a malformed IPv6 address" }
            let after = text[text.index(after: close)...]
            guard after.isEmpty || after.hasPrefix(":") else { return "has text after its IPv6 address" }
            host = text[...close]
            port = after.isEmpty ? nil : after.dropFirst()
        } else if let colon = text.firstIndex(of: ":") {
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        }
        if !host.hasPrefix("[") {
            let labels = host.split(separator: ".", omittingEmptySubsequences: false)
            guard !host.isEmpty,
                labels.allSatisfy({ label in
                    !label.isEmpty && !label.hasPrefix("-") && !label.hasSuffix("-")
                        && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
                })
            else { return "needs a host: a name such as pbx.example.com, an IPv4 address or an [IPv6] address" }
        }
        if let port {
            guard (1...5).contains(port.count), port.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int(port),
                (1...65_535).contains(number)
            else { return "has a port that is not 1...65535" }
        }
        return nil
    }

    /// Whether `text` is an IPv6 address as `inet_pton(AF_INET6)` reads one (the forms RFC 4291 allows, an IPv4 tail
    /// included; no zone). Only hex digits, colons and dots reach it, so nothing else is taken as an address.
    private static func isIPv6Address(_ text: Substring) -> Bool {
        guard text.contains(":"), text.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return false }
        var address = in6_addr()
        return inet_pton(AF_INET6, String(text), &address) == 1
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

    /// An ISO 3166-1 alpha-2 code: two upper-case letters naming a country or territory that has telephone numbers
    /// (``CallingCodes``; one without, or no country, would only be refused by the provider's 404, which reads as a
    /// missing number).
    static func country(_ value: String) throws(NumberError) -> String {
        guard value.count == 2, value.unicodeScalars.allSatisfy({ ("A"..."Z").contains($0) }) else {
            throw .invalid("country", "country must be an ISO 3166-1 alpha-2 code like US")
        }
        guard CallingCodes.byRegion[value] != nil else {
            throw .invalid(
                "country", "\(value) is not an ISO 3166-1 alpha-2 code of a country or territory with telephone numbers"
            )
        }
        return value
    }

    /// Refuses `phone` (E.164) as a number of `country` (checked by ``country(_:)``) when it begins with another
    /// country calling code: a `+1` number is not GB's. Numbers sharing a code (NANP: US, CA and 23 more under +1) are
    /// not told apart here. A +1 number without its 10 digits is refused too (naming `field`, the number's).
    static func phoneNumber(_ phone: String, isIn country: String, field: String = "numbers") throws(NumberError) {
        guard let code = CallingCodes.byRegion[country] else { return }
        // Every number of the North American plan has ten digits after its +1: a shorter or longer one is a typo,
        // which the provider's look-up would only call not available.
        if code == "1", phone.hasPrefix("+1"), phone.count != 12 {
            throw .invalid(field, "\(phone) is not a whole \(country) number: +1 numbers have 10 digits after the +1")
        }
        guard !phone.hasPrefix("+" + code) else { return }
        let digits = phone.dropFirst()
        let theirs = (1...3).lazy.map { String(digits.prefix($0)) }.first { CallingCodes.mainRegionByCode[$0] != nil }
        var what = "\(country) numbers begin +\(code)"
        if let theirs, let main = CallingCodes.mainRegionByCode[theirs] {
            let others = regionsSharing(theirs) - 1
            what += ", this one +\(theirs): \(main)"
            if others > 0 { what += " and \(others) other countr\(others == 1 ? "y" : "ies")" }
        }
        throw .invalid("country", "\(phone) is not a number of \(country) (\(what))")
    }

    /// What to add to a number refused as not on offer in `country` when the country shares its calling code (NANP's
    /// +1: US, CA and 23 more), as the number may be another's: nothing otherwise.
    static func sharedCodeHint(_ country: String) -> String {
        guard let code = CallingCodes.byRegion[country] else { return "" }
        let sharing = regionsSharing(code)
        guard sharing > 1 else { return "" }
        return "; +\(code) numbers belong to \(sharing) countries: give the number's own if it is not \(country)'s"
    }

    /// How many regions have calling code `code` (+1: 25, +44: 4).
    private static func regionsSharing(_ code: String) -> Int { CallingCodes.byRegion.values.count { $0 == code } }

    /// An E.164 number: `+`, a non-zero digit, then 1 to 14 digits. Refused naming the field as the proto does
    /// (`numbers`, PurchaseNumbersRequest's list, unless told).
    static func phoneNumber(_ value: String, field: String = "numbers") throws(NumberError) -> String {
        let scalars = Array(value.unicodeScalars)
        guard scalars.count >= 3, scalars.count <= 16, scalars[0] == "+", scalars[1] != "0",
            scalars.dropFirst().allSatisfy({ ("0"..."9").contains($0) })
        else {
            throw NumberError(
                .invalidArgument, .invalidField, "\(value.prefix(32)) is not an E.164 number",
                details: ["field": field])
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
        guard !value.isEmpty else { throw .invalid("idempotency-key", "idempotency key must not be empty") }
        guard value.utf8.count <= max else {
            throw .limit("idempotency-key", max: max, "idempotency key is longer than \(max) bytes")
        }
        guard value.utf8.allSatisfy({ $0 >= 0x21 && $0 <= 0x7e }) else {
            throw .invalid("idempotency-key", "idempotency key must be printable ASCII without spaces")
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
        guard value > 0 else { throw .invalid("page_size", "page size must not be negative") }
        guard value <= limits.pageSizeMax else {
            throw .limit("page_size", max: limits.pageSizeMax, "page size is larger than \(limits.pageSizeMax)")
        }
        return value
    }
}
