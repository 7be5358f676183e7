import NumberCore

/// A provider for a core that is never asked for numbers: every call refuses.
struct NoProvider: NumberProvider {
    private var refusal: ProviderError { ProviderError(.invalidArgument, message: "no provider in this test") }
    func search(_ query: ProviderSearchQuery) async throws -> [NumberCore.AvailableNumber] { throw refusal }
    func price(country: String, type: NumberCore.NumberType) async throws -> ProviderPrice { throw refusal }
    func buy(phoneNumber: String, trunkSid: String?) async throws -> ProvisionedNumber { throw refusal }
    func release(sid: String) async throws { throw refusal }
    func setTrunk(sid: String, trunkSid: String?) async throws { throw refusal }
    func lookUp(phoneNumber: String) async throws -> ProvisionedNumber? { throw refusal }
}
