import Testing

@testable import NumberCore

/// A Twilio review: what Twilio says about a request (a number taken, a parameter refused) reaches the caller, and its
/// text can name numberd's own Twilio account — 21631's "Could not find Address with sid AD… for account AC… to satisfy
/// Local Address requirement". The SIDs are cut from what the caller reads; the operator's log keeps them.
@Suite("Twilio's words to a caller, less its SIDs")
struct ProviderWordsTests {
    static let account = "AC" + String(repeating: "0123456789abcdef", count: 2)
    static let address = "AD" + String(repeating: "fedcba9876543210", count: 2)

    @Test("a refusal's message keeps Twilio's words without its SIDs; internalDetail keeps them whole")
    func sidsCut() {
        let said =
            "buy +442071838750: Could not find Address with sid \(Self.address) for account \(Self.account) "
            + "to satisfy Local Address requirement"
        for kind in [ProviderError.Kind.numberUnavailable, .invalidArgument] {
            let error = NumberError.provider(ProviderError(kind, providerCode: 21631, message: said))
            #expect(!error.message.contains(Self.account) && !error.message.contains(Self.address), "\(error.message)")
            #expect(error.message.contains("with sid AD… for account AC… to satisfy"), "\(error.message)")
            #expect(error.internalDetail == said)
            #expect(error.details["providerCode"] == "21631")
        }
        // Nothing to cut: the words as they came, no internal detail.
        let plain = NumberError.provider(ProviderError(.numberUnavailable, providerCode: 21422, message: "taken"))
        #expect(plain.message == "taken" && plain.internalDetail == nil)
    }

    /// Twilio's 404 names its path, numberd's account SID in it: withheld, whether it is about one type's numbers in
    /// a country (NOT_OFFERED, with them) or anything else (NUMBER_NOT_FOUND); the adapter's own words are kept.
    @Test("a 404's path is withheld: NOT_OFFERED with an offering, NUMBER_NOT_FOUND without; own words kept")
    func notFoundWithheld() {
        let path = "The requested resource /2010-04-01/Accounts/\(Self.account)/IncomingPhoneNumbers/PN1.json"
        let offered = NumberError.provider(
            ProviderError(.notFound, providerCode: 20404, message: path),
            offering: .init(country: "US", type: .tollFree))
        #expect(offered.code == .notFound && offered.reason == .notOffered)
        #expect(offered.message == "the provider sells no toll-free numbers in US" && offered.internalDetail == path)
        #expect(offered.details["country"] == "US" && offered.details["type"] == "toll_free")
        let number = NumberError.provider(ProviderError(.notFound, providerCode: 20404, message: path))
        #expect(number.code == .notFound && number.reason == .numberNotFound)
        #expect(!number.message.contains("/2010-04-01") && !number.message.contains(Self.account), "\(number.message)")
        #expect(number.internalDetail == path && number.details["providerCode"] == "20404")
        let own = NumberError.provider(
            ProviderError(.notFound, message: "Twilio lists no monthly price for mobile numbers in US"),
            offering: .init(country: "US", type: .mobile))
        #expect(own.message == "Twilio lists no monthly price for mobile numbers in US: numberd cannot sell them")
        #expect(own.internalDetail == nil && own.details["providerCode"] == nil)
    }

    static let upper: String = "AC" + String(repeating: "0123456789ABCDEF", count: 2)
    static let mixed: String = "Ac" + String(account.dropFirst(2))
    /// Texts and what the caller reads of them.
    static let cases: [(String, String)] = [
        ("sid \(account).", "sid AC…."), ("(\(account))", "(AC…)"), (account, "AC…"),
        ("X\(account)", "X\(account)"), ("\(account)0", "\(account)0"), (upper, upper), (mixed, mixed),
        ("é\(account)", "é\(account)"), ("short AC0123", "short AC0123"), ("", ""),
    ]

    @Test("only a whole SID is cut: two capitals and 32 lower-case hex digits standing alone", arguments: cases)
    func wholeSidsOnly(text: String, told: String) {
        #expect(NumberError.withoutTwilioSids(text) == told)
    }
}
