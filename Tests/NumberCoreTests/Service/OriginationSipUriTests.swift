import Testing

@testable import NumberCore

/// The origination SIP URI of a trunk numberd creates (`Validation.originationSipUri`): what Twilio takes as an
/// Origination URL's `SipUrl` — `sip:` only, an optional user, a host, an optional port, parameters and headers —
/// checked before any trunk is made, so a URI Twilio would refuse fails the call instead of a trunk made and deleted
/// again. No password (it would be stored and shown to read-only keys), and no `@` after the host (it makes another
/// host than the one checked).
@Suite("Trunks: the origination SIP URI")
struct OriginationSipUriTests {
    @Test(
        "SIP URIs with a host name, an IPv4 or [IPv6] address, a user part, a port, parameters and headers are taken",
        arguments: [
            "sip:pbx.example.com", "sip:pbx.example.com:5060", "sip:10.0.0.7:5080;transport=tcp", "sip:[2001:db8::7]",
            "sip:[2001:db8::7]:5060;transport=udp", "sip:trunk@pbx.example.com", "sip:[2001:db8::1]:5060",
            "sip:pbx.example.com;transport=tls?X-Route=a%20b", "sip:localhost:1", "sip:pbx.example.com:65535",
            "sip:u@h;transport=tcp", "sip:[::1]", "sip:[::ffff:10.0.0.7]:5060",
        ])
    func accepted(uri: String) throws {
        #expect(try Validation.originationSipUri(uri) == uri)
    }

    @Test("the scheme is taken in any case and returned as sip:")
    func schemeCase() throws {
        #expect(try Validation.originationSipUri("SIP:pbx.example.com") == "sip:pbx.example.com")
        #expect(try Validation.originationSipUri("Sip:pbx.example.com") == "sip:pbx.example.com")
    }

    @Test(
        "anything Twilio would refuse, or that is not a SIP URI, is INVALID_ARGUMENT naming the field",
        arguments: [
            "sips:pbx.example.com", "SIPS:pbx.example.com", "https://pbx.example.com", "pbx.example.com", "sip:",
            "sip", "sip:pbx.example.com:0", "sip:pbx.example.com:65536", "sip:pbx.example.com:50a0",
            "sip:pbx.example.com:", "sip:pbx..example.com", "sip:-pbx.example.com", "sip:pbx_1.example.com",
            "sip:[2001:db8::7", "sip:[not:v6]", "sip:[2001:db8::7]x", "sip:@pbx.example.com", "sip:a@b@pbx.example.com",
            "sip:pbx.example.com\r\nX-Injected: 1", "sip:pbx.example.com extra", "sip:pbx.example.com\"",
            "sip:pbx\u{e9}.com", "sip:<pbx.example.com>", "sip://sip-box.com:1234", "\u{0}sip:pbx.example.com",
            // Not an IPv6 address, though only hex digits and colons.
            "sip:[:]", "sip:[1:2]", "sip:[:::1]", "sip:[2001:db8::1::2]", "sip:[12345::1]",
            // A password would be stored, shown to read-only keys, printed and logged.
            "sip:u:pw@h", "sip:alice:secret@sip-1.example.net", "sip:u:@h",
            // An @ after the host makes the text after it the host (`sip:h;x=@e` is user `h;x=` at `e`).
            "sip:h;x=@e", "sip:pbx.example.com;transport=tcp@evil.example", "sip:pbx.example.com?X-Route=a@b",
            "sip:u@h;x=@e",
        ])
    func refused(uri: String) {
        let error = #expect(throws: NumberError.self) { _ = try Validation.originationSipUri(uri) }
        #expect(error?.code == .invalidArgument && error?.reason == .invalidField, "\(String(describing: error))")
        #expect(error?.details["field"] == "origination_sip_uri")
    }

    @Test("255 bytes are taken; 256 are LIMIT_EXCEEDED with the field and the limit")
    func length() throws {
        let host = String(repeating: "a", count: 60) + "."
        let at255 = "sip:" + String(repeating: host, count: 4) + String(repeating: "b", count: 255 - 4 - 4 * 61)
        #expect(at255.utf8.count == 255 && Validation.originationSipUriBytesMax == 255)
        #expect(try Validation.originationSipUri(at255) == at255)
        let error = #expect(throws: NumberError.self) { _ = try Validation.originationSipUri(at255 + "c") }
        #expect(error?.code == .invalidArgument && error?.reason == .limitExceeded)
        #expect(error?.details == ["field": "origination_sip_uri", "max": "255"])
    }
}
