import NumberAPI
import NumberClient
import NumberServer
import NumberTLS
import Synchronization
import Testing

/// The client against a real server whose certificate it does not accept: the TLS handshake fails before anything
/// is sent, so the call fails as a connection that could not be made — `CERTIFICATE_REJECTED`, not tried again (it
/// was `CONNECT_FAILED`, retried as a server restarting) — never as one lost with its outcome unknown.
@Suite("Client: a failed TLS handshake is a failed connect")
struct ClientHandshakeFailureTests {
    let tls: TestTLS

    init() throws { tls = try TestTLS() }

    @Test(
        "a certificate that does not verify: CERTIFICATE_REJECTED, the server never sees the call",
        arguments: ["a CA that did not issue it", "a name it does not carry"])
    func certificateNotAccepted(mismatch: String) async throws {
        let released = CallCounter()
        var router = RPCRouter()
        router.register(NumbersMethods.releaseNumber) { _, _ in
            released.value.add(1, ordering: .relaxed)
            return ReleaseNumberResponse()
        }
        try await withTestServer(router: router, tls: tls) { _, port in
            var configuration = tls.clientConfiguration(port: port)
            if mismatch == "a name it does not carry" {
                configuration.serverHostname = "elsewhere.example"
            } else {
                configuration.trustRoots = try CertificateAuthority.generate().trustRoots
            }
            configuration.retry = .init(attemptsMax: 2, initialBackoff: .milliseconds(5))
            let error = await #expect(throws: RPCError.self) {
                try await withNumbersClient(configuration) {
                    try await $0.releaseNumber(ReleaseNumberRequest(accountId: "ACC_1", numberId: "NUM_1"))
                }
            }
            #expect(error?.code == .unavailable, "\(String(describing: error))")
            #expect(error?.reason == "CERTIFICATE_REJECTED", "\(String(describing: error))")
            #expect(
                error?.details == ["certificate": "server", "outcome": "not-started"], "\(String(describing: error))")
            #expect(error?.message.contains("certificate") == true, "\(String(describing: error))")
            #expect(released.value.load(ordering: .relaxed) == 0)
        }
    }
}
