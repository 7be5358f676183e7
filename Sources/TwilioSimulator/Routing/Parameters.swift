/// Typed reads of Twilio form/query parameters, throwing 400s for malformed values.
enum Parameters {
    /// `true` / `false` (case-insensitive), nil when absent; anything else is a 400.
    static func bool(_ params: FormParameters, _ name: String) throws(TwilioError) -> Bool? {
        guard let raw = params[name] else { return nil }
        switch raw.lowercased() {
        case "true": return true
        case "false": return false
        default: throw .invalidParameter(name, "'\(raw)' is not true or false")
        }
    }

    /// A non-negative integer of at most 9 digits (999 999 999: every page number and size numberd or a client can
    /// mean, and no overflow in the page arithmetic), nil when absent; anything else is a 400.
    static func int(_ params: FormParameters, _ name: String) throws(TwilioError) -> Int? {
        guard let raw = params[name] else { return nil }
        guard let value = Int(raw), value >= 0, raw.count <= 9 else {
            throw .invalidParameter(name, "'\(raw)' is not a non-negative integer")
        }
        return value
    }

    /// `PageSize` within 1...pageSizeMax, or the default when absent.
    static func pageSize(_ params: FormParameters, limits: SimulatorConfiguration.Limits) throws(TwilioError) -> Int {
        guard let size = try int(params, "PageSize") else { return limits.pageSizeDefault }
        guard size >= 1 && size <= limits.pageSizeMax else {
            throw .invalidParameter("PageSize", "must be between 1 and \(limits.pageSizeMax)")
        }
        return size
    }

    /// A value from a closed set, nil when absent.
    static func oneOf(_ params: FormParameters, _ name: String, _ allowed: [String]) throws(TwilioError) -> String? {
        guard let raw = params[name] else { return nil }
        guard allowed.contains(raw) else {
            throw .invalidParameter(name, "'\(raw)' is not one of \(allowed.joined(separator: ", "))")
        }
        return raw
    }

    /// A `FriendlyName` within the length limit, nil when absent. Twilio documents "up to 64 characters" without
    /// saying what a character is; this assumes UTF-16 code units (what Twilio's Java and JavaScript stacks count in
    /// practice), so an emoji flag counts 4, not 1 as a Swift `Character` would.
    static func friendlyName(
        _ params: FormParameters, limits: SimulatorConfiguration.Limits
    ) throws(TwilioError) -> String? {
        guard let name = params["FriendlyName"] else { return nil }
        guard name.utf16.count <= limits.friendlyNameLengthMax else {
            throw .invalidParameter(
                "FriendlyName",
                "longer than \(limits.friendlyNameLengthMax) characters (\(name.utf16.count) UTF-16 units)")
        }
        return name
    }

    /// A callback URL (`VoiceUrl`, `DisasterRecoveryUrl`, ...) of at most `callbackUrlBytesMax` bytes, nil when
    /// absent (empty clears). Only its length is checked: Twilio's schema says `format: uri` and nothing more.
    static func url(
        _ params: FormParameters, _ name: String, limits: SimulatorConfiguration.Limits
    ) throws(TwilioError) -> String? {
        guard let url = params[name] else { return nil }
        guard url.utf8.count <= limits.callbackUrlBytesMax else {
            throw .invalidParameter(name, "is longer than \(limits.callbackUrlBytesMax) bytes")
        }
        return url
    }

    /// A SID with `prefix` + 32 hex digits, nil when absent or empty (empty clears).
    static func sid(_ params: FormParameters, _ name: String, prefix: String) throws(TwilioError) -> String? {
        guard let raw = params[name], !raw.isEmpty else { return nil }
        guard isSid(raw, prefix: prefix) else { throw .invalidParameter(name, "'\(raw)' is not a \(prefix) SID") }
        return raw
    }

    /// True for `prefix` followed by 32 hex digits.
    static func isSid(_ text: String, prefix: String) -> Bool {
        guard text.count == 34, text.hasPrefix(prefix) else { return false }
        return text.dropFirst(2).allSatisfy(\.isHexDigit)
    }
}
