import Testing

@testable import TwilioSimulator

/// `twilio-sim --listen` takes an IPv6 host in brackets and binds it without them; the base URL it prints puts the
/// brackets back (`https://::1:8443` is no URL).
@Suite struct ListenAddressTests {
    @Test(arguments: [
        ("127.0.0.1:0", "127.0.0.1", 0), ("localhost:65535", "localhost", 65535), ("[::1]:8443", "::1", 8443),
        ("[fe80::1%eth0]:80", "fe80::1%eth0", 80), ("::1:8443", "::1", 8443),
    ])
    func parsesTheHostToBindAndThePort(text: String, host: String, port: Int) {
        let parsed = ListenAddress.parse(text)
        #expect(parsed?.host == host, "\(text)")
        #expect(parsed?.port == port, "\(text)")
    }

    @Test(arguments: [
        "127.0.0.1", "[::1]", "[::1]8443", "[::1:8443", ":8443", "[]:80", "host:65536", "host:-1", "host:+80",
        "host:", "host:8a",
    ])
    func refusesWhatIsNotHostAndPort(text: String) {
        #expect(ListenAddress.parse(text) == nil, "\(text)")
    }

    @Test func baseURLsBracketAnIPv6Host() {
        #expect(TwilioSimulator.makeBaseURL(scheme: "https", host: "::1", port: 8443) == "https://[::1]:8443")
        #expect(TwilioSimulator.makeBaseURL(scheme: "http", host: "127.0.0.1", port: 80) == "http://127.0.0.1:80")
        #expect(TwilioSimulator.makeBaseURL(scheme: "https", host: "localhost", port: 1) == "https://localhost:1")
        #expect(ListenAddress.urlHost("fe80::1%eth0") == "[fe80::1%25eth0]")
        #expect(ListenAddress.urlHost("[::1]") == "[::1]")
    }
}
