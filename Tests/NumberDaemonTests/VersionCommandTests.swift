import Foundation
import NumberAPI
import NumberClient
import NumberDaemon
import TestSupport
import Testing

/// `numberd --version` prints the version HealthCheck reports (one constant), and nothing else: an operator (or a
/// deploy script) learns which build is installed without starting it.
@Suite struct VersionCommandTests {
    @Test func versionFlagPrintsTheHealthCheckVersion() throws {
        let process = SpawnedProcess()
        process.executableURL = URL(fileURLWithPath: try BuiltProduct.path("numberd"))
        process.arguments = ["--version"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        guard case .exited(let status) = ChildExit.waitBlocking(process, timeout: .seconds(60)) else {
            process.send(SIGKILL)
            Issue.record("numberd --version did not exit")
            return
        }
        #expect(status == 0)
        #expect(String(decoding: output, as: UTF8.self) == Numberd.version + "\n")
    }
}

extension VersionCommandTests {
    @Test func healthCheckReportsTheSameVersion() async throws {
        try await withNumberd { running in
            let health = try await withNumbersClient(running.client()) { client in
                try await client.healthCheck(HealthCheckRequest())
            }
            #expect(health.version == Numberd.version)
        }
    }
}
