import CurlHTTP
import Foundation
import TestSupport

/// The Python HTTPS test server (see `TestHTTPSServer+Script.swift`) running as a child process on a free port.
final class TestHTTPSServer: Sendable {
    let port: Int
    let certificates: TestCertificates
    private let process: SpawnedProcess
    private let stdin: Pipe

    /// Longest time the server lives if nothing stops it (it also exits when the test process does, as its stdin
    /// closes). Long enough for the shared server to outlast the whole project's test run.
    static let lifetimeSeconds = 1_800
    /// Longest wait for the server to report its port.
    static let startTimeoutMilliseconds = 60_000

    private init(port: Int, certificates: TestCertificates, process: SpawnedProcess, stdin: Pipe) {
        self.port = port
        self.certificates = certificates
        self.process = process
        self.stdin = stdin
    }

    /// `https://127.0.0.1:<port><path>`.
    func url(_ path: String) -> String { "https://127.0.0.1:\(port)\(path)" }

    private static let sharedServer = SharedServer()

    /// One server for the whole test process (it exits when the process does: its stdin closes).
    static func shared() async throws -> TestHTTPSServer {
        try await sharedServer.get()
    }

    static func start() async throws -> TestHTTPSServer {
        let certificates = try await TestCertificates.shared()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("curlhttp-server-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // Once the server has written its port it has read its script and certificates: nothing here is needed
        // any more (the shared server is never stopped, so this is the only place it can go).
        defer { try? FileManager.default.removeItem(at: directory) }
        let scriptFile = directory.appendingPathComponent("server.py")
        try script.write(to: scriptFile, atomically: true, encoding: .utf8)
        let portFile = directory.appendingPathComponent("port.txt")
        let process = SpawnedProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", scriptFile.path, certificates.serverCertificateFile, certificates.serverKeyFile, portFile.path,
            String(lifetimeSeconds),
        ]
        let stdin = Pipe()
        process.standardInput = stdin
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var waitedMilliseconds = 0
        while waitedMilliseconds < startTimeoutMilliseconds {
            if let text = try? String(contentsOf: portFile, encoding: .utf8), let port = Int(text) {
                return TestHTTPSServer(port: port, certificates: certificates, process: process, stdin: stdin)
            }
            try await Task.sleep(for: .milliseconds(20))
            waitedMilliseconds += 20
        }
        process.terminate()
        throw ToolError(description: "the test server did not start within \(startTimeoutMilliseconds) ms")
    }

    func stop() {
        if process.isRunning { process.terminate() }
        try? stdin.fileHandleForWriting.close()
    }
}

/// Runs `body` with a client (stopped afterwards) and the shared server, or a fresh one (stopped afterwards) for
/// tests that count the server's connections.
@discardableResult
func withServerAndClient<Result: Sendable>(
    freshServer: Bool = false,
    configure: (inout HTTPClientConfiguration) -> Void = { _ in },
    _ body: (TestHTTPSServer, CurlHTTPClient) async throws -> Result
) async throws -> Result {
    let server = try await freshServer ? TestHTTPSServer.start() : TestHTTPSServer.shared()
    defer { if freshServer { server.stop() } }
    var configuration = HTTPClientConfiguration.defaults
    configuration.tls.caFilePath = server.certificates.caFile
    // Generous (the handshake with the shared server included): a loaded machine can stall a request for seconds.
    // Tests of a timeout set their own.
    configuration.timeouts.totalMilliseconds = 120_000
    configuration.timeouts.connectMilliseconds = 120_000
    configure(&configuration)
    return try await withCurlHTTPClient(configuration: configuration) { client in
        try await body(server, client)
    }
}

private actor SharedServer {
    private var task: Task<TestHTTPSServer, any Error>?

    func get() async throws -> TestHTTPSServer {
        if let task { return try await task.value }
        let task = Task { try await TestHTTPSServer.start() }
        self.task = task
        return try await task.value
    }
}
