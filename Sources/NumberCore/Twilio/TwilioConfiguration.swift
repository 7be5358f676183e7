import CurlHTTP

/// Settings of a ``TwilioProvider``: where Twilio is, who we are, how the HTTP client behaves, retries, limits.
///
/// ```swift
/// // Real Twilio, credentials from the environment:
/// let credentials = try TwilioCredentials.fromEnvironment(ProcessInfo.processInfo.environment)!
/// let twilio = try TwilioProvider(configuration: TwilioConfiguration(credentials: credentials))
/// // The simulator: each API at its own base URL (as at Twilio's hosts), and its CA.
/// var configuration = TwilioConfiguration(credentials: simulatorCredentials)
/// configuration.endpoints = TwilioConfiguration.Endpoints(
///     api: simulator.url(for: .api), pricing: simulator.url(for: .pricing), trunking: simulator.url(for: .trunking))
/// configuration.http.tls.caFilePath = simulator.caPEMPath
/// ```
public struct TwilioConfiguration: Sendable, Hashable, CustomStringConvertible {
    /// Base URLs of the three APIs (scheme + host [+ port], no trailing slash).
    public struct Endpoints: Sendable, Hashable {
        /// The 2010 API (numbers). Default `https://api.twilio.com`.
        public var api: String
        /// Pricing v1. Default `https://pricing.twilio.com`.
        public var pricing: String
        /// Elastic SIP Trunking v1. Default `https://trunking.twilio.com`.
        public var trunking: String

        /// Creates endpoints.
        public init(api: String, pricing: String, trunking: String) {
            self.api = api
            self.pricing = pricing
            self.trunking = trunking
        }

        /// Twilio's public hosts.
        public static let twilio = Endpoints(
            api: "https://api.twilio.com", pricing: "https://pricing.twilio.com",
            trunking: "https://trunking.twilio.com")

        /// All three APIs at one base URL, on a server routing by path. (The Twilio simulator serves each under its
        /// own prefix instead, as each has its own host at Twilio: give it each API's URL.)
        public static func all(at baseURL: String) -> Endpoints {
            Endpoints(api: baseURL, pricing: baseURL, trunking: baseURL)
        }
    }

    /// Bounds on what the adapter asks for and keeps.
    public struct Limits: Sendable, Hashable {
        /// Largest `PageSize` sent on a search (Twilio caps results near 30 anyway). Default 100.
        public var searchPageSizeMax: Int
        /// `PageSize` of a look-up by phone number. Default 50.
        public var lookUpPageSize: Int
        /// Pages a look-up follows through `next_page_uri` before giving up with `.unavailable`. Default 20.
        public var lookUpPagesMax: Int
        /// How long a country's prices are served from the adapter's own cache; 0 (the default) asks Twilio every
        /// time. `NumberService` keeps prices for its own TTL (`caches.priceTTLSeconds`, an hour), counted from when
        /// it asked: a cache here too would let it keep, for another TTL, a price already up to a TTL old. Set it
        /// only when nothing above caches.
        public var priceCacheTTLSeconds: Int
        /// Countries kept in the price cache (least recently fetched dropped first). Default 256.
        public var priceCacheCountriesMax: Int
        /// `PageSize` of the full listing of the account's numbers (the provider audit). 1...1000. Default 250: a
        /// full IncomingPhoneNumber is about 1.4 KB of JSON (more with voice or SMS URLs), so a page of Twilio's
        /// largest, 1000, would pass the 1 MiB answer limit (`http.limits.responseBodyLengthMax`); a page that still
        /// does (long webhook URLs) is asked for again with half as many numbers (``TwilioProvider/listOwned(page:)``).
        public var listPageSize: Int

        /// Creates limits.
        public init(
            searchPageSizeMax: Int, lookUpPageSize: Int, lookUpPagesMax: Int, priceCacheTTLSeconds: Int,
            priceCacheCountriesMax: Int, listPageSize: Int = 250
        ) {
            self.listPageSize = listPageSize
            self.searchPageSizeMax = searchPageSizeMax
            self.lookUpPageSize = lookUpPageSize
            self.lookUpPagesMax = lookUpPagesMax
            self.priceCacheTTLSeconds = priceCacheTTLSeconds
            self.priceCacheCountriesMax = priceCacheCountriesMax
        }

        /// Search pages of up to 100, look-ups of 20 pages of 50, no price cache (room for 256 countries when set).
        public static let defaults = Limits(
            searchPageSizeMax: 100, lookUpPageSize: 50, lookUpPagesMax: 20, priceCacheTTLSeconds: 0,
            priceCacheCountriesMax: 256)
    }

    /// Where the APIs are. Default: Twilio's hosts.
    public var endpoints: Endpoints
    /// Who we are.
    public var credentials: TwilioCredentials
    /// The HTTP client: timeouts (default 5 s connect, 15 s total), limits, CA file (`nil`: system store).
    public var http: HTTPClientConfiguration
    /// Retries of GET/DELETE (and of requests Twilio never processed).
    public var retry: TwilioRetryPolicy
    /// Bounds.
    public var limits: Limits
    /// Regulatory Bundles approved for the account in Twilio's console → Bundle SID (`BU` + 32 hex), by ISO country
    /// and number type (`GB/local`, `GB/mobile`, `GB/toll_free`: Twilio approves a Bundle for one type) or by country
    /// (`GB`: for its types without one of their own): a purchase sends its number's as `BundleSid`. Twilio refuses
    /// most numbers outside the US and Canada without one (400/21649, `.misconfigured`). Default none.
    public var regulatoryBundles: [String: String] = [:]

    /// The longest one request to Twilio can take, its retries included: each attempt waits its whole turn in the HTTP
    /// client's queue (`http.timeouts.queueWaitMilliseconds`) and runs to its whole timeout (`totalMilliseconds`),
    /// with the longest wait the policy allows between attempts (a `Retry-After` up to
    /// `retry.retryAfterMaxMilliseconds`, else the backoff's `delayMaxMilliseconds`). A request keeps the credentials
    /// it started with through its retries, so after a rotation the old secret may still be sent this long: 130 s
    /// with the defaults (4 × (10 s + 15 s) + 3 × 10 s), 550 s with a 120 s timeout.
    public var requestMillisecondsMax: Int {
        let attempts = max(1, retry.attemptsMax)
        let attempt = http.timeouts.queueWaitMilliseconds + http.timeouts.totalMilliseconds
        let between = max(retry.retryAfterMaxMilliseconds, retry.delayMaxMilliseconds)
        return attempts * attempt + (attempts - 1) * between
    }

    /// The Bundle a purchase of a `country` number of `type` sends: the type's own, else the country's.
    func regulatoryBundle(country: String, type: NumberType) -> String? {
        regulatoryBundles["\(country)/\(type.rawValue)"] ?? regulatoryBundles[country]
    }

    /// Whether `key` names a country (`GB`) or a country and a number type (`GB/toll_free`).
    static func isBundleKey(_ key: String) -> Bool {
        let parts = key.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        return TwilioValidation.isCountry(parts[0]) && (parts.count == 1 || NumberType(rawValue: parts[1]) != nil)
    }

    /// Twilio's hosts and the defaults, with `credentials`.
    public init(
        credentials: TwilioCredentials, endpoints: Endpoints = .twilio,
        http: HTTPClientConfiguration = Self.httpDefaults,
        retry: TwilioRetryPolicy = .defaults, limits: Limits = .defaults
    ) {
        self.credentials = credentials
        self.endpoints = endpoints
        self.http = http
        self.retry = retry
        self.limits = limits
    }

    /// The HTTP defaults for Twilio: 5 s to connect, 15 s per request, 1 MiB responses, `numberd-twilio/1`.
    public static let httpDefaults: HTTPClientConfiguration = {
        var http = HTTPClientConfiguration.defaults
        http.timeouts.totalMilliseconds = 15_000
        http.limits.responseBodyLengthMax = 1 << 20
        http.userAgent = "numberd-twilio/1"
        return http
    }()

    /// Everything but the secret.
    public var description: String {
        "TwilioConfiguration(endpoints: \(endpoints), credentials: \(credentials), retry: \(retry), limits: \(limits), "
            + "regulatoryBundles: \(regulatoryBundles.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }))"
    }

    func validate() {
        retry.validate()
        precondition(
            limits.searchPageSizeMax >= 1 && limits.searchPageSizeMax <= 1_000, "searchPageSizeMax in 1...1000")
        precondition(limits.lookUpPageSize >= 1 && limits.lookUpPageSize <= 1_000, "lookUpPageSize in 1...1000")
        precondition(limits.lookUpPagesMax >= 1, "lookUpPagesMax must be positive")
        precondition(limits.listPageSize >= 1 && limits.listPageSize <= 1_000, "listPageSize in 1...1000")
        precondition(limits.priceCacheTTLSeconds >= 0, "priceCacheTTLSeconds must not be negative")
        precondition(limits.priceCacheCountriesMax >= 1, "priceCacheCountriesMax must be positive")
        for (key, sid) in regulatoryBundles {
            precondition(Self.isBundleKey(key), "regulatoryBundles: \(key) is not COUNTRY or COUNTRY/TYPE")
            precondition(TwilioValidation.isSid(sid, prefix: "BU"), "regulatoryBundles: \(sid) is not a Bundle SID")
        }
    }
}
