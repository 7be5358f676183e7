import NumberAPI
import NumberCore
import Testing

/// The server prices in the minor units clients format and parse with: one table in two modules (the core imports no
/// NumberAPI), kept equal by this test.
@Suite("The pricing policy's currency digits are the API's")
struct CurrencyTableTests {
    @Test("every currency either table lists has the same digits in both, and every other has two; amounts read alike")
    func tablesAgree() {
        let policy = PricingPolicy.defaults
        #expect(policy.defaultMinorUnitExponent == 2)
        #expect(policy.minorUnitExponents == CurrencyMinorUnits.exceptions)
        for currency in Set(policy.minorUnitExponents.keys).union(CurrencyMinorUnits.exceptions.keys) + ["USD", "EUR"] {
            #expect(
                (policy.minorUnitExponents[currency] ?? policy.defaultMinorUnitExponent)
                    == CurrencyMinorUnits.digits(currency), "\(currency)")
            for amount: Int64 in [0, 5, -5, 1_250, -1_250, 100_000_000, .max, .min] {
                #expect(PricingPolicy.display(amount, currency) == CurrencyMinorUnits.format(amount, currency))
            }
        }
    }
}
