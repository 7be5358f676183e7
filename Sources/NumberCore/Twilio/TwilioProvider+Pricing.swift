extension TwilioProvider {
    /// The monthly cost from Pricing v1 `GET /v1/PhoneNumbers/Countries/{IsoCountry}` (`current_price`, exact in
    /// micros), cached per country for `priceCacheTTLSeconds` when that is set. A type without a price → `.notFound`.
    public func price(country: String, type: NumberType) async throws -> ProviderPrice {
        try await priceTyped(country: country, type: type)
    }

    func priceTyped(country: String, type: NumberType) async throws(ProviderError) -> ProviderPrice {
        let country = country.uppercased()
        guard TwilioValidation.isCountry(country) else {
            throw ProviderError(.invalidArgument, message: "country must be an ISO 3166-1 alpha-2 code")
        }
        let ttl = Duration.seconds(configuration.limits.priceCacheTTLSeconds)
        let cached = priceCache.withLock { $0.fresh(country, now: monotonicNow(), ttl: ttl) }
        let entry: TwilioPriceCache.Entry
        if let cached {
            entry = cached
        } else {
            entry = try await fetchPrices(country)
            if ttl > .zero { priceCache.withLock { $0.store(country, entry) } }
        }
        guard let price = entry.prices[type] else {
            throw ProviderError(
                .notFound, message: "Twilio lists no monthly price for \(type.rawValue) numbers in \(country)")
        }
        return price
    }

    private func fetchPrices(_ country: String) async throws(ProviderError) -> TwilioPriceCache.Entry {
        let url = "\(configuration.endpoints.pricing)/v1/PhoneNumbers/Countries/\(country)"
        let answer = try await transport.perform(
            TwilioTransport.Call(method: .get, url: url, form: nil, operation: "price \(country)"))
        let fetchedAt = monotonicNow()
        return TwilioPriceCache.Entry(
            prices: try Self.prices(answer.response.body, country: country), fetchedAt: fetchedAt)
    }

    /// The monthly prices of the number types sold here in a Pricing v1 country answer. No prices (null, absent or
    /// empty `phone_number_prices`, or none of a type sold here) is no entry, so each type is `.notFound`, as for a
    /// country Twilio lists without prices; an entry without `number_type` is skipped. A price of a type sold here
    /// needs a currency and an exact decimal, or the answer is `.unavailable`.
    static func prices(_ body: [UInt8], country: String) throws(ProviderError) -> [NumberType: ProviderPrice] {
        guard let decoded = TwilioResources.decode(TwilioResources.PricingCountry.self, from: body) else {
            throw ProviderError(.unavailable, message: "price \(country): Twilio's answer is not the expected JSON")
        }
        let sold = (decoded.phoneNumberPrices ?? []).compactMap { entry -> (NumberType, TwilioResources.Price)? in
            guard let name = entry.numberType, let type = numberType(pricingName: name) else { return nil }
            return (type, entry)
        }
        guard !sold.isEmpty else { return [:] }
        let currency = (decoded.priceUnit ?? "").uppercased()
        guard currency.utf8.count == 3, currency.utf8.allSatisfy({ (65...90).contains($0) }) else {
            throw ProviderError(
                .unavailable,
                message:
                    "price \(country): price_unit \(decoded.priceUnit.map { "\"\($0)\"" } ?? "null") is no currency")
        }
        var prices: [NumberType: ProviderPrice] = [:]
        for (type, entry) in sold {
            guard let text = (entry.currentPrice ?? entry.basePrice)?.text, let micros = TwilioDecimal.micros(text)
            else {
                throw ProviderError(
                    .unavailable, message: "price \(country): \(entry.numberType ?? "") price is not an exact decimal")
            }
            prices[type] = ProviderPrice(country: country, type: type, monthlyCostMicros: micros, currency: currency)
        }
        return prices
    }

    /// Pricing's `number_type` names: `local`, `toll free`, `mobile` (others, e.g. `national`, are not sold here).
    static func numberType(pricingName: String) -> NumberType? {
        switch pricingName.lowercased() {
        case "local": .local
        case "toll free", "toll-free", "toll_free", "tollfree": .tollFree
        case "mobile": .mobile
        default: nil
        }
    }
}
