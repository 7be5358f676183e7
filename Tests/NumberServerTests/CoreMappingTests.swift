import Foundation
import NumberAPI
import Testing

@testable import NumberCore
@testable import NumberServer

/// What the API shows of a number's open trunk change (``OwnedNumber/routeRequest``, store format 8):
/// `pending_trunk_change`, beside the trunk still recorded.
@Suite("Core to API mapping: a number's pending trunk change")
struct CoreMappingTests {
    static func number(routeRequest: RouteRequest?) -> OwnedNumber {
        let at = Date(timeIntervalSince1970: 1_767_000_000)
        var number = OwnedNumber(
            id: "NUM_1", accountId: "ACC_1", phoneNumber: "+14155550100", friendlyName: "(415) 555-0100",
            country: "US", region: nil, locality: nil, postalCode: nil, type: .local,
            capabilities: NumberCapabilities(voice: true, sms: false, mms: false, fax: false), status: .active,
            trunkId: "TRK_A", setupFee: 0, monthlyFee: 115, currency: "USD", providerSid: "PN1", purchasedAt: at,
            billingAnchorDay: 29, cycleStart: at, nextBillingDate: at.addingTimeInterval(31 * 86_400))
        number.routeRequest = routeRequest
        return number
    }

    @Test("an open change shows the trunk asked for (absent: off its trunk) and when; none shows nothing")
    func pendingTrunkChange() throws {
        let at = Date(timeIntervalSince1970: 1_767_000_100)
        let moving = PhoneNumber(Self.number(routeRequest: RouteRequest(trunkId: "TRK_B", at: at)), trunkName: "A")
        #expect(moving.trunkId == "TRK_A" && moving.trunkName == "A", "the trunk recorded stays")
        #expect(moving.pendingTrunkChange == PendingTrunkChange(trunkId: "TRK_B", requestedAt: at))
        let off = PhoneNumber(Self.number(routeRequest: RouteRequest(trunkId: nil, at: at)), trunkName: "A")
        #expect(off.pendingTrunkChange == PendingTrunkChange(trunkId: nil, requestedAt: at))
        #expect(PhoneNumber(Self.number(routeRequest: nil), trunkName: "A").pendingTrunkChange == nil)
    }
}
