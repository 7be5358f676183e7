import Foundation
import NumberAPI
import NumberServer
import Testing

@testable import numbers

/// What `Format` makes of text and times for people: invisible and reordering characters from Twilio or customers
/// escaped, times to the millisecond. The built `numbers` runs as a process against a stub server for the search.
@Suite("numbers: formatting")
struct FormatTests {
    @Test("controls, format characters and line and paragraph separators are escaped; the rest is kept")
    func visible() {
        #expect(Format.visible("San Francisco") == "San Francisco")
        #expect(Format.visible("Zürich 東京 ☎") == "Zürich 東京 ☎")
        #expect(Format.visible("A\u{202E}B") == #"A\u{202E}B"#)  // Cf: right-to-left override
        #expect(Format.visible("pbx\u{200B}") == #"pbx\u{200B}"#)  // Cf: zero-width space
        #expect(Format.visible("a\u{7}b\u{1B}[2J") == #"a\u{0007}b\u{001B}[2J"#)  // Cc
        #expect(Format.visible("x\u{2028}y\u{2029}") == #"x\u{2028}y\u{2029}"#)  // Zl, Zp
        #expect(Format.visible("\u{E0041}") == #"\u{E0041}"#)  // Cf: a tag character, past the BMP
    }

    @Test("times to the millisecond, rounded to the nearest; human ones drop a whole second's")
    func timestamps() {
        let odd = Date(timeIntervalSince1970: Double(1_767_000_000_123) / 1000)
        #expect(Format.timestamp(odd) == "2025-12-29T09:20:00.123Z")
        #expect(Format.timestamp(Date(timeIntervalSince1970: 1_767_000_000)) == "2025-12-29T09:20:00.000Z")
        #expect(Format.date(Date(timeIntervalSince1970: 1_767_000_000)) == "2025-12-29T09:20:00Z")
        #expect(Format.date(Date(timeIntervalSince1970: 1_767_000_000.05)) == "2025-12-29T09:20:00.050Z")
        #expect(Format.timestamp(Date(timeIntervalSince1970: -0.25)) == "1969-12-31T23:59:59.750Z")
    }

    /// An operator's walk read `required=133` after "1.33 USD required" as 133 dollars: numberd's metadata carries
    /// minor units (for programs, and `--json` keeps them), and the human line now shows them as the message does.
    @Test("an error's amounts are shown in major units of its currency; other metadata and --json as numberd sent them")
    func errorAmounts() {
        let short = RPCError(
            code: .failedPrecondition, message: "insufficient balance: 1.33 USD required, 1.00 USD available",
            reason: "INSUFFICIENT_BALANCE",
            details: ["required": "133", "available": "100", "shortfall": "33", "currency": "USD"])
        #expect(
            Format.error(short)
                == "error: FAILED_PRECONDITION (INSUFFICIENT_BALANCE): insufficient balance: 1.33 USD required, "
                + "1.00 USD available; available=1.00 currency=USD required=1.33 shortfall=0.33")
        let yen = RPCError(
            code: .failedPrecondition, message: "", reason: "PRICE_CHANGED",
            details: ["renewalCharge": "1500", "currency": "JPY", "numberId": "NUM_1", "maxSetupFee": ""])
        #expect(Format.error(yen).hasSuffix("; currency=JPY maxSetupFee= numberId=NUM_1 renewalCharge=1500"))
        let kwd = RPCError(code: .failedPrecondition, message: "m", details: ["shortfall": "-1250", "currency": "KWD"])
        #expect(Format.error(kwd).hasSuffix("; currency=KWD shortfall=-1.250"))
        // No currency beside them, or not an amount: as sent.
        let limit = RPCError(code: .resourceExhausted, message: "m", details: ["max": "100", "required": "5"])
        #expect(Format.error(limit) == "error: RESOURCE_EXHAUSTED: m; max=100 required=5")
        #expect(CLIError(code: 5, message: Format.error(short), status: short).jsonLine.contains(#""required":"133""#))
    }

    /// Found walking the CLI: "30 shown, 30 found" for an area code with thousands of numbers, 30 being all Twilio
    /// answers with. A total that is a lower bound is printed as one.
    @Test("search prints a total that is a lower bound with a plus, an exact one as it is")
    func searchTotalLowerBound() async throws {
        for (lowerBound, expected) in [(true, "1 shown, 30+ found"), (false, "1 shown, 30 found")] {
            var router = RPCRouter()
            router.register(NumbersMethods.searchNumbers) { _, _ in
                SearchNumbersResponse(
                    numbers: [
                        AvailableNumber(
                            phoneNumber: "+14155550100", pricing: Pricing(setupFee: 0, monthlyFee: 133, currency: "USD")
                        )
                    ], totalFound: 30, totalFoundIsLowerBound: lowerBound)
            }
            try await withStubServer(router: router) { server in
                let run = try await runNumbers(["search", "--limit", "1"] + UnknownOutcomeTests.connection(server))
                #expect(run.status == 0, "\(run)")
                #expect(run.stdout.contains(expected), "\(run.stdout)")
            }
        }
    }

    @Test("search prints a locality holding a bidi override escaped, not reordering the row")
    func searchEscaped() async throws {
        var router = RPCRouter()
        router.register(NumbersMethods.searchNumbers) { _, _ in
            SearchNumbersResponse(
                numbers: [
                    AvailableNumber(
                        phoneNumber: "+14155550100", locality: "A\u{202E}B", region: "C\u{2029}A",
                        pricing: Pricing(setupFee: 0, monthlyFee: 133, currency: "USD"))
                ], totalFound: 1)
        }
        try await withStubServer(router: router) { server in
            let run = try await runNumbers(["search"] + UnknownOutcomeTests.connection(server))
            #expect(run.status == 0, "\(run)")
            #expect(run.stdout.contains(#"+14155550100  A\u{202E}B"#), "\(run.stdout)")
            #expect(run.stdout.contains(#"C\u{2029}A"#), "\(run.stdout)")
            #expect(!run.stdout.unicodeScalars.contains("\u{202E}"), "\(run.stdout)")
            #expect(!run.stdout.unicodeScalars.contains("\u{2029}"), "\(run.stdout)")
        }
    }
}
