import Foundation
import NumberAPI
import NumberClient
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// numberd as the service user it is meant to run as, not root. Every socket of numberd, its client, the simulator and
/// the load harness was made with `.socketOption(.tcp_nodelay)`, which NIO sets at SOL_SOCKET: option 1 there is
/// SO_DEBUG, which needs CAP_NET_ADMIN. As root (every test here) nothing showed; as any other user numberd stopped at
/// its first incoming connection (`setsockopt … Permission denied`) and the client could reach no server.
@Suite("numberd as an unprivileged user")
struct UnprivilegedUserTests {
    @Test(
        "run as nobody, numberd serves calls over TLS, writes its store and reaches the simulator",
        .enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")))
    func servesAsNobody() async throws {
        let port = try freeLoopbackPort()
        let child = try ServingChild(arguments: ["--listen", "127.0.0.1:\(port)"], unprivileged: true)
        do {
            try await child.waitUntilServing()
            let status = try String(contentsOfFile: "/proc/\(child.process.processIdentifier)/status", encoding: .utf8)
            #expect(status.contains("\nUid:\t65534\t65534\t65534\t65534\n"), "\(status)")
            let key = try String(contentsOfFile: child.dataDirectory + "/admin.key", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let configuration = NumbersClientConfiguration(
                host: "127.0.0.1", port: port, apiKey: key, trustRoots: .file(child.dataDirectory + "/tls/ca.pem"))
            try await withNumbersClient(configuration) { client in
                let health = try await client.healthCheck(HealthCheckRequest())
                #expect(health.status == .serving)
                let account = try await client.createAccount(CreateAccountRequest(name: "Nobody's", currency: "USD"))
                #expect(account.account.id.hasPrefix("ACC_"))
                // Through the Twilio adapter to the in-process simulator, whose sockets had the same option.
                let found = try await client.searchNumbers(
                    SearchNumbersRequest(accountId: account.account.id, country: "US", limit: 1))
                #expect(found.numbers.count == 1)
            }
            #expect(child.process.isRunning, "\(child.standardOutput)")
        } catch {
            await child.stop()
            throw error
        }
        await child.stop()
    }
}
