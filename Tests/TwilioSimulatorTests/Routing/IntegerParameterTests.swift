import Testing

@testable import TwilioSimulator

/// The simulator's integer parameters (`Page`, `PageSize`, …): non-negative, at most 9 digits, else a 400.
@Suite("Simulator integer parameters")
struct IntegerParameterTests {
    static func int(_ raw: String) throws(TwilioError) -> Int? {
        try Parameters.int(FormParameters(pairs: [("Page", raw)]), "Page")
    }

    @Test("999999999 is read; 1000000000, a negative or a non-number is refused; absent is nil")
    func edge() throws {
        #expect(try Self.int("999999999") == 999_999_999)
        #expect(try Self.int("0") == 0)
        for raw in ["1000000000", "-1", "1.5", "", "nine"] {
            #expect(throws: TwilioError.self, "\(raw)") { _ = try Self.int(raw) }
        }
        #expect(try Parameters.int(FormParameters(pairs: []), "Page") == nil)
    }
}
