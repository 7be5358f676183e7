import Foundation
import Synchronization
import TestSupport

/// A CA and a server certificate for 127.0.0.1 (IP SAN only, so `localhost` is a host-name mismatch), plus an
/// unrelated CA, made once per test process with the `openssl` CLI in a temporary directory (removed when the test
/// process exits: clients read the CA files until then).
struct TestCertificates: Sendable {
    let directory: URL
    var caFile: String { directory.appendingPathComponent("ca.pem").path }
    var otherCAFile: String { directory.appendingPathComponent("other-ca.pem").path }
    var serverCertificateFile: String { directory.appendingPathComponent("server.pem").path }
    var serverKeyFile: String { directory.appendingPathComponent("server.key").path }

    private static let cache = CertificateCache()

    /// The process-wide certificates.
    static func shared() async throws -> TestCertificates {
        try await cache.get()
    }

    fileprivate static func make() async throws -> TestCertificates {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("curlhttp-certs-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        removeAtExit(directory)
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        let caExtensions = ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"]
        try await runTool(
            ["openssl", "req", "-x509"] + ec + [
                "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Test CA",
            ]
                + caExtensions, in: directory)
        try await runTool(
            ["openssl", "req", "-x509"] + ec
                + ["-keyout", "other-ca.key", "-out", "other-ca.pem", "-days", "2", "-subj", "/CN=Other CA"]
                + caExtensions, in: directory)
        try await runTool(
            ["openssl", "req"] + ec + ["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"],
            in: directory)
        try "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n".write(
            to: directory.appendingPathComponent("server.ext"), atomically: true, encoding: .utf8)
        try await runTool(
            [
                "openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", "server.pem", "-days", "2", "-extfile", "server.ext",
            ], in: directory)
        return TestCertificates(directory: directory)
    }
}

private actor CertificateCache {
    private var task: Task<TestCertificates, any Error>?

    func get() async throws -> TestCertificates {
        if let task { return try await task.value }
        let task = Task { try await TestCertificates.make() }
        self.task = task
        return try await task.value
    }
}

/// Directories for the exit handler (a C function pointer, which captures nothing).
private let directoriesToRemoveAtExit = Mutex<[URL]>([])

/// Removes `directory` when the process exits (by `exit`, as the test runner ends; a crash leaves it behind).
private func removeAtExit(_ directory: URL) {
    let first = directoriesToRemoveAtExit.withLock { directories in
        directories.append(directory)
        return directories.count == 1
    }
    guard first else { return }
    atexit {
        for directory in directoriesToRemoveAtExit.withLock({ $0 }) {
            try? FileManager.default.removeItem(at: directory)
        }
    }
}

/// A failed helper process.
struct ToolError: Error, CustomStringConvertible {
    let description: String
}

/// Runs a command found on `PATH` and waits for it without blocking a thread.
func runTool(_ arguments: [String], in directory: URL) async throws {
    let process = SpawnedProcess()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    process.currentDirectoryURL = directory
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    // Bounded: a hung tool must fail its test, not the run.
    guard let ending = await ChildExit.wait(process, timeout: .seconds(120)) else {
        process.send(SIGKILL)
        throw ToolError(description: "\(arguments.joined(separator: " ")) did not exit within 120 s")
    }
    guard ending == .exited(0) else {
        throw ToolError(description: "\(arguments.joined(separator: " ")) ended \(ending)")
    }
}
