/// A request path resolved to a Twilio resource (method not yet considered).
public enum Route: Sendable, Equatable {
    /// `/2010-04-01/Accounts/{AC}.json`
    case account(account: String)
    /// `/2010-04-01/Accounts/{AC}/AvailablePhoneNumbers.json`
    case availableCountries(account: String)
    /// `/2010-04-01/Accounts/{AC}/AvailablePhoneNumbers/{CC}.json`
    case availableCountry(account: String, country: String)
    /// `/2010-04-01/Accounts/{AC}/AvailablePhoneNumbers/{CC}/{Type}.json`
    case availableNumbers(account: String, country: String, type: String)
    /// `/2010-04-01/Accounts/{AC}/IncomingPhoneNumbers[/{Type}].json`
    case incomingNumbers(account: String, type: NumberType?)
    /// `/2010-04-01/Accounts/{AC}/IncomingPhoneNumbers/{PN}.json`
    case incomingNumber(account: String, sid: String)
    /// `/v1/PhoneNumbers/Countries`
    case pricingCountries
    /// `/v1/PhoneNumbers/Countries/{Iso}`
    case pricingCountry(iso: String)
    /// `/v1/Trunks`
    case trunks
    /// `/v1/Trunks/{TK}`
    case trunk(sid: String)
    /// `/v1/Trunks/{TK}/PhoneNumbers`
    case trunkNumbers(trunk: String)
    /// `/v1/Trunks/{TK}/PhoneNumbers/{PN}`
    case trunkNumber(trunk: String, sid: String)
    /// `/v1/Trunks/{TK}/OriginationUrls`
    case originationUrls(trunk: String)
    /// `/v1/Trunks/{TK}/OriginationUrls/{OU}`
    case originationUrl(trunk: String, sid: String)
    /// Anything else.
    case unknown

    /// Resolves a path (percent-decoded per segment).
    public init(path: String) {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
            .map { FormParameters.decode(String($0)) }
        guard path.hasPrefix("/") else {
            self = .unknown
            return
        }
        if segments.first == "2010-04-01" {
            self = Route.api2010(Array(segments.dropFirst()))
        } else if segments.first == "v1" {
            self = Route.v1(Array(segments.dropFirst()))
        } else {
            self = .unknown
        }
    }

    private static func api2010(_ s: [String]) -> Route {
        if s.count == 2, s[0] == "Accounts", s[1].hasSuffix(".json"), s[1].count > 5 {
            return .account(account: String(s[1].dropLast(5)))
        }
        guard s.count >= 3, s[0] == "Accounts", let last = s.last, last.hasSuffix(".json") else { return .unknown }
        let account = s[1]
        var rest = Array(s.dropFirst(2))
        rest[rest.count - 1] = String(last.dropLast(5))
        switch (rest.first, rest.count) {
        case ("AvailablePhoneNumbers", 1): return .availableCountries(account: account)
        case ("AvailablePhoneNumbers", 2): return .availableCountry(account: account, country: rest[1])
        case ("AvailablePhoneNumbers", 3): return .availableNumbers(account: account, country: rest[1], type: rest[2])
        case ("IncomingPhoneNumbers", 1): return .incomingNumbers(account: account, type: nil)
        case ("IncomingPhoneNumbers", 2):
            if let type = NumberType(pathComponent: rest[1]) { return .incomingNumbers(account: account, type: type) }
            return .incomingNumber(account: account, sid: rest[1])
        default: return .unknown
        }
    }

    private static func v1(_ s: [String]) -> Route {
        switch s.count {
        case 2 where s == ["PhoneNumbers", "Countries"]: return .pricingCountries
        case 3 where s[0] == "PhoneNumbers" && s[1] == "Countries": return .pricingCountry(iso: s[2])
        case 1 where s[0] == "Trunks": return .trunks
        case 2 where s[0] == "Trunks": return .trunk(sid: s[1])
        case 3 where s[0] == "Trunks" && s[2] == "PhoneNumbers": return .trunkNumbers(trunk: s[1])
        case 4 where s[0] == "Trunks" && s[2] == "PhoneNumbers": return .trunkNumber(trunk: s[1], sid: s[3])
        case 3 where s[0] == "Trunks" && s[2] == "OriginationUrls": return .originationUrls(trunk: s[1])
        case 4 where s[0] == "Trunks" && s[2] == "OriginationUrls": return .originationUrl(trunk: s[1], sid: s[3])
        default: return .unknown
        }
    }

    /// The operation for this route and `method`, or `.unknown` when the method is not served.
    public func endpoint(method: String) -> Endpoint {
        switch (self, method) {
        case (.account, "GET"): .fetchAccount
        case (.availableCountries, "GET"): .availableCountries
        case (.availableCountry, "GET"): .availableCountry
        case (.availableNumbers, "GET"): .searchNumbers
        case (.incomingNumbers, "GET"): .listNumbers
        case (.incomingNumbers, "POST"): .buyNumber
        case (.incomingNumber, "GET"): .fetchNumber
        case (.incomingNumber, "POST"): .updateNumber
        case (.incomingNumber, "DELETE"): .releaseNumber
        case (.pricingCountries, "GET"): .pricingCountries
        case (.pricingCountry, "GET"): .pricingCountry
        case (.trunks, "GET"): .listTrunks
        case (.trunks, "POST"): .createTrunk
        case (.trunk, "GET"): .fetchTrunk
        case (.trunk, "POST"): .updateTrunk
        case (.trunk, "DELETE"): .deleteTrunk
        case (.trunkNumbers, "GET"): .listTrunkNumbers
        case (.trunkNumbers, "POST"): .addTrunkNumber
        case (.trunkNumber, "GET"): .fetchTrunkNumber
        case (.trunkNumber, "DELETE"): .removeTrunkNumber
        case (.originationUrls, "GET"): .listOriginationUrls
        case (.originationUrls, "POST"): .createOriginationUrl
        case (.originationUrl, "GET"): .fetchOriginationUrl
        default: .unknown
        }
    }

    /// The API this route belongs to (nil for `.unknown`).
    public var api: TwilioAPI? {
        switch self {
        case .account, .availableCountries, .availableCountry, .availableNumbers, .incomingNumbers, .incomingNumber:
            .api
        case .pricingCountries, .pricingCountry: .pricing
        case .trunks, .trunk, .trunkNumbers, .trunkNumber, .originationUrls, .originationUrl: .trunking
        case .unknown: nil
        }
    }

    /// The route of `request` at the host it was sent to: a path of another API than that host's is `.unknown` (a
    /// 404/20404, as Twilio answers a path its host does not serve).
    public init(_ request: SimulatorRequest) {
        let route = Route(path: request.path)
        switch request.host {
        case .any: self = route
        case .only(let api): self = route.api == api ? route : .unknown
        case .none: self = .unknown
        }
    }

    /// The AccountSid in a 2010 path, or nil for v1 routes.
    public var pathAccount: String? {
        switch self {
        case .account(let a), .availableCountries(let a), .availableCountry(let a, _), .availableNumbers(let a, _, _),
            .incomingNumbers(let a, _), .incomingNumber(let a, _):
            a
        default: nil
        }
    }
}
