import ArgumentParser
import Testing

@testable import numbers_load

@Suite("RunLoad: options that cannot give a meaningful figure are refused")
struct RunLoadTests {
    @Test("--compare-raw with --mode open is a usage error: the raw side's maximum against a fixed rate means nothing")
    func compareRawRefusesOpenLoop() throws {
        let error = #expect(throws: (any Error).self) {
            try RunLoad.parse(["--mode", "open", "--rate", "500", "--compare-raw"])
        }
        #expect(RunLoad.message(for: try #require(error)).contains("--compare-raw"))
        _ = try RunLoad.parse(["--mode", "closed", "--compare-raw"])
        _ = try RunLoad.parse(["--mode", "open", "--rate", "500"])
    }
}
