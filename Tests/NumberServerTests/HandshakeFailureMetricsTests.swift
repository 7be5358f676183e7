import Logging
import NIOCore
import NIOPosix
import NumberServer
import NumberTLS
import Prometheus
import TestSupport
import Testing

/// A failed TLS handshake was logged only at debug and counted nowhere: a wrong `--client-ca` or an expired
/// certificate failed every connection and operators saw nothing. Each is counted in
/// `numberd_tls_handshake_failures_total{reason}`, every reason's series there at 0 from the start, and logged at notice
/// (within the server-wide budget), except a close during the handshake (a TCP health check), at debug.
@Suite("Failed TLS handshakes are counted by reason", .serialized)
struct HandshakeFailureMetricsTests {
    static let reasons = ["timeout", "certificate", "protocol", "closed", "other"]

    /// The value of `numberd_tls_handshake_failures_total{reason="…"}` in `registry`, nil while it is absent.
    static func failures(_ reason: String, in registry: PrometheusCollectorRegistry) -> Int? {
        let prefix = "numberd_tls_handshake_failures_total{reason=\"\(reason)\"} "
        let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) else { return nil }
        return Int(line.dropFirst(prefix.count))
    }

    /// Waits (60 s at most: a loaded machine can be slow) until `reason` counts at least `count`; its value then.
    static func waitForFailures(
        _ reason: String, atLeast count: Int, in registry: PrometheusCollectorRegistry
    ) async throws -> Int? {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let value = failures(reason, in: registry), value >= count { return value }
            try await Task.sleep(for: .milliseconds(20))
        }
        return failures(reason, in: registry)
    }

    /// A TLS client with `configuration` connected to 127.0.0.1:`port` (its handshake under way).
    static func connect(port: Int, configuration: TLSConfiguration) async throws -> any Channel {
        let context = try TLSContext(configuration: configuration)
        return try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addTLSClientHandler(
                        context: context, serverHostname: "127.0.0.1")
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
    }

    @Test(
        "another CA's client certificate, no ALPN name in common, a close and a reset mid-handshake each count their reason"
    )
    func failuresCountedByReason() async throws {
        let authority = try CertificateAuthority.generate()
        let issued = try authority.issueServerCertificate()
        var serverTLS = TLSConfiguration.server(
            certificateChain: issued.certificateChain, privateKey: issued.privateKey)
        serverTLS.applicationProtocols = ["nrpc/1"]
        serverTLS.clientAuthentication = .required
        serverTLS.trustRoots = authority.trustRoots
        let registry = PrometheusCollectorRegistry()
        let lines = CapturingLogHandler.Lines()
        let logger = Logger(label: "numberd-test") { _ in CapturingLogHandler(lines: lines) }
        let server = NumberServer(
            configuration: NumberServerConfiguration(port: 0),
            transport: .tls(try TLSContext(configuration: serverTLS)), router: abuseRouter(), logger: logger,
            metricsFactory: PrometheusMetricsFactory(registry: registry))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { group.cancelAll() }
            let port = try await server.listeningAddress().port!
            // Every reason at 0 before any failure.
            for reason in Self.reasons {
                #expect(Self.failures(reason, in: registry) == 0, "\(reason)")
            }

            // Mutual TLS with a certificate another CA issued (a wrong --client-ca fails every client like this).
            let intruder = try CertificateAuthority.generate().issueClientCertificate(commonName: "intruder")
            var wrongCA = TLSConfiguration.client(trustRoots: authority.trustRoots)
            wrongCA.applicationProtocols = ["nrpc/1"]
            wrongCA.certificateChain = intruder.certificateChain
            wrongCA.privateKey = intruder.privateKey
            let refused = try await Self.connect(port: port, configuration: wrongCA)
            #expect(try await Self.waitForFailures("certificate", atLeast: 1, in: registry) == 1)
            try? await refused.close()

            // No ALPN name in common.
            var otherProtocol = TLSConfiguration.client(trustRoots: authority.trustRoots)
            otherProtocol.applicationProtocols = ["h2"]
            let mismatched = try await Self.connect(port: port, configuration: otherProtocol)
            #expect(try await Self.waitForFailures("protocol", atLeast: 1, in: registry) == 1)
            try? await mismatched.close()

            // A TCP connection closed before any handshake byte (a health check).
            let probe = try await RawConnection.connect(port: port, tls: nil)
            try await probe.channel.close()
            #expect(try await Self.waitForFailures("closed", atLeast: 1, in: registry) == 1)

            // A connection reset (RST, not FIN) in the middle of a ClientHello: the client went away as surely.
            let reset = try await RawConnection.connect(port: port, tls: nil)
            let socket = try #require(reset.channel as? any SocketOptionProvider)
            try await socket.setSoLinger(linger(l_onoff: 1, l_linger: 0)).get()
            try await reset.send(ByteBuffer(bytes: [0x16, 0x03, 0x01, 0x02, 0x00, 0x01]))
            try await reset.channel.close()
            #expect(try await Self.waitForFailures("closed", atLeast: 2, in: registry) == 2)

            #expect(Self.failures("certificate", in: registry) == 1)
            #expect(Self.failures("protocol", in: registry) == 1)
            #expect(Self.failures("timeout", in: registry) == 0)
            #expect(Self.failures("other", in: registry) == 0)
            #expect(Self.failures("closed", in: registry) == 2, "the reset counted once")
            let levels: [(reason: String, level: Logger.Level)] = [
                ("certificate", .notice), ("protocol", .notice), ("closed", .debug),
            ]
            for (reason, level) in levels {
                let line = try await lines.line("TLS handshake failed", "reason", reason)
                #expect(line?.level == level, "\(reason): \(String(describing: line))")
            }
        }
    }
}
