import Foundation

/// Executables built next to the tests (`swift build --build-tests` builds them all), for tests that run one as a
/// child process (numberd, the CLI, the store's crash child).
public enum BuiltProduct {
    /// The path of executable `name`: beside the test binary or bundle, else in the package's debug or release build
    /// directory.
    public static func path(_ name: String) throws -> String {
        let testBinaryDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        // This file is <package>/Tests/TestSupport/BuiltProduct.swift.
        let packageRoot = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let candidates = [
            testBinaryDirectory.appendingPathComponent(name),
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent(name),
            Bundle.main.bundleURL.appendingPathComponent(name),
            packageRoot.appendingPathComponent(".build/debug/\(name)"),
            packageRoot.appendingPathComponent(".build/release/\(name)"),
        ]
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw ProductNotFound(name: name, looked: candidates.map(\.path))
        }
        return found.path
    }

    /// An executable that is not built.
    public struct ProductNotFound: Error, CustomStringConvertible {
        /// The executable's name.
        public var name: String
        /// Where it was looked for.
        public var looked: [String]
        /// What to do about it.
        public var description: String { "\(name) not found (looked in \(looked)); run `swift build --build-tests`" }
    }
}
