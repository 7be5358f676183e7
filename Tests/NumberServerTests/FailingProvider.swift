import NumberCore

/// A provider every call of which fails with `failure`: for a core that is never meant to reach its provider
/// (``absent``), or whose provider's failures a test follows to the wire.
struct FailingProvider: NumberProvider {
    let failure: ProviderError

    /// For a core that is never asked for numbers.
    static let absent = FailingProvider(failure: ProviderError(.invalidArgument, message: "no provider in this test"))

    func search(_ query: ProviderSearchQuery) async throws -> [NumberCore.AvailableNumber] { throw failure }
    func price(country: String, type: NumberCore.NumberType) async throws -> ProviderPrice { throw failure }
    func buy(phoneNumber: String, trunkSid: String?) async throws -> ProvisionedNumber { throw failure }
    func release(sid: String) async throws { throw failure }
    func setTrunk(sid: String, trunkSid: String?) async throws { throw failure }
    func lookUp(phoneNumber: String) async throws -> ProvisionedNumber? { throw failure }
}
