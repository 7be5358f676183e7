import Foundation
import TestSupport

/// A plain-TCP HTTP proxy on 127.0.0.1 that answers every request (a `CONNECT`) the same way, run as a Python child
/// process: ``Mode/refusing`` answers 407 Proxy Authentication Required and closes; ``Mode/silent`` answers 200
/// Connection established and then never says another word (whatever comes through the tunnel is read and dropped).
/// It keeps the first line of every request it received (``requestLines``).
final class FakeProxy: Sendable {
    enum Mode: String, Sendable {
        case refusing = "refuse"
        case silent
    }

    let port: Int
    private let directory: URL
    private let process: SpawnedProcess
    private let stdin: Pipe

    /// Longest time the proxy lives if nothing stops it (it also exits when the test process does: its stdin closes).
    static let lifetimeSeconds = 600
    /// Longest wait for the proxy to report its port.
    static let startTimeoutMilliseconds = 15_000

    private init(port: Int, directory: URL, process: SpawnedProcess, stdin: Pipe) {
        self.port = port
        self.directory = directory
        self.process = process
        self.stdin = stdin
    }

    /// `http://127.0.0.1:<port>`, for ``HTTPClientConfiguration/proxy``.
    var url: String { "http://127.0.0.1:\(port)" }

    /// The first line of each request the proxy received, in order, e.g. `CONNECT host:443 HTTP/1.1`.
    var requestLines: [String] {
        let log = directory.appendingPathComponent("requests.txt")
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init)
    }

    static func start(_ mode: Mode) async throws -> FakeProxy {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("curlhttp-proxy-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let scriptFile = directory.appendingPathComponent("proxy.py")
        try script.write(to: scriptFile, atomically: true, encoding: .utf8)
        let portFile = directory.appendingPathComponent("port.txt")
        let process = SpawnedProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", scriptFile.path, mode.rawValue, portFile.path,
            directory.appendingPathComponent("requests.txt").path, String(lifetimeSeconds),
        ]
        let stdin = Pipe()
        process.standardInput = stdin
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var waitedMilliseconds = 0
        while waitedMilliseconds < startTimeoutMilliseconds {
            if let text = try? String(contentsOf: portFile, encoding: .utf8), let port = Int(text) {
                return FakeProxy(port: port, directory: directory, process: process, stdin: stdin)
            }
            try await Task.sleep(for: .milliseconds(20))
            waitedMilliseconds += 20
        }
        process.terminate()
        try? FileManager.default.removeItem(at: directory)
        throw ToolError(description: "the fake proxy did not start within \(startTimeoutMilliseconds) ms")
    }

    func stop() {
        if process.isRunning { process.terminate() }
        try? stdin.fileHandleForWriting.close()
        try? FileManager.default.removeItem(at: directory)
    }

    /// The proxy: writes its port to `port.txt`, and the first line of each request to the log before it answers.
    static let script = #"""
        import os, socket, sys, threading
        mode, portfile, logfile, lifetime = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
        lock = threading.Lock()

        def serve(conn):
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    conn.close()
                    return
                data += chunk
            with lock:
                with open(logfile, "a") as f:
                    f.write(data.split(b"\r\n", 1)[0].decode("latin-1") + "\n")
            if mode == "refuse":
                conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                             b"Proxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n"
                             b"Connection: close\r\n\r\n")
            else:
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                try:
                    while conn.recv(4096):
                        pass
                except OSError:
                    pass
            conn.close()

        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        with open(portfile + ".tmp", "w") as f:
            f.write(str(server.getsockname()[1]))
        os.rename(portfile + ".tmp", portfile)

        def watchdog():
            sys.stdin.read()
            os._exit(0)
        threading.Thread(target=watchdog, daemon=True).start()
        threading.Timer(lifetime, lambda: os._exit(0)).start()
        while True:
            conn, _ = server.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()
        """#
}

/// Runs `body` with a fresh fake proxy in `mode`, stopped afterwards.
func withFakeProxy<Result: Sendable>(
    _ mode: FakeProxy.Mode, _ body: (FakeProxy) async throws -> Result
) async throws -> Result {
    let proxy = try await FakeProxy.start(mode)
    defer { proxy.stop() }
    return try await body(proxy)
}
