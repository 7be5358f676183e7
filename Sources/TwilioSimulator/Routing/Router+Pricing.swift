/// Pricing v1: phone-number prices per country (monthly, decimal strings, USD).
extension Router {
    static func pricingCountries(
        _ request: SimulatorRequest, context: RouterContext
    ) throws(TwilioError) -> SimulatorResponse {
        let url = context.baseURL(of: .pricing) + "/v1/PhoneNumbers/Countries"
        let countries = CountryCatalog.all.sorted { $0.name < $1.name }
        let sequence = Dictionary(uniqueKeysWithValues: countries.enumerated().map { ($1.isoCountry, $0) })
        let window = try PageWindow(
            countries, sid: \.isoCountry, sequence: { sequence[$0] }, params: request.queryParameters,
            limits: context.configuration.limits)
        let items = window.items.map { country -> JSONValue in
            .object([
                ("country", .string(country.name)), ("iso_country", .string(country.isoCountry)),
                ("url", .string(url + "/" + country.isoCountry)),
            ])
        }
        return .json(
            200, envelopeV1(url: url, filters: [], key: "countries", window: window, items: items, request: request))
    }

    static func pricingCountry(
        _ request: SimulatorRequest, iso: String, context: RouterContext
    ) throws(TwilioError) -> SimulatorResponse {
        guard let country = CountryCatalog.named(iso) else { throw .notFound(request.path) }
        let prices = country.types.compactMap { type -> JSONValue? in
            guard let price = country.prices[type] else { return nil }
            return .object([
                ("number_type", .string(type.pricingName)), ("base_price", .string(price)),
                ("current_price", .string(price)),
            ])
        }
        return .json(
            200,
            .object([
                ("country", .string(country.name)), ("iso_country", .string(country.isoCountry)),
                ("phone_number_prices", .array(prices)), ("price_unit", .string("USD")),
                ("url", .string(context.baseURL(of: .pricing) + "/v1/PhoneNumbers/Countries/" + country.isoCountry)),
            ]))
    }
}
