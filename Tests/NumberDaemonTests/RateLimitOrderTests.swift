import Foundation
import NumberAPI
import NumberClient
import Testing

/// The per-account rate limit applies as soon as the caller is authenticated: a call its key may not make
/// (PERMISSION_DENIED, or an admin key without an account id) costs a call like any other. It was charged only after
/// every check passed, so a valid key could send denied calls without limit.
@Suite("Rate limit: charged before authorization", .serialized)
struct RateLimitOrderTests {
    @Test("denied calls spend the caller's burst, then RATE_LIMITED")
    func deniedCallsAreLimited() async throws {
        try await withNumberd(configure: {
            $0.rateLimits.callsPerSecond = 0.001
            $0.rateLimits.callsBurst = 3
        }) { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                let account = try await makeAccount(admin, name: "Denied", funds: 0)
                try await withNumbersClient(numberd.client(key: account.key)) { client in
                    var codes: [StatusCode] = []
                    for _ in 0..<4 {
                        do {
                            _ = try await client.listAccounts(ListAccountsRequest())
                        } catch let error as RPCError {
                            codes.append(error.code)
                        }
                    }
                    #expect(codes == [.permissionDenied, .permissionDenied, .permissionDenied, .resourceExhausted])
                }
            }
        }
    }
}
