import Foundation

/// IncomingPhoneNumbers: buy, list, fetch, update, release.
extension Router {
    static func incomingURI(account: String, sid: String) -> String {
        "/2010-04-01/Accounts/\(account)/IncomingPhoneNumbers/\(sid).json"
    }

    /// The IncomingPhoneNumber resource. The typed sub-resources (`/Local.json`, ...) omit `type`, as their spec
    /// schemas do.
    static func incomingJSON(_ r: IncomingNumber, account: String, typed: Bool = false) -> JSONValue {
        let uri = incomingURI(account: account, sid: r.sid)
        func field(_ name: String) -> (String, JSONValue) { r.json(name) }
        var pairs: [(String, JSONValue)] = [
            ("sid", .string(r.sid)), ("account_sid", .string(account)),
            ("phone_number", .string(r.number.phoneNumber)), ("friendly_name", .string(r.friendlyName)),
            ("capabilities", r.number.capabilities.resourceJSON), ("status", .string("in-use")),
            ("type", .string(r.number.type.resourceType)), ("origin", .string("twilio")),
            ("beta", .bool(r.number.beta)),
            ("address_requirements", .string(r.number.addressRequirements)),
            field("address_sid"), field("identity_sid"), field("bundle_sid"), ("api_version", .string("2010-04-01")),
            ("date_created", .string(TwilioDate.rfc2822(r.dateCreated))),
            ("date_updated", .string(TwilioDate.rfc2822(r.dateUpdated))),
            field("trunk_sid"), field("voice_url"), field("voice_method"), field("voice_fallback_url"),
            field("voice_fallback_method"), field("voice_application_sid"),
            ("voice_caller_id_lookup", .bool(r.voiceCallerIdLookup)), field("voice_receive_mode"),
            field("sms_url"), field("sms_method"), field("sms_fallback_url"), field("sms_fallback_method"),
            field("sms_application_sid"), field("status_callback"), field("status_callback_method"),
            field("emergency_status"), field("emergency_address_sid"),
            ("emergency_address_status", .string("unregistered")), ("uri", .string(uri)),
            (
                "subresource_uris",
                .object([("assigned_add_ons", .string(String(uri.dropLast(5)) + "/AssignedAddOns.json"))])
            ),
        ]
        if typed { pairs.removeAll { $0.0 == "type" } }
        return .object(pairs)
    }

    static func buy(
        _ request: SimulatorRequest, type: NumberType?, state: inout SimulatorState, context: RouterContext
    ) throws(TwilioError) -> RouteResult {
        let params = request.formParameters
        let account = context.configuration.credentials.accountSid
        let number = try chooseNumber(params, type: type, state: state, context: context)
        if let existing = state.ownedNumber(phoneNumber: number.phoneNumber) {
            // Re-buying a number the account owns answers 201 and acts as an update (twilio-api.md §3.1).
            var record = existing
            try apply(params, to: &record, state: state, context: context)
            state.recordRepeatPurchase(record)
            return wrote(.json(201, incomingJSON(record, account: account, typed: type != nil)))
        }
        if context.configuration.behavior.enforceAddressRequirements, number.addressRequirements != "none",
            params["AddressSid"]?.isEmpty ?? true
        {
            throw TwilioError(
                status: 400, code: 21631,
                message: "Phone Number Requires an Address: \(number.phoneNumber) needs an AddressSid")
        }
        var record = IncomingNumber(sid: "", number: number, friendlyName: nil, at: context.now)
        try apply(params, to: &record, state: state, context: context)
        try requireBundle(params["BundleSid"], for: number, configuration: context.configuration)
        record.sid = state.issueSid("PN")
        state.recordPurchase(record)
        if context.listLagMilliseconds > 0 {
            let until = context.now.addingTimeInterval(Double(context.listLagMilliseconds) / 1_000)
            state.hide(record.sid, until: until, now: context.now)
        }
        return wrote(.json(201, incomingJSON(record, account: account, typed: type != nil)))
    }

    /// A number whose country and type need a regulatory Bundle is sold only with a `BundleSid` approved for its
    /// country (Twilio's 21649 otherwise); other numbers need none.
    private static func requireBundle(
        _ given: String?, for number: AvailableNumber, configuration: SimulatorConfiguration
    ) throws(TwilioError) {
        guard CountryCatalog.named(number.isoCountry)?.requiresBundle(number.type) == true else { return }
        let bundle = given.flatMap { $0.isEmpty ? nil : $0 }
        guard let bundle, configuration.isApprovedBundle(bundle, country: number.isoCountry, type: number.type) else {
            throw .bundleRequired(number.phoneNumber, country: number.isoCountry, given: bundle)
        }
    }

    private static func chooseNumber(
        _ params: FormParameters, type: NumberType?, state: SimulatorState, context: RouterContext
    ) throws(TwilioError) -> AvailableNumber {
        let magic = context.configuration.behavior.magicNumbers
        if let raw = params["PhoneNumber"] {
            let e164 = try normalizedNumber(raw)
            // A number the account owns is answered from its record (`buy` treats it as the repeat it is), whatever
            // the inventory holds now: after a restart with another inventory density it may not be in it, and
            // Twilio answers 201 to such a POST (twilio-api.md §8.7), not 21422.
            let number: AvailableNumber
            if let owned = state.ownedNumber(phoneNumber: e164) {
                number = owned.number
            } else {
                if magic && e164 == "+15005550000" { throw .numberNotAvailable(e164) }
                if magic && e164 == "+15005550001" { throw .invalidPhoneNumber(e164) }
                if magic && e164 == magicAvailable.phoneNumber { return magicAvailable }
                guard let entry = state.inventoryEntry(e164), state.isAvailable(e164) else {
                    throw .numberNotAvailable(e164)
                }
                number = entry
            }
            if let type, type != number.type {
                throw TwilioError(
                    status: 400, code: 21458,
                    message: "PhoneNumber Provisioning Type Mismatch: \(e164) is not a \(type.resourceType) number")
            }
            return number
        }
        guard let areaCode = params["AreaCode"] else {
            throw .invalidParameter("PhoneNumber", "a PhoneNumber or an AreaCode is required")
        }
        if type != nil {
            throw TwilioError(status: 400, code: 21457, message: "AreaCode parameter not supported")
        }
        return try numberInAreaCode(
            areaCode, state: state, magic: magic, scanMax: context.configuration.limits.searchScanMax)
    }

    private static func numberInAreaCode(
        _ areaCode: String, state: SimulatorState, magic: Bool, scanMax: Int
    ) throws(TwilioError) -> AvailableNumber {
        guard areaCode.count == 3, areaCode.allSatisfy(\.isNumber), !areaCode.hasPrefix("0"), !areaCode.hasPrefix("1")
        else { throw TwilioError(status: 400, code: 21451, message: "Invalid area code \(areaCode)") }
        let noNumbers = TwilioError(
            status: 400, code: 21452, message: "No phone numbers found in area code \(areaCode)")
        if magic && areaCode == "533" { throw noNumbers }
        if magic && areaCode == "500" { return magicAvailable }
        let areas = CountryCatalog.all.flatMap(\.areas).filter { $0.type == .local && $0.areaCode == areaCode }
        guard let number = state.available(in: areas, limit: 1, scanMax: scanMax).first else { throw noNumbers }
        return number
    }

    /// Twilio's test-credential number that is "valid and available" (twilio-api.md §7): `PhoneNumber=+15005550006`
    /// and `AreaCode=500` buy it, whatever the inventory holds.
    static let magicAvailable = AvailableNumber(
        phoneNumber: "+15005550006", friendlyName: "(500) 555-0006", isoCountry: "US", type: .local, lata: nil,
        locality: nil, rateCenter: nil, latitude: nil, longitude: nil, region: nil, postalCode: nil,
        addressRequirements: "none", beta: false,
        capabilities: Capabilities(voice: true, sms: true, mms: true, fax: false))

    /// E.164 from a `PhoneNumber` value: `+` and 8–15 digits (a bare digit string gets its `+`); else 21421.
    static func normalizedNumber(_ raw: String) throws(TwilioError) -> String {
        let digits = raw.hasPrefix("+") ? raw.dropFirst() : Substring(raw)
        guard (8...15).contains(digits.count), digits.allSatisfy({ $0.isASCII && $0.isNumber }), digits.first != "0"
        else { throw .invalidPhoneNumber(raw) }
        return "+" + digits
    }

    /// Applies create/update form parameters to a record (validating SIDs, enums and lengths).
    static func apply(
        _ params: FormParameters, to record: inout IncomingNumber, state: SimulatorState, context: RouterContext
    ) throws(TwilioError) {
        if let name = try Parameters.friendlyName(params, limits: context.configuration.limits) {
            record.friendlyName = name
        }
        if let lookup = try Parameters.bool(params, "VoiceCallerIdLookup") { record.voiceCallerIdLookup = lookup }
        for method in ["VoiceMethod", "VoiceFallbackMethod", "SmsMethod", "SmsFallbackMethod", "StatusCallbackMethod"] {
            _ = try Parameters.oneOf(params, method, ["GET", "POST"])
        }
        _ = try Parameters.oneOf(params, "VoiceReceiveMode", ["voice", "fax"])
        _ = try Parameters.oneOf(params, "EmergencyStatus", ["Active", "Inactive"])
        let trunk = try Parameters.sid(params, "TrunkSid", prefix: "TK")
        if let trunk, state.trunks[trunk] == nil {
            throw .invalidParameter("TrunkSid", "trunk \(trunk) does not exist")
        }
        let application = try Parameters.sid(params, "VoiceApplicationSid", prefix: "AP")
        for (prefix, name) in [
            ("AP", "SmsApplicationSid"), ("AD", "AddressSid"), ("RI", "IdentitySid"), ("BU", "BundleSid"),
            ("AD", "EmergencyAddressSid"),
        ] {
            _ = try Parameters.sid(params, name, prefix: prefix)
        }
        // TrunkSid and VoiceApplicationSid exclude each other: setting one clears the other (twilio-api.md §3.1).
        // Both set in one request would clear both; Twilio documents no answer, so it is refused as a bad
        // combination, nothing changed.
        if trunk != nil && application != nil {
            throw .invalidParameter("TrunkSid", "TrunkSid and VoiceApplicationSid cannot both be set; give one")
        }
        for name in ["VoiceUrl", "VoiceFallbackUrl", "SmsUrl", "SmsFallbackUrl", "StatusCallback"] {
            _ = try Parameters.url(params, name, limits: context.configuration.limits)
        }
        for entry in IncomingNumber.settable {
            guard let value = params[entry.param] else { continue }
            record.fields[entry.field] = value.isEmpty ? entry.initial : value
        }
        if trunk != nil { record.fields["voice_application_sid"] = nil }
        if application != nil { record.fields["trunk_sid"] = nil }
        record.dateUpdated = context.now
    }

    static func fetchIncoming(
        _ request: SimulatorRequest, sid: String, state: SimulatorState, context: RouterContext
    ) throws(TwilioError) -> SimulatorResponse {
        guard let record = state.owned[sid], !state.isHidden(sid, at: context.now) else {
            throw .notFound(request.path)
        }
        return .json(200, incomingJSON(record, account: context.configuration.credentials.accountSid))
    }

    static func updateIncoming(
        _ request: SimulatorRequest, sid: String, state: inout SimulatorState, context: RouterContext
    ) throws(TwilioError) -> RouteResult {
        guard var record = state.owned[sid], !state.isHidden(sid, at: context.now) else {
            throw .notFound(request.path)
        }
        let params = request.formParameters
        if let target = params["AccountSid"], target != context.configuration.credentials.accountSid {
            throw TwilioError(
                status: 400, code: 21473, message: "Account \(target) is not related to the owner of \(sid)")
        }
        try apply(params, to: &record, state: state, context: context)
        state.updateOwned(record)
        return wrote(.json(200, incomingJSON(record, account: context.configuration.credentials.accountSid)))
    }

    static func releaseIncoming(
        _ request: SimulatorRequest, sid: String, state: inout SimulatorState, context: RouterContext
    ) throws(TwilioError) -> RouteResult {
        guard state.owned[sid] != nil, !state.isHidden(sid, at: context.now) else { throw .notFound(request.path) }
        state.recordRelease(sid: sid)
        return wrote(.noContent)
    }

    static func listIncoming(
        _ request: SimulatorRequest, type: NumberType?, state: SimulatorState, context: RouterContext
    ) throws(TwilioError) -> SimulatorResponse {
        let params = request.queryParameters
        let includeBeta = try Parameters.bool(params, "Beta") ?? true
        let origin = try Parameters.oneOf(params, "Origin", ["twilio", "hosted"])
        let pattern = params["PhoneNumber"].map(PhoneNumberPattern.init)
        let friendlyName = params["FriendlyName"]
        func accepts(_ record: IncomingNumber) -> Bool {
            !state.isHidden(record.sid, at: context.now) && (type == nil || record.number.type == type)
                && (includeBeta || !record.number.beta)
                && origin != "hosted" && (pattern?.matches(record.number.phoneNumber) ?? true)
                && (friendlyName == nil || record.friendlyName == friendlyName)
        }
        // A whole number (numberd's look-up after each purchase) is found through the E.164 index, any other list is
        // cut from the creation order where its page starts; the same filter runs either way, so the page and its
        // paging fields are those of a scan of every owned number.
        let window: PageWindow<IncomingNumber>
        if let found = params["PhoneNumber"].flatMap({ state.ownedNumbers(matchingExactly: $0) }) {
            window = try PageWindow(
                found.filter(accepts), sid: \.sid, sequence: { state.numberSequence[$0] }, params: params,
                limits: context.configuration.limits)
        } else {
            window = try PageWindow(
                ownedIn: state, where: accepts, params: params, limits: context.configuration.limits)
        }
        let account = context.configuration.credentials.accountSid
        let body = envelope2010(
            path: request.path,
            filters: listFilters(params, allowed: ["PhoneNumber", "FriendlyName", "Beta", "Origin"]),
            key: "incoming_phone_numbers", window: window,
            items: window.items.map { incomingJSON($0, account: account, typed: type != nil) }, request: request)
        return .json(200, body)
    }
}
