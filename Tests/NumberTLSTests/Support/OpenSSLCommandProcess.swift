import Foundation
import Synchronization
import TestSupport

/// An `openssl` CLI process (s_client / s_server) with its output collected, for tests against a peer no one here
/// wrote. Every wait is bounded; `terminate()` always runs (the caller defers it).
final class OpenSSLCommandProcess: @unchecked Sendable {
    private let process = SpawnedProcess()
    private let input = Pipe()
    private let output = Pipe()
    private let collected = OutputBuffer()

    init(arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        output.fileHandleForReading.readabilityHandler = { [collected] handle in
            let data = handle.availableData
            collected.bytes.withLock { $0.append(contentsOf: data) }
        }
        try process.run()
    }

    /// Everything the process printed so far (stdout and stderr).
    var text: String {
        String(decoding: collected.bytes.withLock { $0 }, as: UTF8.self)
    }

    /// Writes `text` to the process's stdin. A process that already exited (s_client after a refused handshake)
    /// makes the write fail with EPIPE: that is ignored (the caller checks the output and the exit status), where
    /// `FileHandle.write(_:)` would trap and take the whole test process down.
    func send(_ text: String) {
        try? input.fileHandleForWriting.write(contentsOf: Data(text.utf8))
    }

    /// Closes stdin (s_client then sends close_notify and exits).
    func closeInput() {
        try? input.fileHandleForWriting.close()
    }

    /// Polls until the output contains `needle`; false after `timeoutSeconds` (generous, for a loaded machine: output
    /// that comes returns at once).
    func waitForOutput(containing needle: String, timeoutSeconds: Double = 60) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeoutSeconds * 1000))
        while ContinuousClock.now < deadline {
            if text.contains(needle) {
                return true
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return text.contains(needle)
    }

    /// The port `s_server -accept 127.0.0.1:0` bound, from the `ACCEPT 127.0.0.1:<port>` line it prints once it
    /// listens; nil if it printed none within `timeoutSeconds` (or exited: a failed bind).
    func acceptingPort(timeoutSeconds: Double = 180) async -> Int? {
        let prefix = "ACCEPT 127.0.0.1:"
        let deadline = ContinuousClock.now + .milliseconds(Int(timeoutSeconds * 1000))
        while ContinuousClock.now < deadline {
            // Whole lines only: the last piece may be a line still being written.
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            if let line = lines.first(where: { $0.hasPrefix(prefix) }), let port = Int(line.dropFirst(prefix.count)) {
                return port
            }
            guard process.isRunning else { return nil }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    /// Waits for exit up to `timeoutSeconds` (generous: a starved child can take tens of seconds to be run at all);
    /// returns the exit status, or nil if it is still running.
    func waitForExit(timeoutSeconds: Double = 120) async -> Int32? {
        await ChildExit.wait(process, timeout: .milliseconds(Int(timeoutSeconds * 1000)))?.status
    }

    /// Kills the process if it still runs and stops collecting output.
    func terminate() {
        if process.isRunning {
            // SIGKILL cannot be blocked or ignored: the child ends at once (the wait is bounded all the same).
            process.send(SIGKILL)
            ChildExit.waitBlocking(process, timeout: .seconds(10))
        }
        output.fileHandleForReading.readabilityHandler = nil
        try? input.fileHandleForWriting.close()
    }
}

/// Output gathered from a pipe's reader thread.
final class OutputBuffer: Sendable {
    let bytes = Mutex<[UInt8]>([])
}

/// A temporary directory with the test PKI written as PEM files; removed by `remove()`.
struct PKIFiles {
    let directory: String
    var caCertificate: String { directory + "/ca.pem" }
    var serverCertificate: String { directory + "/server.pem" }
    var serverKey: String { directory + "/server.key" }
    var clientCertificate: String { directory + "/client.pem" }
    var clientKey: String { directory + "/client.key" }

    init(_ pki: TestPKI) throws {
        directory =
            FileManager.default.temporaryDirectory.appendingPathComponent("numbertls-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try pki.authority.write(certificateTo: caCertificate, privateKeyTo: directory + "/ca.key")
        try pki.server.write(certificateTo: serverCertificate, privateKeyTo: serverKey)
        try pki.client.write(certificateTo: clientCertificate, privateKeyTo: clientKey)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }
}
