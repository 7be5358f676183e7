import Foundation
import NumberAPI
import NumberServer
import Testing

/// Where the CLI takes its API key from, and where it sends the local admin key: `--key` (warned about: other users
/// see it in `ps`), `--key-file` / `NUMBERS_KEY_FILE` (mode 0600), `NUMBERS_KEY`, else the local data directory's
/// `admin.key` only for a server on loopback checked against that directory's own CA. The built `numbers` runs as a
/// process against a stub server that records the `authorization` each call carried.
@Suite("numbers: where the API key comes from and where it goes")
struct KeySourceTests {
    /// A stub that answers HealthCheck and ListAccounts and records each call's `authorization` ("" for none).
    static func recording(_ received: Recorded<String>) -> RPCRouter {
        var router = RPCRouter()
        router.register(NumbersMethods.healthCheck) { _, context in
            received.append(context.metadata["authorization"] ?? "")
            return HealthCheckResponse(status: .serving)
        }
        router.register(NumbersMethods.listAccounts) { _, context in
            received.append(context.metadata["authorization"] ?? "")
            return ListAccountsResponse()
        }
        return router
    }

    /// A temporary folder for the test's files; removed by the caller.
    static func folder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("numbers-keys-\(UUID())").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Writes `text` to `path` with `mode`.
    static func write(_ text: String, to path: String, mode: Int) throws {
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    }

    static let warning = "--key leaves the key where other users see it"

    @Test("--key works and warns on stderr; --key-file, NUMBERS_KEY_FILE and NUMBERS_KEY work without a warning")
    func keySources() async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let keyFile = folder + "/key"
        try Self.write("nk_from_file\n", to: keyFile, mode: 0o600)
        let received = Recorded<String>()
        try await withStubServer(router: Self.recording(received)) { server in
            let connection = ["--server", "127.0.0.1:\(server.port)", "--ca", server.caFile]
            let flag = try await runNumbers(["accounts", "list", "--key", "nk_on_argv"] + connection)
            #expect(flag.status == 0, "\(flag)")
            #expect(flag.stderr.contains(Self.warning), "\(flag.stderr)")
            #expect(flag.stderr.contains("--key-file"), "\(flag.stderr)")
            for (arguments, environment) in [
                (["--key-file", keyFile], [:]), ([], ["NUMBERS_KEY_FILE": keyFile]),
                ([], ["NUMBERS_KEY": "nk_from_env"]),
                // A flag wins over the environment, as --server over NUMBERS_SERVER.
                (["--key-file", keyFile], ["NUMBERS_KEY": "nk_from_env"]),
            ] as [([String], [String: String])] {
                let run = try await runNumbers(
                    ["accounts", "list"] + arguments + connection, environment: environment)
                #expect(run.status == 0, "\(arguments) \(environment): \(run)")
                #expect(!run.stderr.contains("warning"), "\(arguments) \(environment): \(run.stderr)")
            }
        }
        #expect(
            received.all == [
                "Bearer nk_on_argv", "Bearer nk_from_file", "Bearer nk_from_file", "Bearer nk_from_env",
                "Bearer nk_from_file",
            ])
    }

    @Test(
        "a key file others can read, a missing or empty one, or two keys at one level are usage errors, nothing sent",
        arguments: ["group-readable", "missing", "empty", "flag and file", "both variables"])
    func refusedKeySources(_ kind: String) async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let keyFile = folder + "/key"
        try Self.write("nk_from_file\n", to: keyFile, mode: 0o600)
        var arguments: [String] = []
        var environment: [String: String] = [:]
        var expected = ""
        switch kind {
        case "group-readable":
            try Self.write("nk_from_file\n", to: keyFile, mode: 0o640)
            (arguments, expected) = (["--key-file", keyFile], "chmod 600")
        case "missing": (arguments, expected) = (["--key-file", folder + "/none"], "cannot open")
        case "empty":
            try Self.write("\n", to: keyFile, mode: 0o600)
            (environment, expected) = (["NUMBERS_KEY_FILE": keyFile], "is empty")
        case "flag and file": (arguments, expected) = (["--key", "nk_x", "--key-file", keyFile], "give one")
        default:
            (environment, expected) = (["NUMBERS_KEY": "nk_x", "NUMBERS_KEY_FILE": keyFile], "set one")
        }
        let received = Recorded<String>()
        try await withStubServer(router: Self.recording(received)) { server in
            let run = try await runNumbers(
                ["accounts", "list", "--server", "127.0.0.1:\(server.port)", "--ca", server.caFile] + arguments,
                environment: environment)
            #expect(run.status == 64, "\(run)")
            #expect(run.stderr.contains(expected), "\(run.stderr)")
            #expect(!run.stderr.contains("nk_from_file"), "the file's contents are never shown: \(run.stderr)")
        }
        #expect(received.all.isEmpty)
    }

    /// A data directory whose CA is the stub's and whose `admin.key` holds `nk_local_admin`.
    static func localDirectory(_ folder: String, server: StubServer) throws -> String {
        let data = folder + "/data"
        try FileManager.default.createDirectory(atPath: data + "/tls", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: server.caFile, toPath: data + "/tls/ca.pem")
        try Self.write("nk_local_admin\n", to: data + "/admin.key", mode: 0o600)
        return data
    }

    @Test("the local admin key goes to a loopback server checked against the local CA, as before")
    func localAdminKeyToTheLocalServer() async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let received = Recorded<String>()
        try await withStubServer(router: Self.recording(received)) { server in
            let environment = ["NUMBERD_DATA_DIR": try Self.localDirectory(folder, server: server)]
            for host in ["127.0.0.1", "localhost"] {
                let run = try await runNumbers(
                    ["accounts", "list", "--server", "\(host):\(server.port)"], environment: environment)
                #expect(run.status == 0, "\(host): \(run)")
                #expect(!run.stderr.contains("warning"), "\(run.stderr)")
            }
        }
        #expect(received.all == ["Bearer nk_local_admin", "Bearer nk_local_admin"])
    }

    /// `admin.key` was sent whatever its mode, while a `--key-file` others can read is refused: a copy of it made 0644
    /// handed the admin key to every local user without a word. It is refused the same way now, nothing sent.
    @Test("a local admin.key that others can read is a usage error naming the chmod, and nothing is sent")
    func localAdminKeyOthersCanRead() async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let received = Recorded<String>()
        try await withStubServer(router: Self.recording(received)) { server in
            let data = try Self.localDirectory(folder, server: server)
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: data + "/admin.key")
            let run = try await runNumbers(
                ["accounts", "list", "--server", "127.0.0.1:\(server.port)"], environment: ["NUMBERD_DATA_DIR": data])
            #expect(run.status == 64, "\(run)")
            #expect(run.stderr.contains("chmod 600 \(data)/admin.key"), "\(run.stderr)")
            #expect(!run.stderr.contains("nk_local_admin"), "the file's contents are never shown: \(run.stderr)")
            // A call that needs no key goes without it (a monitoring user in numberd's group got exit 64).
            let health = try await runNumbers(
                ["health", "--server", "127.0.0.1:\(server.port)"], environment: ["NUMBERD_DATA_DIR": data])
            #expect(health.status == 0, "\(health)")
            // A key given and unusable is still refused, health or not.
            let unreadable = try await runNumbers(
                ["health", "--server", "127.0.0.1:\(server.port)", "--key-file", folder + "/missing"],
                environment: ["NUMBERD_DATA_DIR": data])
            #expect(unreadable.status == 64, "\(unreadable)")
        }
        #expect(received.all == [""], "the health check went without the key")
    }

    /// Before, the local admin key went to whatever `--server` named: another host with its own `--ca` (or a loopback
    /// port forwarded to one) received the local numberd's admin key.
    @Test("the local admin key is not sent to a server checked against another CA (a port forwarded elsewhere)")
    func localAdminKeyNotToAnotherCA() async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let received = Recorded<String>()
        try await withStubServer(router: Self.recording(received)) { server in
            let environment = ["NUMBERD_DATA_DIR": try Self.localDirectory(folder, server: server)]
            // The same CA, but from elsewhere: what `--ca` names for a remote numberd.
            let otherCA = folder + "/remote-ca.pem"
            try FileManager.default.copyItem(atPath: server.caFile, toPath: otherCA)
            let connection = ["--server", "127.0.0.1:\(server.port)", "--ca", otherCA]
            let health = try await runNumbers(["health"] + connection, environment: environment)
            #expect(health.status == 0, "HealthCheck needs no key: \(health)")
            let list = try await runNumbers(["accounts", "list"] + connection, environment: environment)
            #expect(list.status == 64, "\(list)")
            #expect(list.stderr.contains("no API key for 127.0.0.1:\(server.port)"), "\(list.stderr)")
            #expect(list.stderr.contains("--key-file"), "\(list.stderr)")
        }
        #expect(received.all == [""], "the health check carried no key; the list was never sent")
    }

    @Test("a server that is not on loopback gets no local admin key: a usage error says how to give one")
    func localAdminKeyNotToAnotherHost() async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await withStubServer(router: RPCRouter()) { server in
            let data = try Self.localDirectory(folder, server: server)
            // 192.0.2.1 (TEST-NET-1) is reached by nobody: before, the CLI tried to connect with the admin key
            // (exit 7 after the connect timeout); now it stops before connecting.
            for ca in [[], ["--ca", data + "/tls/ca.pem"]] {
                let run = try await runNumbers(
                    ["accounts", "list", "--server", "192.0.2.1:7443", "--timeout", "3"] + ca,
                    environment: ["NUMBERD_DATA_DIR": data])
                #expect(run.status == 64, "\(ca): \(run)")
                #expect(run.stderr.contains("goes only to a numberd on this machine"), "\(run.stderr)")
                #expect(run.stderr.contains("--key-file PATH or NUMBERS_KEY_FILE"), "\(run.stderr)")
                #expect(!run.stderr.contains("nk_local_admin"))
            }
        }
    }
}
