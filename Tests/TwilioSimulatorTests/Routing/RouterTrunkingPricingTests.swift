import Foundation
import Testing

@testable import TwilioSimulator

@Suite struct RouterTrunkingPricingTests {
    @Test func pricingPerCountryAndType() {
        var h = RouterHarness()
        let us = h.send("GET", "/v1/PhoneNumbers/Countries/US")
        #expect(us.status == 200)
        let prices = us.json["phone_number_prices"] as? [[String: String]] ?? []
        #expect(prices.first { $0["number_type"] == "local" }?["current_price"] == "1.15")
        #expect(prices.first { $0["number_type"] == "toll free" }?["base_price"] == "2.15")
        #expect(us.json["price_unit"] as? String == "USD")
        #expect(us.json["url"] as? String == "https://sim.test/v1/PhoneNumbers/Countries/US")
        let gb = h.send("GET", "/v1/PhoneNumbers/Countries/GB").json["phone_number_prices"] as? [[String: String]]
        #expect(gb?.map { $0["number_type"] } == ["local", "mobile", "toll free"])
        #expect(h.send("GET", "/v1/PhoneNumbers/Countries/ZZ").code == 20404)
        let list = h.send("GET", "/v1/PhoneNumbers/Countries")
        #expect((list.json["meta"] as? [String: Any])?["key"] as? String == "countries")
        #expect((list.json["countries"] as? [Any])?.count == 3)
    }

    @Test func trunkLifecycleWithNumbers() throws {
        var h = RouterHarness()
        let created = h.send(
            "POST", "/v1/Trunks", form: [("FriendlyName", "pbx"), ("DomainName", "acme.pstn.twilio.com")])
        #expect(created.status == 201)
        let trunk = try #require(created.json["sid"] as? String)
        #expect(created.json["date_created"] as? String == "2015-07-30T23:19:04Z")
        #expect(created.json["url"] as? String == "https://sim.test/v1/Trunks/\(trunk)")
        let dup = h.send("POST", "/v1/Trunks", form: [("DomainName", "acme.pstn.twilio.com")])
        #expect(dup.code == 21248)
        #expect(h.send("POST", "/v1/Trunks", form: [("DomainName", "acme.example.com")]).status == 400)

        let number = try #require(h.search("US", "Local").first?["phone_number"] as? String)
        let pn = try #require(h.buy(number).json["sid"] as? String)
        let added = h.send("POST", "/v1/Trunks/\(trunk)/PhoneNumbers", form: [("PhoneNumberSid", pn)])
        #expect(added.status == 201)
        #expect(added.json["trunk_sid"] as? String == trunk)
        #expect(h.state.owned[pn]?.trunkSid == trunk)
        let listed = h.send("GET", "/v1/Trunks/\(trunk)/PhoneNumbers")
        #expect((listed.json["phone_numbers"] as? [[String: Any]])?.first?["sid"] as? String == pn)
        #expect((listed.json["meta"] as? [String: Any])?["key"] as? String == "phone_numbers")
        #expect(h.send("GET", "/v1/Trunks/\(trunk)/PhoneNumbers/\(pn)").status == 200)
        #expect(h.send("DELETE", "/v1/Trunks/\(trunk)/PhoneNumbers/\(pn)").status == 204)
        #expect(h.state.owned[pn]?.trunkSid == nil)
        #expect(h.send("DELETE", "/v1/Trunks/\(trunk)/PhoneNumbers/\(pn)").status == 404)

        _ = h.send("POST", "/v1/Trunks/\(trunk)/PhoneNumbers", form: [("PhoneNumberSid", pn)])
        #expect(h.send("DELETE", "/v1/Trunks/\(trunk)").status == 204)
        #expect(h.state.owned[pn]?.trunkSid == nil)
        #expect(h.send("GET", "/v1/Trunks/\(trunk)").status == 404)
    }

    @Test func trunkNumberErrors() throws {
        var h = RouterHarness()
        let trunk = try #require(h.send("POST", "/v1/Trunks").json["sid"] as? String)
        #expect(h.send("POST", "/v1/Trunks/\(trunk)/PhoneNumbers").status == 400)
        #expect(h.send("POST", "/v1/Trunks/\(trunk)/PhoneNumbers", form: [("PhoneNumberSid", "PN1")]).status == 400)
        let unknown = "PN" + String(repeating: "a", count: 32)
        #expect(h.send("POST", "/v1/Trunks/\(trunk)/PhoneNumbers", form: [("PhoneNumberSid", unknown)]).code == 20404)
        let missing = "TK" + String(repeating: "a", count: 32)
        #expect(h.send("GET", "/v1/Trunks/\(missing)/PhoneNumbers").code == 20404)
        #expect(h.send("POST", "/v1/Trunks", form: [("TransferMode", "sometimes")]).status == 400)
    }

    /// FriendlyName's 64 is counted in UTF-16 code units (the simulator's assumption of what Twilio counts): 16 flags
    /// (64 units) pass, 17 (68) and 64 (256, though 64 `Character`s) are refused; 64 ASCII pass, 65 do not.
    @Test(arguments: [
        (String(repeating: "🇺🇸", count: 16), 201), (String(repeating: "🇺🇸", count: 17), 400),
        (String(repeating: "🇺🇸", count: 64), 400), (String(repeating: "a", count: 64), 201),
        (String(repeating: "a", count: 65), 400), (String(repeating: "é", count: 64), 201),
    ])
    func friendlyNameLimitCountsUTF16Units(name: String, status: Int) throws {
        var h = RouterHarness()
        let created = h.send("POST", "/v1/Trunks", form: [("FriendlyName", name)])
        #expect(created.status == status, "\(name.utf16.count) units")
        if status == 400 { #expect(created.code == 20001) }
        let number = try #require(h.search().first?["phone_number"] as? String)
        let bought = h.buy(number, extra: [("FriendlyName", name)])
        #expect(bought.status == status, "\(name.utf16.count) units on a number")
    }

    /// A trunk's `DisasterRecoveryUrl` had no length limit; it is held to `callbackUrlBytesMax` (255) bytes now.
    @Test func disasterRecoveryUrlLengthEdge() throws {
        var h = RouterHarness()
        let limit = h.configuration.limits.callbackUrlBytesMax
        let base = "https://pbx.test/"
        let atLimit = base + String(repeating: "a", count: limit - base.utf8.count)
        let created = h.send("POST", "/v1/Trunks", form: [("DisasterRecoveryUrl", atLimit)])
        #expect(created.status == 201)
        #expect(created.json["disaster_recovery_url"] as? String == atLimit)
        let trunk = try #require(created.json["sid"] as? String)
        let longer = h.send("POST", "/v1/Trunks/\(trunk)", form: [("DisasterRecoveryUrl", atLimit + "a")])
        #expect(longer.status == 400 && longer.code == 20001)
        #expect(h.state.trunks[trunk]?.disasterRecoveryUrl == atLimit)
        #expect(h.send("POST", "/v1/Trunks", form: [("DisasterRecoveryUrl", atLimit + "a")]).code == 20001)
        #expect(h.state.trunks.count == 1)
    }

    @Test func trunkLimitEdge() {
        var configuration = SimulatorConfiguration.defaults
        configuration.limits.trunksMax = 2
        var h = RouterHarness(configuration: configuration)
        #expect(h.send("POST", "/v1/Trunks").status == 201)
        #expect(h.send("POST", "/v1/Trunks").status == 201)
        #expect(h.send("POST", "/v1/Trunks").status == 400)
    }
}
