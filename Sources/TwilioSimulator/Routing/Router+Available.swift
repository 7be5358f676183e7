/// AvailablePhoneNumbers: countries and the number search.
extension Router {
    static func countryJSON(_ country: CountryCatalog, account: String) -> JSONValue {
        let base = "/2010-04-01/Accounts/\(account)/AvailablePhoneNumbers/\(country.isoCountry)"
        return .object([
            ("country_code", .string(country.isoCountry)),
            ("country", .string(country.name)),
            ("uri", .string(base + ".json")),
            ("beta", .bool(false)),
            (
                "subresource_uris",
                .object(country.types.map { ($0.subresourceKey, .string("\(base)/\($0.pathComponent).json")) })
            ),
        ])
    }

    static func availableCountries(_ request: SimulatorRequest) -> SimulatorResponse {
        let account = Route(path: request.path).pathAccount ?? ""
        return .json(
            200,
            .object([
                ("countries", .array(CountryCatalog.all.map { countryJSON($0, account: account) })),
                ("uri", .string(echoURI(request))),
            ]))
    }

    static func availableCountry(_ request: SimulatorRequest, iso: String) throws(TwilioError) -> SimulatorResponse {
        guard let country = CountryCatalog.named(iso) else { throw .notFound(request.path) }
        return .json(200, countryJSON(country, account: Route(path: request.path).pathAccount ?? ""))
    }

    static func search(
        _ request: SimulatorRequest, country iso: String, type typeName: String, state: SimulatorState,
        context: RouterContext
    ) throws(TwilioError) -> SimulatorResponse {
        guard let country = CountryCatalog.named(iso), let type = NumberType(pathComponent: typeName),
            country.types.contains(type)
        else { throw .notFound(request.path) }
        let params = request.queryParameters
        let filter = try SearchFilter(
            params, isoCountry: country.isoCountry, type: type, locate: state.inventory.area(of:))
        let limit = min(
            try Parameters.pageSize(params, limits: context.configuration.limits),
            context.configuration.limits.searchResultsMax)
        let areas = country.areas.filter { $0.type == type && filter.matchesArea($0) }
        let found = state.available(
            in: areas, pattern: filter.contains, limit: limit, scanMax: context.configuration.limits.searchScanMax,
            accept: filter.matches
        ).map(availableJSON)
        return .json(200, .object([("uri", .string(echoURI(request))), ("available_phone_numbers", .array(found))]))
    }

    static func availableJSON(_ n: AvailableNumber) -> JSONValue {
        .object([
            ("friendly_name", .string(n.friendlyName)),
            ("phone_number", .string(n.phoneNumber)),
            ("lata", .optional(n.lata)),
            ("locality", .optional(n.locality)),
            ("rate_center", .optional(n.rateCenter)),
            ("latitude", .optional(n.latitude)),
            ("longitude", .optional(n.longitude)),
            ("region", .optional(n.region)),
            ("postal_code", .optional(n.postalCode)),
            ("iso_country", .string(n.isoCountry)),
            ("address_requirements", .string(n.addressRequirements)),
            ("beta", .bool(n.beta)),
            ("capabilities", n.capabilities.searchJSON),
        ])
    }
}
