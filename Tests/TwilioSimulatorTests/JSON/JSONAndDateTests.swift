import Foundation
import Testing

@testable import TwilioSimulator

@Suite struct JSONAndDateTests {
    @Test(arguments: [
        (1_438_298_344.0, "Thu, 30 Jul 2015 23:19:04 +0000", "2015-07-30T23:19:04Z"),
        (0.0, "Thu, 01 Jan 1970 00:00:00 +0000", "1970-01-01T00:00:00Z"),
        (951_782_400.0, "Tue, 29 Feb 2000 00:00:00 +0000", "2000-02-29T00:00:00Z"),
        (1_798_761_599.0, "Thu, 31 Dec 2026 23:59:59 +0000", "2026-12-31T23:59:59Z"),
    ])
    func twilioDates(seconds: Double, rfc: String, iso: String) {
        let date = Date(timeIntervalSince1970: seconds)
        #expect(TwilioDate.rfc2822(date) == rfc)
        #expect(TwilioDate.iso8601(date) == iso)
    }

    @Test func serializationEscapesAndKeepsOrder() throws {
        let value = JSONValue.object([
            ("b", .string("q\"\\\n\u{01}é")), ("a", .array([.int(-1), .bool(true), .null])),
        ])
        let text = value.serialized()
        #expect(text == "{\"b\": \"q\\\"\\\\\\n\\u0001é\", \"a\": [-1, true, null]}")
        let decoded = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        #expect(decoded?["b"] as? String == "q\"\\\n\u{01}é")
    }

    @Test func formDecodingAndEncoding() {
        let params = FormParameters(encoded: "PhoneNumber=%2B14155550123&FriendlyName=a+b&Empty=&Bad=%zz&PhoneNumber=x")
        #expect(params["PhoneNumber"] == "x")
        #expect(params["FriendlyName"] == "a b")
        #expect(params["Empty"] == "")
        #expect(params["Bad"] == "%zz")
        #expect(FormParameters.encode("+1 415/ü") == "%2B1%20415%2F%C3%BC")
    }
}
