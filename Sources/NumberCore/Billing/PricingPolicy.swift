/// How we price a number from the provider's cost: markup, a minimum, setup fees per country and type,
/// rounded up to the currency's minor unit. The price shown in search is the price a purchase charges.
public struct PricingPolicy: Sendable, Hashable {
    /// Markup over the provider's monthly cost, in percent (15 = cost × 1.15).
    public var markupPercent: Int
    /// The lowest monthly fee, in minor units; at most `feeMax` (``NumberServiceConfig/validate()``).
    public var minimumMonthlyFee: Int64
    /// Setup fee when no entry in `setupFees` matches, in minor units.
    public var defaultSetupFee: Int64
    /// Setup fees by `"<country>/<type>"`, e.g. `"US/toll_free": 200`.
    public var setupFees: [String: Int64]
    /// Minor-unit exponent per currency (USD 2, JPY 0); `defaultMinorUnitExponent` for others. With it, each ISO 4217
    /// currency must get the digits ``iso4217MinorUnits`` gives it, which clients read amounts with
    /// (``NumberServiceConfig/validate()``).
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

    /// ISO 4217 currencies whose minor unit is not two digits, drawn from ``iso4217MinorUnits``: the same table as
    /// `NumberAPI.CurrencyMinorUnits`, which clients format and parse amounts with (a test checks that they agree;
    /// the core imports no NumberAPI).
    public static let iso4217Exceptions: [String: Int] = iso4217MinorUnits.filter { $0.value != 2 }

    /// Every ISO 4217 code an account may hold, with the digits of its minor unit: the currencies and funds of list
    /// one that have a minor unit (2025: HRK, CUC, SLL and ZWL withdrawn; XCG and ZWG added), not the codes that have
    /// none (precious metals, bond-market units, XDR, XSU, XUA, XTS for tests, XXX for no currency). The core's one
    /// table of currencies: CreateAccount refuses a code not in it. Three letters were enough before, and an account
    /// made in `ZZZ` could be funded but every search and purchase failed CURRENCY_MISMATCH.
    public static let iso4217MinorUnits: [String: Int] = [
        "AED": 2, "AFN": 2, "ALL": 2, "AMD": 2, "ANG": 2, "AOA": 2, "ARS": 2, "AUD": 2, "AWG": 2, "AZN": 2, "BAM": 2,
        "BBD": 2, "BDT": 2, "BGN": 2, "BHD": 3, "BIF": 0, "BMD": 2, "BND": 2, "BOB": 2, "BOV": 2, "BRL": 2, "BSD": 2,
        "BTN": 2, "BWP": 2, "BYN": 2, "BZD": 2, "CAD": 2, "CDF": 2, "CHE": 2, "CHF": 2, "CHW": 2, "CLF": 4, "CLP": 0,
        "CNY": 2, "COP": 2, "COU": 2, "CRC": 2, "CUP": 2, "CVE": 2, "CZK": 2, "DJF": 0, "DKK": 2, "DOP": 2, "DZD": 2,
        "EGP": 2, "ERN": 2, "ETB": 2, "EUR": 2, "FJD": 2, "FKP": 2, "GBP": 2, "GEL": 2, "GHS": 2, "GIP": 2, "GMD": 2,
        "GNF": 0, "GTQ": 2, "GYD": 2, "HKD": 2, "HNL": 2, "HTG": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2, "IQD": 3,
        "IRR": 2, "ISK": 0, "JMD": 2, "JOD": 3, "JPY": 0, "KES": 2, "KGS": 2, "KHR": 2, "KMF": 0, "KPW": 2, "KRW": 0,
        "KWD": 3, "KYD": 2, "KZT": 2, "LAK": 2, "LBP": 2, "LKR": 2, "LRD": 2, "LSL": 2, "LYD": 3, "MAD": 2, "MDL": 2,
        "MGA": 2, "MKD": 2, "MMK": 2, "MNT": 2, "MOP": 2, "MRU": 2, "MUR": 2, "MVR": 2, "MWK": 2, "MXN": 2, "MXV": 2,
        "MYR": 2, "MZN": 2, "NAD": 2, "NGN": 2, "NIO": 2, "NOK": 2, "NPR": 2, "NZD": 2, "OMR": 3, "PAB": 2, "PEN": 2,
        "PGK": 2, "PHP": 2, "PKR": 2, "PLN": 2, "PYG": 0, "QAR": 2, "RON": 2, "RSD": 2, "RUB": 2, "RWF": 0, "SAR": 2,
        "SBD": 2, "SCR": 2, "SDG": 2, "SEK": 2, "SGD": 2, "SHP": 2, "SLE": 2, "SOS": 2, "SRD": 2, "SSP": 2, "STN": 2,
        "SVC": 2, "SYP": 2, "SZL": 2, "THB": 2, "TJS": 2, "TMT": 2, "TND": 3, "TOP": 2, "TRY": 2, "TTD": 2, "TWD": 2,
        "TZS": 2, "UAH": 2, "UGX": 0, "USD": 2, "USN": 2, "UYI": 0, "UYU": 2, "UYW": 4, "UZS": 2, "VED": 2, "VES": 2,
        "VND": 0, "VUV": 0, "WST": 2, "XAF": 0, "XCD": 2, "XCG": 2, "XOF": 0, "XPF": 0, "YER": 2, "ZAR": 2, "ZMW": 2,
        "ZWG": 2,
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
