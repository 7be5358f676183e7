import Foundation

/// A fresh directory under the temp directory, removed with everything in it when the object is released: a suite
/// holds one per test, so the directory goes when the test ends, passed or failed (copies of the suite share it).
final class ScratchDirectory: Sendable {
    let path: String

    init(prefix: String) throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
