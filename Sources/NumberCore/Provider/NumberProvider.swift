import Foundation

/// The kind of a phone number, as the carrier's inventory is split.
public enum NumberType: String, Codable, Sendable, CaseIterable {
    /// A geographic number (has an area code, a locality).
    case local
    /// A toll-free number (the callee pays).
    case tollFree = "toll_free"
    /// A mobile number.
    case mobile
}

/// One thing a number can do; used in search filters.
public enum Capability: String, Codable, Sendable, CaseIterable, Hashable {
    /// Voice calls.
    case voice
    /// SMS messages.
    case sms
    /// MMS messages.
    case mms
    /// Fax.
    case fax
}

/// What a number can do.
public struct NumberCapabilities: Codable, Sendable, Hashable {
    /// Voice calls.
    public var voice: Bool
    /// SMS messages.
    public var sms: Bool
    /// MMS messages.
    public var mms: Bool
    /// Fax.
    public var fax: Bool

    /// Creates a capability set; everything off by default.
    public init(voice: Bool = false, sms: Bool = false, mms: Bool = false, fax: Bool = false) {
        self.voice = voice
        self.sms = sms
        self.mms = mms
        self.fax = fax
    }

    /// Whether the number has `capability`.
    public func has(_ capability: Capability) -> Bool {
        switch capability {
        case .voice: voice
        case .sms: sms
        case .mms: mms
        case .fax: fax
        }
    }

    /// Whether the number has every capability in `required`.
    public func satisfies(_ required: Set<Capability>) -> Bool {
        required.allSatisfy { has($0) }
    }
}

/// A search of the provider's live inventory (what `SearchNumbers` offers).
public struct ProviderSearchQuery: Sendable, Hashable {
    /// ISO 3166-1 alpha-2 country code, upper case, e.g. "US".
    public var country: String
    /// The kind of number.
    public var type: NumberType
    /// Area code digits, e.g. "415".
    public var areaCode: String?
    /// A pattern: digits, letters (mapped to keypad digits by the provider) and `*` as a one-digit wildcard; a
    /// leading `+` anchors it at the start of the E.164 number (a whole E.164 number finds that one number).
    public var contains: String?
    /// Region (state/province), e.g. "CA".
    public var region: String?
    /// Locality (city), e.g. "San Francisco".
    public var locality: String?
    /// Postal code, e.g. "94102".
    public var postalCode: String?
    /// Capabilities every result must have.
    public var capabilities: Set<Capability>
    /// The maximum number of results wanted (the caller validates it against its own limit).
    public var limit: Int

    /// Creates a query.
    public init(
        country: String, type: NumberType = .local, areaCode: String? = nil, contains: String? = nil,
        region: String? = nil, locality: String? = nil, postalCode: String? = nil,
        capabilities: Set<Capability> = [], limit: Int = 20
    ) {
        self.country = country
        self.type = type
        self.areaCode = areaCode
        self.contains = contains
        self.region = region
        self.locality = locality
        self.postalCode = postalCode
        self.capabilities = capabilities
        self.limit = limit
    }
}

/// A number the provider offers for sale.
public struct AvailableNumber: Codable, Sendable, Hashable {
    /// E.164, e.g. "+14155551234".
    public var phoneNumber: String
    /// The carrier's display form, passed through, e.g. "(415) 555-1234".
    public var friendlyName: String
    /// City, if known.
    public var locality: String?
    /// Region (state/province), if known.
    public var region: String?
    /// Postal code, if known.
    public var postalCode: String?
    /// ISO 3166-1 alpha-2 country code.
    public var country: String
    /// The kind of number.
    public var type: NumberType
    /// What it can do.
    public var capabilities: NumberCapabilities

    /// Creates an available number.
    public init(
        phoneNumber: String, friendlyName: String, locality: String? = nil, region: String? = nil,
        postalCode: String? = nil, country: String, type: NumberType, capabilities: NumberCapabilities
    ) {
        self.phoneNumber = phoneNumber
        self.friendlyName = friendlyName
        self.locality = locality
        self.region = region
        self.postalCode = postalCode
        self.country = country
        self.type = type
        self.capabilities = capabilities
    }
}

extension AvailableNumber {
    /// This listing with its text bounded (``Validation/providerText(_:max:)``), as the service keeps and stores it.
    func boundingText(to max: Int) -> AvailableNumber {
        var bounded = self
        bounded.friendlyName = Validation.providerText(friendlyName, max: max)
        bounded.locality = locality.map { Validation.providerText($0, max: max) }
        bounded.region = region.map { Validation.providerText($0, max: max) }
        bounded.postalCode = postalCode.map { Validation.providerText($0, max: max) }
        return bounded
    }
}

/// The provider's own monthly cost for one kind of number in one country.
public struct ProviderPrice: Codable, Sendable, Hashable {
    /// ISO 3166-1 alpha-2 country code.
    public var country: String
    /// The kind of number.
    public var type: NumberType
    /// The provider's monthly cost in millionths of the currency unit (exact: "1.15" USD is 1_150_000).
    public var monthlyCostMicros: Int64
    /// ISO 4217 currency code, e.g. "USD".
    public var currency: String

    /// Creates a price.
    public init(country: String, type: NumberType, monthlyCostMicros: Int64, currency: String) {
        self.country = country
        self.type = type
        self.monthlyCostMicros = monthlyCostMicros
        self.currency = currency
    }
}

/// A number owned at the provider (Twilio's IncomingPhoneNumber).
public struct ProvisionedNumber: Codable, Sendable, Hashable {
    /// The provider's id, e.g. "PN…".
    public var sid: String
    /// E.164.
    public var phoneNumber: String
    /// Display form.
    public var friendlyName: String
    /// The trunk the number routes to at the provider, e.g. "TK…", if any.
    public var trunkSid: String?
    /// What it can do.
    public var capabilities: NumberCapabilities
    /// When the provider created it; nil when its answer gave no readable date (never a stand-in: the orphan sweep
    /// tells a voided purchase's late buy from a later purchase by it).
    public var dateCreated: Date?

    /// Creates a provisioned number.
    public init(
        sid: String, phoneNumber: String, friendlyName: String, trunkSid: String? = nil,
        capabilities: NumberCapabilities, dateCreated: Date?
    ) {
        self.sid = sid
        self.phoneNumber = phoneNumber
        self.friendlyName = friendlyName
        self.trunkSid = trunkSid
        self.capabilities = capabilities
        self.dateCreated = dateCreated
    }
}

/// The carrier behind the core: search, price, buy, release, route, look up.
///
/// Implementations: the Twilio adapter (`Twilio/`), and fakes in tests. Every call may throw ``ProviderError``.
/// `buy` throwing ``ProviderError/Kind/outcomeUnknown`` means "maybe bought": callers must ``lookUp(phoneNumber:)``
/// and never blindly buy again.
public protocol NumberProvider: Sendable {
    /// Searches the live inventory.
    func search(_ query: ProviderSearchQuery) async throws -> [AvailableNumber]
    /// The most numbers one search answer holds, however many were asked for (Twilio: about 30). An answer that
    /// large may have left matches out: the search's total is then a lower bound (``SearchResult/totalIsLowerBound``).
    var searchAnswerMax: Int { get }
    /// The provider's monthly cost for a kind of number in a country.
    func price(country: String, type: NumberType) async throws -> ProviderPrice
    /// Buys `phoneNumber` (E.164), optionally routing it to the provider trunk `trunkSid`.
    func buy(phoneNumber: String, trunkSid: String?) async throws -> ProvisionedNumber
    /// Buys `phoneNumber`, a `type` number of `country` (ISO, as searched): what the provider needs to know of them
    /// (Twilio's regulatory Bundle) goes with the purchase. By default, ``buy(phoneNumber:trunkSid:)``.
    func buy(
        phoneNumber: String, trunkSid: String?, country: String, type: NumberType
    ) async throws -> ProvisionedNumber
    /// Releases the owned number `sid`. A release the provider answers "no such number" throws `.notFound`: the
    /// number is gone — or, right after its purchase, not visible yet (Twilio's lists and deletes can lag a purchase),
    /// so a caller that takes it as gone must keep looking for the number (an orphan watch).
    func release(sid: String) async throws
    /// Routes the owned number `sid` to `trunkSid`, or removes it from its trunk when nil.
    func setTrunk(sid: String, trunkSid: String?) async throws
    /// The owned number with this E.164 string, or nil if this provider account does not own it.
    func lookUp(phoneNumber: String) async throws -> ProvisionedNumber?
    /// The owned number with this E.164 string if this provider account owns it as a `type` number (Twilio: its typed
    /// list, `IncomingPhoneNumbers/TollFree.json`…), nil otherwise — also when it owns it as another kind. For an
    /// adoption (``NumberService/adoptNumber(_:)``), which prices the number by its kind. By default, refused.
    func lookUp(phoneNumber: String, type: NumberType) async throws -> ProvisionedNumber?
    /// Every number this provider account owns, a page at a time: `page` gets each page's numbers in the provider's
    /// order and may throw to stop the listing. For the provider audit (``NumberService/auditProvider(recheckAfter:)``).
    func listOwned(page: ([ProvisionedNumber]) async throws -> Void) async throws
    /// Creates a SIP trunk at the provider (Twilio Elastic SIP Trunking) and returns its SID.
    func createTrunk(friendlyName: String) async throws -> String
    /// Sends the inbound calls of the trunk `trunkSid`, made with `createTrunk`, to `sipUri` (Twilio: an Origination
    /// URL on the trunk), naming that route `friendlyName`. Until it is set, the trunk's numbers ring nowhere.
    func addOrigination(trunkSid: String, sipUri: String, friendlyName: String) async throws
    /// Deletes a trunk created with `createTrunk`.
    func deleteTrunk(sid: String) async throws
    /// The numbers (E.164) the provider routes to its trunk `trunkSid`, at most `max` of them (Twilio: one page of the
    /// trunk's `PhoneNumbers`): DeleteTrunk asks before deleting a trunk made with `createTrunk`, which would leave
    /// them ringing nowhere. A trunk the provider does not have throws `.notFound`.
    func phoneNumbers(onTrunk trunkSid: String, max: Int) async throws -> [String]
    /// The trunk `sid` of the provider account, nil if it has none such (Twilio: `GET /v1/Trunks/{Sid}`, 404 for an
    /// unknown SID or another account's): a trunk registered by its SID is checked with it.
    func trunk(sid: String) async throws -> ProviderTrunk?
    /// The SID of a trunk at the provider whose name starts with `namePrefix`, or nil: how a `createTrunk` whose
    /// answer was lost is settled (numberd names each trunk it creates after its own id).
    func findTrunk(namePrefix: String) async throws -> String?
    /// Whether the provider sees its account's trunks: ``listTrunks(page:)`` lists them (the provider audit then
    /// compares them with the store) and ``trunk(sid:)`` finds one (a trunk registered by its SID is checked with it).
    var listsTrunks: Bool { get }
    /// Every trunk of the provider account, a page at a time, in the provider's order; `page` may throw to stop.
    func listTrunks(page: ([ProviderTrunk]) async throws -> Void) async throws
}

/// A trunk at the provider, as its listing shows it.
public struct ProviderTrunk: Sendable, Hashable {
    /// The provider's SID (`TK…`).
    public var sid: String
    /// Its name at the provider (numberd names the trunks it creates `<trunk id> <name>`).
    public var friendlyName: String?

    /// Creates a listed trunk.
    public init(sid: String, friendlyName: String?) {
        self.sid = sid
        self.friendlyName = friendlyName
    }
}

extension NumberProvider {
    /// Providers that answer a search with as many numbers as were asked for.
    public var searchAnswerMax: Int { Int.max }

    /// Providers with nothing to send per country buy as without it.
    public func buy(
        phoneNumber: String, trunkSid: String?, country: String, type: NumberType
    ) async throws -> ProvisionedNumber {
        try await buy(phoneNumber: phoneNumber, trunkSid: trunkSid)
    }

    /// Providers that cannot tell the kinds of the numbers they own apart refuse: no number is adopted unchecked.
    public func lookUp(phoneNumber: String, type: NumberType) async throws -> ProvisionedNumber? {
        throw ProviderError(.invalidArgument, message: "this provider cannot tell the kind of a number it owns")
    }

    /// Providers that cannot list what they own refuse: the audit then reports that it could not run.
    public func listOwned(page: ([ProvisionedNumber]) async throws -> Void) async throws {
        throw ProviderError(.invalidArgument, message: "this provider cannot list the numbers it owns")
    }

    /// Providers without trunk management refuse: trunks must then be created elsewhere and named by SID.
    public func createTrunk(friendlyName: String) async throws -> String {
        throw ProviderError(.invalidArgument, message: "this provider cannot create trunks: give the trunk's SID")
    }

    /// Providers without trunk management refuse.
    public func addOrigination(trunkSid: String, sipUri: String, friendlyName: String) async throws {
        throw ProviderError(.invalidArgument, message: "this provider cannot route trunks: give the trunk's SID")
    }

    /// Providers without trunk management refuse.
    public func deleteTrunk(sid: String) async throws {
        throw ProviderError(.invalidArgument, message: "this provider cannot delete trunks")
    }

    /// Providers without trunk management refuse.
    public func phoneNumbers(onTrunk trunkSid: String, max: Int) async throws -> [String] {
        throw ProviderError(.invalidArgument, message: "this provider cannot list a trunk's numbers")
    }

    /// Providers without trunk management refuse.
    public func trunk(sid: String) async throws -> ProviderTrunk? {
        throw ProviderError(.invalidArgument, message: "this provider cannot look up trunks")
    }

    /// Providers without trunk management refuse.
    public func findTrunk(namePrefix: String) async throws -> String? {
        throw ProviderError(.invalidArgument, message: "this provider cannot list trunks")
    }

    /// Providers without trunk management list none.
    public var listsTrunks: Bool { false }

    /// Providers without trunk management refuse.
    public func listTrunks(page: ([ProviderTrunk]) async throws -> Void) async throws {
        throw ProviderError(.invalidArgument, message: "this provider cannot list trunks")
    }
}

/// A failure from a ``NumberProvider``.
public struct ProviderError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, in terms the core acts on.
    public enum Kind: String, Sendable, Hashable, Codable {
        /// The number is no longer available to buy.
        case numberUnavailable
        /// The provider rejected the request's parameters.
        case invalidArgument
        /// The resource (number, trunk) does not exist at the provider.
        case notFound
        /// Credentials are wrong or lack permission: a configuration error.
        case authentication
        /// The request did not reach the provider's API as configured: a 404 that is not the provider's own "no such
        /// resource" answer (a proxy's or web server's page), or a 404 on a path that always exists for the account
        /// (a wrong account in the URL); any other answer that is not the provider's (a redirect, a 4xx without its
        /// error code); a request the HTTP client refused to send (a base URL that is not https://); an account
        /// limit only the operator can lift (Twilio's trial account). A configuration error; nothing is known to have
        /// happened or not.
        case misconfigured
        /// The provider throttled us (HTTP 429).
        case rateLimited
        /// The provider could not be reached or failed (5xx, connect error); nothing happened.
        case unavailable
        /// A request that changes state whose result is unknown (timeout, reset): it may have happened.
        case outcomeUnknown
    }

    /// What went wrong.
    public var kind: Kind
    /// The provider's own error code (Twilio's `code`), if it gave one.
    public var providerCode: Int?
    /// A human-readable message (never contains credentials).
    public var message: String
    /// For `.outcomeUnknown`: no answer came back (timeout, connection lost), a gateway in front of the provider
    /// answered (502, 504, a 5xx without the provider's own error body) or the provider said yes unreadably (an
    /// unreadable 2xx), so the request may still be in flight or done and take effect (or show) later; a look-up
    /// that finds nothing right now proves nothing. False when the provider itself answered a failure (its own
    /// 5xx): then a look-up is conclusive (and the number is watched, as a lagging list could still show it). For a
    /// DELETE that gave up (whatever its kind, `.notFound` included): an earlier attempt may have reached the provider
    /// and may still land, so a look-up that still finds the number proves nothing either.
    public var mayStillTakeEffect: Bool
    /// The calling task was cancelled (its caller gone, its deadline passed, numberd stopping) and that ended the
    /// request, not the provider: the caller's error is `CANCELLED` with nothing for the operator's log, and the
    /// adapter counts it as `cancelled`, not as the provider failing. ``kind`` and ``mayStillTakeEffect`` still say
    /// what may have happened, which is what the saga acts on: a POST cancelled after it was sent is
    /// `.outcomeUnknown`, a maybe-bought number to look up.
    public var cancelled = false
    /// The provider's answer was larger than the adapter takes (``CurlHTTP`` `responseTooLarge`): a listing may ask
    /// again for fewer items a page.
    public var answerTooLarge = false

    /// Creates an error.
    public init(_ kind: Kind, providerCode: Int? = nil, message: String, mayStillTakeEffect: Bool = false) {
        self.kind = kind
        self.providerCode = providerCode
        self.message = message
        self.mayStillTakeEffect = mayStillTakeEffect
    }

    /// `kind: message`.
    public var description: String {
        if let providerCode {
            return "\(kind.rawValue) (provider code \(providerCode)): \(message)"
        }
        return "\(kind.rawValue): \(message)"
    }
}
