import CurlHTTP
import Foundation
import Testing
import TwilioSimulator

@testable import NumberCore

@Suite("TwilioProvider search over HTTPS against the simulator")
struct TwilioProviderSearchTests {
    @Test func localSearchMapsResultsAndCapabilityCasing() async throws {
        try await withTwilio { twilio in
            let query = ProviderSearchQuery(
                country: "US", type: .local, areaCode: "415", capabilities: [.voice, .sms], limit: 5)
            let numbers = try await twilio.provider.search(query)
            #expect(!numbers.isEmpty && numbers.count <= 5)
            for number in numbers {
                #expect(number.phoneNumber.hasPrefix("+1415"))
                #expect(number.country == "US")
                #expect(number.type == NumberCore.NumberType.local)
                #expect(number.locality == "San Francisco")
                #expect(number.region == "CA")
                #expect(number.postalCode != nil)
                // The simulator sends "SMS"/"MMS" upper case like live Twilio; they must not read as false.
                #expect(number.capabilities.voice && number.capabilities.sms)
            }
            let request = try #require(twilio.requests(.searchNumbers).last)
            #expect(request.path.hasSuffix("/AvailablePhoneNumbers/US/Local.json"))
            let parameters = try #require(FormURLEncoding.decode(request.query)).reduce(into: [String: String]()) {
                $0[$1.0] = $1.1
            }
            #expect(parameters["AreaCode"] == "415")
            #expect(parameters["VoiceEnabled"] == "true")
            #expect(parameters["SmsEnabled"] == "true")
            #expect(parameters["MmsEnabled"] == nil)
            #expect(parameters["PageSize"] == "5")
        }
    }

    @Test func filtersGoOutAsTwilioParameters() async throws {
        try await withTwilio { twilio in
            let query = ProviderSearchQuery(
                country: "us", type: .local, contains: "55*", region: "NY", locality: "New York",
                postalCode: "10001", capabilities: [.mms, .fax], limit: 3)
            let numbers = try await twilio.provider.search(query)
            for number in numbers { #expect(number.region == "NY") }
            let request = try #require(twilio.requests(.searchNumbers).last)
            #expect(request.query.contains("Contains=55%2A"))
            #expect(request.query.contains("InRegion=NY"))
            #expect(request.query.contains("InLocality=New%20York"))
            #expect(request.query.contains("InPostalCode=10001"))
            #expect(request.query.contains("MmsEnabled=true"))
            #expect(request.query.contains("FaxEnabled=true"))
        }
    }

    @Test func lettersInContainsReachTwilio() async throws {
        try await withTwilio { twilio in
            _ = try await twilio.provider.search(ProviderSearchQuery(country: "US", contains: "CALL", limit: 2))
            #expect(twilio.requests(.searchNumbers).last?.query.contains("Contains=CALL") == true)
        }
    }

    @Test func tollFreeSearchUsesTheTollFreePath() async throws {
        try await withTwilio { twilio in
            let numbers = try await twilio.provider.search(
                ProviderSearchQuery(country: "US", type: .tollFree, limit: 4))
            #expect(!numbers.isEmpty)
            #expect(numbers.allSatisfy { $0.type == .tollFree && $0.locality == nil })
            #expect(twilio.requests(.searchNumbers).last?.path.hasSuffix("/US/TollFree.json") == true)
        }
    }

    @Test func limitCapsResultsAndPageSize() async throws {
        try await withTwilio(configure: { $0.limits.searchPageSizeMax = 2 }) { twilio in
            let numbers = try await twilio.provider.search(ProviderSearchQuery(country: "US", limit: 10))
            #expect(numbers.count <= 2)
            #expect(twilio.requests(.searchNumbers).last?.query.contains("PageSize=2") == true)
        }
    }

    /// `total_found` counts the one page numberd asks for, at most 100 (`searchResultsMax`, `searchPageSizeMax`): with
    /// a carrier holding far more matches than that it is 100, a lower bound, never the carrier's whole count.
    @Test("total found is at most 100, one page's count, with the carrier holding more matches")
    func totalFoundIsOnePageOfAtMost100() async throws {
        var simulator = SimulatorConfiguration.defaults
        simulator.limits.searchResultsMax = 1_000  // Twilio answers about 30; here a search fills its page
        try await withServiceOverTwilio(simulatorConfiguration: simulator) { twilio, service, _, _ in
            #expect(twilio.engine.availableNumbers(country: "US", type: .local, limit: 500).count == 500)
            let found = try await service.search(ProviderSearchQuery(country: "US", limit: 10))
            #expect(found.numbers.count == 10 && found.totalFound == 100)
            #expect(twilio.requests(.searchNumbers).last?.query.contains("PageSize=100") == true)
        }
    }

    @Test func typeNotSoldInCountryIsNotFound() async throws {
        try await withTwilio { twilio in
            let error = await expectProviderError(.notFound) {
                try await twilio.provider.search(ProviderSearchQuery(country: "US", type: .mobile, limit: 2))
            }
            #expect(error?.providerCode == 20404)
        }
    }

    @Test(arguments: [
        ProviderSearchQuery(country: "USA", limit: 1),
        ProviderSearchQuery(country: "U1", limit: 1),
        ProviderSearchQuery(country: "US", limit: 0),
        ProviderSearchQuery(country: "US", areaCode: "41a", limit: 1),
        ProviderSearchQuery(country: "US", contains: "55%", limit: 1),
        ProviderSearchQuery(country: "US", contains: String(repeating: "5", count: 17), limit: 1),
        ProviderSearchQuery(country: "US", contains: "55*5", limit: 1),
        ProviderSearchQuery(country: "US", contains: "+*415", limit: 1),
        ProviderSearchQuery(country: "US", contains: "5", limit: 1),
    ])
    func badQueriesFailBeforeAnyRequest(query: ProviderSearchQuery) async throws {
        try await withTwilio { twilio in
            await expectProviderError(.invalidArgument) { try await twilio.provider.search(query) }
            #expect(twilio.engine.requestLog.isEmpty)
        }
    }

    /// The accepted side of the adapter's `Contains` length check (17 characters are refused above).
    @Test func containsOfSixteenCharactersIsSent() async throws {
        try await withTwilio { twilio in
            let pattern = String(repeating: "5", count: 16)
            _ = try await twilio.provider.search(ProviderSearchQuery(country: "US", contains: pattern, limit: 1))
            #expect(twilio.requests(.searchNumbers).last?.query.contains("Contains=\(pattern)") == true)
        }
    }
}
