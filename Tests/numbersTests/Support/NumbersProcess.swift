import Foundation

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
    let status = try await withCheckedThrowingContinuation { (exited: CheckedContinuation<Int32, any Error>) in
        process.terminationHandler = { exited.resume(returning: $0.terminationStatus) }
        do {
            try process.run()
        } catch {
            process.terminationHandler = nil
            exited.resume(throwing: error)
        }
    }
    return NumbersRun(
        status: status, stdout: String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
        stderr: String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
}

/// Executables built next to the tests (`swift build --build-tests` builds them all).
enum BuiltProduct {
    /// The path of executable `name` in the build directory the tests run from.
    static func path(_ name: String) throws -> String {
        let testBinaryDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let packageRoot = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let candidates = [
            testBinaryDirectory.appendingPathComponent(name),
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent(name),
            Bundle.main.bundleURL.appendingPathComponent(name),
            packageRoot.appendingPathComponent(".build/debug/\(name)"),
        ]
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw ProductNotFound(name: name, looked: candidates.map(\.path))
        }
        return found.path
    }

    /// The executable is not built.
    struct ProductNotFound: Error, CustomStringConvertible {
        var name: String
        var looked: [String]
        var description: String { "\(name) not found (looked in \(looked)); run `swift build --build-tests`" }
    }
}
