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

    /// `--tls-generate DIR` made a new CA at every start and overwrote `DIR/twilio-sim-ca.pem`: a client that took the
    /// CA file before (a numberd whose libcurl kept it a day, a copied file) could not reach a restarted twilio-sim. The CA and
    /// its key (0600) are kept in DIR; a start issues only a new server certificate from it, which a client trusting
    /// the CA of the first start accepts.
    @Test func aSecondStartKeepsTheCAAndAClientTrustingTheFirstOneConnects() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try SimulatorTLS.generated(directory: directory)
        let caPath = try #require(first.caPEMPath)
        let keyPath = (directory as NSString).appendingPathComponent(SimulatorTLS.generatedAuthorityKeyFileName)
        let firstCA = try String(contentsOfFile: caPath, encoding: .utf8)
        let firstKey = try String(contentsOfFile: keyPath, encoding: .utf8)
        let mode = try FileManager.default.attributesOfItem(atPath: keyPath)[.posixPermissions] as? Int
        #expect(mode.map { $0 & 0o777 } == 0o600)

        let second = try SimulatorTLS.generated(directory: directory)
        #expect(second.caPEMPath == caPath)
        #expect(try String(contentsOfFile: caPath, encoding: .utf8) == firstCA)
        #expect(try String(contentsOfFile: keyPath, encoding: .utf8) == firstKey)
        let sim = try await TwilioSimulator.start(configuration: .defaults, tls: second)
        let client = try TLSContext(configuration: .client(trustRoots: .pem(firstCA)))
        let reply = try await RawHTTPClient.send(
            port: sim.port, method: "GET", path: "/trunking/v1/Trunks", authorization: sim.authorization, tls: client)
        #expect(reply.status == 200)
        try await sim.shutdown()
    }

    /// A CA within the renewal window (30 days, as numberd's own local CA) is replaced at start, its key with it.
    @Test func aCAEndingWithinTheRenewalWindowIsReplaced() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let caPath = (directory as NSString).appendingPathComponent(SimulatorTLS.generatedAuthorityFileName)
        let keyPath = (directory as NSString).appendingPathComponent(SimulatorTLS.generatedAuthorityKeyFileName)
        let ending = try CertificateAuthority.generate(commonName: "ending", validity: .days(10))
        try ending.write(certificateTo: caPath, privateKeyTo: keyPath)
        _ = try SimulatorTLS.generated(directory: directory)
        let replaced = try CertificateAuthority(
            certificatePEM: String(contentsOfFile: caPath, encoding: .utf8),
            privateKeyPEM: String(contentsOfFile: keyPath, encoding: .utf8))
        #expect(replaced != ending)
        let summary = try CertificateSummary(certificatePEM: replaced.certificatePEM)
        let nowSeconds = Int64(Date().timeIntervalSince1970)
        #expect(!summary.endsWithin(CertificateValidity.renewalWindowSeconds, ofSeconds: nowSeconds))
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
