import Foundation
import TestSupport
import Testing

@testable import TwilioSimulator

/// Runs `validate_schemas.py` (Python + jsonschema) against an in-process simulator: every response the adapter can
/// see must validate against Twilio's OpenAPI schemas (tightened; documented live differences handled narrowly).
@Suite struct SchemaValidationTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Schemas")

    /// The regulatory Bundle the simulators here approve for GB, which the script buys a GB number with.
    static let gbBundle = "BU" + String(repeating: "c", count: 32)

    /// The defaults, with `gbBundle` approved for GB.
    static var configuration: SimulatorConfiguration {
        var configuration = SimulatorConfiguration.defaults
        configuration.approvedBundles = ["GB": [gbBundle]]
        return configuration
    }

    /// Runs the script and returns its exit status and output (killed after 120 s), without blocking a cooperative
    /// thread: the simulator it checks runs in this process.
    private func validate(_ sim: TwilioSimulator) async throws -> (Int32, String) {
        var arguments = [
            "python3", Self.directory.appendingPathComponent("validate_schemas.py").path,
            "--api-url", sim.url(for: .api), "--pricing-url", sim.url(for: .pricing), "--trunking-url",
            sim.url(for: .trunking), "--account-sid", sim.credentials.accountSid,
            "--auth-token", sim.credentials.authToken,
            "--spec-dir", Self.directory.appendingPathComponent("twilio-openapi").path,
            "--gb-bundle-sid", Self.gbBundle,
        ]
        if let ca = sim.caPEMPath { arguments += ["--cafile", ca] }
        let result = try await ChildProcess.run("/usr/bin/env", arguments)
        guard !result.timedOut else { return (-1, "validate_schemas.py did not exit within 120 s:\n" + result.text) }
        return (result.status, result.text)
    }

    @Test func everyResponseValidatesOverHTTP() async throws {
        try await withSimulator(Self.configuration) { sim in
            let (status, output) = try await validate(sim)
            #expect(status == 0, "\(output)")
            #expect(output.contains(", 0 violations"))
        }
    }

    @Test func everyResponseValidatesOverHTTPS() async throws {
        let directory = NSTemporaryDirectory() + "twilio-sim-schema-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let sim = try await TwilioSimulator.start(
            configuration: Self.configuration, tls: try SimulatorTLS.generated(directory: directory))
        let (status, output) = try await validate(sim)
        try await sim.shutdown()
        #expect(status == 0, "\(output)")
    }

    @Test func aBrokenShapeIsCaught() async throws {
        // A search answer that is not a search result must fail the check (the script is not vacuous): an
        // injected "error" with HTTP 200 replaces every search body with an error-shaped one.
        try await withSimulator { sim in
            let error = TwilioError(status: 200, code: 0, message: "not a search result")
            sim.engine.addFault(FaultRule(endpoint: .searchNumbers, kind: .error(error)))
            let (status, output) = try await validate(sim)
            #expect(status == 1)
            #expect(output.contains("FAIL"))
        }
    }
}
