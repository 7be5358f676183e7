import CurlHTTP
import Foundation
import Logging
import Metrics
import Synchronization

/// The ``NumberProvider`` that talks to Twilio (or the simulator) over HTTPS through ``CurlHTTPClient``.
///
/// Endpoints: AvailablePhoneNumbers (search), Pricing v1 (price, cached per country), IncomingPhoneNumbers
/// (buy, release, look-up), Trunking v1 (route to a trunk). Retries and error mapping are described on
/// ``TwilioTransport``; in short, a `POST` is never repeated unless Twilio surely did not act, and a `POST` whose
/// outcome is unknown throws `.outcomeUnknown` so the saga looks the number up.
///
/// ```swift
/// let twilio = try TwilioProvider(configuration: configuration, logger: logger)
/// let numbers = try await twilio.search(ProviderSearchQuery(country: "US", areaCode: "415", limit: 5))
/// let owned = try await twilio.buy(phoneNumber: numbers[0].phoneNumber, trunkSid: nil)
/// await twilio.shutdown()
/// ```
public final class TwilioProvider: NumberProvider {
    /// The configuration (its `description` redacts the secret). Its credentials are the ones of the start; those
    /// requests send now are ``credentials`` (``rotateCredentials(to:)`` replaces them).
    public let configuration: TwilioConfiguration
    let transport: TwilioTransport
    let priceCache: Mutex<TwilioPriceCache>
    let monotonicNow: @Sendable () -> ContinuousClock.Instant

    /// Starts the adapter and its HTTP client. Traps on an invalid configuration (a programmer error).
    public convenience init(
        configuration: TwilioConfiguration, logger: Logger = Logger(label: "numberd.twilio")
    )
        throws(ProviderError)
    {
        try self.init(
            configuration: configuration, logger: logger,
            sleep: { milliseconds in try await Task.sleep(for: .milliseconds(milliseconds)) },
            random: { Int.random(in: $0) }, monotonicNow: { ContinuousClock.now })
    }

    /// Starts the adapter with injected waiting, randomness and clock (for tests of retries and the cache), its metrics
    /// made with `metricsFactory` (the process's bootstrapped backend unless a test gives its own).
    init(
        configuration: TwilioConfiguration, logger: Logger, sleep: @escaping @Sendable (Int) async throws -> Void,
        random: @escaping @Sendable (ClosedRange<Int>) -> Int,
        monotonicNow: @escaping @Sendable () -> ContinuousClock.Instant,
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) throws(ProviderError) {
        configuration.validate()
        let client: CurlHTTPClient
        do {
            client = try CurlHTTPClient(configuration: configuration.http, logger: logger)
        } catch {
            throw ProviderError(.unavailable, message: "cannot start the HTTP client: \(error.message)")
        }
        self.configuration = configuration
        self.transport = TwilioTransport(
            client: client, credentials: TwilioTransport.CredentialSlot(configuration.credentials),
            retry: configuration.retry, logger: logger, sleep: sleep,
            random: random, metrics: metricsFactory)
        self.priceCache = Mutex(TwilioPriceCache(countriesMax: configuration.limits.priceCacheCountriesMax))
        self.monotonicNow = monotonicNow
    }

    /// Stops the HTTP client (in-flight requests fail). Call once when the service stops.
    public func shutdown() async {
        await transport.client.shutdown()
    }

    /// `{api}/2010-04-01/Accounts/{AccountSid}` + `suffix`.
    func accountURL(_ suffix: String) -> String {
        "\(configuration.endpoints.api)/2010-04-01/Accounts/\(configuration.credentials.accountSid)\(suffix)"
    }

    /// Appends a form-encoded query to `url`.
    static func withQuery(_ url: String, _ pairs: [(String, String)]) -> String {
        pairs.isEmpty ? url : "\(url)?\(FormURLEncoding.encode(pairs))"
    }
}
