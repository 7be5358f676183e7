import Foundation
import NumberAPI
import NumberClient
import NumberDaemon
import TestSupport
import Testing

/// `numberd --version` prints the version HealthCheck reports (one constant), and nothing else: an operator (or a
/// deploy script) learns which build is installed without starting it. So do the package's other executables (an
/// operator's walk: `numbers --version` was refused as an unknown option).
@Suite struct VersionCommandTests {
    @Test(arguments: ["numberd", "numbers", "numbers-load", "twilio-sim"])
    func versionFlagPrintsTheHealthCheckVersion(product: String) throws {
        let process = SpawnedProcess()
        process.executableURL = URL(fileURLWithPath: try BuiltProduct.path(product))
        process.arguments = ["--version"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        guard case .exited(let status) = ChildExit.waitBlocking(process, timeout: .seconds(60)) else {
            process.send(SIGKILL)
            Issue.record("\(product) --version did not exit")
            return
        }
        #expect(status == 0, "\(product)")
        #expect(String(decoding: output, as: UTF8.self) == Numberd.version + "\n", "\(product)")
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
