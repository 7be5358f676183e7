import Foundation
import NumberAPI
import NumberServer
import Testing

/// `numbers transactions` shows who caused each transaction in a `BY` column: the key id, numberd's own `system:…`
/// name, or `-` for a transaction posted before numberd recorded it; `--json` carries `actor` as it came. The built
/// `numbers` runs as a process against a stub server.
@Suite("numbers transactions: who caused each transaction")
struct TransactionActorTests {
    static let at = Date(timeIntervalSince1970: 1_767_000_000)  // 2025-12-29T09:20:00Z

    static func transaction(
        _ id: String, _ kind: TransactionKind, _ change: Int64, actor: String, phone: String = ""
    ) -> Transaction {
        Transaction(
            id: id, kind: kind, amount: Int64(change.magnitude), balanceChange: change,
            currency: "USD", balanceAfter: 1_000, phoneNumber: phone, description: "\(id) description", createdAt: at,
            actor: actor)
    }

    static func router() -> RPCRouter {
        var router = RPCRouter()
        router.register(NumbersMethods.listTransactions) { _, _ in
            ListTransactionsResponse(transactions: [
                transaction("TXN_renewal", .renewal, -133, actor: "system:billing"),
                transaction("TXN_refund", .refund, 57, actor: "KEY_0a1b2c3d4e5f", phone: "+14155550100"),
                transaction("TXN_legacy", .fundsAdded, 10_000, actor: ""),
            ])
        }
        return router
    }

    @Test("the BY column: a key id, system:billing, and - for none recorded; --json carries actor")
    func byColumn() async throws {
        try await withStubServer(router: Self.router()) { server in
            let connection = UnknownOutcomeTests.connection(server)
            let run = try await runNumbers(["transactions"] + connection)
            #expect(run.status == 0, "\(run)")
            let rows = run.stdout.split(separator: "\n").map(String.init)
            let header = try #require(rows.first)
            #expect(header.hasPrefix("ID") && header.contains("  BY  ") && header.hasSuffix("DESCRIPTION"), "\(header)")
            /// The cell of row `id` in the column headed `title`.
            func cell(_ id: String, _ title: String) throws -> String {
                let column = try #require(header.range(of: title)).lowerBound.utf16Offset(in: header)
                let row = try #require(rows.first { $0.hasPrefix(id) }, "\(run.stdout)")
                return String(row.dropFirst(column).prefix { $0 != " " })
            }
            #expect(try cell("TXN_renewal", "BY") == "system:billing")
            #expect(try cell("TXN_refund", "BY") == "KEY_0a1b2c3d4e5f")
            #expect(try cell("TXN_legacy", "BY") == "-")
            // The number a transaction concerns, which a refund's description does not name.
            #expect(try cell("TXN_refund", "NUMBER") == "+14155550100")
            #expect(try cell("TXN_renewal", "NUMBER") == "-")
            #expect(try #require(rows.first { $0.hasPrefix("TXN_legacy") }).hasSuffix(" TXN_legacy description"))
            let json = try await runNumbers(["transactions", "--json"] + connection)
            #expect(json.status == 0, "\(json)")
            #expect(json.stdout.contains(#""actor" : "KEY_0a1b2c3d4e5f""#), "\(json.stdout)")
        }
    }
}
