import Testing

@testable import NumberCore

/// The `resource` label of numberd's Twilio metrics: one of the resources numberd asks for, or `other` — never a SID,
/// a number, a country code or a word from a next page's path, which Twilio's answers choose.
@Suite("Twilio metrics: the resource label")
struct TwilioMetricResourceTests {
    @Test(
        "every URL numberd calls is labelled by its resource",
        arguments: [
            ("https://api.twilio.com/2010-04-01/Accounts/AC0123/IncomingPhoneNumbers.json", "IncomingPhoneNumbers"),
            (
                "https://api.twilio.com/2010-04-01/Accounts/AC0123/IncomingPhoneNumbers/PN0123.json",
                "IncomingPhoneNumbers"
            ),
            ("https://api.twilio.com/2010-04-01/Accounts/AC0123/IncomingPhoneNumbers/Local.json", "Local"),
            (
                "https://api.twilio.com/2010-04-01/Accounts/AC0123/AvailablePhoneNumbers/US/TollFree.json?AreaCode=415",
                "TollFree"
            ),
            ("https://api.twilio.com/2010-04-01/Accounts/AC0123/AvailablePhoneNumbers/GB/Mobile.json", "Mobile"),
            ("https://api.twilio.com/2010-04-01/Accounts/AC0123.json", "Accounts"),
            ("https://pricing.twilio.com/v1/PhoneNumbers/Countries/US", "Countries"),
            ("https://trunking.twilio.com/v1/Trunks", "Trunks"),
            ("https://trunking.twilio.com/v1/Trunks/TK0123", "Trunks"),
            ("https://trunking.twilio.com/v1/Trunks/TK0123/PhoneNumbers/PN0123", "PhoneNumbers"),
            ("https://trunking.twilio.com/v1/Trunks/TK0123/OriginationUrls", "OriginationUrls"),
        ])
    func known(url: String, resource: String) {
        #expect(TwilioTransport.resource(of: url) == resource)
    }

    @Test("a path word numberd does not ask for (a next page's, from Twilio) is `other`: the label set stays bounded")
    func unknownIsOther() {
        let words = (0..<1000).map {
            "https://api.twilio.com/2010-04-01/Accounts/AC0123/Word\(String(repeating: "x", count: $0 % 50))Page.json"
        }
        #expect(Set(words.map(TwilioTransport.resource(of:))) == ["other"])
        #expect(TwilioTransport.resource(of: "https://api.twilio.com/") == "other")
        #expect(TwilioTransport.resource(of: "") == "other")
    }
}
