import Testing

@testable import TwilioSimulator

@Suite struct PlaceholderSuite {
    @Test func builds() {
        #expect(CountryCatalog.all.count == 3)
    }
}
