import Foundation
import Testing

@testable import TwilioSimulator

@Suite struct RouterPurchaseTests {
    @Test func buyRemovesFromSearchAndReleaseReturnsIt() throws {
        var h = RouterHarness()
        let number = try #require(h.search("US", "Local", [("AreaCode", "212")]).first?["phone_number"] as? String)
        let bought = h.buy(number)
        #expect(bought.status == 201)
        let sid = try #require(bought.json["sid"] as? String)
        #expect(sid.hasPrefix("PN") && sid.count == 34)
        #expect(!h.search("US", "Local", [("Contains", number)]).contains { $0["phone_number"] as? String == number })
        #expect(h.state.purchaseCounts[number] == 1)

        let release = h.send("DELETE", "\(h.api)/IncomingPhoneNumbers/\(sid).json")
        #expect(release.status == 204)
        #expect(release.body.isEmpty)
        #expect(h.search("US", "Local", [("Contains", "+" + number.dropFirst() + "$")]).count == 1)
        #expect(h.send("DELETE", "\(h.api)/IncomingPhoneNumbers/\(sid).json").status == 404)
        #expect(h.send("GET", "\(h.api)/IncomingPhoneNumbers/\(sid).json").status == 404)
    }

    @Test func boughtResourceHasTwilioShape() throws {
        var h = RouterHarness()
        let number = try #require(h.search("US", "Local").first?["phone_number"] as? String)
        let json = h.buy(number, extra: [("FriendlyName", "main line"), ("VoiceUrl", "https://example.com/v")]).json
        #expect(json["friendly_name"] as? String == "main line")
        #expect(json["voice_url"] as? String == "https://example.com/v")
        #expect(json["status"] as? String == "in-use")
        #expect(json["type"] as? String == "local")
        #expect(json["origin"] as? String == "twilio")
        #expect(json["api_version"] as? String == "2010-04-01")
        #expect(json["date_created"] as? String == "Thu, 30 Jul 2015 23:19:04 +0000")
        #expect(Set((json["capabilities"] as? [String: Bool] ?? [:]).keys) == ["voice", "sms", "mms", "fax"])
        let sid = json["sid"] as? String ?? ""
        #expect(json["uri"] as? String == "\(h.api)/IncomingPhoneNumbers/\(sid).json")
        #expect(json["trunk_sid"] is NSNull)
    }

    @Test func theSameAccountBuyingItsNumberAgainGets201AsAnUpdate() throws {
        var h = RouterHarness()
        let number = try #require(h.search("CA", "Local").first?["phone_number"] as? String)
        #expect(h.buy(number).status == 201)
        // The same account re-posting answers 201 (reported Twilio behaviour) without a second acquisition.
        #expect(h.buy(number).status == 201)
        #expect(h.state.purchaseCounts[number] == 1)
        #expect(h.state.repeatPurchaseCounts[number] == 1)
        #expect(h.state.owned.count == 1)
    }

    /// Twilio: "A number returned by AvailablePhoneNumbers can be bought by someone else before your POST → 400/21422"
    /// (twilio-api.md §8.1). The number is then gone for good: no search offers it again.
    @Test func aNumberAnotherAccountBoughtGets21422AndLeavesTheSearch() throws {
        var h = RouterHarness()
        let listed = h.search("CA", "Local").compactMap { $0["phone_number"] as? String }
        let number = try #require(listed.first)
        h.state.sellElsewhere(number)
        let reply = h.buy(number)
        #expect(reply.status == 400 && reply.code == 21422)
        #expect(!h.search("CA", "Local").contains { $0["phone_number"] as? String == number })
        #expect(h.state.owned.isEmpty && !h.state.isAvailable(number))
        #expect(h.buy(listed[1]).status == 201, "the others are still for sale")
        // One the account owns is not taken from it.
        h.state.sellElsewhere(listed[1])
        #expect(h.state.owned.count == 1 && !h.state.soldElsewhere.contains(listed[1]))
    }

    @Test(arguments: [
        ("+15005550000", 21422), ("+15005550001", 21421), ("+14155550123", 21422), ("4155550123x", 21421),
        (" 14155550123", 21421), ("+0123456789", 21421), ("+1234", 21421),
    ])
    func purchaseErrors(number: String, code: Int) {
        var h = RouterHarness()
        let reply = h.buy(number)
        #expect(reply.status == 400)
        #expect(reply.code == code)
    }

    /// Twilio's test-credential magic values (twilio-api.md §7): `+15005550006` is "valid and available", and
    /// `AreaCode=500` buys it. Bought, it is owned like any other (a repeat is Twilio's 201 update; released, it is
    /// for sale again).
    @Test func magicAvailableNumber() {
        var h = RouterHarness()
        let bought = h.buy("+15005550006")
        #expect(bought.status == 201 && bought.json["friendly_name"] as? String == "(500) 555-0006")
        #expect(
            h.buy("+15005550006").status == 201 && h.state.owned.count == 1
                && h.state.purchaseCounts["+15005550006"] == 1)
        let sid = bought.json["sid"] as? String ?? ""
        #expect(h.send("DELETE", "\(h.api)/IncomingPhoneNumbers/\(sid).json").status == 204)
        let byArea = h.send("POST", "\(h.api)/IncomingPhoneNumbers.json", form: [("AreaCode", "500")])
        #expect(byArea.status == 201 && byArea.json["phone_number"] as? String == "+15005550006")
        var plain = SimulatorConfiguration.defaults
        plain.behavior.magicNumbers = false
        var off = RouterHarness(configuration: plain)
        #expect(off.buy("+15005550006").code == 21422, "magic values off: a number the carrier does not hold")
    }

    @Test func numberNotHeldByCarrierIs21422() {
        var h = RouterHarness()
        // Find a dialable US number the carrier does not hold.
        var candidate = 2_000_000
        while h.state.inventoryEntry("+1415\(candidate)") != nil { candidate += 1 }
        #expect(h.buy("+1415\(candidate)").code == 21422)
    }

    @Test func buyByAreaCode() {
        var h = RouterHarness()
        let reply = h.send("POST", "\(h.api)/IncomingPhoneNumbers.json", form: [("AreaCode", "312")])
        #expect(reply.status == 201)
        #expect((reply.json["phone_number"] as? String)?.hasPrefix("+1312") == true)
        #expect(h.send("POST", "\(h.api)/IncomingPhoneNumbers.json", form: [("AreaCode", "533")]).code == 21452)
        #expect(h.send("POST", "\(h.api)/IncomingPhoneNumbers.json", form: [("AreaCode", "999")]).code == 21452)
        #expect(h.send("POST", "\(h.api)/IncomingPhoneNumbers.json", form: [("AreaCode", "12")]).code == 21451)
        #expect(h.send("POST", "\(h.api)/IncomingPhoneNumbers/Local.json", form: [("AreaCode", "312")]).code == 21457)
        #expect(h.send("POST", "\(h.api)/IncomingPhoneNumbers.json", form: []).status == 400)
    }

    @Test func typedPurchasePathChecksType() throws {
        var h = RouterHarness()
        let tollFree = try #require(h.search("US", "TollFree").first?["phone_number"] as? String)
        let wrong = h.send("POST", "\(h.api)/IncomingPhoneNumbers/Local.json", form: [("PhoneNumber", tollFree)])
        #expect(wrong.code == 21458)
        let right = h.send("POST", "\(h.api)/IncomingPhoneNumbers/TollFree.json", form: [("PhoneNumber", tollFree)])
        #expect(right.status == 201)
        // Typed sub-resources omit `type` (their schemas have none); the generic fetch shows it.
        #expect(right.json["type"] == nil)
        let sid = try #require(right.json["sid"] as? String)
        #expect(h.send("GET", "\(h.api)/IncomingPhoneNumbers/\(sid).json").json["type"] as? String == "toll-free")
    }

    @Test func addressRequirementEnforcedWhenConfigured() throws {
        var configuration = SimulatorConfiguration.defaults
        configuration.behavior.enforceAddressRequirements = true
        let bundle = "BU" + String(repeating: "b", count: 32)
        configuration.approvedBundles = ["GB": [bundle]]
        var h = RouterHarness(configuration: configuration)
        let gb = try #require(h.search("GB", "Local").first?["phone_number"] as? String)
        #expect(h.buy(gb, extra: [("BundleSid", bundle)]).code == 21631)
        let address = ("AddressSid", "AD" + String(repeating: "a", count: 32))
        #expect(h.buy(gb, extra: [address, ("BundleSid", bundle)]).status == 201)
    }

    /// Twilio refuses a regulated number (most outside the US and Canada) without an approved Bundle: 400/21649. GB
    /// toll-free numbers need no Address, so an Address check alone let them be bought here when Twilio refuses them.
    @Test(arguments: [("GB", "TollFree"), ("GB", "Local"), ("GB", "Mobile")])
    func regulatedNumberWithoutAnApprovedBundleIs21649(country: String, type: String) throws {
        var configuration = SimulatorConfiguration.defaults
        configuration.behavior.enforceAddressRequirements = false
        let approved = "BU" + String(repeating: "1", count: 32)
        configuration.approvedBundles = [country: [approved], "US": ["BU" + String(repeating: "2", count: 32)]]
        var h = RouterHarness(configuration: configuration)
        let number = try #require(h.search(country, type).first?["phone_number"] as? String)
        for extra in [
            [], [("BundleSid", "")], [("BundleSid", "BU" + String(repeating: "3", count: 32))],
            [("BundleSid", "BU" + String(repeating: "2", count: 32))],  // approved, but for another country
        ] {
            let refused = h.buy(number, extra: extra)
            #expect(refused.status == 400 && refused.code == 21649, "\(extra): \(refused.text)")
            #expect((refused.json["message"] as? String)?.hasPrefix("Bundle required and not provided") == true)
            #expect(refused.json["more_info"] as? String == "https://www.twilio.com/docs/errors/21649")
            #expect(refused.json["status"] as? Int == 400)
        }
        #expect(h.state.owned.isEmpty, "nothing sold without a Bundle")
        let bought = h.buy(number, extra: [("BundleSid", approved)])
        #expect(bought.status == 201, "\(bought.text)")
        #expect(bought.json["bundle_sid"] as? String == approved)
        #expect(h.state.owned.count == 1)
    }

    @Test func defaultsApproveNoBundleAndUSAndCANeedNone() throws {
        var h = RouterHarness()
        #expect(h.configuration.approvedBundles.isEmpty)
        let tollFree = try #require(h.search("GB", "TollFree").first?["phone_number"] as? String)
        #expect(h.buy(tollFree).code == 21649)
        for country in ["US", "CA"] {
            #expect(CountryCatalog.named(country)?.bundleRequired.isEmpty == true)
            let number = try #require(h.search(country, "Local").first?["phone_number"] as? String)
            #expect(h.buy(number).status == 201, "\(country)")
        }
    }

    @Test func friendlyNameLengthEdge() throws {
        var h = RouterHarness()
        let numbers = h.search("US", "Local").compactMap { $0["phone_number"] as? String }
        let limit = h.configuration.limits.friendlyNameLengthMax
        #expect(h.buy(numbers[0], extra: [("FriendlyName", String(repeating: "a", count: limit))]).status == 201)
        #expect(h.buy(numbers[1], extra: [("FriendlyName", String(repeating: "a", count: limit + 1))]).status == 400)
    }

    @Test func updateSetsTrunkAndClearsApplication() throws {
        var h = RouterHarness()
        let number = try #require(h.search("US", "Local").first?["phone_number"] as? String)
        let app = "AP" + String(repeating: "1", count: 32)
        let sid = try #require(h.buy(number, extra: [("VoiceApplicationSid", app)]).json["sid"] as? String)
        let trunk = try #require(
            h.send("POST", "/v1/Trunks", form: [("FriendlyName", "pbx")]).json["sid"] as? String)
        let updated = h.send("POST", "\(h.api)/IncomingPhoneNumbers/\(sid).json", form: [("TrunkSid", trunk)])
        #expect(updated.status == 200)
        #expect(updated.json["trunk_sid"] as? String == trunk)
        #expect(updated.json["voice_application_sid"] is NSNull)
        // Unset URLs are "", as Twilio's examples show them.
        #expect(updated.json["sms_url"] as? String == "" && updated.json["status_callback"] as? String == "")
        #expect(updated.json["voice_fallback_url"] is NSNull)
        let missing = "TK" + String(repeating: "0", count: 32)
        #expect(
            h.send("POST", "\(h.api)/IncomingPhoneNumbers/\(sid).json", form: [("TrunkSid", missing)]).status == 400)
        let other = "AC" + String(repeating: "0", count: 32)
        #expect(
            h.send("POST", "\(h.api)/IncomingPhoneNumbers/\(sid).json", form: [("AccountSid", other)]).code == 21473)
    }

    /// Each of `TrunkSid` and `VoiceApplicationSid` clears the other, so both in one request cleared both: the number
    /// routed nowhere after a 200. Twilio documents no answer for it; the simulator refuses it, nothing changed.
    @Test("TrunkSid and VoiceApplicationSid in one request are refused 400/20001 naming both, the number untouched")
    func trunkAndApplicationTogetherAreRefused() throws {
        var h = RouterHarness()
        let numbers = h.search("US", "Local").compactMap { $0["phone_number"] as? String }
        let app = "AP" + String(repeating: "1", count: 32)
        let trunk = try #require(
            h.send("POST", "/v1/Trunks", form: [("FriendlyName", "pbx")]).json["sid"] as? String)
        let sid = try #require(h.buy(numbers[0], extra: [("TrunkSid", trunk)]).json["sid"] as? String)
        let both = [("TrunkSid", trunk), ("VoiceApplicationSid", app)]
        let refused = h.send("POST", "\(h.api)/IncomingPhoneNumbers/\(sid).json", form: both)
        #expect(refused.status == 400 && refused.code == 20001)
        let message = try #require(refused.json["message"] as? String)
        #expect(message.contains("TrunkSid") && message.contains("VoiceApplicationSid"), "\(message)")
        #expect(h.state.owned[sid]?.trunkSid == trunk && h.state.owned[sid]?.fields["voice_application_sid"] == nil)
        // A purchase too; an empty one of the two only clears it.
        #expect(h.buy(numbers[1], extra: both).code == 20001)
        #expect(h.state.ownedNumber(phoneNumber: numbers[1]) == nil)
        let cleared = h.send(
            "POST", "\(h.api)/IncomingPhoneNumbers/\(sid).json", form: [("TrunkSid", ""), ("VoiceApplicationSid", app)])
        #expect(cleared.status == 200)
        #expect(cleared.json["trunk_sid"] is NSNull && cleared.json["voice_application_sid"] as? String == app)
    }

    /// The callback URLs had no length limit (a number kept whatever a 64 KiB body held); `callbackUrlBytesMax`
    /// (255) bounds them now, as `sipUrlBytesMax` bounds an Origination URL.
    @Test(arguments: ["VoiceUrl", "VoiceFallbackUrl", "SmsUrl", "SmsFallbackUrl", "StatusCallback"])
    func callbackUrlLengthEdge(name: String) throws {
        var h = RouterHarness()
        let limit = h.configuration.limits.callbackUrlBytesMax
        #expect(limit == 255)
        let base = "https://pbx.test/"
        let atLimit = base + String(repeating: "a", count: limit - base.utf8.count)
        let numbers = h.search("US", "Local").compactMap { $0["phone_number"] as? String }
        let bought = h.buy(numbers[0], extra: [(name, atLimit)])
        #expect(bought.status == 201)
        let sid = try #require(bought.json["sid"] as? String)
        let longer = h.send("POST", "\(h.api)/IncomingPhoneNumbers/\(sid).json", form: [(name, atLimit + "a")])
        #expect(longer.status == 400 && longer.code == 20001)
        #expect(h.buy(numbers[1], extra: [(name, atLimit + "a")]).code == 20001)
        let field = try #require(IncomingNumber.settable.first { $0.param == name }?.field)
        #expect(h.state.owned[sid]?.fields[field] == atLimit)
    }
}
