/// A country the simulator sells numbers in: its name, types on sale and numbering areas.
public struct CountryCatalog: Sendable {
    /// ISO code, e.g. `US`.
    public var isoCountry: String
    /// Country name as Twilio shows it.
    public var name: String
    /// Types sold, in Twilio's `subresource_uris` order.
    public var types: [NumberType]
    /// The numbering areas of every type.
    public var areas: [NumberingArea]
    /// Monthly price per type, as Twilio's Pricing API string (`"1.15"`).
    public var prices: [NumberType: String]
    /// Types whose purchase needs an approved regulatory Bundle (`BundleSid`), as Twilio requires for most numbers
    /// outside the US and Canada: a purchase without one is refused with 400/21649 (twilio-api.md §6.2, §8.14).
    /// Twilio's search results do not say so (only `address_requirements`). None in the US and Canada.
    public var bundleRequired: Set<NumberType> = []

    /// Whether buying `type` numbers here needs an approved Bundle.
    public func requiresBundle(_ type: NumberType) -> Bool { bundleRequired.contains(type) }

    /// The countries the simulator knows: US, CA and GB, with real area codes and localities.
    public static let all: [CountryCatalog] = [unitedStates, canada, unitedKingdom]

    /// The country for an ISO code (upper case), or nil.
    public static func named(_ iso: String) -> CountryCatalog? {
        all.first(where: { $0.isoCountry == iso })
    }

    private static func nanpLocal(
        _ iso: String, _ code: String, _ city: String, _ region: String, lata: String?, rate: String,
        postal: [String], _ lat: Double, _ lon: Double
    ) -> NumberingArea {
        NumberingArea(
            isoCountry: iso, type: .local, prefix: "1" + code, subscriberDigits: 7, areaCode: code, locality: city,
            region: region, lata: lata, rateCenter: rate, postalCodes: postal, latitude: lat, longitude: lon,
            addressRequirements: "none")
    }

    private static func nanpTollFree(_ iso: String) -> [NumberingArea] {
        ["800", "833", "844", "855", "866", "877", "888"].map { code in
            NumberingArea(
                isoCountry: iso, type: .tollFree, prefix: "1" + code, subscriberDigits: 7, areaCode: code,
                locality: nil, region: nil, lata: nil, rateCenter: nil, postalCodes: [], latitude: nil, longitude: nil,
                addressRequirements: "none")
        }
    }

    private static func gb(
        _ type: NumberType, _ prefix: String, _ digits: Int, _ city: String?, postal: [String], _ lat: Double?,
        _ lon: Double?, address: String
    ) -> NumberingArea {
        NumberingArea(
            isoCountry: "GB", type: type, prefix: prefix, subscriberDigits: digits, areaCode: nil, locality: city,
            region: nil, lata: nil, rateCenter: nil, postalCodes: postal, latitude: lat, longitude: lon,
            addressRequirements: address)
    }

    static let unitedStates = CountryCatalog(
        isoCountry: "US", name: "United States", types: [.local, .tollFree],
        areas: [
            nanpLocal(
                "US", "415", "San Francisco", "CA", lata: "722", rate: "SNFC CNTRL",
                postal: ["94102", "94103", "94107", "94110", "94114"], 37.774900, -122.419400),
            nanpLocal(
                "US", "510", "Oakland", "CA", lata: "722", rate: "OKLD", postal: ["94607", "94610", "94612"], 37.804400,
                -122.271100),
            nanpLocal(
                "US", "213", "Los Angeles", "CA", lata: "730", rate: "LSAN DA 01",
                postal: ["90012", "90013", "90014", "90017"], 34.052200, -118.243700),
            nanpLocal(
                "US", "212", "New York", "NY", lata: "132", rate: "NWYRCYZN01",
                postal: ["10001", "10002", "10003", "10011"], 40.712800, -74.006000),
            nanpLocal(
                "US", "646", "New York", "NY", lata: "132", rate: "NWYRCYZN03", postal: ["10016", "10019", "10022"],
                40.750000, -73.997000),
            nanpLocal(
                "US", "312", "Chicago", "IL", lata: "358", rate: "CHICAGO",
                postal: ["60601", "60602", "60603", "60606"],
                41.878100, -87.629800),
            nanpLocal(
                "US", "617", "Boston", "MA", lata: "128", rate: "BOSTON", postal: ["02108", "02109", "02110", "02116"],
                42.360100, -71.058900),
            nanpLocal(
                "US", "206", "Seattle", "WA", lata: "674", rate: "SEATTLE",
                postal: ["98101", "98104", "98109", "98121"],
                47.606200, -122.332100),
            nanpLocal(
                "US", "305", "Miami", "FL", lata: "460", rate: "MIAMI", postal: ["33128", "33130", "33131", "33132"],
                25.761700, -80.191800),
            nanpLocal(
                "US", "512", "Austin", "TX", lata: "558", rate: "AUSTIN", postal: ["78701", "78702", "78703", "78704"],
                30.267200, -97.743100),
            nanpLocal(
                "US", "303", "Denver", "CO", lata: "656", rate: "DENVER", postal: ["80202", "80203", "80204", "80205"],
                39.739200, -104.990300),
            nanpLocal(
                "US", "404", "Atlanta", "GA", lata: "438", rate: "ATLANTA",
                postal: ["30303", "30305", "30308", "30309"],
                33.749000, -84.388000),
            nanpLocal(
                "US", "808", "Hilo", "HI", lata: "834", rate: "HILO", postal: ["96720"], 19.720000, -155.090000),
        ] + nanpTollFree("US"),
        prices: [.local: "1.15", .tollFree: "2.15"])

    static let canada = CountryCatalog(
        isoCountry: "CA", name: "Canada", types: [.local, .tollFree],
        areas: [
            nanpLocal(
                "CA", "416", "Toronto", "ON", lata: nil, rate: "TORONTO", postal: ["M5H 2N2", "M5V 3L9", "M4W 1A8"],
                43.653200, -79.383200),
            nanpLocal(
                "CA", "647", "Toronto", "ON", lata: nil, rate: "TORONTO", postal: ["M5J 2H7", "M6J 1E6"], 43.653200,
                -79.383200),
            nanpLocal(
                "CA", "604", "Vancouver", "BC", lata: nil, rate: "VANCOUVER",
                postal: ["V6B 1A1", "V6C 3E1", "V5K 0A1"],
                49.282700, -123.120700),
            nanpLocal(
                "CA", "514", "Montreal", "QC", lata: nil, rate: "MONTREAL", postal: ["H2X 1Y4", "H3B 2Y5"], 45.501700,
                -73.567300),
            nanpLocal(
                "CA", "403", "Calgary", "AB", lata: nil, rate: "CALGARY", postal: ["T2P 1J9", "T2G 0P6"], 51.044700,
                -114.071900),
            nanpLocal(
                "CA", "613", "Ottawa", "ON", lata: nil, rate: "OTTAWA", postal: ["K1P 5J2", "K1A 0A6"], 45.421500,
                -75.697200),
        ] + nanpTollFree("CA"),
        prices: [.local: "1.15", .tollFree: "2.15"])

    static let unitedKingdom = CountryCatalog(
        isoCountry: "GB", name: "United Kingdom", types: [.local, .mobile, .tollFree],
        areas: [
            gb(
                .local, "4420", 8, "London", postal: ["EC1A 1BB", "WC2N 5DU", "SW1A 1AA"], 51.507400, -0.127800,
                address: "any"),
            gb(.local, "44161", 7, "Manchester", postal: ["M1 1AE", "M2 5DB"], 53.480800, -2.242600, address: "any"),
            gb(.local, "44121", 7, "Birmingham", postal: ["B1 1BB", "B2 4QA"], 52.486200, -1.890400, address: "any"),
            gb(.local, "44141", 7, "Glasgow", postal: ["G1 1XQ", "G2 1DY"], 55.864200, -4.251800, address: "any"),
            gb(.local, "44131", 7, "Edinburgh", postal: ["EH1 1YZ", "EH2 2BY"], 55.953300, -3.188300, address: "any"),
            gb(.local, "44113", 7, "Leeds", postal: ["LS1 4DY", "LS2 7HE"], 53.800800, -1.549100, address: "any"),
            gb(.mobile, "4474", 8, nil, postal: [], nil, nil, address: "any"),
            gb(.mobile, "4475", 8, nil, postal: [], nil, nil, address: "any"),
            gb(.mobile, "4477", 8, nil, postal: [], nil, nil, address: "any"),
            gb(.mobile, "4478", 8, nil, postal: [], nil, nil, address: "any"),
            gb(.mobile, "4479", 8, nil, postal: [], nil, nil, address: "any"),
            gb(.tollFree, "44800", 7, nil, postal: [], nil, nil, address: "none"),
            gb(.tollFree, "44808", 7, nil, postal: [], nil, nil, address: "none"),
        ],
        prices: [.local: "1.15", .mobile: "1.15", .tollFree: "2.00"],
        // Ofcom-regulated: every GB number type needs a Bundle at Twilio, toll-free too (it needs no Address).
        bundleRequired: [.local, .mobile, .tollFree])
}
