import Foundation
import NumberAPI
import NumberServer
import Synchronization
import Testing

/// `numbers keys list`: the account it asks for. With `NUMBERS_ACCOUNT` set (as the README's walkthrough does) it
/// listed that account's keys, never the admin ones — which `LAST_ADMIN_KEY` sends an operator to check: `--admin`
/// asks for the admin keys whatever the environment names. The built `numbers` runs against a stub server.
@Suite("numbers keys list")
struct KeysListCommandTests {
    final class Received: Sendable {
        let accounts = Mutex<[String]>([])
        var all: [String] { accounts.withLock { $0 } }
    }

    @Test("--admin asks for the admin keys with NUMBERS_ACCOUNT set; without it, that account's; the hint says which")
    func adminKeys() async throws {
        let received = Received()
        var router = RPCRouter()
        router.register(NumbersMethods.listApiKeys) { request, _ in
            received.accounts.withLock { $0.append(request.accountId) }
            return ListApiKeysResponse(
                apiKeys: [ApiKey(id: "KEY_1", scope: .admin, name: "ops")], nextPageToken: "next")
        }
        try await withStubServer(router: router) { server in
            let connection = ["--server", "127.0.0.1:\(server.port)", "--ca", server.caFile, "--key", "nk_admin"]
            let environment = ["NUMBERS_ACCOUNT": "ACC_7"]
            let admin = try await runNumbers(["keys", "list", "--admin"] + connection, environment: environment)
            #expect(admin.status == 0 && admin.stdout.contains("KEY_1"), "\(admin)")
            // A page token is its account's own: the next page's hint names the keys it lists.
            #expect(admin.stdout.contains("more: --page-token next --admin\n"), "\(admin.stdout)")
            let account = try await runNumbers(["keys", "list"] + connection, environment: environment)
            #expect(account.status == 0, "\(account)")
            #expect(account.stdout.contains("more: --page-token next --account ACC_7\n"), "\(account.stdout)")
        }
        #expect(received.all == ["", "ACC_7"])
    }
}
