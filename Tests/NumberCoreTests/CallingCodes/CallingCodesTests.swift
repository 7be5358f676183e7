import Testing

@testable import NumberCore

/// The generated table (`generate_calling_codes.py`, from libphonenumber's metadata; CI checks it is fresh).
@Suite("Country calling codes")
struct CallingCodesTests {
    @Test("known codes, one per region, prefix-free, and each code's main country among its regions")
    func table() {
        let codes = CallingCodes.byRegion
        #expect(codes.count > 240, "\(codes.count)")
        #expect(codes["US"] == "1" && codes["CA"] == "1" && codes["PR"] == "1")
        #expect(codes["GB"] == "44" && codes["RU"] == "7" && codes["KZ"] == "7" && codes["DE"] == "49")
        #expect(codes["XK"] == "383" && codes["AQ"] == nil && codes["XX"] == nil && codes["001"] == nil)
        #expect(codes.keys.allSatisfy { $0.count == 2 && $0.unicodeScalars.allSatisfy { ("A"..."Z").contains($0) } })
        // A number begins with exactly one code.
        let distinct = Set(codes.values)
        for code in distinct {
            #expect(!distinct.contains { $0 != code && $0.hasPrefix(code) }, "\(code) prefixes another code")
        }
        #expect(Set(CallingCodes.mainRegionByCode.keys) == distinct)
        for (code, main) in CallingCodes.mainRegionByCode { #expect(codes[main] == code, "\(code) \(main)") }
        #expect(CallingCodes.mainRegionByCode["1"] == "US" && CallingCodes.mainRegionByCode["44"] == "GB")
    }

    @Test("a number is checked against its country's code; a shared code is not told apart")
    func numberInCountry() throws {
        try Validation.phoneNumber("+14155550100", isIn: "US")
        try Validation.phoneNumber("+14155550100", isIn: "CA")
        try Validation.phoneNumber("+442071838750", isIn: "GB")
        try Validation.phoneNumber("+77172000000", isIn: "KZ")
        let wrong = #expect(throws: NumberError.self) { try Validation.phoneNumber("+442071838750", isIn: "US") }
        #expect(wrong?.reason == .invalidField && wrong?.details["field"] == "country")
        #expect(
            wrong?.message
                == "+442071838750 is not a number of US (US numbers begin +1, this one +44: GB and 3 other countries)",
            "\(String(describing: wrong))")
        let german = #expect(throws: NumberError.self) { try Validation.phoneNumber("+4930123456", isIn: "AT") }
        #expect(german?.message == "+4930123456 is not a number of AT (AT numbers begin +43, this one +49: DE)")
        // A code no country has (+999): only the country's own is named.
        let unassigned = #expect(throws: NumberError.self) { try Validation.phoneNumber("+99912345", isIn: "US") }
        #expect(unassigned?.message == "+99912345 is not a number of US (US numbers begin +1)")
    }
}
