import CurlHTTP
import Testing

@Suite("FormURLEncoding")
struct FormURLEncodingTests {
    @Test(arguments: [
        ("+14155551234", "%2B14155551234"),
        ("a b", "a%20b"),
        ("AZaz09-._~", "AZaz09-._~"),
        ("&=?/#%", "%26%3D%3F%2F%23%25"),
        ("é", "%C3%A9"),
        ("*", "%2A"),
        ("", ""),
    ])
    func percentEncodesEverythingButUnreserved(input: String, expected: String) {
        #expect(FormURLEncoding.percentEncode(input) == expected)
    }

    @Test func encodesPairsInOrder() {
        let encoded = FormURLEncoding.encode([("PhoneNumber", "+15005550006"), ("TrunkSid", "TK1"), ("Empty", "")])
        #expect(encoded == "PhoneNumber=%2B15005550006&TrunkSid=TK1&Empty=")
    }

    @Test func decodeInvertsEncode() throws {
        let pairs = [("A b", "c+d"), ("ü", "=&"), ("x", "")]
        let decoded = try #require(FormURLEncoding.decode(FormURLEncoding.encode(pairs)))
        #expect(decoded.map(\.0) == pairs.map(\.0))
        #expect(decoded.map(\.1) == pairs.map(\.1))
    }

    @Test func decodeReadsPlusAsSpace() throws {
        let decoded = try #require(FormURLEncoding.decode("a=1+2&b"))
        #expect(decoded.map(\.1) == ["1 2", ""])
    }

    @Test(arguments: ["a=%", "a=%4", "a=%zz", "%ff=1"])
    func decodeRejectsMalformed(input: String) {
        #expect(FormURLEncoding.decode(input) == nil)
    }
}
