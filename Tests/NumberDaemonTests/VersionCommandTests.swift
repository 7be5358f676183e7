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

/// A setting out of range that a subcommand finds once it runs was said with the root's usage line, `Usage: numberd
/// <subcommand>` (an operator's walk): now with the subcommand's own, as ArgumentParser says what it finds, exit 64.
@Suite struct SubcommandUsageErrorTests {
    @Test(arguments: [
        (["backup", "--backups-kept", "0"], "backups-kept must be 1...1000", "numberd backup"),
        (["serve", "--drain-timeout", "0"], "drain-timeout must be 1...86400 seconds", "numberd serve"),
        (["--drain-timeout", "0"], "drain-timeout must be 1...86400 seconds", "numberd serve"),
    ])
    func saidWithTheSubcommandsUsage(arguments: [String], error: String, command: String) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-usage-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let process = SpawnedProcess()
        process.executableURL = URL(fileURLWithPath: try BuiltProduct.path("numberd"))
        process.arguments = arguments
        process.environment = ["NUMBERD_DATA_DIR": directory, "PATH": "/usr/bin:/bin"]
        let pipe = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        guard case .exited(let status) = ChildExit.waitBlocking(process, timeout: .seconds(60)) else {
            process.send(SIGKILL)
            Issue.record("numberd \(arguments) did not exit")
            return
        }
        #expect(status == 64, "\(output)")
        #expect(output.hasPrefix("Error: \(error)"), "\(output)")
        #expect(output.contains("\nUsage: \(command) "), "\(output)")
        #expect(output.contains("See '\(command) --help'"), "\(output)")
        #expect(!FileManager.default.fileExists(atPath: directory), "a refused start made its data directory")
    }
}
