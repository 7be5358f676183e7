import Foundation
import NumberAPI
import NumberServer
import NumberTLS
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
        // A port bound and not listening, held to the end: connecting to it is refused. (A port freed again was
        // taken by another test's server in a loaded run, which answered the handshake.)
        let bound = try SilentListener(listening: false)
        let port = bound.port
        defer { withExtendedLifetime(bound) {} }
        try await withStubServer(router: RPCRouter()) { server in
            let run = try await runNumbers(
                ["health", "--server", "127.0.0.1:\(port)", "--ca", server.caFile, "--timeout", "10"])
            #expect(run.status == 7, "\(run)")
            #expect(run.stderr.contains("cannot connect to 127.0.0.1:\(port): Connection refused"), "\(run.stderr)")
            #expect(!run.stderr.contains("SingleConnectionFailure"), "\(run.stderr)")
            #expect(!run.stderr.contains("errno"), "\(run.stderr)")
        }
    }

    /// Found walking the CLI: a name that does not resolve, and a server with another CA, were said with Swift's type
    /// names (`SocketAddressError.UnknownHost: …`, `TLSError.certificateVerificationFailed: …`).
    @Test(
        "a host that does not resolve, or a server whose certificate the CA did not issue: exit 7 and 9, no type names")
    func resolveAndVerifyFailures() async throws {
        try await withStubServer(router: RPCRouter()) { server in
            let unresolved = try await runNumbers(
                ["health", "--server", "nosuchhost.invalid:7443", "--ca", server.caFile, "--timeout", "30"])
            #expect(unresolved.status == 7, "\(unresolved)")
            #expect(unresolved.stderr.contains("cannot resolve nosuchhost.invalid: "), "\(unresolved.stderr)")
            #expect(!unresolved.stderr.contains("SocketAddressError"), "\(unresolved.stderr)")
            let other = try CertificateAuthority.generate()
            let caFile = FileManager.default.temporaryDirectory.appendingPathComponent("other-ca-\(UUID()).pem").path
            try other.certificatePEM.write(toFile: caFile, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: caFile) }
            let untrusted = try await runNumbers(
                ["health", "--server", "127.0.0.1:\(server.port)", "--ca", caFile, "--timeout", "30"])
            #expect(untrusted.status == 9, "\(untrusted)")
            #expect(!untrusted.stderr.contains("TLSError"), "\(untrusted.stderr)")
            #expect(untrusted.stderr.contains("certificate"), "\(untrusted.stderr)")
        }
    }

    /// A data directory for one test, named in `NUMBERD_DATA_DIR`; removed by the caller.
    static func dataDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("numbers-data-\(UUID())").path
    }

    /// A numberd started with `--tls-cert` serves a certificate its generated CA did not issue, and the CLI checked it
    /// against that CA all the same (no `--ca`): `numbers backup` from the README's systemd unit failed
    /// "CONNECT_FAILED … certificate verify failed", nothing naming the CA used or `--ca`.
    @Test("a certificate the CA does not verify: exit 9, naming the CA's path (and --ca when it was the default)")
    func defaultCARejects() async throws {
        let data = Self.dataDirectory()
        try FileManager.default.createDirectory(atPath: data + "/tls", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: data) }
        // Where numberd keeps its generated CA: another one than the CA that issued the stub's certificate.
        try CertificateAuthority.generate().certificatePEM.write(
            toFile: data + "/tls/ca.pem", atomically: true, encoding: .utf8)
        try await withStubServer(router: RPCRouter()) { server in
            let environment = ["NUMBERD_DATA_DIR": data]
            let run = try await runNumbers(
                ["health", "--server", "127.0.0.1:\(server.port)"], environment: environment)
            #expect(run.status == 9, "\(run)")
            #expect(run.stderr.contains("CERTIFICATE_REJECTED"), "\(run.stderr)")
            #expect(
                run.stderr.contains("checked against \(data)/tls/ca.pem (the default: numberd's generated CA)"),
                "\(run.stderr)")
            #expect(run.stderr.contains("(--tls-cert) needs --ca"), "\(run.stderr)")
            // The same CA given with --ca: the failure names the CA the operator chose, nothing said of a default.
            let given = try await runNumbers(
                ["health", "--server", "127.0.0.1:\(server.port)", "--ca", data + "/tls/ca.pem"],
                environment: environment)
            #expect(given.status == 9, "\(given)")
            #expect(given.stderr.contains("CERTIFICATE_REJECTED"), "\(given.stderr)")
            #expect(!given.stderr.contains("the default"), "\(given.stderr)")
            #expect(given.stderr.contains("checked against \(data)/tls/ca.pem (--ca or NUMBERS_CA)"), "\(given.stderr)")
        }
    }

    /// The local admin key refused (revoked, or another numberd's) said only "the API key is not valid"; numberd makes
    /// a new one at its next start, which the CLI now says — only when that key was the one sent.
    @Test("the local admin key refused: the advice names admin.key and the restart; a key given gets none")
    func localAdminKeyRefused() async throws {
        let data = Self.dataDirectory()
        try FileManager.default.createDirectory(atPath: data + "/tls", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: data) }
        var router = RPCRouter()
        router.register(NumbersMethods.getBalance) { _, _ -> GetBalanceResponse in
            throw RPCError(code: .unauthenticated, message: "the API key is not valid", reason: "INVALID_CREDENTIALS")
        }
        try await withStubServer(router: router) { server in
            try FileManager.default.copyItem(atPath: server.caFile, toPath: data + "/tls/ca.pem")
            try "nk_local\n".write(toFile: data + "/admin.key", atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: data + "/admin.key")
            let arguments = ["balance", "--account", "ACC_1", "--server", "127.0.0.1:\(server.port)"]
            let local = try await runNumbers(arguments, environment: ["NUMBERD_DATA_DIR": data])
            #expect(local.status == 6, "\(local)")
            #expect(local.stderr.contains("the local admin key (\(data)/admin.key)"), "\(local.stderr)")
            #expect(local.stderr.contains("restart it"), "\(local.stderr)")
            let given = try await runNumbers(
                arguments, environment: ["NUMBERD_DATA_DIR": data, "NUMBERS_KEY": "nk_other"])
            #expect(given.status == 6, "\(given)")
            #expect(!given.stderr.contains("local admin key"), "\(given.stderr)")
        }
    }

    /// `NUMBERD_DATA_DIR` (or, since an operator's walk found numberd and numbers-load taking `--data-dir` and
    /// `numbers` not, `--data-dir`) points the CLI at a numberd run with `--data-dir`; the messages for a missing CA
    /// and a missing admin key did not mention it.
    @Test("no CA in the data directory, no admin key there: each message names --data-dir and NUMBERD_DATA_DIR")
    func dataDirectoryNamed() async throws {
        let data = Self.dataDirectory()
        let environment = ["NUMBERD_DATA_DIR": data]
        let noCA = try await runNumbers(["health", "--server", "127.0.0.1:7443"], environment: environment)
        #expect(noCA.status == 7, "\(noCA)")
        #expect(noCA.stderr.contains("no CA certificate at \(data)/tls/ca.pem"), "\(noCA.stderr)")
        #expect(noCA.stderr.contains("or give numberd's --data-dir (--data-dir or NUMBERD_DATA_DIR)"), "\(noCA.stderr)")
        // One named with --ca: not "pass --ca", which it did.
        let namedCA = try await runNumbers(
            ["health", "--server", "127.0.0.1:7443", "--ca", data + "/nowhere.pem"], environment: environment)
        #expect(namedCA.status == 7, "\(namedCA)")
        #expect(
            namedCA.stderr.contains("no CA certificate at \(data)/nowhere.pem (--ca or NUMBERS_CA): name numberd's"),
            "\(namedCA.stderr)")
        #expect(!namedCA.stderr.contains("pass --ca"), "\(namedCA.stderr)")
        // A CA given (any file: nothing is sent), no key: the usage error names the variable too.
        let noKey = try await runNumbers(
            ["balance", "--server", "127.0.0.1:7443", "--ca", "/dev/null", "--account", "ACC_1"],
            environment: environment)
        #expect(noKey.status == 64, "\(noKey)")
        #expect(noKey.stderr.contains("there is no local admin key (\(data)/admin.key)"), "\(noKey.stderr)")
        #expect(
            noKey.stderr.contains("or give numberd's --data-dir (--data-dir or NUMBERD_DATA_DIR)"), "\(noKey.stderr)")
        // --data-dir in place of the variable, over it: the same directory looked in.
        let flagged = try await runNumbers(
            ["health", "--server", "127.0.0.1:7443", "--data-dir", data],
            environment: ["NUMBERD_DATA_DIR": data + "/elsewhere"])
        #expect(flagged.status == 7, "\(flagged)")
        #expect(flagged.stderr.contains("no CA certificate at \(data)/tls/ca.pem"), "\(flagged.stderr)")
    }
}
