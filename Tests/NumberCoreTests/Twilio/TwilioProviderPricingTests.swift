import Foundation
import Testing
import TwilioSimulator

@testable import NumberCore

@Suite("TwilioProvider pricing")
struct TwilioProviderPricingTests {
    @Test func pricesAreExactMicrosPerType() async throws {
        try await withTwilio(configure: { $0.limits.priceCacheTTLSeconds = 3_600 }) { twilio in
            let local = try await twilio.provider.price(country: "US", type: .local)
            #expect(local == ProviderPrice(country: "US", type: .local, monthlyCostMicros: 1_150_000, currency: "USD"))
            let tollFree = try await twilio.provider.price(country: "US", type: .tollFree)
            #expect(tollFree.monthlyCostMicros == 2_150_000)
            let mobile = try await twilio.provider.price(country: "gb", type: .mobile)
            #expect(mobile.country == "GB" && mobile.monthlyCostMicros == 1_150_000)
            #expect(
                twilio.requests(.pricingCountry).map(\.path) == [
                    "/v1/PhoneNumbers/Countries/US", "/v1/PhoneNumbers/Countries/GB",
                ])
        }
    }

    @Test func cacheServesUntilTheTTLThenRefetches() async throws {
        try await withTwilio(configure: { $0.limits.priceCacheTTLSeconds = 60 }) { twilio in
            _ = try await twilio.provider.price(country: "US", type: .local)
            _ = try await twilio.provider.price(country: "US", type: .tollFree)
            twilio.probe.advanceClock(by: .seconds(59))
            _ = try await twilio.provider.price(country: "US", type: .local)
            #expect(twilio.requests(.pricingCountry).count == 1)
            twilio.probe.advanceClock(by: .seconds(1))
            _ = try await twilio.provider.price(country: "US", type: .local)
            #expect(twilio.requests(.pricingCountry).count == 2)
        }
    }

    @Test func cacheHoldsAtMostCountriesMax() async throws {
        try await withTwilio(configure: {
            $0.limits.priceCacheCountriesMax = 1
            $0.limits.priceCacheTTLSeconds = 60
        }) { twilio in
            _ = try await twilio.provider.price(country: "US", type: .local)
            _ = try await twilio.provider.price(country: "GB", type: .local)
            #expect(twilio.provider.priceCache.withLock { $0.count } == 1)
            _ = try await twilio.provider.price(country: "US", type: .local)
            #expect(twilio.requests(.pricingCountry).count == 3)
        }
    }

    /// The service keeps a price for its TTL from when it asked; a cache in the adapter too used to hand it a price
    /// already up to an hour old, which it then kept another hour.
    @Test func aPriceTheServiceServesIsAtMostOneTTLOld() async throws {
        try await withServiceOverTwilio { twilio, service, clock, _ in
            func advance(minutes: Int) {
                clock.advance(by: Double(minutes * 60))
                twilio.probe.advanceClock(by: .seconds(minutes * 60))
            }
            _ = try await service.quote(country: "US", type: .local)
            #expect(twilio.requests(.pricingCountry).count == 1)
            advance(minutes: 59)
            _ = try await service.quote(country: "US", type: .tollFree)
            advance(minutes: 2)
            _ = try await service.quote(country: "US", type: .tollFree)
            // 61 minutes after the first fetch: the toll-free price must come from a later one.
            #expect(twilio.requests(.pricingCountry).count == 2)
            advance(minutes: 59)
            _ = try await service.quote(country: "US", type: .tollFree)
            #expect(twilio.requests(.pricingCountry).count == 3)
        }
    }

    /// Twilio's OpenAPI (pricing_v1_phone_numbers.json) marks `phone_number_prices` and `price_unit` nullable. A null
    /// used to fail the whole answer as "not the expected JSON" (`.unavailable`, a retry later changing nothing); it
    /// is a country without prices, so each type is `.notFound`, as for a country whose list is empty.
    @Test func nullPricesAreACountryWithoutPrices() throws {
        let bodies = [
            #"{"country": "Nowhere", "iso_country": "ZZ", "phone_number_prices": null, "price_unit": null, "url": null}"#,
            #"{"country": "Nowhere", "iso_country": "ZZ", "phone_number_prices": null, "price_unit": "USD"}"#,
            #"{"iso_country": "ZZ", "phone_number_prices": [], "price_unit": null}"#, #"{"iso_country": "ZZ"}"#,
        ]
        for body in bodies {
            #expect(try TwilioProvider.prices(Array(body.utf8), country: "ZZ").isEmpty, "\(body)")
        }
    }

    /// An entry without `number_type` (null or absent; the spec does not require it) prices nothing and is skipped;
    /// the others count.
    @Test func anEntryWithoutANumberTypeIsSkipped() throws {
        let body = """
            {"iso_country": "US", "price_unit": "usd", "phone_number_prices": [
              {"base_price": "9.00", "current_price": "9.00"},
              {"number_type": null, "base_price": "8.00", "current_price": "8.00"},
              {"number_type": "local", "base_price": "1.15", "current_price": "1.15"},
              {"number_type": "national", "base_price": "3.00", "current_price": "3.00"}
            ]}
            """
        let prices = try TwilioProvider.prices(Array(body.utf8), country: "US")
        #expect(
            prices == [
                .local: ProviderPrice(country: "US", type: .local, monthlyCostMicros: 1_150_000, currency: "USD")
            ])
    }

    /// Twilio's OpenAPI types prices as `number` (`overrideType: string`): a JSON number is read by its digits,
    /// exactly, and one that is no exact amount in micros, or negative, is refused like such a string.
    @Test(arguments: [
        ("1.15", Int64?(1_150_000)), ("0.0075", 7_500), ("2", 2_000_000), ("1e2", 100_000_000),
        ("999999999999.999999", 999_999_999_999_999_999), ("1.0000001", nil), ("-1.15", nil), ("1e12", nil),
    ])
    func aPriceSentAsAJSONNumberIsReadExactly(number: String, micros: Int64?) {
        let body =
            #"{"price_unit": "USD", "phone_number_prices": [{"number_type": "local", "current_price": "#
            + number + "}]}"
        do {
            let prices = try TwilioProvider.prices(Array(body.utf8), country: "US")
            #expect(prices[.local]?.monthlyCostMicros == micros, "\(number)")
            #expect(micros != nil, "\(number) read as \(prices)")
        } catch {
            #expect(micros == nil, "\(number): \(error)")
            #expect(error.kind == .unavailable)
        }
    }

    /// A price with no currency cannot be charged, and a body of another shape is not an answer: `.unavailable`.
    @Test(arguments: [
        #"{"price_unit": null, "phone_number_prices": [{"number_type": "local", "current_price": "1.15"}]}"#,
        #"{"phone_number_prices": [{"number_type": "local", "current_price": "1.15"}]}"#,
        #"{"price_unit": "USD", "phone_number_prices": 5}"#, "not json",
    ])
    func anAnswerThatCannotBeChargedIsUnavailable(body: String) {
        do {
            let prices = try TwilioProvider.prices(Array(body.utf8), country: "US")
            Issue.record("expected .unavailable, got \(prices)")
        } catch {
            #expect(error.kind == .unavailable, "\(error)")
        }
    }

    @Test func typeWithoutAPriceIsNotFound() async throws {
        try await withTwilio { twilio in
            await expectProviderError(.notFound) { try await twilio.provider.price(country: "US", type: .mobile) }
        }
    }

    @Test func unknownCountryIsNotFound() async throws {
        try await withTwilio { twilio in
            await expectProviderError(.notFound) { try await twilio.provider.price(country: "ZZ", type: .local) }
        }
    }

    @Test(arguments: [
        ("1.15", Int64(1_150_000)), ("0", 0), ("0.000001", 1), ("2", 2_000_000), ("1.1500000", 1_150_000),
        ("999999999999.999999", 999_999_999_999_999_999),
    ])
    func decimalStringsConvertExactly(text: String, micros: Int64) {
        #expect(TwilioDecimal.micros(text) == micros)
    }

    @Test(arguments: ["", ".5", "1.", "-1.00", "+1", "1e3", "1.0000001", " 1.15", "1,15", "1000000000000", "abc"])
    func malformedDecimalsAreRejected(text: String) {
        #expect(TwilioDecimal.micros(text) == nil)
    }

    @Test(arguments: [("local", NumberCore.NumberType.local), ("toll free", .tollFree), ("Mobile", .mobile)])
    func pricingTypeNames(name: String, type: NumberCore.NumberType) {
        #expect(TwilioProvider.numberType(pricingName: name) == type)
        #expect(TwilioProvider.numberType(pricingName: "national") == nil)
    }
}
