import Foundation
import Testing

@testable import TwilioSimulator

/// A trunk's Origination URLs (Trunking v1 `/v1/Trunks/{TK}/OriginationUrls`), where Twilio sends its calls: created
/// with every field Twilio's schema requires and answered in its shape, listed in the v1 envelope, fetched one by one,
/// 404 for an unknown trunk, 400 for a missing or malformed field, 405 for a method not served, and gone with their
/// trunk.
@Suite struct RouterOriginationUrlTests {
    static let form = [
        ("SipUrl", "sip:pbx.example.com:5060"), ("FriendlyName", "pbx"), ("Weight", "10"), ("Priority", "10"),
        ("Enabled", "true"),
    ]

    @Test("origination URLs are created with Twilio's shape, listed, and gone with their trunk")
    func createdListedAndGoneWithTheirTrunk() throws {
        var h = RouterHarness()
        let trunk = try #require(h.send("POST", "/v1/Trunks").json["sid"] as? String)
        let created = h.send("POST", "/v1/Trunks/\(trunk)/OriginationUrls", form: Self.form)
        #expect(created.status == 201)
        let sid = try #require(created.json["sid"] as? String)
        #expect(sid.hasPrefix("OU") && sid.count == 34 && sid.dropFirst(2).allSatisfy(\.isHexDigit))
        #expect(created.json["trunk_sid"] as? String == trunk)
        #expect(created.json["account_sid"] as? String == h.account)
        #expect(created.json["sip_url"] as? String == "sip:pbx.example.com:5060")
        #expect(created.json["friendly_name"] as? String == "pbx")
        #expect(created.json["weight"] as? Int == 10 && created.json["priority"] as? Int == 10)
        #expect(created.json["enabled"] as? Bool == true)
        #expect(created.json["date_created"] as? String == "2015-07-30T23:19:04Z")
        #expect(created.json["date_updated"] as? String == "2015-07-30T23:19:04Z")
        #expect(created.json["url"] as? String == "https://sim.test/v1/Trunks/\(trunk)/OriginationUrls/\(sid)")
        #expect(Set(created.json.keys).count == 11)
        #expect(h.state.trunks[trunk]?.originationUrls?.map(\.sid) == [sid])

        var second = Self.form
        second[0] = ("SipUrl", "sip:10.0.0.7")
        let backup = try #require(
            h.send("POST", "/v1/Trunks/\(trunk)/OriginationUrls", form: second).json["sid"] as? String)
        let listed = h.send("GET", "/v1/Trunks/\(trunk)/OriginationUrls")
        #expect(listed.status == 200)
        let routes = listed.json["origination_urls"] as? [[String: Any]] ?? []
        #expect(routes.map { $0["sid"] as? String } == [sid, backup])
        let meta = listed.json["meta"] as? [String: Any]
        #expect(meta?["key"] as? String == "origination_urls")
        #expect(
            meta?["url"] as? String == "https://sim.test/v1/Trunks/\(trunk)/OriginationUrls?PageSize=50&Page=0")
        let paged = h.send("GET", "/v1/Trunks/\(trunk)/OriginationUrls", query: [("PageSize", "1")])
        #expect((paged.json["origination_urls"] as? [[String: Any]])?.first?["sid"] as? String == sid)
        let next = (paged.json["meta"] as? [String: Any])?["next_page_url"] as? String
        #expect(next?.contains("PageToken=PA\(sid)") == true, "\(String(describing: next))")

        // Deleting the trunk deletes its routes: a trunk made again lists none.
        #expect(h.send("DELETE", "/v1/Trunks/\(trunk)").status == 204)
        #expect(h.send("GET", "/v1/Trunks/\(trunk)/OriginationUrls").code == 20404)
        let again = try #require(h.send("POST", "/v1/Trunks").json["sid"] as? String)
        let none = h.send("GET", "/v1/Trunks/\(again)/OriginationUrls").json["origination_urls"] as? [Any]
        #expect(none?.isEmpty == true)
    }

    @Test("an unknown trunk's origination URLs are 404 / 20404")
    func anUnknownTrunkIsNotFound() {
        var h = RouterHarness()
        let missing = "TK" + String(repeating: "a", count: 32)
        let created = h.send("POST", "/v1/Trunks/\(missing)/OriginationUrls", form: Self.form)
        #expect(created.status == 404 && created.code == 20404)
        #expect(h.send("GET", "/v1/Trunks/\(missing)/OriginationUrls").status == 404)
    }

    /// Every field of a creation is required by Twilio's schema; a `sips:` URI is refused ("`sips` is NOT supported").
    @Test(
        "a creation missing a field, or with one out of its range, is refused 400 and makes nothing",
        arguments: [
            ("SipUrl", nil), ("SipUrl", ""), ("SipUrl", "sips:pbx.example.com"), ("SipUrl", "https://pbx.example.com"),
            // A sip: URI with no host routes nowhere; a longer one than sipUrlBytesMax is refused.
            ("SipUrl", "sip:"), ("SipUrl", "sip:;transport=tcp"), ("SipUrl", "sip:trunk@"), ("SipUrl", "sip://"),
            ("SipUrl", "sip:[]:5060"), ("SipUrl", "sip: pbx.example.com"),
            ("SipUrl", "sip:\(String(repeating: "a", count: 252))"),
            ("FriendlyName", nil), ("FriendlyName", String(repeating: "a", count: 65)), ("Weight", nil),
            ("Weight", "0"),
            ("Weight", "65536"), ("Priority", nil), ("Priority", "65536"), ("Priority", "-1"), ("Enabled", nil),
            ("Enabled", "yes"),
        ] as [(String, String?)])
    func aMissingOrMalformedFieldIsRefused(field: String, value: String?) throws {
        var h = RouterHarness()
        let trunk = try #require(h.send("POST", "/v1/Trunks").json["sid"] as? String)
        let form = Self.form.compactMap { name, original -> (String, String)? in
            name == field ? value.map { (name, $0) } : (name, original)
        }
        let refused = h.send("POST", "/v1/Trunks/\(trunk)/OriginationUrls", form: form)
        #expect(refused.status == 400 && refused.code == 20001, "\(refused.text)")
        #expect(refused.text.contains(field), "\(refused.text)")
        #expect(h.state.trunks[trunk]?.originationUrls == nil, "nothing added")
    }

    /// The `SipUrl` was checked only for its `sip:` prefix: `sip:` alone, or with only parameters, made a route to
    /// nowhere. A host is required now, in the forms Twilio's own examples use, up to `sipUrlBytesMax` bytes.
    @Test(
        "a SipUrl with a host is taken: a name, an [IPv6] address, a user part, Twilio's sip:// form, 255 bytes",
        arguments: [
            "sip:pbx.example.com", "SIP:pbx.example.com:5060;transport=tcp", "sip:[2001:db8::1]:5060",
            "sip:trunk@10.0.0.7", "sip://sip-box.com:1234", "sip:pbx.example.com?X-Route=a",
            "sip:\(String(repeating: "a", count: 251))",
        ])
    func aSipUrlWithAHostIsTaken(sipUrl: String) throws {
        var h = RouterHarness()
        let trunk = try #require(h.send("POST", "/v1/Trunks").json["sid"] as? String)
        var form = Self.form
        form[0] = ("SipUrl", sipUrl)
        let created = h.send("POST", "/v1/Trunks/\(trunk)/OriginationUrls", form: form)
        #expect(created.status == 201, "\(created.text)")
        #expect(created.json["sip_url"] as? String == sipUrl)
        #expect(SimulatorConfiguration.defaults.limits.sipUrlBytesMax == 255)
    }

    @Test("one origination URL is fetched by its SID; another SID or trunk is 404; other methods are 405")
    func fetchedAndOtherMethods() throws {
        var h = RouterHarness()
        let trunk = try #require(h.send("POST", "/v1/Trunks").json["sid"] as? String)
        let created = h.send("POST", "/v1/Trunks/\(trunk)/OriginationUrls", form: Self.form)
        let sid = try #require(created.json["sid"] as? String)
        let fetched = h.send("GET", "/v1/Trunks/\(trunk)/OriginationUrls/\(sid)")
        #expect(fetched.status == 200, "\(fetched.text)")
        #expect(fetched.text == created.text, "the shape a creation answers")
        let other = "OU" + String(repeating: "0", count: 32)
        let unknown = h.send("GET", "/v1/Trunks/\(trunk)/OriginationUrls/\(other)")
        #expect(unknown.status == 404 && unknown.code == 20404)
        let missingTrunk = "TK" + String(repeating: "a", count: 32)
        #expect(h.send("GET", "/v1/Trunks/\(missingTrunk)/OriginationUrls/\(sid)").code == 20404)
        // Neither a route's update nor its deletion is served (numberd does neither), nor any other method.
        for (method, path) in [
            ("PUT", "/v1/Trunks/\(trunk)/OriginationUrls"), ("DELETE", "/v1/Trunks/\(trunk)/OriginationUrls"),
            ("POST", "/v1/Trunks/\(trunk)/OriginationUrls/\(sid)"),
            ("DELETE", "/v1/Trunks/\(trunk)/OriginationUrls/\(sid)"),
        ] {
            let refused = h.send(method, path, form: method == "POST" ? Self.form : [])
            #expect(refused.status == 405 && refused.code == 20004, "\(method) \(path): \(refused.text)")
        }
        #expect(h.state.trunks[trunk]?.originationUrls?.map(\.sid) == [sid], "nothing changed")
    }

    @Test("a trunk takes at most originationUrlsPerTrunkMax origination URLs")
    func theLimitPerTrunk() throws {
        var configuration = SimulatorConfiguration.defaults
        configuration.limits.originationUrlsPerTrunkMax = 2
        var h = RouterHarness(configuration: configuration)
        let trunk = try #require(h.send("POST", "/v1/Trunks").json["sid"] as? String)
        #expect(h.send("POST", "/v1/Trunks/\(trunk)/OriginationUrls", form: Self.form).status == 201)
        #expect(h.send("POST", "/v1/Trunks/\(trunk)/OriginationUrls", form: Self.form).status == 201)
        let third = h.send("POST", "/v1/Trunks/\(trunk)/OriginationUrls", form: Self.form)
        #expect(third.status == 400 && third.code == 20001)
        #expect(h.state.trunks[trunk]?.originationUrls?.count == 2)
    }
}
