import Foundation
import NumberAPI
import NumberServer
import Synchronization
import Testing

/// `numbers accounts suspend / activate`: the request the CLI sends and what it prints. The built `numbers` runs as
/// a process against a stub server (`swift build --build-tests` first).
@Suite("numbers accounts suspend / activate")
struct AccountStatusCommandTests {
    final class Received: Sendable {
        let requests = Mutex<[SetAccountStatusRequest]>([])
        var all: [SetAccountStatusRequest] { requests.withLock { $0 } }
    }

    @Test("suspend and activate send the status and print the account's new one")
    func suspendAndActivate() async throws {
        let received = Received()
        var router = RPCRouter()
        router.register(NumbersMethods.setAccountStatus) { request, _ in
            received.requests.withLock { $0.append(request) }
            return SetAccountStatusResponse(account: Account(id: request.accountId, status: request.status))
        }
        try await withStubServer(router: router) { server in
            let connection = ["--server", "127.0.0.1:\(server.port)", "--ca", server.caFile, "--key", "nk_admin"]
            let suspended = try await runNumbers(["accounts", "suspend", "ACC_7"] + connection)
            #expect(suspended.status == 0, "\(suspended)")
            #expect(suspended.stdout.contains("ACC_7 is suspended"), "\(suspended.stdout)")
            let activated = try await runNumbers(["accounts", "activate", "ACC_7"] + connection)
            #expect(activated.status == 0, "\(activated)")
            #expect(activated.stdout.contains("ACC_7 is active"), "\(activated.stdout)")
        }
        #expect(received.all.map(\.status) == [.suspended, .active])
        #expect(received.all.map(\.accountId) == ["ACC_7", "ACC_7"])
    }

    /// Found walking the CLI: a second suspend printed "is suspended" as the first had; numberd's log said unchanged.
    @Test("a status the account had already: said so")
    func unchanged() async throws {
        var router = RPCRouter()
        router.register(NumbersMethods.setAccountStatus) { request, _ in
            SetAccountStatusResponse(account: Account(id: request.accountId, status: request.status), unchanged: true)
        }
        try await withStubServer(router: router) { server in
            let connection = ["--server", "127.0.0.1:\(server.port)", "--ca", server.caFile, "--key", "nk_admin"]
            let again = try await runNumbers(["accounts", "suspend", "ACC_7"] + connection)
            #expect(again.status == 0, "\(again)")
            #expect(again.stdout.contains("ACC_7 was suspended already"), "\(again.stdout)")
        }
    }
}
