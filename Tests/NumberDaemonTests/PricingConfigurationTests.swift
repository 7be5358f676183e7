import Foundation
import NumberAPI
import NumberClient
import NumberCore
import NumberDaemon
import Testing

/// A number's price is Twilio's cost through the operator's pricing policy (markup, minimum, setup fees per country and
/// number type), but numberd had no setting for it: it always priced with `PricingPolicy.defaults`. The four pricing
/// settings are read like every other, checked as the core checks a policy, and priced with from the start on.
@Suite("numberd configuration: pricing")
struct PricingConfigurationTests {
    @Test("the defaults without a setting; each setting from the flag, the environment or the file, flags first")
    func sources() throws {
        #expect(try NumberdConfiguration.resolve(flags: [:], environment: [:]).pricing == PricingPolicy.defaults)
        let flagged = try NumberdConfiguration.resolve(
            flags: [
                "pricing-markup-percent": "40", "pricing-minimum-monthly-fee": "170",
                "pricing-default-setup-fee": "25", "pricing-setup-fees": "GB/toll_free=150, US/local=0\n",
            ],
            environment: [:])
        #expect(flagged.pricing.markupPercent == 40 && flagged.pricing.minimumMonthlyFee == 170)
        #expect(flagged.pricing.defaultSetupFee == 25)
        // The table replaces the default one: no US/toll_free entry is left.
        #expect(flagged.pricing.setupFees == ["GB/toll_free": 150, "US/local": 0])
        // What no setting names stays the default's.
        #expect(flagged.pricing.feeMax == PricingPolicy.defaults.feeMax)
        #expect(flagged.pricing.minorUnitExponents == PricingPolicy.defaults.minorUnitExponents)

        // The edges of each range, from the environment.
        let edges = try NumberdConfiguration.resolve(
            flags: [:],
            environment: [
                "NUMBERD_PRICING_MARKUP_PERCENT": "10000", "NUMBERD_PRICING_MINIMUM_MONTHLY_FEE": "0",
                "NUMBERD_PRICING_DEFAULT_SETUP_FEE": "100000000",
                "NUMBERD_PRICING_SETUP_FEES": "CA/mobile=100000000,GB/local=0",
            ])
        #expect(edges.pricing.markupPercent == 10_000 && edges.pricing.minimumMonthlyFee == 0)
        #expect(edges.pricing.defaultSetupFee == 100_000_000)
        #expect(edges.pricing.setupFees == ["CA/mobile": 100_000_000, "GB/local": 0])
        #expect(
            try NumberdConfiguration.resolve(flags: ["pricing-markup-percent": "0"], environment: [:]).pricing
                .markupPercent == 0)

        let file = try ConfigurationFileTests.configFile(
            #"{"pricing-markup-percent": 20, "pricing-minimum-monthly-fee": 1, "pricing-default-setup-fee": 7,"#
                + #" "pricing-setup-fees": "US/toll_free=300,GB/toll_free=150"}"#)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let fromFile = try NumberdConfiguration.resolve(flags: ["config": file], environment: [:])
        #expect(fromFile.pricing.markupPercent == 20 && fromFile.pricing.minimumMonthlyFee == 1)
        #expect(fromFile.pricing.defaultSetupFee == 7)
        #expect(fromFile.pricing.setupFees == ["US/toll_free": 300, "GB/toll_free": 150])
        // The flag wins over the file, the environment too; an empty table (a blank value) is none.
        let overridden = try NumberdConfiguration.resolve(
            flags: ["config": file, "pricing-markup-percent": "35"],
            environment: ["NUMBERD_PRICING_MARKUP_PERCENT": "50", "NUMBERD_PRICING_SETUP_FEES": " "])
        #expect(overridden.pricing.markupPercent == 35 && overridden.pricing.setupFees.isEmpty)
        #expect(overridden.pricing.defaultSetupFee == 7)
    }

    @Test(
        "a markup or fee out of its range or not a whole number is refused, naming the setting, range and value",
        arguments: [
            ("pricing-markup-percent", "10001", "0...10000 percent"),
            ("pricing-markup-percent", "-1", "0...10000 percent"),
            ("pricing-markup-percent", "1.5", "0...10000 percent"),
            ("pricing-markup-percent", "", "0...10000 percent"),
            ("pricing-minimum-monthly-fee", "100000001", "0...100000000 minor units"),
            ("pricing-minimum-monthly-fee", "-1", "0...100000000 minor units"),
            ("pricing-default-setup-fee", "100000001", "0...100000000 minor units"),
            ("pricing-default-setup-fee", "2 USD", "0...100000000 minor units"),
        ])
    func outOfRange(key: String, text: String, range: String) {
        let error = #expect(throws: ConfigurationError.self) {
            try NumberdConfiguration.resolve(flags: [key: text], environment: [:])
        }
        #expect(error?.description == "\(key) must be \(range), not '\(text)'", "\(String(describing: error))")
    }

    @Test(
        "a setup-fee entry malformed, of an unknown type, a lower-case country, out of range or twice is refused",
        arguments: [
            ("US/toll_free", "'US/toll_free' is not COUNTRY/TYPE=FEE"), ("US=200", "'US=200' is not COUNTRY/TYPE=FEE"),
            ("GB/toll_free=150,", "'' is not COUNTRY/TYPE=FEE"), ("US/toll_free:200", "is not COUNTRY/TYPE=FEE"),
            ("US/fax=200", "'fax' in 'US/fax=200' is not a number type (local, toll_free, mobile)"),
            ("US/toll-free=200", "'toll-free' in 'US/toll-free=200' is not a number type"),
            ("US/Local=200", "'Local' in 'US/Local=200' is not a number type"),
            ("us/toll_free=200", "'us' in 'us/toll_free=200' is not an ISO 3166-1 alpha-2 country code in upper case"),
            ("USA/local=200", "'USA' in 'USA/local=200' is not an ISO 3166-1 alpha-2 country code"),
            ("US/local=100000001", "the fee in 'US/local=100000001' must be 0...100000000 minor units"),
            ("US/local=-1", "the fee in 'US/local=-1' must be 0...100000000 minor units, not '-1'"),
            ("US/local=2.50", "the fee in 'US/local=2.50' must be 0...100000000 minor units"),
            ("GB/toll_free=150, GB/toll_free=200", "GB/toll_free is given more than once ('GB/toll_free=200')"),
        ])
    func refusedEntries(text: String, said: String) throws {
        let error = #expect(throws: ConfigurationError.self) {
            try NumberdConfiguration.resolve(flags: ["pricing-setup-fees": text], environment: [:])
        }
        let description = error?.description ?? ""
        #expect(description.hasPrefix("pricing-setup-fees") && description.contains(said), "\(description)")
        // From the config file too, as a start and SIGHUP's reload read it.
        let json = String(
            decoding: try JSONSerialization.data(withJSONObject: ["pricing-setup-fees": text]), as: UTF8.self)
        let file = try ConfigurationFileTests.configFile(json)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let origin = try NumberdConfiguration.Origin(flags: ["config": file], environment: [:])
        let reloaded = #expect(throws: ConfigurationError.self) {
            try NumberdConfiguration.resolve(origin, environment: origin.startEnvironment)
        }
        #expect(reloaded?.description == error?.description)
    }

    /// The settings' ranges keep every policy they make one the core takes; a policy set in code that the core would
    /// refuse failed the start in the core's words (`INVALID_ARGUMENT`, after the store was opened).
    @Test("a policy the core would refuse is a configuration error naming the pricing settings, before anything opens")
    func coreRefusalIsAConfigurationError() async throws {
        var policy = PricingPolicy.defaults
        policy.setupFees["GB/toll_free"] = policy.feeMax + 1
        let error = #expect(throws: ConfigurationError.self) { try NumberdConfiguration.checkPricing(policy) }
        let said = error?.description ?? ""
        #expect(said.contains("pricing-setup-fees") && said.contains("setup fees 0...feeMax"), "\(said)")
        try NumberdConfiguration.checkPricing(.defaults)
        let started = await #expect(throws: ConfigurationError.self) {
            try await withNumberd(configure: { $0.pricing.markupPercent = 10_001 }) { _ in
                Issue.record("numberd started with a markup the core refuses")
            }
        }
        #expect(started?.description.contains("markupPercent 0...10000") == true, "\(String(describing: started))")
    }

    /// End to end: numberd resolved from the settings prices a search with them. The in-process simulator's monthly
    /// costs (Pricing v1, USD): US local 1.15, US toll-free 2.15, GB toll-free 2.00.
    @Test("a started numberd quotes with the configured markup, minimum and setup fees; the table replaced the default")
    func searchQuotesTheConfiguredPolicy() async throws {
        let resolved = try NumberdConfiguration.resolve(
            flags: [
                "pricing-markup-percent": "40", "pricing-minimum-monthly-fee": "170",
                "pricing-default-setup-fee": "25", "pricing-setup-fees": "GB/toll_free=150",
            ],
            environment: [:])
        try await withNumberd(configure: { $0.pricing = resolved.pricing }) { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                let account = try await makeAccount(admin, name: "Priced", funds: 0)
                try await withNumbersClient(numberd.client(key: account.key)) { client in
                    // 2.00 × 1.40 = 2.80 a month (the defaults: 2.30); the table's GB toll-free setup fee, 1.50.
                    let gb = try await client.searchNumbers(
                        SearchNumbersRequest(country: "GB", type: .tollFree, limit: 3))
                    #expect(!gb.numbers.isEmpty)
                    for number in gb.numbers {
                        #expect(number.pricing.monthlyFee == 280, "\(number.phoneNumber)")
                        #expect(number.pricing.setupFee == 150 && number.pricing.currency == "USD")
                    }
                    // 2.15 × 1.40 = 3.01; the table no longer holds the default's US toll-free 200: the default fee.
                    let tollFree = try await client.searchNumbers(
                        SearchNumbersRequest(country: "US", type: .tollFree, limit: 3))
                    #expect(!tollFree.numbers.isEmpty)
                    for number in tollFree.numbers {
                        #expect(number.pricing.monthlyFee == 301 && number.pricing.setupFee == 25, "\(number.pricing)")
                    }
                    // 1.15 × 1.40 = 1.61, under the minimum: 1.70.
                    let local = try await client.searchNumbers(
                        SearchNumbersRequest(country: "US", areaCode: "415", limit: 3))
                    #expect(!local.numbers.isEmpty)
                    for number in local.numbers {
                        #expect(number.pricing.monthlyFee == 170 && number.pricing.setupFee == 25, "\(number.pricing)")
                    }
                }
            }
        }
    }
}
