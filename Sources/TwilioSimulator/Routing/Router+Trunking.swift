/// Elastic SIP Trunking v1: trunks and their phone numbers (ISO 8601 dates, absolute URLs).
extension Router {
    static func trunkJSON(_ t: Trunk, account: String, baseURL: String) -> JSONValue {
        let url = baseURL + "/v1/Trunks/" + t.sid
        return .object([
            ("sid", .string(t.sid)), ("account_sid", .string(account)), ("friendly_name", .optional(t.friendlyName)),
            ("domain_name", .optional(t.domainName)), ("disaster_recovery_url", .optional(t.disasterRecoveryUrl)),
            ("disaster_recovery_method", .optional(t.disasterRecoveryMethod)), ("secure", .bool(t.secure)),
            ("recording", .object([("mode", .string("do-not-record")), ("trim", .string("do-not-trim"))])),
            ("transfer_mode", .string(t.transferMode)), ("transfer_caller_id", .string(t.transferCallerId)),
            ("cnam_lookup_enabled", .bool(t.cnamLookupEnabled)), ("auth_type", .string("")),
            ("auth_type_set", .array([])), ("symmetric_rtp_enabled", .bool(false)),
            ("date_created", .string(TwilioDate.iso8601(t.dateCreated))),
            ("date_updated", .string(TwilioDate.iso8601(t.dateUpdated))), ("url", .string(url)),
            (
                "links",
                .object([
                    ("origination_urls", .string(url + "/OriginationUrls")),
                    ("credential_lists", .string(url + "/CredentialLists")),
                    ("ip_access_control_lists", .string(url + "/IpAccessControlLists")),
                    ("phone_numbers", .string(url + "/PhoneNumbers")),
                ])
            ),
        ])
    }

    static func trunkNumberJSON(_ r: IncomingNumber, account: String, context: RouterContext) -> JSONValue {
        let trunk = r.trunkSid ?? ""
        let (baseURL, apiBaseURL) = (context.baseURL(of: .trunking), context.baseURL(of: .api))
        func field(_ name: String) -> (String, JSONValue) { r.json(name) }
        return .object([
            ("sid", .string(r.sid)), ("account_sid", .string(account)), ("trunk_sid", .optional(r.trunkSid)),
            ("phone_number", .string(r.number.phoneNumber)), ("friendly_name", .string(r.friendlyName)),
            ("api_version", .string("2010-04-01")), ("address_requirements", .string(r.number.addressRequirements)),
            ("beta", .bool(r.number.beta)), ("capabilities", r.number.capabilities.resourceJSON),
            field("voice_url"), field("voice_method"), field("voice_fallback_url"), field("voice_fallback_method"),
            ("voice_caller_id_lookup", .bool(r.voiceCallerIdLookup)), field("voice_application_sid"),
            field("sms_url"), field("sms_method"), field("sms_fallback_url"), field("sms_fallback_method"),
            field("sms_application_sid"), field("status_callback"), field("status_callback_method"),
            ("date_created", .string(TwilioDate.iso8601(r.dateCreated))),
            ("date_updated", .string(TwilioDate.iso8601(r.dateUpdated))),
            ("url", .string(baseURL + "/v1/Trunks/\(trunk)/PhoneNumbers/\(r.sid)")),
            (
                "links",
                .object([
                    (
                        "phone_number",
                        .string(apiBaseURL + "/2010-04-01/Accounts/\(account)/IncomingPhoneNumbers/\(r.sid)")
                    )
                ])
            ),
        ])
    }

    static func trunking(
        _ request: SimulatorRequest, route: Route, endpoint: Endpoint, state: inout SimulatorState,
        context: RouterContext
    ) throws(TwilioError) -> RouteResult {
        let account = context.configuration.credentials.accountSid
        let base = context.baseURL(of: .trunking)
        switch (route, endpoint) {
        case (_, .listTrunks):
            let window = try PageWindow(
                state.trunksInOrder, sid: \.sid, sequence: { state.trunkSequence[$0] },
                params: request.queryParameters, limits: context.configuration.limits)
            let items = window.items.map { trunkJSON($0, account: account, baseURL: base) }
            return read(
                .json(
                    200,
                    envelopeV1(
                        url: base + "/v1/Trunks", filters: [], key: "trunks", window: window,
                        items: items, request: request)))
        case (_, .createTrunk):
            guard state.trunks.count < context.configuration.limits.trunksMax else {
                throw TwilioError(
                    status: 400, code: 20001,
                    message: "Trunk limit of \(context.configuration.limits.trunksMax) reached")
            }
            var trunk = Trunk(sid: "", dateCreated: context.now, dateUpdated: context.now)
            try applyTrunk(request.formParameters, to: &trunk, state: state, context: context)
            trunk.sid = state.issueSid("TK")
            state.putTrunk(trunk)
            return wrote(.json(201, trunkJSON(trunk, account: account, baseURL: base)))
        case (.trunk(let sid), .fetchTrunk):
            guard let trunk = state.trunks[sid] else { throw .notFound(request.path) }
            return read(.json(200, trunkJSON(trunk, account: account, baseURL: base)))
        case (.trunk(let sid), .updateTrunk):
            guard var trunk = state.trunks[sid] else { throw .notFound(request.path) }
            try applyTrunk(request.formParameters, to: &trunk, state: state, context: context)
            state.putTrunk(trunk)
            return wrote(.json(200, trunkJSON(trunk, account: account, baseURL: base)))
        case (.trunk(let sid), _):
            guard state.removeTrunk(sid: sid) != nil else { throw .notFound(request.path) }
            // Numbers on a deleted trunk lose their trunk_sid (twilio-api.md §5.3, simulator's choice), found through
            // the state's index of each trunk's numbers (a copy of its set: storing each record changes the index),
            // not by filtering every owned number under the state lock at every trunk's DELETE.
            for numberSid in state.numberSids(onTrunk: sid) {
                guard var record = state.owned[numberSid] else { continue }
                record.fields["trunk_sid"] = nil
                record.dateUpdated = context.now
                state.updateOwned(record)
            }
            return wrote(.noContent)
        default:
            throw .notFound(request.path)
        }
    }

    private static func applyTrunk(
        _ params: FormParameters, to trunk: inout Trunk, state: SimulatorState, context: RouterContext
    ) throws(TwilioError) {
        if let name = try Parameters.friendlyName(params, limits: context.configuration.limits) {
            trunk.friendlyName = name
        }
        if let domain = params["DomainName"] {
            let allowed = domain.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") }
            guard allowed, domain.hasSuffix(".pstn.twilio.com"), domain.count <= 253 else {
                throw .invalidParameter("DomainName", "'\(domain)' must end with pstn.twilio.com")
            }
            if state.trunks.values.contains(where: { $0.domainName == domain && $0.sid != trunk.sid }) {
                throw TwilioError(status: 400, code: 21248, message: "Trunk Domain already taken: \(domain)")
            }
            trunk.domainName = domain
        }
        if let url = try Parameters.url(params, "DisasterRecoveryUrl", limits: context.configuration.limits) {
            trunk.disasterRecoveryUrl = url.isEmpty ? nil : url
        }
        if let method = try Parameters.oneOf(params, "DisasterRecoveryMethod", ["GET", "POST"]) {
            trunk.disasterRecoveryMethod = method
        }
        if let mode = try Parameters.oneOf(params, "TransferMode", ["disable-all", "enable-all", "sip-only"]) {
            trunk.transferMode = mode
        }
        if let caller = try Parameters.oneOf(params, "TransferCallerId", ["from-transferee", "from-transferor"]) {
            trunk.transferCallerId = caller
        }
        if let secure = try Parameters.bool(params, "Secure") { trunk.secure = secure }
        if let cnam = try Parameters.bool(params, "CnamLookupEnabled") { trunk.cnamLookupEnabled = cnam }
        trunk.dateUpdated = context.now
    }

    static func trunkNumbers(
        _ request: SimulatorRequest, route: Route, endpoint: Endpoint, state: inout SimulatorState,
        context: RouterContext
    ) throws(TwilioError) -> RouteResult {
        let account = context.configuration.credentials.accountSid
        let base = context.baseURL(of: .trunking)
        let trunkSid: String
        switch route {
        case .trunkNumbers(let t), .trunkNumber(let t, _): trunkSid = t
        default: throw .notFound(request.path)
        }
        guard state.trunks[trunkSid] != nil else { throw .notFound(request.path) }
        switch (route, endpoint) {
        case (_, .listTrunkNumbers):
            let window = try PageWindow<IncomingNumber>(
                ownedIn: state, where: { $0.trunkSid == trunkSid && !state.isHidden($0.sid, at: context.now) },
                params: request.queryParameters, limits: context.configuration.limits)
            let items = window.items.map { trunkNumberJSON($0, account: account, context: context) }
            return read(
                .json(
                    200,
                    envelopeV1(
                        url: base + "/v1/Trunks/\(trunkSid)/PhoneNumbers", filters: [],
                        key: "phone_numbers", window: window, items: items, request: request)))
        case (_, .addTrunkNumber):
            guard let pn = request.formParameters["PhoneNumberSid"], !pn.isEmpty else {
                throw .invalidParameter("PhoneNumberSid", "is required")
            }
            guard Parameters.isSid(pn, prefix: "PN") else {
                throw .invalidParameter("PhoneNumberSid", "'\(pn)' is not a PN SID")
            }
            guard var record = state.owned[pn], !state.isHidden(pn, at: context.now) else {
                throw .notFound(request.path + "/" + pn)
            }
            // Associating moves the number from any other trunk and clears a voice application (idempotent).
            record.fields["trunk_sid"] = trunkSid
            record.fields["voice_application_sid"] = nil
            record.dateUpdated = context.now
            state.updateOwned(record)
            return wrote(.json(201, trunkNumberJSON(record, account: account, context: context)))
        case (.trunkNumber(_, let pn), .fetchTrunkNumber):
            guard let record = state.owned[pn], record.trunkSid == trunkSid, !state.isHidden(pn, at: context.now) else {
                throw .notFound(request.path)
            }
            return read(.json(200, trunkNumberJSON(record, account: account, context: context)))
        case (.trunkNumber(_, let pn), _):
            guard var record = state.owned[pn], record.trunkSid == trunkSid, !state.isHidden(pn, at: context.now) else {
                throw .notFound(request.path)
            }
            record.fields["trunk_sid"] = nil
            record.dateUpdated = context.now
            state.updateOwned(record)
            return wrote(.noContent)
        default:
            throw .notFound(request.path)
        }
    }
}
