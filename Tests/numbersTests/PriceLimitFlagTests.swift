import Foundation
import NumberAPI
import NumberServer
import Synchronization
import Testing

/// `numbers buy --max-monthly-fee / --max-setup-fee`: amounts of `--currency` (required with them) as the CLI writes
/// money, sent as minor units with that currency; a `PRICE_CHANGED` refusal shows the current price in the flags' form.
/// The built `numbers` runs as a process against a stub server (`swift build --build-tests` first).
@Suite("numbers buy: price limits")
struct PriceLimitFlagTests {
    /// The purchase requests the stub server received, in order.
    final class Received: Sendable {
        let requests = Mutex<[PurchaseNumbersRequest]>([])
        var all: [PurchaseNumbersRequest] { requests.withLock { $0 } }
    }

    /// A server whose accounts are in USD and whose current price (1.40 a month, no setup fee) is above any limit
    /// under it: it refuses those purchases as numberd does and sells the others.
    static func pricing(_ received: Received) -> RPCRouter {
        var router = RPCRouter()
        router.register(NumbersMethods.getAccount) { request, _ in
            GetAccountResponse(account: Account(id: request.accountId, currency: "USD"))
        }
        router.register(NumbersMethods.purchaseNumbers) { request, _ in
            received.requests.withLock { $0.append(request) }
            if let limit = request.maxMonthlyFee, limit < 140 {
                throw RPCError(
                    code: .failedPrecondition,
                    message: "the monthly fee is 1.40 USD per number, above the limit of "
                        + "\(CurrencyMinorUnits.format(limit, "USD")) (maxMonthlyFee)",
                    reason: "PRICE_CHANGED",
                    details: [
                        "setupFee": "0", "monthlyFee": "140", "currency": "USD", "maxMonthlyFee": "\(limit)",
                        "maxSetupFee": request.maxSetupFee.map { "\($0)" } ?? "",
                    ])
            }
            return PurchaseNumbersResponse(message: "Phone number purchased successfully", currency: "USD")
        }
        return router
    }

    static func connection(_ server: StubServer) -> [String] {
        ["--server", "127.0.0.1:\(server.port)", "--ca", server.caFile, "--key", "nk_test", "--account", "ACC_1"]
    }

    @Test("the limits go out in minor units with --currency; a refusal shows the price to buy at")
    func limitsAreSentAndARefusalShowsThePrice() async throws {
        let received = Received()
        try await withStubServer(router: Self.pricing(received)) { server in
            let refused = try await runNumbers(
                ["buy", "+14155550100", "--max-monthly-fee", "1.33", "--max-setup-fee", "0", "--currency", "USD"]
                    + Self.connection(server))
            #expect(refused.status == 5, "\(refused)")
            #expect(refused.stderr.contains("PRICE_CHANGED"), "\(refused.stderr)")
            #expect(refused.stderr.contains("1.40 USD a month and 0.00 USD setup"), "\(refused.stderr)")
            // numberd's metadata in the currency's major units, as its message and the flags say amounts.
            let metadata = "currency=USD maxMonthlyFee=1.33 maxSetupFee=0.00 monthlyFee=1.40 setupFee=0.00"
            #expect(refused.stderr.contains(metadata), "\(refused.stderr)")
            let flags = "--max-monthly-fee 1.40 --max-setup-fee 0.00 --currency USD"
            #expect(refused.stderr.contains(flags), "\(refused.stderr)")
            #expect(!refused.stderr.contains("--idempotency-key"), "a refusal is a known outcome: \(refused.stderr)")

            let bought = try await runNumbers(
                ["buy", "+14155550100", "--max-monthly-fee", "1.40", "--currency", "usd"] + Self.connection(server))
            #expect(bought.status == 0, "\(bought)")
            let plain = try await runNumbers(["buy", "+14155550100"] + Self.connection(server))
            #expect(plain.status == 0, "\(plain)")

            let sent = received.all.map { [$0.maxMonthlyFee, $0.maxSetupFee] }
            #expect(sent == [[133, 0], [140, nil], [nil, nil]])
            // Upper-cased as typed `usd`: read with USD's two decimals, sent as numberd keeps codes.
            #expect(received.all.map(\.currency) == ["USD", "USD", ""])
        }
    }

    @Test(
        "an amount the currency cannot hold is a usage error and nothing is sent",
        arguments: [
            ["--max-monthly-fee", "1.333"], ["--max-setup-fee=-1"], ["--max-monthly-fee", "1,33"],
            // A negative value was taken for a flag: "Missing value for '--max-monthly-fee'".
            ["--max-monthly-fee", "-1"],
            // An amount, too large: it said "not an amount" (a black-box walk).
            ["--max-monthly-fee", "99999999999999999999"],
        ])
    func malformedAmount(flags: [String]) async throws {
        let received = Received()
        try await withStubServer(router: Self.pricing(received)) { server in
            let run = try await runNumbers(
                ["buy", "+14155550100", "--currency", "USD"] + flags + Self.connection(server))
            #expect(run.status == 3, "\(run)")
            let negative = flags.joined().contains("-1")
            let huge = flags.joined().contains("99999999999999999999")
            let says =
                negative
                ? "is negative: a fee limit is 0 or more"
                : huge ? "is too large an amount of USD" : "is not an amount of USD"
            #expect(run.stderr.contains(says), "\(run.stderr)")
            #expect(received.all.isEmpty)
        }
    }

    /// `--limit 0` was sent as the proto's unset value and 20 numbers came back; `--limit -1` read as a missing value.
    @Test("search --limit outside 1...100 is a usage error naming the range", arguments: ["0", "-1", "101"])
    func searchLimitOutOfRange(limit: String) async throws {
        let received = Received()
        try await withStubServer(router: Self.pricing(received)) { server in
            let run = try await runNumbers(["search", "--limit", limit] + Self.connection(server))
            #expect(run.status == 64, "\(run)")
            #expect(run.stderr.contains("--limit takes 1...100, not \(limit)"), "\(run.stderr)")
            #expect(received.all.isEmpty)
        }
    }

    /// A limit used to be read in whatever currency the account had and sent with it: `--max-monthly-fee 1.50` meant
    /// in dollars capped a KWD account's fee at 1.500 KWD (about $4.90), and no check could refuse it.
    @Test(
        "a price limit without --currency is a usage error (64) naming the fix, nothing sent",
        arguments: [["--max-monthly-fee", "1.50"], ["--max-setup-fee", "0"]])
    func limitWithoutCurrency(flags: [String]) async throws {
        let received = Received()
        try await withStubServer(router: Self.pricing(received)) { server in
            let run = try await runNumbers(["buy", "+14155550100"] + flags + Self.connection(server))
            #expect(run.status == 64, "\(run)")
            #expect(run.stderr.contains("--currency"), "\(run.stderr)")
            #expect(received.all.isEmpty)
        }
    }
}
