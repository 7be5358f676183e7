import Foundation
import NumberAPI
import NumberClient
import Testing

@Suite("numberd with nobody reading its standard output")
struct ClosedOutputTests {
    @Test("a closed stdout (a supervisor gone, `numberd | head -0`) does not stop numberd: it starts and serves")
    func closedStandardOutput() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-stdout-\(UUID())").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let simulator = try await startExternalSimulator(directory: root)
        var launch = NumberdChild.Launch(
            dataDirectory: root + "/data", port: try freeLoopbackPort(), simulatorURL: simulator.baseURL,
            simulatorCA: simulator.caPEMPath!, credentials: simulator.credentials)
        launch.closedStandardOutput = true
        let child: NumberdChild
        do {
            child = try await NumberdChild.start(launch)
        } catch {
            try? await simulator.shutdown()
            throw error
        }
        // The banner (with the first admin key) went nowhere; the key file has it.
        let adminKey = try String(contentsOfFile: launch.dataDirectory + "/admin.key", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let configuration = NumbersClientConfiguration(
            host: "127.0.0.1", port: launch.port, apiKey: adminKey,
            trustRoots: .file(launch.dataDirectory + "/tls/ca.pem"), retry: .none)
        let account = try await withNumbersClient(configuration) { client in
            _ = try await client.healthCheck(HealthCheckRequest())
            return try await client.createAccount(CreateAccountRequest(name: "stdout", currency: "USD")).account
        }
        #expect(account.id.hasPrefix("ACC_"))
        #expect(child.process.isRunning, "numberd died writing to a closed stdout")
        await child.crash()
        try await simulator.shutdown()
    }
}
