import COpenSSL
import Testing

@testable import NumberTLS

/// How long a session may be resumed (`TLSConfiguration.sessionLifetimeSeconds`, 2 h by default) is what OpenSSL is
/// given: its tickets and cached sessions expire then. The client's cache of sessions holds 1024 servers by default.
@Suite("TLS session lifetime and the client's session cache")
struct SessionLifetimeTests {
    let pki = TestPKI.shared

    @Test("2 h by default, and the configured lifetime is the context's, for servers and clients")
    func lifetimeReachesOpenSSL() throws {
        #expect(TLSConfiguration.clientDefaults.sessionLifetimeSeconds == 7200)
        var server = TLSConfiguration.server(
            certificateChain: pki.server.certificateChain, privateKey: pki.server.privateKey)
        #expect(server.sessionLifetimeSeconds == 7200)
        #expect(SSL_CTX_get_timeout(try TLSContext(configuration: server).pointer) == 7200)
        server.sessionLifetimeSeconds = 60
        #expect(SSL_CTX_get_timeout(try TLSContext(configuration: server).pointer) == 60)
        var client = TLSConfiguration.clientDefaults
        client.sessionLifetimeSeconds = 90
        #expect(SSL_CTX_get_timeout(try TLSContext(configuration: client).pointer) == 90)
        #expect(TLSSessionCache().entriesMax == 1024)
    }
}
