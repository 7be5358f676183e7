/// Elastic SIP Trunking v1: a trunk's Origination URLs, where Twilio sends the calls to its numbers. Created, listed
/// and fetched one by one; not updated or deleted one by one (405/20004, where Twilio serves both): numberd does
/// neither — deleting the trunk removes its routes —, and a route's place in the list is its index in the trunk's
/// array, which a deletion alone would shift under the page tokens that name it.
extension Router {
    static func originationUrlJSON(
        _ o: OriginationUrl, trunkSid: String, account: String, baseURL: String
    ) -> JSONValue {
        .object([
            ("sid", .string(o.sid)), ("account_sid", .string(account)), ("trunk_sid", .string(trunkSid)),
            ("weight", .int(o.weight)), ("enabled", .bool(o.enabled)), ("sip_url", .string(o.sipUrl)),
            ("friendly_name", .string(o.friendlyName)), ("priority", .int(o.priority)),
            ("date_created", .string(TwilioDate.iso8601(o.dateCreated))),
            ("date_updated", .string(TwilioDate.iso8601(o.dateUpdated))),
            ("url", .string(baseURL + "/v1/Trunks/\(trunkSid)/OriginationUrls/\(o.sid)")),
        ])
    }

    /// `GET` lists the trunk's routes (v1 envelope, key `origination_urls`); `POST` adds one (201). An unknown trunk
    /// is 404/20404. Twilio's schema requires every field of a creation — `SipUrl`, `FriendlyName`, `Weight`,
    /// `Priority`, `Enabled` —, so a missing one is a 400, as is a `SipUrl` that is not a `sip:` URI with a host
    /// (``sipUrlHost(_:)``; Twilio: "`sips` is NOT supported") or is longer than `sipUrlBytesMax`, a weight outside
    /// 1...65535 or a priority outside 0...65535.
    static func originationUrls(
        _ request: SimulatorRequest, trunkSid: String, endpoint: Endpoint, state: inout SimulatorState,
        context: RouterContext
    ) throws(TwilioError) -> RouteResult {
        let account = context.configuration.credentials.accountSid
        let base = context.baseURL(of: .trunking)
        guard var trunk = state.trunks[trunkSid] else { throw .notFound(request.path) }
        let existing = trunk.originationUrls ?? []
        switch endpoint {
        case .listOriginationUrls:
            // Routes are never removed one by one, so a route's place in the trunk's list is its creation order.
            let window = try PageWindow(
                existing, sid: \.sid, sequence: { sid in existing.firstIndex { $0.sid == sid } },
                params: request.queryParameters, limits: context.configuration.limits)
            let items = window.items.map {
                originationUrlJSON($0, trunkSid: trunkSid, account: account, baseURL: base)
            }
            return read(
                .json(
                    200,
                    envelopeV1(
                        url: base + "/v1/Trunks/\(trunkSid)/OriginationUrls", filters: [], key: "origination_urls",
                        window: window, items: items, request: request)))
        case .createOriginationUrl:
            let limit = context.configuration.limits.originationUrlsPerTrunkMax
            guard existing.count < limit else {
                throw TwilioError(
                    status: 400, code: 20001, message: "Origination URL limit of \(limit) per trunk reached")
            }
            var route = try originationUrl(request.formParameters, context: context)
            route.sid = state.issueSid("OU")
            trunk.originationUrls = existing + [route]
            state.putTrunk(trunk)
            return wrote(.json(201, originationUrlJSON(route, trunkSid: trunkSid, account: account, baseURL: base)))
        default:
            throw .notFound(request.path)
        }
    }

    /// `GET /v1/Trunks/{TK}/OriginationUrls/{OU}`: one of the trunk's routes (200), in the shape a creation answers;
    /// an unknown trunk, or a route it does not have, is 404/20404.
    static func fetchOriginationUrl(
        _ request: SimulatorRequest, trunkSid: String, sid: String, state: SimulatorState, context: RouterContext
    ) throws(TwilioError) -> SimulatorResponse {
        guard let route = state.trunks[trunkSid]?.originationUrls?.first(where: { $0.sid == sid }) else {
            throw .notFound(request.path)
        }
        return .json(
            200,
            originationUrlJSON(
                route, trunkSid: trunkSid, account: context.configuration.credentials.accountSid,
                baseURL: context.baseURL(of: .trunking)))
    }

    /// The host of a `SipUrl` as Twilio would route to it, or nil when it has none: after `sip:` (any case), an
    /// optional `//` (Twilio's own example is `sip://sip-box.com:1234`) and an optional `user@`, up to the port,
    /// `;parameters` or `?headers`; ASCII letters, digits, `-` and `.`, or hex digits, `:` and `.` in brackets (an
    /// IPv6 address, not parsed further). A `SipUrl` checked only for its `sip:` prefix took `sip:` alone, or
    /// `sip:;x`, which route nowhere.
    static func sipUrlHost(_ sipUrl: String) -> Substring? {
        guard sipUrl.lowercased().hasPrefix("sip:") else { return nil }
        var rest = sipUrl.dropFirst(4)
        if rest.hasPrefix("//") { rest = rest.dropFirst(2) }
        let authority = rest.prefix { $0 != ";" && $0 != "?" }
        let hostPort = authority.split(separator: "@", omittingEmptySubsequences: false).last ?? authority
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { return nil }
            let address = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
            guard address.contains(":"), address.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                return nil
            }
            return hostPort[...close]
        }
        let host = hostPort.prefix { $0 != ":" }
        guard !host.isEmpty,
            host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") })
        else { return nil }
        return host
    }

    /// The route a creation's form describes (its SID still empty), or the 400 of its first missing or malformed
    /// field.
    private static func originationUrl(
        _ params: FormParameters, context: RouterContext
    ) throws(TwilioError) -> OriginationUrl {
        func required<Value>(_ name: String, _ value: Value?) throws(TwilioError) -> Value {
            guard let value else { throw .invalidParameter(name, "is required") }
            return value
        }
        let sipUrl = try required("SipUrl", params["SipUrl"].flatMap { $0.isEmpty ? nil : $0 })
        let limit = context.configuration.limits.sipUrlBytesMax
        guard sipUrl.utf8.count <= limit else {
            throw .invalidParameter("SipUrl", "is longer than \(limit) bytes")
        }
        guard sipUrlHost(sipUrl) != nil else {
            throw .invalidParameter("SipUrl", "'\(sipUrl)' must be a sip: URI with a host (sips is not supported)")
        }
        let friendlyName = try required(
            "FriendlyName", try Parameters.friendlyName(params, limits: context.configuration.limits))
        let weight = try required("Weight", try Parameters.int(params, "Weight"))
        guard (1...65_535).contains(weight) else { throw .invalidParameter("Weight", "must be 1 to 65535") }
        let priority = try required("Priority", try Parameters.int(params, "Priority"))
        guard (0...65_535).contains(priority) else { throw .invalidParameter("Priority", "must be 0 to 65535") }
        let enabled = try required("Enabled", try Parameters.bool(params, "Enabled"))
        return OriginationUrl(
            sid: "", sipUrl: sipUrl, weight: weight, priority: priority, enabled: enabled, friendlyName: friendlyName,
            dateCreated: context.now, dateUpdated: context.now)
    }
}
