import Testing

@testable import TwilioSimulator

@Suite struct ContainsPatternTests {
    @Test(arguments: [
        ("STORM", "+15107867668", true),
        ("storm", "+15107867668", true),
        ("786", "+15107867668", true),
        ("+1510", "+15107867668", true),
        ("+510", "+15107867668", false),
        ("668$", "+15107867668", true),
        ("667$", "+15107867668", false),
        ("*0786", "+15107867668", true),
        ("**0786", "+15107867668", true),
        ("7668*", "+15107867668", false),
        ("0786**", "+15107867668", true),
        ("%7668", "+15107867668", true),
        ("7668%", "+15107867668", true),
        ("99", "+15107867668", false),
        ("+15107867668$", "+15107867668", true),
    ])
    func matching(pattern: String, number: String, expected: Bool) throws {
        #expect(try ContainsPattern(pattern).matches(number) == expected)
    }

    @Test func keypadMapsEveryLetter() {
        let letters = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        let digits = letters.map { ContainsPattern.keypadDigit($0)! }
        #expect(digits == [2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6, 7, 7, 7, 7, 8, 8, 8, 9, 9, 9, 9])
        #expect(ContainsPattern.keypadDigit(UInt8(ascii: "q")) == 7)
        #expect(ContainsPattern.keypadDigit(UInt8(ascii: "1")) == nil)
    }

    @Test(arguments: [
        "1", "*1", "**", "1%2", "12#", "12é", "+%12", "12345678901234567", "", "51*78", "51**8", "+*415", "415*$",
        "*5*6",
    ])
    func rejectsInvalidPatterns(pattern: String) {
        #expect(throws: TwilioError.self) { try ContainsPattern(pattern) }
    }

    @Test func lengthLimitEdge() throws {
        let longest = String(repeating: "1", count: ContainsPattern.lengthMax)
        #expect(try ContainsPattern(longest).tokens.count == ContainsPattern.lengthMax)
        #expect(throws: TwilioError.self) { try ContainsPattern(longest + "1") }
    }

    @Test func errorIsTwilio400() {
        do {
            _ = try ContainsPattern("a!")
            Issue.record("expected an error")
        } catch {
            #expect(error.status == 400)
            #expect(error.code == 20001)
        }
    }
}
