import Foundation
import NIOCore
import NIOPosix
import NumberAPI
import NumberClient
import NumberServer
import NumberTLS
import NumberWire
import Testing

/// A server on `.reloadableTLS` presents the context it holds when a connection is accepted: after `replace(with:)`
/// new connections get the new certificate, and a connection opened before keeps its session and keeps working.
@Suite("Replacing the server's TLS context while serving")
struct ReloadableTLSTests {
    @Test("new connections see the new certificate; an open connection keeps working")
    func newConnectionsSeeTheNewCertificate() async throws {
        let tls = try TestTLS()
        let first = try tls.authority.issueServerCertificate()
        let second = try tls.authority.issueServerCertificate()
        let reloadable = ReloadableTLSContext(try Self.serverContext(first))
        let server = NumberServer(
            configuration: NumberServerConfiguration(port: 0), transport: .reloadableTLS(reloadable),
            router: abuseRouter(), logger: quietLogger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { group.cancelAll() }
            let port = try await server.listeningAddress().port!
            let firstPrint = try CertificateSummary(certificatePEM: first.certificatePEM).sha256Fingerprint
            let secondPrint = try CertificateSummary(certificatePEM: second.certificatePEM).sha256Fingerprint
            #expect(try await Self.presentedFingerprint(port: port, tls: tls) == firstPrint)

            // A connection open before the swap, with one call done on it.
            let open = try await RawConnection.connect(port: port, tls: tls)
            var bytes = clientStart()
            try writeCall(&bytes, stream: 1, method: NumbersMethods.healthCheck.path)
            try await open.send(bytes)
            let before = try await open.waitForFrames { try trailerStatuses($0)[1] != nil }
            #expect(try trailerStatuses(before)[1]?.code == 0)

            reloadable.replace(with: try Self.serverContext(second))
            #expect(try await Self.presentedFingerprint(port: port, tls: tls) == secondPrint)
            // The client library connects to the new certificate (same CA).
            let health = try await withNumbersClient(tls.clientConfiguration(port: port)) {
                try await $0.healthCheck(HealthCheckRequest())
            }
            #expect(health.status == .serving)

            // The old connection still carries calls, on its old session.
            var more = ByteBuffer()
            try writeCall(&more, stream: 3, method: NumbersMethods.healthCheck.path)
            try await open.send(more)
            let after = try await open.waitForFrames { try trailerStatuses($0)[3] != nil }
            #expect(try trailerStatuses(after)[3]?.code == 0)
            #expect(!open.isClosed)
            try await open.channel.close()
        }
    }

    static func serverContext(_ certificate: IssuedCertificate) throws -> TLSContext {
        var configuration = TLSConfiguration.server(
            certificateChain: certificate.certificateChain, privateKey: certificate.privateKey)
        configuration.applicationProtocols = ["nrpc/1"]
        return try TLSContext(configuration: configuration)
    }

    /// The SHA-256 fingerprint of the certificate a new TLS connection to 127.0.0.1:`port` is shown.
    static func presentedFingerprint(port: Int, tls: TestTLS) async throws -> String? {
        let handshake = MultiThreadedEventLoopGroup.singleton.any().makePromise(of: TLSHandshakeCompleted.self)
        let channel = try await connectRawTLS(port: port, tls: tls, failing: handshake) {
            HandshakeWatcher(handshake: handshake)
        }
        // Bounded by the client context's handshake timeout (10 s), which closes the channel.
        let completed = try await handshake.futureResult.get()
        try? await channel.close()
        return completed.peer?.sha256Fingerprint
    }

    private final class HandshakeWatcher: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let handshake: EventLoopPromise<TLSHandshakeCompleted>
        init(handshake: EventLoopPromise<TLSHandshakeCompleted>) { self.handshake = handshake }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let completed = event as? TLSHandshakeCompleted { handshake.succeed(completed) }
            context.fireUserInboundEventTriggered(event)
        }

        func channelInactive(context: ChannelHandlerContext) {
            handshake.fail(ChannelError.ioOnClosedChannel)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            handshake.fail(error)
            context.close(promise: nil)
        }
    }
}
