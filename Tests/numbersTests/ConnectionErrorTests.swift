import Foundation
import NumberAPI
import NumberServer
import Testing

/// What the CLI says when it cannot reach numberd or make its TLS context: one line naming the cause, with the exit
/// code the help documents. It used to print Swift's own values — NIO's `SingleConnectionFailure` dump for a refused
/// connection, `Error: TLSError.invalidConfiguration: …` (exit 1) for a CA or client certificate that is not PEM. The
/// built `numbers` runs as a process (`swift build --build-tests` first).
@Suite("numbers: connection and TLS file errors")
struct ConnectionErrorTests {
    /// The lines `run` printed on stderr, empty ones left out.
    static func lines(_ run: NumbersRun) -> [Substring] {
        run.stderr.split(separator: "\n")
    }

    @Test(
        "a --ca with no certificate in it (/dev/null, a folder): exit 7, one line naming it",
        arguments: [false, true])
    func caWithoutCertificate(folder: Bool) async throws {
        let path =
            folder
            ? FileManager.default.temporaryDirectory.appendingPathComponent("numbers-ca-\(UUID())").path : "/dev/null"
        if folder { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        defer { if folder { try? FileManager.default.removeItem(atPath: path) } }
        let run = try await runNumbers(["health", "--server", "127.0.0.1:7443", "--ca", path])
        #expect(run.status == 7, "\(run)")
        #expect(Self.lines(run).count == 1, "\(run.stderr)")
        #expect(run.stderr.contains("the CA certificate cannot be used"), "\(run.stderr)")
        #expect(run.stderr.contains(path), "\(run.stderr)")
        #expect(!run.stderr.contains("TLSError"), "\(run.stderr)")
    }

    @Test("a --cert or --cert-key that is not PEM: a usage error (64), one line, nothing sent")
    func clientCertificateNotPEM() async throws {
        let calls = Recorded<HealthCheckRequest>()
        var router = RPCRouter()
        router.register(NumbersMethods.healthCheck) { request, _ in
            calls.append(request)
            return HealthCheckResponse(status: .serving)
        }
        try await withStubServer(router: router) { server in
            let run = try await runNumbers(
                [
                    "health", "--server", "127.0.0.1:\(server.port)", "--ca", server.caFile, "--cert", "/dev/null",
                    "--cert-key", server.caFile,
                ])
            #expect(run.status == 64, "\(run)")
            #expect(Self.lines(run).count == 1, "\(run.stderr)")
            #expect(run.stderr.contains("the client certificate or its key cannot be used"), "\(run.stderr)")
            #expect(run.stderr.contains("--cert"), "\(run.stderr)")
            #expect(!run.stderr.contains("TLSError"), "\(run.stderr)")
        }
        #expect(calls.all.isEmpty)
    }

    @Test("a port nobody listens on: exit 7, 'cannot connect to HOST:PORT: Connection refused', no NIO dump")
    func connectionRefused() async throws {
        // A port that was free a moment ago, closed again: connecting to it is refused.
        let port = try SilentListener().port
        try await withStubServer(router: RPCRouter()) { server in
            let run = try await runNumbers(
                ["health", "--server", "127.0.0.1:\(port)", "--ca", server.caFile, "--timeout", "10"])
            #expect(run.status == 7, "\(run)")
            #expect(run.stderr.contains("cannot connect to 127.0.0.1:\(port): Connection refused"), "\(run.stderr)")
            #expect(!run.stderr.contains("SingleConnectionFailure"), "\(run.stderr)")
            #expect(!run.stderr.contains("errno"), "\(run.stderr)")
        }
    }
}
