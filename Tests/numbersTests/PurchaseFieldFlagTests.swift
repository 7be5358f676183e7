import Foundation
import NumberAPI
import NumberServer
import Testing

/// `numbers buy --voice --sms --mms --currency`: the product's purchase fields go out as the request's; `numbers
/// show` prints the billing cycle and the next billing date. The built `numbers` runs as a process against a stub
/// server (`swift build --build-tests` first).
@Suite("numbers buy: capability and currency flags; numbers show: billing")
struct PurchaseFieldFlagTests {
    /// What the stub server received.
    final class Received: Sendable {
        let purchases = Recorded<PurchaseNumbersRequest>()
        let accountLookUps = Recorded<GetAccountRequest>()
    }

    static func router(_ received: Received) -> RPCRouter {
        var router = RPCRouter()
        router.register(NumbersMethods.getAccount) { request, _ in
            received.accountLookUps.append(request)
            return GetAccountResponse(account: Account(id: request.accountId, currency: "USD"))
        }
        router.register(NumbersMethods.purchaseNumbers) { request, _ in
            received.purchases.append(request)
            return PurchaseNumbersResponse(message: "Phone number purchased successfully", currency: "USD")
        }
        router.register(NumbersMethods.getNumber) { request, _ in
            GetNumberResponse(
                number: PhoneNumber(
                    id: request.numberId, phoneNumber: "+14155550100", billingCycle: .monthly,
                    nextBillingDate: Date(timeIntervalSince1970: 1_767_225_600)))
        }
        return router
    }

    @Test("--voice --sms --mms --currency are sent; without them the request asks for none")
    func fieldsAreSent() async throws {
        let received = Received()
        try await withStubServer(router: Self.router(received)) { server in
            let connection = UnknownOutcomeTests.connection(server)
            let flagged = try await runNumbers(
                ["buy", "+14155550100", "--voice", "--sms", "--mms", "--currency", "USD"] + connection)
            #expect(flagged.status == 0, "\(flagged)")
            let plain = try await runNumbers(["buy", "+14155550100"] + connection)
            #expect(plain.status == 0, "\(plain)")
            // The limits are read in the currency given: no look-up of the account's.
            let limited = try await runNumbers(
                ["buy", "+14155550100", "--currency", "JPY", "--max-monthly-fee", "150"] + connection)
            #expect(limited.status == 0, "\(limited)")
        }
        let sent = received.purchases.all
        #expect(
            sent.map { [$0.voice, $0.sms, $0.mms] } == [
                [true, true, true], [false, false, false], [false, false, false],
            ])
        #expect(sent.map(\.currency) == ["USD", "", "JPY"])
        #expect(sent.last?.maxMonthlyFee == 150, "150 JPY is 150 minor units")
        #expect(received.accountLookUps.all.isEmpty)
    }

    /// An operator's walk: `buy --trunk` printed a bare `TRK_…`, where `list` and `show` name the trunk too.
    @Test("numbers buy names the trunk a number was bought onto, as list and show do")
    func buyNamesTheTrunk() async throws {
        var router = RPCRouter()
        router.register(NumbersMethods.purchaseNumbers) { request, _ in
            PurchaseNumbersResponse(
                message: "Phone number purchased successfully",
                numbers: [
                    PurchasedNumber(
                        number: PhoneNumber(
                            id: "NUM_1", phoneNumber: "+14155550100", trunkId: request.trunkId, trunkName: "pbx-west"))
                ], currency: "USD")
        }
        try await withStubServer(router: router) { server in
            let run = try await runNumbers(
                ["buy", "+14155550100", "--trunk", "TRK_1"] + UnknownOutcomeTests.connection(server))
            #expect(run.status == 0, "\(run)")
            #expect(run.stdout.contains("TRK_1 (pbx-west)"), "\(run.stdout)")
        }
    }

    @Test("numbers show prints the billing cycle and the next billing date")
    func showBilling() async throws {
        try await withStubServer(router: Self.router(Received())) { server in
            let run = try await runNumbers(["show", "NUM_1"] + UnknownOutcomeTests.connection(server))
            #expect(run.status == 0, "\(run)")
            #expect(run.stdout.contains("billing cycle monthly"), "\(run.stdout)")
            #expect(run.stdout.contains("next billing  2026-01-01T00:00:00Z"), "\(run.stdout)")
        }
    }

    @Test("numbers search --help gives the server's limit on --limit")
    func searchLimitHelp() async throws {
        let run = try await runNumbers(["search", "--help"])
        #expect(run.stdout.contains("1...100"), "\(run.stdout)")
        #expect(!run.stdout.contains("max 50"), "\(run.stdout)")
    }
}
