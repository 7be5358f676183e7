import Foundation
import NumberTLS
import Testing

@testable import TwilioSimulator

@Suite struct SimulatorTLSTests {
    private func temporaryDirectory() -> String {
        let path = NSTemporaryDirectory() + "twilio-sim-tls-\(UUID().uuidString)"
        return path
    }

    @Test func servesHTTPSTrustedByTheWrittenCA() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let tls = try SimulatorTLS.generated(directory: directory)
        let sim = try await TwilioSimulator.start(configuration: .defaults, tls: tls)
        let caPath = try #require(sim.caPEMPath)
        #expect(FileManager.default.fileExists(atPath: caPath))
        #expect(sim.baseURL == "https://127.0.0.1:\(sim.port)")
        let client = try TLSContext(configuration: .client(trustRoots: .file(caPath)))
        let reply = try await RawHTTPClient.send(
            port: sim.port, method: "GET", path: "/pricing/v1/PhoneNumbers/Countries/US",
            authorization: sim.authorization, tls: client)
        #expect(reply.status == 200)
        #expect(reply.json["url"] as? String == "https://127.0.0.1:\(sim.port)/pricing/v1/PhoneNumbers/Countries/US")
        try await sim.shutdown()
    }

    @Test func clientTrustingAnotherCAIsRefused() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let sim = try await TwilioSimulator.start(
            configuration: .defaults, tls: try SimulatorTLS.generated(directory: directory))
        let stranger = try CertificateAuthority.generate(commonName: "someone else")
        let client = try TLSContext(configuration: .client(trustRoots: stranger.trustRoots))
        // The handshake fails; depending on timing the write sees the TLS error or a closed channel.
        await #expect(throws: (any Error).self) {
            try await RawHTTPClient.send(
                port: sim.port, method: "GET", path: "/trunking/v1/Trunks", authorization: sim.authorization,
                tls: client)
        }
        #expect(sim.engine.requestLog.isEmpty)
        try await sim.shutdown()
    }
}
