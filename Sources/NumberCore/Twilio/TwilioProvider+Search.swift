import CurlHTTP

extension TwilioProvider {
    /// `GET …/AvailablePhoneNumbers/{Country}/{Local|TollFree|Mobile}.json` with the query's filters.
    /// A type Twilio does not sell in the country answers 404 → `.notFound`.
    public func search(_ query: ProviderSearchQuery) async throws -> [AvailableNumber] {
        try await searchTyped(query)
    }

    /// Twilio's maintainers: "listing available phone numbers is limited to 30 results" whatever `PageSize` asks
    /// (twilio-api.md §2.4; one report saw 100 with `PageSize=100`, so an answer of 30 or more counts as full).
    public var searchAnswerMax: Int { 30 }

    func searchTyped(_ query: ProviderSearchQuery) async throws(ProviderError) -> [AvailableNumber] {
        let country = query.country.uppercased()
        guard TwilioValidation.isCountry(country) else {
            throw ProviderError(.invalidArgument, message: "country must be an ISO 3166-1 alpha-2 code")
        }
        guard query.limit >= 1 else { throw ProviderError(.invalidArgument, message: "limit must be positive") }
        let url = Self.withQuery(
            accountURL("/AvailablePhoneNumbers/\(country)/\(Self.pathSegment(query.type)).json"),
            try searchParameters(query))
        let answer = try await transport.perform(
            TwilioTransport.Call(method: .get, url: url, form: nil, operation: "search \(country) \(query.type)"))
        guard let page = TwilioResources.decode(TwilioResources.AvailablePage.self, from: answer.response.body) else {
            throw ProviderError(.unavailable, message: "search: Twilio's answer is not the expected JSON")
        }
        return Self.offered(page, query: query, country: country)
    }

    /// What a search page offers: its first `query.limit` numbers, less any that could not be bought — a malformed
    /// number, or one that needs an Address, should Twilio list it despite `ExcludeAllAddressRequired`. A capability
    /// the search filtered on (`FaxEnabled=true`…) that a result does not list counts as present: Twilio returned the
    /// number for that filter, and its search answers often leave `fax` out (twilio-api.md §2.3), which read as
    /// "no fax" made the service drop every result of a fax search.
    static func offered(
        _ page: TwilioResources.AvailablePage, query: ProviderSearchQuery, country: String
    ) -> [AvailableNumber] {
        page.availablePhoneNumbers.prefix(query.limit).compactMap { available in
            guard let phoneNumber = available.phoneNumber, TwilioValidation.isE164(phoneNumber),
                (available.addressRequirements ?? "none").lowercased() == "none"
            else { return nil }
            let capabilities = available.capabilities ?? TwilioResources.Capabilities()
            return AvailableNumber(
                phoneNumber: phoneNumber, friendlyName: available.friendlyName ?? phoneNumber,
                locality: available.locality, region: available.region, postalCode: available.postalCode,
                country: available.isoCountry ?? country, type: query.type,
                capabilities: capabilities.numberCapabilities(assuming: query.capabilities))
        }
    }

    private func searchParameters(_ query: ProviderSearchQuery) throws(ProviderError) -> [(String, String)] {
        var pairs: [(String, String)] = []
        if let areaCode = query.areaCode {
            guard !areaCode.isEmpty, areaCode.utf8.allSatisfy(TwilioValidation.isDigit) else {
                throw ProviderError(.invalidArgument, message: "area code must be digits")
            }
            pairs.append(("AreaCode", areaCode))
        }
        if let contains = query.contains {
            // Twilio also takes `+` first (anchored at the number's start: how a purchase looks up one number), but
            // not a wildcard right after it.
            guard contains.utf8.count <= 16 else {
                throw ProviderError(.invalidArgument, message: "contains must be at most 16 characters")
            }
            if let problem = Validation.searchPatternProblem(Substring(contains)) {
                throw ProviderError(.invalidArgument, message: "contains: \(problem)")
            }
            pairs.append(("Contains", contains))
        }
        if let region = query.region { pairs.append(("InRegion", region)) }
        if let locality = query.locality { pairs.append(("InLocality", locality)) }
        if let postalCode = query.postalCode { pairs.append(("InPostalCode", postalCode)) }
        let flags: [(Capability, String)] = [
            (.voice, "VoiceEnabled"), (.sms, "SmsEnabled"), (.mms, "MmsEnabled"), (.fax, "FaxEnabled"),
        ]
        for (capability, name) in flags where query.capabilities.contains(capability) {
            pairs.append((name, "true"))
        }
        // numberd holds no Address resources, so a number that needs one (most non-US/CA local and mobile numbers)
        // would be offered and then refused at purchase (21631): never offer it. This says nothing about regulatory
        // Bundles (nor do Twilio's results): those are sent per country at purchase (`regulatoryBundles`, 21649).
        pairs.append(("ExcludeAllAddressRequired", "true"))
        pairs.append(("PageSize", String(min(query.limit, configuration.limits.searchPageSizeMax))))
        return pairs
    }

    static func pathSegment(_ type: NumberType) -> String {
        switch type {
        case .local: "Local"
        case .tollFree: "TollFree"
        case .mobile: "Mobile"
        }
    }
}
