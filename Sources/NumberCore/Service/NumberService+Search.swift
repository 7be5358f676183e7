import Foundation

/// One search result with our price.
public struct PricedNumber: Sendable, Hashable {
    /// What the provider offers.
    public var number: AvailableNumber
    /// Our price (what a purchase charges).
    public var price: PricingPolicy.Quote
}

/// The result of ``NumberService/search(_:accountId:)``.
public struct SearchResult: Sendable, Hashable {
    /// The numbers, with our price.
    public var numbers: [PricedNumber]
    /// How many of the provider's answer match (it reports no larger total).
    public var totalFound: Int
    /// Whether the provider's answer was as large as it gives (``NumberProvider/searchAnswerMax``, or all that was
    /// asked for): more numbers may match than it held, and `totalFound` is a lower bound.
    public var totalIsLowerBound: Bool

    /// Creates a result.
    public init(numbers: [PricedNumber], totalFound: Int, totalIsLowerBound: Bool = false) {
        self.numbers = numbers
        self.totalFound = totalFound
        self.totalIsLowerBound = totalIsLowerBound
    }
}

extension NumberService {
    /// Searches the provider's inventory and prices each result with our policy. With `accountId`, the price
    /// must be in the account's currency. `authorizedBy`, the id of the key the call was authorized by (nil:
    /// numberd's own), is checked again once the provider has answered: a search that waited there for a key revoked
    /// meanwhile is refused INVALID_CREDENTIALS, nothing of it remembered for purchases.
    public func search(
        _ query: ProviderSearchQuery, accountId: String? = nil, authorizedBy: String? = nil
    ) async throws(NumberError) -> SearchResult {
        let query = try validated(query)
        let currency = try accountId.map { id throws(NumberError) in try account(id).currency }
        let holder = accountId ?? ""
        try takeSearchSlot(holder)
        defer { endSearch(holder) }
        let quote = try await quote(country: query.country, type: query.type)
        if let currency, currency != quote.currency {
            throw .priceCurrencyMismatch(account: currency, price: quote.currency)
        }
        // Ask for as many as the provider gives in one answer, so `totalFound` counts the matches at the carrier
        // (the seed's "totalFound": 47 for a limit of 10), not just the page returned.
        var wide = query
        wide.limit = config.limits.searchResultsMax
        let found: [AvailableNumber]
        do {
            found = try await provider.search(wide)
        } catch {
            throw NumberError.fromProvider(error, offering: .init(country: query.country, type: query.type))
        }
        let textMax = config.limits.providerTextLengthMax
        // Not the numbers a purchase would refuse whatever it named: Twilio offers a number whose voided purchase may
        // still land (numberd watches it) or that numberd is releasing, and each search offered it again to a buyer
        // refused NUMBER_UNAVAILABLE at every try (a load run's steady errors after a crash). In the same read, the
        // key again: revoked while the provider answered, nothing is shown or remembered.
        let releasing = self.releasing.orphans
        let lateBuys = self.lateBuys(at: now())
        let unsellable = try coordinator.read { state throws(NumberError) in
            try state.requireUnrevokedKey(authorizedBy)
            return Set(
                found.map(\.phoneNumber).filter {
                    !state.mayOffer($0, to: holder, releasing: releasing, lateBuys: lateBuys)
                })
        }
        let matching = found.lazy.filter {
            $0.capabilities.satisfies(query.capabilities) && $0.country == query.country
                && (try? Validation.phoneNumber($0.phoneNumber)) != nil && !unsellable.contains($0.phoneNumber)
        }.map { $0.boundingText(to: textMax) }
        let matches = Array(matching)
        let page = Array(matches.prefix(query.limit))
        remember(page)
        return SearchResult(
            numbers: page.map { PricedNumber(number: $0, price: quote) }, totalFound: matches.count,
            totalIsLowerBound: found.count >= min(wide.limit, provider.searchAnswerMax))
    }

    /// Counts a search of `holder` as running, unless it has `searchesInFlightPerAccountMax` running already or all
    /// accounts `searchesInFlightMax`.
    private func takeSearchSlot(_ holder: String) throws(NumberError) {
        let perAccount = config.limits.searchesInFlightPerAccountMax
        let total = config.limits.searchesInFlightMax
        let refusal = local.withLock { local -> (scope: String, max: Int)? in
            let running = local.searchesInFlight[holder] ?? 0
            guard running < perAccount else { return ("per account", perAccount) }
            guard local.searchesInFlightTotal < total else { return ("for all accounts", total) }
            local.searchesInFlight[holder] = running + 1
            local.searchesInFlightTotal += 1
            return nil
        }
        if let refusal {
            throw NumberError(
                .resourceExhausted, .searchesBusy,
                "at most \(refusal.max) searches at a time \(refusal.scope); retry when one has ended",
                details: ["max": String(refusal.max)])
        }
    }

    private func endSearch(_ holder: String) {
        local.withLock { local in
            let running = local.searchesInFlight[holder] ?? 1
            local.searchesInFlight[holder] = running > 1 ? running - 1 : nil
            local.searchesInFlightTotal -= 1
        }
    }

    /// Our price for a kind of number in a country, from the provider's (cached) cost.
    public func quote(country: String, type: NumberType) async throws(NumberError) -> PricingPolicy.Quote {
        let country = try Validation.country(country)
        return try config.pricing.quote(await providerPrice(country: country, type: type))
    }

    /// The countries whose numbers a search can narrow by area code: the North American Numbering Plan's that Twilio
    /// takes an `AreaCode` for.
    static let areaCodeCountries: Set<String> = ["US", "CA"]

    private func validated(_ query: ProviderSearchQuery) throws(NumberError) -> ProviderSearchQuery {
        let limits = config.limits
        var query = query
        query.country = try Validation.country(query.country)
        guard query.limit >= 1 else { throw .invalid("limit", "limit must be positive") }
        guard query.limit <= limits.searchResultsMax else {
            throw .limit("limit", max: limits.searchResultsMax, "limit is larger than \(limits.searchResultsMax)")
        }
        if let areaCode = query.areaCode, !areaCode.isEmpty {
            // Twilio's `AreaCode` applies to US and Canadian numbers only (twilio-api.md §3.3): sent for another
            // country it would be ignored or refused, not a narrower search.
            guard Self.areaCodeCountries.contains(query.country) else {
                throw .invalid(
                    "area_code",
                    "area codes apply to US and CA numbers; for \(query.country) give the number's start in contains "
                        + "(its country code first, e.g. +4420 for London)")
            }
            guard areaCode.count == 3, areaCode.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) }) else {
                throw .invalid("area_code", "an area code is 3 digits")
            }
        } else {
            query.areaCode = nil
        }
        if let contains = query.contains, !contains.isEmpty {
            guard contains.count <= limits.containsLengthMax else {
                throw .limit(
                    "contains", max: limits.containsLengthMax, "pattern is longer than \(limits.containsLengthMax)")
            }
            if let problem = Validation.searchPatternProblem(Substring(contains)) {
                throw .invalid("contains", problem)
            }
        } else {
            query.contains = nil
        }
        let max = limits.searchFieldLengthMax
        query.region = try Validation.optionalText(query.region, field: "region", max: max)
        query.locality = try Validation.optionalText(query.locality, field: "locality", max: max)
        query.postalCode = try Validation.optionalText(query.postalCode, field: "postal_code", max: max)
        return query
    }

    /// The provider's cost, from the cache while it is fresh: `caches.priceTTLSeconds` from when the provider was
    /// asked, so a price is at most that old as long as the provider does not cache too (the Twilio adapter's own
    /// cache is off unless configured).
    func providerPrice(country: String, type: NumberType) async throws(NumberError) -> ProviderPrice {
        let key = "\(country)/\(type.rawValue)"
        let now = now()
        let ttl = TimeInterval(config.caches.priceTTLSeconds)
        if let cached = local.withLock({ $0.prices[key] }), cached.fetchedAt.addingTimeInterval(ttl) > now {
            return cached.price
        }
        let price: ProviderPrice
        do {
            price = try await provider.price(country: country, type: type)
        } catch {
            throw NumberError.fromProvider(error, offering: .init(country: country, type: type))
        }
        guard price.country == country, price.type == type else {
            throw NumberError(.unavailable, .providerUnavailable, "the provider priced another kind of number")
        }
        let entriesMax = config.caches.priceEntriesMax
        local.withLock { local in
            // Full: the oldest entry goes (clearing them all, as before, let searches across more kinds than the cache
            // holds empty it for everyone).
            if local.prices[key] == nil, local.prices.count >= entriesMax,
                let oldest = local.prices.min(by: { $0.value.fetchedAt < $1.value.fetchedAt })?.key
            {
                local.prices.removeValue(forKey: oldest)
            }
            local.prices[key] = (price, now)
        }
        return price
    }

    /// Keeps search listings so a purchase can record locality, region and postal code, and check a number's kind
    /// without asking the provider again.
    func remember(_ listings: [AvailableNumber]) {
        let now = now()
        let entriesMax = config.caches.listingEntriesMax
        local.withLock { local in
            for listing in listings { local.listings.insert(listing, at: now, entriesMax: entriesMax) }
        }
    }

    /// The listing seen in a recent search, if any.
    func listing(for phoneNumber: String) -> AvailableNumber? {
        let now = now()
        let ttl = TimeInterval(config.caches.listingTTLSeconds)
        return local.withLock { $0.listings.listing(for: phoneNumber, now: now, ttl: ttl) }
    }
}
