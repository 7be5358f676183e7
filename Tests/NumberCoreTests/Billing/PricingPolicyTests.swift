import NumberCore
import Testing

@Suite("Pricing policy")
struct PricingPolicyTests {
    let policy = PricingPolicy.defaults

    @Test("markup, then rounded up to the minor unit")
    func markupRoundsUp() throws {
        // 1.15 USD × 1.15 = 1.3225 → 133 cents.
        let quote = try policy.quote(
            ProviderPrice(country: "US", type: .local, monthlyCostMicros: 1_150_000, currency: "USD"))
        #expect(quote == PricingPolicy.Quote(setupFee: 0, monthlyFee: 133, currency: "USD"))
        // Exactly 2.30 USD stays 230.
        var exact = policy
        exact.markupPercent = 0
        let even = try exact.quote(
            ProviderPrice(country: "US", type: .local, monthlyCostMicros: 2_300_000, currency: "USD"))
        #expect(even.monthlyFee == 230)
        let oneMicroOver = try exact.quote(
            ProviderPrice(country: "US", type: .local, monthlyCostMicros: 2_300_001, currency: "USD"))
        #expect(oneMicroOver.monthlyFee == 231)
    }

    @Test("the minimum monthly fee applies to cheap numbers")
    func minimum() throws {
        let quote = try policy.quote(
            ProviderPrice(country: "US", type: .local, monthlyCostMicros: 10_000, currency: "USD"))
        #expect(quote.monthlyFee == 100)
    }

    @Test("setup fee by country and type")
    func setupFee() throws {
        let tollFree = try policy.quote(
            ProviderPrice(country: "US", type: .tollFree, monthlyCostMicros: 2_000_000, currency: "USD"))
        #expect(tollFree.setupFee == 200)
        #expect(tollFree.firstCharge == 200 + 230)
        let local = try policy.quote(
            ProviderPrice(country: "GB", type: .local, monthlyCostMicros: 1_000_000, currency: "GBP"))
        #expect(local.setupFee == 0)
    }

    @Test("a currency without minor units rounds to whole units")
    func yen() throws {
        let quote = try policy.quote(
            ProviderPrice(country: "JP", type: .local, monthlyCostMicros: 150_500_000, currency: "JPY"))
        // 150.5 JPY × 1.15 = 173.075 → 174.
        #expect(quote.monthlyFee == 174)
    }

    @Test("bad provider costs and absurd results are refused as the provider's fault (UNAVAILABLE), not the caller's")
    func refusals() {
        func refusal(_ policy: PricingPolicy, _ micros: Int64) -> NumberError? {
            do {
                _ = try policy.quote(
                    ProviderPrice(country: "US", type: .local, monthlyCostMicros: micros, currency: "USD"))
                return nil
            } catch {
                return error
            }
        }
        var capped = policy
        capped.feeMax = 1000
        let atMax = try? capped.quote(
            ProviderPrice(country: "US", type: .local, monthlyCostMicros: 8_695_652, currency: "USD"))
        #expect(atMax?.monthlyFee == 1000)
        for error in [refusal(policy, -1), refusal(policy, .max), refusal(capped, 8_700_000)] {
            #expect(error?.code == .unavailable, "\(String(describing: error))")
            #expect(error?.reason == .providerPriceInvalid, "\(String(describing: error))")
            #expect(error?.details["country"] == "US")
        }
    }
}

@Suite("Pricing in currencies without two-digit minor units")
struct PricingMinorUnitTests {
    @Test(
        "a three-digit currency rounds up to the fils, a zero-digit one to the yen",
        arguments: [
            ("KWD", Int64(1_000_100), Int64(1151)),  // 1.0001 × 1.15 = 1.150115 → 1.151 KWD
            ("JPY", 150_000_000, 173),  // 150 × 1.15 = 172.5 → 173 JPY
            ("VND", 25_000_000_000, 28_750),  // 25,000 × 1.15 = 28,750 VND exactly
        ])
    func otherDigits(currency: String, micros: Int64, fee: Int64) throws {
        let quote = try PricingPolicy.defaults.quote(
            ProviderPrice(country: "XX", type: .local, monthlyCostMicros: micros, currency: currency))
        #expect(quote.monthlyFee == max(fee, PricingPolicy.defaults.minimumMonthlyFee))
    }
}
