import NIOCore
import NIOEmbedded
import NumberTLS
import Testing

@Suite("Mutual TLS")
struct MutualTLSTests {
    let pki = TestPKI.shared

    func mtlsServer() -> TLSConfiguration {
        var configuration = pki.serverConfiguration()
        configuration.trustRoots = pki.authority.trustRoots
        configuration.clientAuthentication = .required
        return configuration
    }

    func client(_ certificate: IssuedCertificate?) -> TLSConfiguration {
        var configuration = pki.clientConfiguration()
        configuration.certificateChain = certificate?.certificateChain
        configuration.privateKey = certificate?.privateKey
        return configuration
    }

    @Test("the server verifies the client certificate and exposes its identity")
    func peerIdentity() throws {
        let pair = try InMemoryPair(client: client(pki.client), server: mtlsServer())
        try pair.connect()
        let peer = try #require(pair.serverEvents.handshake?.peer)
        #expect(peer.commonName == "billing-service")
        #expect(peer.dnsNames == ["billing.internal"])
        #expect(peer.subject.contains("CN=billing-service"))
        try pair.sendFromClient("authorized")
        #expect(pair.serverEvents.receivedString == "authorized")
    }

    @Test("a client certificate from another CA is refused")
    func wrongAuthority() throws {
        let pair = try InMemoryPair(client: client(pki.otherClient), server: mtlsServer())
        try pair.connect()
        #expect(pair.serverEvents.handshake == nil)
        #expect(pair.serverEvents.tlsError?.code == .certificateVerificationFailed)
        #expect(pair.clientEvents.handshake == nil || pair.clientEvents.tlsError != nil)
    }

    @Test("a client without a certificate is refused")
    func missingCertificate() throws {
        let pair = try InMemoryPair(client: client(nil), server: mtlsServer())
        try pair.connect()
        #expect(pair.serverEvents.handshake == nil)
        let error = try #require(pair.serverEvents.tlsError)
        #expect(error.openSSLErrors.joined().contains("certificate"))
    }

    @Test("an expired client certificate is refused")
    func expiredClient() throws {
        let expired = try pki.authority.issueClientCertificate(commonName: "old", validity: .expired)
        let pair = try InMemoryPair(client: client(expired), server: mtlsServer())
        try pair.connect()
        #expect(pair.serverEvents.tlsError?.code == .certificateVerificationFailed)
    }
}
