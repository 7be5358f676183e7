import Foundation
import TestSupport

/// What one run of the `numbers` executable did.
struct NumbersRun: Sendable {
    /// Its exit status.
    var status: Int32
    /// Everything it printed on standard output.
    var stdout: String
    /// Everything it printed on standard error.
    var stderr: String
}

/// Runs the built `numbers` executable with `arguments` and waits for it to exit. Its data directory is an empty
/// temporary one, so no local admin key or CA is found: the arguments must name the server, key and CA.
func runNumbers(_ arguments: [String]) async throws -> NumbersRun {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try BuiltProduct.path("numbers"))
    process.arguments = arguments
    let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("numbers-data-\(UUID())").path
    var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("NUMBERS_") }
    environment["NUMBERD_DATA_DIR"] = dataDirectory
    process.environment = environment
    let stdout = Pipe()
    let stderr = Pipe()
    process.standardOutput = stdout
    process.standardError = stderr
    try process.run()
    // Bounded: Foundation can miss a child's exit (ChildExit), and a CLI that hangs must fail its test, not the run.
    guard let ending = await ChildExit.wait(process, timeout: .seconds(120)) else {
        kill(process.processIdentifier, SIGKILL)
        throw NumbersProcessTimeout(arguments: arguments)
    }
    return NumbersRun(
        status: ending.status,
        stdout: String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
        stderr: String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
}

/// The CLI did not exit within its bound.
struct NumbersProcessTimeout: Error, CustomStringConvertible {
    let arguments: [String]
    var description: String { "numbers \(arguments.joined(separator: " ")) did not exit within 120 s" }
}
