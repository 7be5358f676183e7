import Foundation
import Testing
import TwilioSimulator

@testable import NumberCore

/// Twilio refuses to sell a regulated number (most outside the US and Canada; every GB number) without an approved
/// regulatory Bundle: 400/21649. numberd searched with `ExcludeAllAddressRequired=true`, which says nothing about
/// Bundles, so GB toll-free numbers (no Address needed) were offered, and buying one failed at Twilio with a
/// NUMBER_UNAVAILABLE that invited the customer to try another number, which failed the same way. The simulator sold
/// them without a Bundle, so no test saw it.
@Suite("Regulatory Bundles over the Twilio adapter and the simulator")
struct RegulatoryBundleOverTwilioTests {
    static let bundle = "BU" + String(repeating: "4b", count: 16)

    /// The simulator with `bundle` approved for GB, as in the operator's Twilio console.
    static var approvingGB: SimulatorConfiguration {
        var configuration = SimulatorConfiguration.defaults
        configuration.approvedBundles = ["GB": [bundle]]
        return configuration
    }

    private static func account(_ service: NumberService) async throws -> Account {
        try await fundedAccount(service, name: "Bundles")
    }

    /// A GB toll-free number from a search (the only GB numbers offered: the others need an Address).
    private static func searchedGB(_ service: NumberService, for account: Account) async throws -> String {
        let found = try await service.search(
            ProviderSearchQuery(country: "GB", type: .tollFree, limit: 1), accountId: account.id)
        return try #require(found.numbers.first).number.phoneNumber
    }

    @Test("a GB purchase without a Bundle configured: PROVIDER_MISCONFIGURED naming GB, nothing bought or charged")
    func withoutABundleTheOperatorIsTold() async throws {
        try await withServiceOverTwilio(simulatorConfiguration: Self.approvingGB) { twilio, service, _, _ in
            let account = try await Self.account(service)
            let phone = try await Self.searchedGB(service, for: account)
            let refused = await numberError {
                _ = try await service.purchase(
                    PurchaseRequest(accountId: account.id, phoneNumbers: [phone], country: "GB", type: .tollFree))
            }
            #expect(refused?.reason == .providerMisconfigured, "\(String(describing: refused))")
            #expect(refused?.details["providerCode"] == "21649")
            #expect(refused?.internalDetail?.contains("regulatory Bundle for GB numbers") == true)
            #expect(refused?.internalDetail?.contains("--twilio-bundles GB/toll_free=BU") == true)
            #expect(refused?.internalDetail?.contains("or GB=BU") == true)
            let buys = twilio.requests(.buyNumber)
            #expect(buys.map(\.status) == [400], "one refused buy, not retried")
            #expect(twilio.engine.ownedNumbers.isEmpty, "nothing owned at Twilio")
            let balance = try service.balance(accountId: account.id)
            #expect(balance.balance == 10_000 && balance.available == 10_000, "the hold released, nothing charged")
            let state = service.durableState()
            #expect(state.intents.isEmpty && state.numbers.isEmpty && state.orphanWatch.isEmpty)
            #expect(state.checkInvariants().isEmpty)
        }
    }

    @Test("a GB purchase with the Bundle configured for GB: bought, the Bundle sent")
    func withTheBundleItIsBought() async throws {
        try await withServiceOverTwilio(
            simulatorConfiguration: Self.approvingGB, configure: { $0.regulatoryBundles = ["GB": Self.bundle] }
        ) { twilio, service, _, _ in
            let account = try await Self.account(service)
            let phone = try await Self.searchedGB(service, for: account)
            let bought = try await service.purchase(
                PurchaseRequest(accountId: account.id, phoneNumbers: [phone], country: "GB", type: .tollFree))
            #expect(bought.numbers.map(\.phoneNumber) == [phone])
            let owned = twilio.engine.ownedNumbers
            #expect(owned.map(\.number.phoneNumber) == [phone])
            #expect(owned.first?.fields["bundle_sid"] == Self.bundle)
            #expect(try service.balance(accountId: account.id).balance < 10_000, "charged")
        }
    }

    @Test("a Bundle for another country is not sent; a US purchase sends none")
    func theBundleGoesOnlyWithItsCountry() async throws {
        try await withTwilio(
            simulatorConfiguration: Self.approvingGB, configure: { $0.regulatoryBundles = ["GB": Self.bundle] }
        ) { twilio in
            let us = try #require(try await twilio.provider.search(ProviderSearchQuery(country: "US")).first)
            _ = try await twilio.provider.buy(phoneNumber: us.phoneNumber, trunkSid: nil, country: "US", type: .local)
            #expect(twilio.engine.ownedNumbers.first?.fields["bundle_sid"] == nil)
            // A GB number bought as if it were of another country goes without the GB Bundle, and is refused.
            let gb = try #require(
                try await twilio.provider.search(ProviderSearchQuery(country: "GB", type: .tollFree)).first)
            let error = await expectProviderError(.misconfigured) {
                try await twilio.provider.buy(
                    phoneNumber: gb.phoneNumber, trunkSid: nil, country: "FR", type: .tollFree)
            }
            #expect(error?.providerCode == 21649)
            #expect(error?.message.contains("FR numbers") == true, "\(String(describing: error))")
        }
    }

    /// Twilio approves a Bundle for one number type of one country (review finding: the simulator approved per
    /// country and numberd configured per country, so a Bundle of another type was invisible and impossible to
    /// configure around). A `GB/toll_free` entry wins over the country's own; the simulator approves per type.
    @Test("a Bundle is approved for one type: the type's own entry is sent, another type's Bundle is refused")
    func bundlesPerType() async throws {
        let tollFree = "BU" + String(repeating: "1", count: 32)
        let local = "BU" + String(repeating: "2", count: 32)
        var simulator = Self.approvingGB
        simulator.approvedBundles = ["GB/toll_free": [tollFree], "GB/local": [local]]
        for (configured, sent) in [
            (["GB/toll_free": tollFree], tollFree), (["GB": local, "GB/toll_free": tollFree], tollFree),
            (["GB": local], nil), (["GB/local": local], nil),
        ] {
            try await withTwilio(simulatorConfiguration: simulator, configure: { $0.regulatoryBundles = configured }) {
                twilio in
                let number = try #require(
                    try await twilio.provider.search(ProviderSearchQuery(country: "GB", type: .tollFree)).first)
                if let sent {
                    _ = try await twilio.provider.buy(
                        phoneNumber: number.phoneNumber, trunkSid: nil, country: "GB", type: .tollFree)
                    #expect(twilio.engine.ownedNumbers.first?.fields["bundle_sid"] == sent, "\(configured)")
                } else {
                    // The local Bundle (sent as the country's, or not at all): not approved for toll-free numbers.
                    let error = await expectProviderError(.misconfigured) {
                        try await twilio.provider.buy(
                            phoneNumber: number.phoneNumber, trunkSid: nil, country: "GB", type: .tollFree)
                    }
                    #expect(error?.providerCode == 21649, "\(configured)")
                    #expect(twilio.engine.ownedNumbers.isEmpty)
                }
            }
        }
    }

    @Test("a configured Bundle Twilio does not accept: PROVIDER_MISCONFIGURED saying it was not accepted")
    func anUnapprovedConfiguredBundleIsNamed() async throws {
        let unapproved = "BU" + String(repeating: "0", count: 32)
        try await withTwilio(
            simulatorConfiguration: Self.approvingGB, configure: { $0.regulatoryBundles = ["GB": unapproved] }
        ) { twilio in
            let gb = try #require(
                try await twilio.provider.search(ProviderSearchQuery(country: "GB", type: .tollFree)).first)
            let error = await expectProviderError(.misconfigured) {
                try await twilio.provider.buy(
                    phoneNumber: gb.phoneNumber, trunkSid: nil, country: "GB", type: .tollFree)
            }
            #expect(error?.message.contains("\(unapproved) configured for GB was not accepted") == true)
            #expect(twilio.requests(.buyNumber).count == 1, "not retried")
            #expect(twilio.engine.ownedNumbers.isEmpty)
        }
    }
}
