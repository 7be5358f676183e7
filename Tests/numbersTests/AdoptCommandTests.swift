import Foundation
import NumberAPI
import NumberServer
import Testing

/// `numbers adopt`: gives an account a number the provider audit lists as unowned. What it is charged is the
/// operator's choice (`--charge`, no default) and the account must be named: both are usage errors (64), nothing sent.
/// The result line says what was charged and the balance after. The built `numbers` runs as a process against a stub
/// server (`swift build --build-tests` first).
@Suite("numbers adopt")
struct AdoptCommandTests {
    /// The number the stub's account holds already: adopting it again is refused as numberd refuses it.
    static let ownedAlready = "+14155550111"

    /// A server whose accounts are in USD and whose current price is 0.50 setup and 1.50 a month (no setup fee for a
    /// first-month charge): it records every adoption (and its idempotency key in `keys`) and account look-up,
    /// refuses a monthly limit under the price (`PRICE_CHANGED`) and ``ownedAlready`` (`NUMBER_UNAVAILABLE`) as
    /// numberd does, and gives any other number to an account holding 100.00 USD.
    static func adopting(
        _ adoptions: Recorded<AdoptNumberRequest>, _ lookUps: Recorded<GetAccountRequest>,
        keys: Recorded<String?> = Recorded()
    ) -> RPCRouter {
        var router = RPCRouter()
        router.register(NumbersMethods.getAccount) { request, _ in
            lookUps.append(request)
            return GetAccountResponse(account: Account(id: request.accountId, name: "Acme", currency: "USD"))
        }
        router.register(NumbersMethods.adoptNumber) { request, context in
            adoptions.append(request)
            keys.append(context.metadata["idempotency-key"])
            let setupFee: Int64 = request.charge == .firstMonth ? 0 : 50
            if let limit = request.maxMonthlyFee, limit < 150 {
                throw RPCError(
                    code: .failedPrecondition,
                    message: "the monthly fee is 1.50 USD per number, above the limit of "
                        + "\(CurrencyMinorUnits.format(limit, "USD")) (maxMonthlyFee)",
                    reason: "PRICE_CHANGED",
                    details: [
                        "setupFee": "\(setupFee)", "monthlyFee": "150", "currency": "USD", "maxMonthlyFee": "\(limit)",
                    ])
            }
            if request.phoneNumber == Self.ownedAlready {
                throw RPCError(
                    code: .failedPrecondition,
                    message: "\(Self.ownedAlready) is not available: this account owns it already (NUM_0123456789b)",
                    reason: "NUMBER_UNAVAILABLE", details: ["phoneNumber": Self.ownedAlready])
            }
            let charged = setupFee + 150
            return AdoptNumberResponse(
                number: PhoneNumber(
                    id: "NUM_0123456789a", phoneNumber: request.phoneNumber, country: request.country.uppercased(),
                    type: request.type, status: .active, trunkId: request.trunkId,
                    trunkName: request.trunkId.map { _ in "PBX" },
                    pricing: Pricing(setupFee: setupFee, monthlyFee: 150, currency: "USD"),
                    purchasedAt: Date(timeIntervalSince1970: 1_796_098_500), billingCycle: .monthly,
                    nextBillingDate: Date(timeIntervalSince1970: 1_798_776_900)),
                transaction: Transaction(
                    id: "TXN_0123456789a", kind: .purchase, amount: charged, balanceChange: -charged, currency: "USD",
                    balanceAfter: 10_000 - charged, numberId: "NUM_0123456789a", phoneNumber: request.phoneNumber,
                    description: "Phone number adopted: \(request.phoneNumber)", actor: "KEY_0123456789ab"),
                balanceAfter: 10_000 - charged, currency: "USD")
        }
        return router
    }

    /// The connection flags, without `--account`.
    static func connection(_ server: StubServer) -> [String] {
        ["--server", "127.0.0.1:\(server.port)", "--ca", server.caFile, "--key", "nk_admin"]
    }

    @Test("no --charge, a --charge it does not know, no --account, a limit without --currency: usage (64), unsent")
    func argumentErrors() async throws {
        let (adoptions, lookUps) = (Recorded<AdoptNumberRequest>(), Recorded<GetAccountRequest>())
        try await withStubServer(router: Self.adopting(adoptions, lookUps)) { server in
            let number = ["adopt", "+14155550100", "--country", "US"]
            let account = ["--account", "ACC_1"]
            let noCharge = try await runNumbers(number + account + Self.connection(server))
            #expect(noCharge.status == 64, "\(noCharge)")
            #expect(noCharge.stderr.contains("--charge"), "\(noCharge.stderr)")
            let unknownCharge = try await runNumbers(
                number + account + ["--charge", "setup-only"] + Self.connection(server))
            #expect(unknownCharge.status == 64, "\(unknownCharge)")
            #expect(unknownCharge.stderr.contains("--charge"), "\(unknownCharge.stderr)")
            #expect(unknownCharge.stderr.contains("setup-only"), "\(unknownCharge.stderr)")
            let noAccount = try await runNumbers(number + ["--charge", "full"] + Self.connection(server))
            #expect(noAccount.status == 64, "\(noAccount)")
            #expect(
                noAccount.stderr.contains("--account ACC_… (or NUMBERS_ACCOUNT) is required"), "\(noAccount.stderr)")
            let noCurrency = try await runNumbers(
                number + account + ["--charge", "full", "--max-monthly-fee", "1.50"] + Self.connection(server))
            #expect(noCurrency.status == 64, "\(noCurrency)")
            #expect(noCurrency.stderr.contains("amounts of --currency"), "\(noCurrency.stderr)")
            let noCountry = try await runNumbers(
                ["adopt", "+14155550100", "--charge", "full"] + account + Self.connection(server))
            #expect(noCountry.status == 64, "\(noCountry)")
            #expect(noCountry.stderr.contains("--country"), "\(noCountry.stderr)")
        }
        #expect(adoptions.all.isEmpty, "nothing sent: \(adoptions.all)")
        #expect(lookUps.all.isEmpty)
    }

    @Test("the number's id, its E.164, the charge and the balance after; --json; owned: exit 5; a key per run")
    func adopts() async throws {
        let (adoptions, lookUps, keys) = (
            Recorded<AdoptNumberRequest>(), Recorded<GetAccountRequest>(), Recorded<String?>()
        )
        try await withStubServer(router: Self.adopting(adoptions, lookUps, keys: keys)) { server in
            let run = try await runNumbers(
                [
                    "adopt", "+14155550100", "--account", "ACC_1", "--country", "US", "--charge", "first-month",
                    "--type", "mobile", "--trunk", "TRK_1",
                ] + Self.connection(server))
            #expect(run.status == 0, "\(run)")
            #expect(
                run.stdout.contains(
                    "adopted +14155550100 as NUM_0123456789a for ACC_1: charged 1.50 USD, balance 98.50 USD"),
                "\(run.stdout)")
            #expect(run.stdout.contains("setup fee 0.00 USD, monthly fee 1.50 USD"), "\(run.stdout)")
            #expect(run.stdout.contains("first cycle from 2026-12-01T04:15:00Z"), "\(run.stdout)")
            #expect(run.stdout.contains("trunk TRK_1 (PBX)"), "\(run.stdout)")

            let json = try await runNumbers(
                ["adopt", "+14155550100", "--account", "ACC_1", "--country", "US", "--charge", "full", "--json"]
                    + Self.connection(server))
            #expect(json.status == 0, "\(json)")
            let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
            let number = object?["number"] as? [String: Any]
            let transaction = object?["transaction"] as? [String: Any]
            #expect(number?["id"] as? String == "NUM_0123456789a", "\(json.stdout)")
            #expect(number?["phoneNumber"] as? String == "+14155550100", "\(json.stdout)")
            #expect(transaction?["kind"] as? String == "TRANSACTION_KIND_PURCHASE", "\(json.stdout)")
            #expect((transaction?["amount"] as? NSNumber)?.int64Value == 200, "\(json.stdout)")
            #expect((object?["balanceAfter"] as? NSNumber)?.int64Value == 9_800, "\(json.stdout)")
            #expect(object?["currency"] as? String == "USD", "\(json.stdout)")

            // A rerun, without the first run's key, of an adoption that was recorded (its answer lost; or numberd no
            // longer keeps the key): refused as the account's own number.
            let again = try await runNumbers(
                ["adopt", Self.ownedAlready, "--account", "ACC_1", "--country", "US", "--charge", "full"]
                    + Self.connection(server))
            #expect(again.status == 5, "\(again)")
            #expect(again.stderr.contains("NUMBER_UNAVAILABLE"), "\(again.stderr)")
            #expect(again.stderr.contains("this account owns it already"), "\(again.stderr)")
        }
        let sent = adoptions.all
        #expect(sent.map(\.accountId) == ["ACC_1", "ACC_1", "ACC_1"])
        #expect(sent.map(\.phoneNumber) == ["+14155550100", "+14155550100", Self.ownedAlready])
        #expect(sent.map(\.charge) == [.firstMonth, .full, .full])
        #expect(sent.map(\.type) == [.mobile, .local, .local], "local unless --type says otherwise")
        #expect(sent.map(\.trunkId) == ["TRK_1", nil, nil])
        #expect(sent.allSatisfy { $0.maxMonthlyFee == nil && $0.maxSetupFee == nil })
        #expect(lookUps.all.isEmpty, "no --currency: no look-up")
        let sentKeys = keys.all.compactMap { $0 }
        #expect(sentKeys.count == 3 && Set(sentKeys).count == 3, "a new key for each run: \(keys.all)")
    }

    @Test("limits in --currency's units; a price above them shows the flags to adopt at; another currency: unsent")
    func priceLimits() async throws {
        let (adoptions, lookUps) = (Recorded<AdoptNumberRequest>(), Recorded<GetAccountRequest>())
        try await withStubServer(router: Self.adopting(adoptions, lookUps)) { server in
            let adopt = ["adopt", "+14155550100", "--account", "ACC_1", "--country", "US"]
            let refused = try await runNumbers(
                adopt + ["--charge", "full", "--max-monthly-fee", "1.40", "--currency", "USD"]
                    + Self.connection(server))
            #expect(refused.status == 5, "\(refused)")
            #expect(refused.stderr.contains("PRICE_CHANGED"), "\(refused.stderr)")
            #expect(refused.stderr.contains("1.50 USD a month and 0.50 USD setup"), "\(refused.stderr)")
            #expect(
                refused.stderr.contains("To adopt at it: --max-monthly-fee 1.50 --max-setup-fee 0.50 --currency USD"),
                "\(refused.stderr)")

            let adopted = try await runNumbers(
                adopt + [
                    "--charge", "first-month", "--max-monthly-fee", "1.50", "--max-setup-fee", "0", "--currency", "usd",
                ] + Self.connection(server))
            #expect(adopted.status == 0, "\(adopted)")

            let euros = try await runNumbers(
                adopt + ["--charge", "full", "--max-monthly-fee", "2", "--currency", "EUR"] + Self.connection(server))
            #expect(euros.status == 5, "\(euros)")
            #expect(euros.stderr.contains("holds USD, not EUR"), "\(euros.stderr)")
            #expect(euros.stderr.contains("nothing was sent"), "\(euros.stderr)")
        }
        #expect(adoptions.all.map { [$0.maxMonthlyFee, $0.maxSetupFee] } == [[140, nil], [150, 0]])
        #expect(lookUps.all.map(\.accountId) == ["ACC_1", "ACC_1", "ACC_1"], "the account's currency, each run")
    }
}
