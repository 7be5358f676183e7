import Foundation
import Testing

@testable import TwilioSimulator

@Suite struct RouterSearchTests {
    @Test func unfilteredSearchReturnsThirtyWithoutPagingFields() {
        var h = RouterHarness()
        let reply = h.send("GET", "\(h.api)/AvailablePhoneNumbers/US/Local.json")
        #expect(reply.status == 200)
        #expect(Set(reply.json.keys) == ["uri", "available_phone_numbers"])
        #expect((reply.json["available_phone_numbers"] as? [Any])?.count == 30)
        #expect(reply.json["uri"] as? String == "\(h.api)/AvailablePhoneNumbers/US/Local.json")
    }

    @Test func pageSizeBelowCapLimitsResultsAndCapHolds() {
        var h = RouterHarness()
        #expect(h.search("US", "Local", [("PageSize", "5")]).count == 5)
        #expect(h.search("US", "Local", [("PageSize", "1000")]).count == 30)
        #expect(
            h.send("GET", "\(h.api)/AvailablePhoneNumbers/US/Local.json", query: [("PageSize", "1001")]).status == 400)
        #expect(h.send("GET", "\(h.api)/AvailablePhoneNumbers/US/Local.json", query: [("PageSize", "0")]).status == 400)
    }

    @Test(arguments: [("415", "San Francisco", "CA"), ("212", "New York", "NY"), ("312", "Chicago", "IL")])
    func areaCodeFilter(code: String, city: String, region: String) {
        var h = RouterHarness()
        let found = h.search("US", "Local", [("AreaCode", code)])
        #expect(found.count == 30)
        for n in found {
            #expect((n["phone_number"] as? String)?.hasPrefix("+1" + code) == true)
            #expect(n["locality"] as? String == city)
            #expect(n["region"] as? String == region)
        }
    }

    @Test func canadianAndBritishLocalities() {
        var h = RouterHarness()
        for n in h.search("CA", "Local", [("AreaCode", "604")]) {
            #expect(n["locality"] as? String == "Vancouver")
            #expect(n["region"] as? String == "BC")
        }
        let london = h.search("GB", "Local", [("InLocality", "london")])
        #expect(london.count == 30)
        for n in london { #expect((n["phone_number"] as? String)?.hasPrefix("+4420") == true) }
        let manchester = h.search("GB", "Local", [("Contains", "+44161")])
        #expect(manchester.count == 30)
        for n in manchester { #expect(n["locality"] as? String == "Manchester") }
    }

    @Test func regionPostalCodeAndCapabilityFilters() {
        var h = RouterHarness()
        let found = h.search("US", "Local", [("InRegion", "CA"), ("InPostalCode", "94110"), ("FaxEnabled", "true")])
        #expect(!found.isEmpty)
        for n in found {
            #expect(n["region"] as? String == "CA")
            #expect(n["postal_code"] as? String == "94110")
            #expect((n["capabilities"] as? [String: Bool])?["fax"] == true)
        }
        for n in h.search("US", "Local", [("SmsEnabled", "true"), ("MmsEnabled", "true"), ("VoiceEnabled", "true")]) {
            let caps = n["capabilities"] as? [String: Bool] ?? [:]
            #expect(caps["SMS"] == true && caps["MMS"] == true && caps["voice"] == true)
        }
    }

    @Test func searchCapabilitiesUseLiveCasingAndCoordinatesAreStrings() throws {
        var h = RouterHarness()
        let n = try #require(h.search("US", "Local").first)
        let caps = try #require(n["capabilities"] as? [String: Bool])
        #expect(Set(caps.keys) == ["voice", "SMS", "MMS", "fax"])
        #expect(n["latitude"] is String)
        #expect(n["longitude"] is String)
        #expect(n["iso_country"] as? String == "US")
        #expect(n["address_requirements"] as? String == "none")
    }

    @Test func tollFreeHasNoGeography() {
        var h = RouterHarness()
        let found = h.search("US", "TollFree")
        #expect(found.count == 30)
        for n in found {
            #expect(n["locality"] is NSNullType)
            #expect(n["lata"] is NSNullType)
            #expect(n["latitude"] is NSNullType)
        }
    }

    @Test func containsWithLettersAndWildcard() throws {
        var h = RouterHarness()
        let storm = h.search("US", "Local", [("Contains", "STORM")])
        #expect(storm.count == 30)
        for n in storm { #expect((n["phone_number"] as? String)?.contains("78676") == true) }
        let anchored = h.search("US", "Local", [("Contains", "+1212***")])
        #expect(!anchored.isEmpty)
        let pattern = try ContainsPattern("+1212***")
        for n in anchored { #expect(pattern.matches(n["phone_number"] as? String ?? "")) }
    }

    /// Every number of a numbering area has the area's address requirement, so an area the `Exclude*AddressRequired`
    /// filters refuse is dropped before any of its candidates is examined: a GB local or mobile search with
    /// `ExcludeAllAddressRequired=true` (numberd sends it on every search) examined `searchScanMax` (200 000)
    /// candidates to answer nothing. It answers nothing at once; where the filter refuses no area (US, GB
    /// toll-free), or is not given, the results are as before.
    @Test func anAreaWhoseAddressRequirementIsExcludedIsNeverScanned() throws {
        var h = RouterHarness()
        let excludeAll = FormParameters(pairs: [("ExcludeAllAddressRequired", "true")])
        for type in [NumberType.local, .mobile] {
            let filter = try SearchFilter(excludeAll, isoCountry: "GB", type: type)
            let areas = CountryCatalog.unitedKingdom.areas.filter { $0.type == type && filter.matchesArea($0) }
            let examined = h.state.inventory.enumerate(areas: areas, pattern: nil, scanMax: 200_000) { _ in true }
            #expect(examined == 0, "\(type)")
            let reply = h.send(
                "GET", "\(h.api)/AvailablePhoneNumbers/GB/\(type.pathComponent).json",
                query: [("ExcludeAllAddressRequired", "true")])
            #expect(reply.status == 200)
            #expect((reply.json["available_phone_numbers"] as? [Any])?.isEmpty == true)
        }
        // GB local numbers need "any" address: the local-only and foreign-only filters keep them.
        for name in ["ExcludeLocalAddressRequired", "ExcludeForeignAddressRequired"] {
            let filter = try SearchFilter(FormParameters(pairs: [(name, "true")]), isoCountry: "GB", type: .local)
            let kept = CountryCatalog.unitedKingdom.areas.filter { $0.type == .local && filter.matchesArea($0) }
            #expect(kept.count == 6, "\(name)")
        }
        for (country, type) in [("US", "Local"), ("GB", "TollFree"), ("CA", "TollFree")] {
            let plain = h.search(country, type).compactMap { $0["phone_number"] as? String }
            let excluding = h.search(country, type, [("ExcludeAllAddressRequired", "true")]).compactMap {
                $0["phone_number"] as? String
            }
            #expect(plain.count == 30 && excluding == plain, "\(country) \(type)")
        }
        #expect(h.search("GB", "Local").count == 30)
        #expect(h.search("GB", "Mobile").count == 30)
    }

    /// A capability no number of an area can have (MMS on US or CA toll-free, SMS on GB toll-free) was checked only
    /// number by number, so such a search examined `searchScanMax` (200 000) candidates on the shared event loop to
    /// answer nothing. The area is dropped before any candidate is examined; a capability some numbers have (SMS on
    /// US toll-free) still finds them.
    @Test func anAreaWhoseNumbersCannotHaveACapabilityAskedForIsNeverScanned() throws {
        var h = RouterHarness()
        let impossible: [(CountryCatalog, String)] = [
            (.unitedStates, "MmsEnabled"), (.canada, "MmsEnabled"), (.unitedKingdom, "SmsEnabled"),
        ]
        for (country, name) in impossible {
            let asked = FormParameters(pairs: [(name, "true")])
            let filter = try SearchFilter(asked, isoCountry: country.isoCountry, type: .tollFree)
            let areas = country.areas.filter { $0.type == .tollFree && filter.matchesArea($0) }
            #expect(areas.isEmpty, "\(country.isoCountry) \(name)")
            let examined = h.state.inventory.enumerate(areas: areas, pattern: nil, scanMax: 200_000) { _ in true }
            #expect(examined == 0, "\(country.isoCountry) \(name)")
            let reply = h.send(
                "GET", "\(h.api)/AvailablePhoneNumbers/\(country.isoCountry)/TollFree.json", query: [(name, "true")])
            #expect(reply.status == 200)
            #expect((reply.json["available_phone_numbers"] as? [Any])?.isEmpty == true)
        }
        let sms = h.search("US", "TollFree", [("SmsEnabled", "true")])
        #expect(sms.count == 30)
        for n in sms { #expect((n["capabilities"] as? [String: Bool])?["SMS"] == true) }
    }

    @Test func noMatchIsAnEmptyList() {
        var h = RouterHarness()
        let reply = h.send("GET", "\(h.api)/AvailablePhoneNumbers/US/Local.json", query: [("Contains", "+44")])
        #expect(reply.status == 200)
        #expect((reply.json["available_phone_numbers"] as? [Any])?.isEmpty == true)
    }

    @Test(arguments: [
        ("US", "Mobile", 404, 20404), ("XX", "Local", 404, 20404), ("US", "National", 404, 20404),
        ("GB", "Mobile", 200, 0),
    ])
    func unsupportedTypesAre404(country: String, type: String, status: Int, code: Int) {
        var h = RouterHarness()
        let reply = h.send("GET", "\(h.api)/AvailablePhoneNumbers/\(country)/\(type).json")
        #expect(reply.status == status)
        if status == 404 {
            #expect(reply.code == code)
            #expect(
                reply.json["message"] as? String
                    == "The requested resource \(h.api)/AvailablePhoneNumbers/\(country)/\(type).json was not found")
        }
    }

    @Test(arguments: [
        ("AreaCode", "41", 21451), ("AreaCode", "015", 21451), ("Contains", "1", 20001),
        ("SmsEnabled", "yes", 20001), ("Distance", "501", 20001), ("InRateCenter", "HILO", 20001),
        ("NearLatLong", "abc", 20001),
    ])
    func badFiltersAre400(name: String, value: String, code: Int) {
        var h = RouterHarness()
        let reply = h.send("GET", "\(h.api)/AvailablePhoneNumbers/US/Local.json", query: [(name, value)])
        #expect(reply.status == 400)
        #expect(reply.code == code)
        #expect(reply.json["more_info"] as? String == "https://www.twilio.com/docs/errors/\(code)")
        #expect(reply.json["status"] as? Int == 400)
    }

    @Test func nearLatLongKeepsWithinDistance() {
        var h = RouterHarness()
        let found = h.search("US", "Local", [("NearLatLong", "37.7749,-122.4194"), ("Distance", "10")])
        #expect(!found.isEmpty)
        for n in found { #expect(["San Francisco", "Oakland"].contains(n["locality"] as? String ?? "")) }
    }

    @Test func nearNumberUsesThatNumbersLocation() throws {
        var h = RouterHarness()
        let seattle = try #require(h.search("US", "Local", [("AreaCode", "206")]).first?["phone_number"] as? String)
        let found = h.search("US", "Local", [("NearNumber", seattle), ("Distance", "50")])
        #expect(!found.isEmpty)
        for n in found { #expect(n["locality"] as? String == "Seattle") }
        let unknown = h.send(
            "GET", "\(h.api)/AvailablePhoneNumbers/US/Local.json", query: [("NearNumber", "+15550000000")])
        #expect(unknown.status == 400)
    }

    /// `NearNumber` found a location only for a number in the simulated carrier's inventory, so a customer's own
    /// number (a 555 one, never in it) was a 400; Twilio places any US or CA number. Its numbering area places it.
    @Test("NearNumber places a number the carrier does not hold by its area code: nearby numbers, not a 400")
    func nearNumberOutsideTheInventoryIsPlacedByItsArea() {
        var h = RouterHarness()
        let number = "+14155550123"
        #expect(h.state.inventoryEntry(number) == nil)
        let reply = h.send(
            "GET", "\(h.api)/AvailablePhoneNumbers/US/Local.json", query: [("NearNumber", number), ("Distance", "25")])
        #expect(reply.status == 200)
        let found = reply.json["available_phone_numbers"] as? [[String: Any]] ?? []
        #expect(!found.isEmpty)
        for n in found { #expect(["San Francisco", "Oakland"].contains(n["locality"] as? String ?? "")) }
    }

    /// The simulator review: Twilio's place filters take a phone number too ("search within the same region … as
    /// that number"); the simulator compared it as text and found nothing.
    @Test("the place filters (InRegion, InLocality, InPostalCode, InLata, InRateCenter) take a phone number's place")
    func placeFiltersTakeANumber() throws {
        var h = RouterHarness()
        let seattle = try #require(h.search("US", "Local", [("AreaCode", "206")]).first)
        let number = try #require(seattle["phone_number"] as? String)
        for (filter, field) in [("InRegion", "region"), ("InLocality", "locality")] {
            let found = h.search("US", "Local", [(filter, number)])
            #expect(!found.isEmpty, "\(filter)")
            for n in found { #expect(n[field] as? String == seattle[field] as? String, "\(filter)") }
        }
        let postal = h.search("US", "Local", [("InPostalCode", number)])
        #expect(!postal.isEmpty)
        #expect(postal.allSatisfy { ($0["locality"] as? String) == "Seattle" }, "\(postal.map { $0["postal_code"] })")
        let lata = try #require(seattle["lata"] as? String)
        let rateCenter = h.search("US", "Local", [("InLata", number), ("InRateCenter", number)])
        #expect(!rateCenter.isEmpty)
        for n in rateCenter {
            #expect(n["lata"] as? String == lata && n["rate_center"] as? String == seattle["rate_center"] as? String)
        }
        // A number no area knows places nothing: no match, as a place no number has.
        #expect(h.search("US", "Local", [("InRegion", "+15550000000")]).isEmpty)
    }

    @Test func countriesListAndFetch() {
        var h = RouterHarness()
        let list = h.send("GET", "\(h.api)/AvailablePhoneNumbers.json")
        let countries = list.json["countries"] as? [[String: Any]] ?? []
        #expect(countries.map { $0["country_code"] as? String } == ["US", "CA", "GB"])
        let gb = h.send("GET", "\(h.api)/AvailablePhoneNumbers/GB.json")
        let uris = gb.json["subresource_uris"] as? [String: String] ?? [:]
        #expect(Set(uris.keys) == ["local", "mobile", "toll_free"])
        #expect(h.send("GET", "\(h.api)/AvailablePhoneNumbers/FR.json").status == 404)
    }
}

/// `NSNull` without importing Foundation's name into every assertion.
typealias NSNullType = NSNull
