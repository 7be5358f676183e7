/// How we price a number from the provider's cost: markup, a minimum, setup fees per country and type,
/// rounded up to the currency's minor unit. The price shown in search is the price a purchase charges.
public struct PricingPolicy: Sendable, Hashable {
    /// Markup over the provider's monthly cost, in percent (15 = cost × 1.15).
    public var markupPercent: Int
    /// The lowest monthly fee, in minor units.
    public var minimumMonthlyFee: Int64
    /// Setup fee when no entry in `setupFees` matches, in minor units.
    public var defaultSetupFee: Int64
    /// Setup fees by `"<country>/<type>"`, e.g. `"US/toll_free": 200`.
    public var setupFees: [String: Int64]
    /// Minor-unit exponent per currency (USD 2, JPY 0); `defaultMinorUnitExponent` for others.
    public var minorUnitExponents: [String: Int]
    /// Minor-unit exponent of currencies not in `minorUnitExponents`.
    public var defaultMinorUnitExponent: Int
    /// Upper bound of a computed monthly or setup fee, minor units; a price above it is refused.
    public var feeMax: Int64

    /// The defaults: 15 % markup, at least 100 minor units a month, no setup fee except 200 for toll-free US.
    public static let defaults = PricingPolicy(
        markupPercent: 15, minimumMonthlyFee: 100, defaultSetupFee: 0, setupFees: ["US/toll_free": 200],
        minorUnitExponents: Self.iso4217Exceptions,
        defaultMinorUnitExponent: 2, feeMax: 100_000_000)

    /// ISO 4217 currencies whose minor unit is not two digits: the same table as `NumberAPI.CurrencyMinorUnits`,
    /// which clients format and parse amounts with (a test checks that they agree; the core imports no NumberAPI).
    public static let iso4217Exceptions: [String: Int] = [
        "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0, "RWF": 0, "UGX": 0,
        "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
        "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
        "CLF": 4, "UYW": 4,
    ]

    /// `amount` minor units of `currency` written for people, as clients write them (`NumberAPI.CurrencyMinorUnits`):
    /// `200` USD → `2.00 USD`, `1500` JPY → `1500 JPY`, `-1250` KWD → `-1.250 KWD`. For messages; details and fields
    /// carry minor units.
    public static func display(_ amount: Int64, _ currency: String) -> String {
        let digits = iso4217Exceptions[currency] ?? 2
        let sign = amount < 0 ? "-" : ""
        let magnitude = amount.magnitude
        guard digits > 0 else { return "\(sign)\(magnitude) \(currency)" }
        var scale: UInt64 = 1
        for _ in 0..<digits { scale *= 10 }
        let fraction = String(magnitude % scale)
        return
            "\(sign)\(magnitude / scale).\(String(repeating: "0", count: digits - fraction.count))\(fraction) \(currency)"
    }

    /// Creates a policy.
    public init(
        markupPercent: Int, minimumMonthlyFee: Int64, defaultSetupFee: Int64, setupFees: [String: Int64],
        minorUnitExponents: [String: Int], defaultMinorUnitExponent: Int, feeMax: Int64
    ) {
        self.markupPercent = markupPercent
        self.minimumMonthlyFee = minimumMonthlyFee
        self.defaultSetupFee = defaultSetupFee
        self.setupFees = setupFees
        self.minorUnitExponents = minorUnitExponents
        self.defaultMinorUnitExponent = defaultMinorUnitExponent
        self.feeMax = feeMax
    }

    /// Our price for a number the provider charges `cost` for.
    public func quote(_ cost: ProviderPrice) throws(NumberError) -> Quote {
        // What the provider sent is not the caller's fault: UNAVAILABLE, not INVALID_ARGUMENT.
        guard cost.monthlyCostMicros >= 0 else { throw .providerPriceInvalid(cost, "a negative monthly cost") }
        guard markupPercent >= 0, markupPercent <= 10_000 else {
            throw .invalid("markupPercent", "markup out of range")
        }
        let exponent = minorUnitExponents[cost.currency] ?? defaultMinorUnitExponent
        guard (0...6).contains(exponent) else { throw .invalid("currency", "minor unit exponent out of range") }
        var microsPerMinor: Int64 = 1
        for _ in 0..<(6 - exponent) { microsPerMinor *= 10 }
        // ceil(cost × (100 + markup) / (100 × microsPerMinor)), overflow-checked.
        let (scaled, overflow) = cost.monthlyCostMicros.multipliedReportingOverflow(by: Int64(100 + markupPercent))
        guard !overflow else { throw .providerPriceInvalid(cost, "the monthly fee overflows") }
        let divisor = 100 * microsPerMinor
        let rounded = scaled / divisor + (scaled % divisor == 0 ? 0 : 1)
        let monthly = max(rounded, minimumMonthlyFee)
        let setup = setupFees["\(cost.country)/\(cost.type.rawValue)"] ?? defaultSetupFee
        guard monthly <= feeMax else {
            throw .providerPriceInvalid(cost, "a monthly fee of \(monthly) is over \(feeMax)")
        }
        guard setup <= feeMax, setup >= 0 else { throw .overflow("setup fee") }
        return Quote(setupFee: setup, monthlyFee: monthly, currency: cost.currency)
    }

    /// Our price for one number.
    public struct Quote: Codable, Sendable, Hashable {
        /// One-off fee at purchase, minor units.
        public var setupFee: Int64
        /// Monthly fee, minor units.
        public var monthlyFee: Int64
        /// ISO 4217 code.
        public var currency: String

        /// What a purchase charges: setup fee + first month.
        public var firstCharge: Int64 { setupFee + monthlyFee }

        /// Creates a quote.
        public init(setupFee: Int64, monthlyFee: Int64, currency: String) {
            self.setupFee = setupFee
            self.monthlyFee = monthlyFee
            self.currency = currency
        }
    }
}

extension PricingPolicy.Quote {
    /// Refuses this price when a fee is above the caller's limit for it (nil = no limit): `PRICE_CHANGED`, naming each
    /// fee over its limit, with the current price in the details. A price at or below the limits passes unchanged.
    func check(maxMonthlyFee: Int64?, maxSetupFee: Int64?) throws(NumberError) {
        let monthlyOver = maxMonthlyFee.map { monthlyFee > $0 } ?? false
        let setupOver = maxSetupFee.map { setupFee > $0 } ?? false
        guard !monthlyOver && !setupOver else {
            throw .priceChanged(self, maxMonthlyFee: maxMonthlyFee, maxSetupFee: maxSetupFee)
        }
    }
}
