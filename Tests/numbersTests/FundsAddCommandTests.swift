import Foundation
import NumberAPI
import NumberServer
import Testing

/// `numbers funds add AMOUNT --currency CODE`: the amount is read in the currency typed and sent with it, so numberd
/// refuses one that is not the account's. It used to be read in the account's own currency and sent back with it:
/// `funds add 25` meant in dollars credited 25.000 KWD (about $81) to a KWD account, and `CURRENCY_MISMATCH` could
/// never fire. The built `numbers` runs as a process against a stub server (`swift build --build-tests` first).
@Suite("numbers funds add")
struct FundsAddCommandTests {
    /// The most one call may credit, in minor units, as numberd's default `fundsAmountMax`.
    static let amountMax: Int64 = 100_000_000

    /// A server whose account ACC_7 ("Gulf Trading") is in KWD: it refuses another currency and an amount over
    /// ``amountMax`` as numberd does, and records the look-ups and the credits it gets.
    static func kuwaiti(_ lookUps: Recorded<GetAccountRequest>, _ credits: Recorded<AddFundsRequest>) -> RPCRouter {
        var router = RPCRouter()
        router.register(NumbersMethods.getAccount) { request, _ in
            lookUps.append(request)
            return GetAccountResponse(account: Account(id: request.accountId, name: "Gulf Trading", currency: "KWD"))
        }
        router.register(NumbersMethods.addFunds) { request, _ in
            credits.append(request)
            guard request.currency.uppercased() == "KWD" else {
                throw RPCError(
                    code: .failedPrecondition, message: "the account's currency is KWD, not \(request.currency)",
                    reason: "CURRENCY_MISMATCH", details: ["expected": "KWD", "got": request.currency])
            }
            guard request.amount <= Self.amountMax else {
                throw RPCError(
                    code: .invalidArgument,
                    message: "amount is larger than \(Self.amountMax) (minor units of the account's currency)",
                    reason: "LIMIT_EXCEEDED", details: ["field": "amount", "max": "\(Self.amountMax)"])
            }
            return AddFundsResponse(
                transaction: Transaction(
                    id: "TXN_1", kind: .fundsAdded, amount: request.amount, balanceChange: request.amount,
                    currency: "KWD"),
                balance: request.amount)
        }
        return router
    }

    static func connection(_ server: StubServer) -> [String] {
        ["--server", "127.0.0.1:\(server.port)", "--ca", server.caFile, "--key", "nk_admin", "--account", "ACC_7"]
    }

    @Test("25 --currency USD on a KWD account: 2500 cents of USD go out, refused CURRENCY_MISMATCH (exit 5)")
    func anotherCurrencyIsRefused() async throws {
        let (lookUps, credits) = (Recorded<GetAccountRequest>(), Recorded<AddFundsRequest>())
        try await withStubServer(router: Self.kuwaiti(lookUps, credits)) { server in
            let run = try await runNumbers(["funds", "add", "25", "--currency", "USD"] + Self.connection(server))
            #expect(run.status == 5, "\(run)")
            #expect(run.stderr.contains("CURRENCY_MISMATCH"), "\(run.stderr)")
            #expect(!run.stderr.contains("outcome is unknown"), "a refusal: \(run.stderr)")
        }
        #expect(credits.all.map(\.currency) == ["USD"])
        #expect(credits.all.map(\.amount) == [2_500])
    }

    @Test("the account's currency: read with its three decimals; the line names the account, --json its id")
    func accountNamed() async throws {
        let (lookUps, credits) = (Recorded<GetAccountRequest>(), Recorded<AddFundsRequest>())
        try await withStubServer(router: Self.kuwaiti(lookUps, credits)) { server in
            let run = try await runNumbers(["funds", "add", "25", "--currency", "kwd"] + Self.connection(server))
            #expect(run.status == 0, "\(run)")
            #expect(
                run.stdout.contains("added 25.000 KWD to ACC_7 (Gulf Trading) as TXN_1; balance 25.000 KWD"),
                "\(run.stdout)")
            let json = try await runNumbers(
                ["funds", "add", "25", "--currency", "KWD", "--json"] + Self.connection(server))
            #expect(json.status == 0, "\(json)")
            let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
            #expect(object?["accountId"] as? String == "ACC_7", "\(json.stdout)")
            #expect((object?["transaction"] as? [String: Any])?["id"] as? String == "TXN_1", "\(json.stdout)")
            #expect((object?["balance"] as? NSNumber)?.int64Value == 25_000, "\(json.stdout)")
        }
        #expect(credits.all.map(\.amount) == [25_000, 25_000])
        #expect(credits.all.map(\.currency) == ["KWD", "KWD"])
    }

    @Test(
        "without --currency: a usage error (64) saying so, nothing sent",
        arguments: [["funds", "add", "25"], ["funds", "adjust", "25", "--reason", "x"]])
    func currencyRequired(command: [String]) async throws {
        let (lookUps, credits) = (Recorded<GetAccountRequest>(), Recorded<AddFundsRequest>())
        try await withStubServer(router: Self.kuwaiti(lookUps, credits)) { server in
            let run = try await runNumbers(command + Self.connection(server))
            #expect(run.status == 64, "\(run)")
            #expect(run.stderr.contains("--currency"), "\(run.stderr)")
        }
        #expect(lookUps.all.isEmpty && credits.all.isEmpty)
    }

    /// numberd's limit is in minor units: "larger than 100000000" to an operator who typed major units.
    @Test("an amount over numberd's limit: the limit in the currency's major units (exit 3)")
    func limitInMajorUnits() async throws {
        let (lookUps, credits) = (Recorded<GetAccountRequest>(), Recorded<AddFundsRequest>())
        try await withStubServer(router: Self.kuwaiti(lookUps, credits)) { server in
            let run = try await runNumbers(["funds", "add", "999999", "--currency", "KWD"] + Self.connection(server))
            #expect(run.status == 3, "\(run)")
            #expect(run.stderr.contains("LIMIT_EXCEEDED"), "\(run.stderr)")
            #expect(run.stderr.contains("the amount is larger than 100000.000 KWD"), "\(run.stderr)")
            #expect(!run.stderr.contains("minor units"), "\(run.stderr)")
            #expect(!run.stderr.contains("100000000"), "\(run.stderr)")
        }
        #expect(credits.all.map(\.amount) == [999_999_000])
    }

    /// Found walking the CLI: an amount too large for any call (no Int64 of minor units holds it) was "not a positive
    /// amount". Each refusal is exit 3 with nothing sent, saying what is wrong with it.
    @Test(
        "an amount refused before sending says why: too large, or not an amount of the currency (exit 3)",
        arguments: [
            ("99999999999999999999", "is too large an amount"), ("92233720368547758.08", "is too large an amount"),
            ("1.2345", "is not a positive amount of KWD"), ("0", "is not a positive amount"),
            ("0.000", "is not a positive amount"), ("1e3", "is not a positive amount"),
            (".5", "is not a positive amount"),
        ])
    func refusedAmounts(amount: String, said: String) async throws {
        let (lookUps, credits) = (Recorded<GetAccountRequest>(), Recorded<AddFundsRequest>())
        try await withStubServer(router: Self.kuwaiti(lookUps, credits)) { server in
            let run = try await runNumbers(["funds", "add", amount, "--currency", "KWD"] + Self.connection(server))
            #expect(run.status == 3, "\(run)")
            #expect(run.stderr.contains("'\(amount)' \(said)"), "\(run.stderr)")
            #expect(run.stderr.contains("nothing was sent"), "\(run.stderr)")
        }
        #expect(lookUps.all.isEmpty && credits.all.isEmpty)
    }

    /// ArgumentParser reads `-5.00` as an option: "Missing expected argument '<amount>'" said nothing of the sign.
    @Test("a signed amount: a usage error (64) saying amounts are unsigned and --debit takes money away")
    func signedAmount() async throws {
        let (lookUps, credits) = (Recorded<GetAccountRequest>(), Recorded<AddFundsRequest>())
        try await withStubServer(router: Self.kuwaiti(lookUps, credits)) { server in
            let run = try await runNumbers(["funds", "add", "-5.00", "--currency", "KWD"] + Self.connection(server))
            #expect(run.status == 64, "\(run)")
            #expect(run.stderr.contains("amounts are unsigned: give 5.00, not -5.00"), "\(run.stderr)")
            #expect(run.stderr.contains("--debit"), "\(run.stderr)")
        }
        #expect(lookUps.all.isEmpty && credits.all.isEmpty)
    }
}
