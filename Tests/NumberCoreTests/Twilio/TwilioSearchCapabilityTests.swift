import Foundation
import Testing

@testable import NumberCore

/// A review: Twilio's search answers often leave `fax` out of a number's capabilities (twilio-api.md §2.3). A search
/// for fax numbers sent `FaxEnabled=true`, Twilio filtered on it, the adapter read every result's missing `fax` as
/// false, and the service, which checks the capabilities asked for again, dropped them all: 0 results.
@Suite("A capability a search filtered on counts as present when Twilio's answer leaves it out")
struct TwilioSearchCapabilityTests {
    static let phone = "+14155550100"

    /// Twilio's answer to a search: one number, its capabilities with no `fax` key (`fax` as given, when not nil).
    static func answer(fax: Bool? = nil) -> String {
        let faxKey = fax.map { #", "fax": \#($0)"# } ?? ""
        return """
            {"available_phone_numbers": [
              {"phone_number": "\(phone)", "friendly_name": "(415) 555-0100", "iso_country": "US",
               "address_requirements": "none", "capabilities": {"voice": true, "SMS": true, "MMS": true\(faxKey)}}
            ]}
            """
    }

    static func offered(_ body: String, asking capabilities: Set<Capability>) throws -> [NumberCore.AvailableNumber] {
        let page = try #require(TwilioResources.decode(TwilioResources.AvailablePage.self, from: Array(body.utf8)))
        return TwilioProvider.offered(
            page, query: ProviderSearchQuery(country: "US", capabilities: capabilities), country: "US")
    }

    @Test("a key missing from a result counts as present for a capability filtered on, absent for the others")
    func missingKeyFollowsTheFilter() throws {
        let asked = try #require(try Self.offered(Self.answer(), asking: [.fax]).first)
        #expect(asked.capabilities == NumberCapabilities(voice: true, sms: true, mms: true, fax: true))
        let notAsked = try #require(try Self.offered(Self.answer(), asking: []).first)
        #expect(notAsked.capabilities == NumberCapabilities(voice: true, sms: true, mms: true, fax: false))
        // What the answer does say stands, filter or not.
        let saidNo = try #require(try Self.offered(Self.answer(fax: false), asking: [.fax]).first)
        #expect(!saidNo.capabilities.fax)
        // No capabilities object at all: the capabilities filtered on, nothing else.
        let bare = #"{"available_phone_numbers": [{"phone_number": "+14155550100"}]}"#
        let none = try #require(try Self.offered(bare, asking: [.fax, .voice]).first)
        #expect(none.capabilities == NumberCapabilities(voice: true, fax: true))
    }

    /// A review: the spec marks `phone_number` nullable, and one entry with null (or none) failed the whole page, so
    /// the search answered "provider unavailable".
    @Test("an entry without a phone number is left out; the rest of the page is offered")
    func entryWithoutANumber() throws {
        let body = """
            {"available_phone_numbers": [{"phone_number": null, "iso_country": "US"}, {"iso_country": "US"},
              {"phone_number": "\(Self.phone)", "iso_country": "US", "address_requirements": "none"}]}
            """
        #expect(try Self.offered(body, asking: []).map(\.phoneNumber) == [Self.phone])
    }

    @Test("a fax search over an answer without fax keys returns the number through the service")
    func serviceSearchForFaxFindsTheNumber() async throws {
        let service = try await NumberService.open(
            store: InMemoryNumberStore(), provider: CannedSearchProvider(body: Self.answer()),
            clock: ManualClock(Date(timeIntervalSince1970: 1_736_937_000)))
        let result = try await service.search(ProviderSearchQuery(country: "US", capabilities: [.fax], limit: 5))
        #expect(result.numbers.map(\.number.phoneNumber) == [Self.phone])
        #expect(result.numbers.first?.number.capabilities.fax == true)
        #expect(result.totalFound == 1)
    }
}

/// A provider whose searches answer `body`, Twilio's JSON, read as the adapter reads it; it prices US numbers and
/// does nothing else.
private struct CannedSearchProvider: NumberProvider {
    let body: String

    func search(_ query: ProviderSearchQuery) async throws -> [NumberCore.AvailableNumber] {
        guard let page = TwilioResources.decode(TwilioResources.AvailablePage.self, from: Array(body.utf8)) else {
            throw ProviderError(.unavailable, message: "the canned answer is not the expected JSON")
        }
        return TwilioProvider.offered(page, query: query, country: query.country)
    }

    func price(country: String, type: NumberCore.NumberType) async throws -> ProviderPrice {
        ProviderPrice(country: country, type: type, monthlyCostMicros: 1_150_000, currency: "USD")
    }

    func buy(phoneNumber: String, trunkSid: String?) async throws -> ProvisionedNumber {
        throw ProviderError(.unavailable, message: "this test buys nothing")
    }

    func release(sid: String) async throws {
        throw ProviderError(.unavailable, message: "this test releases nothing")
    }

    func setTrunk(sid: String, trunkSid: String?) async throws {
        throw ProviderError(.unavailable, message: "this test routes nothing")
    }

    func lookUp(phoneNumber: String) async throws -> ProvisionedNumber? { nil }
}
