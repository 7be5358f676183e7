import ArgumentParser
import Foundation
import NIOCore
import NumberAPI
import NumberClient
import NumberTLS

/// Where the server is and how to reach it as an administrator: the same flags and local defaults as the `numbers`
/// CLI (admin key and CA from the local data directory when not given; a client certificate only when given).
struct TargetOptions: ParsableArguments {
    @Option(help: "Server host:port, loopback only (env NUMBERS_SERVER; default 127.0.0.1:7443).") var server: String?
    @Option(
        help: """
            Admin API key nk_… (env NUMBERS_KEY; default the local data directory's admin key): other users see it \
            in ps; prefer --key-file.
            """)
    var key: String?
    @Option(
        name: .customLong("key-file"),
        help: "A file holding the admin API key, mode 0600 (env NUMBERS_KEY_FILE, or the key itself in NUMBERS_KEY).")
    var keyFile: String?
    @Option(help: "CA certificate PEM (env NUMBERS_CA; default the local data directory's).") var ca: String?
    @Option(help: "Client certificate PEM for a numberd run with --client-ca (env NUMBERS_CERT; with --cert-key).")
    var cert: String?
    @Option(name: .customLong("cert-key"), help: "The private key PEM of --cert (env NUMBERS_CERT_KEY).")
    var certKey: String?
    @Option(
        name: .customLong("data-dir"),
        help: """
            numberd's data directory for the defaults above (default $NUMBERD_DATA_DIR, else $XDG_DATA_HOME/numberd, \
            else ~/.local/share/numberd).
            """)
    var dataDir: String?

    var environment: [String: String] { ProcessInfo.processInfo.environment }

    var dataDirectory: String { dataDir ?? LocalDefaults.dataDirectory(environment: environment) }

    /// The validated loopback address. Port 0, which `LoopbackAddress` lets a listener take (any free port), is no
    /// server's: a usage error here, where the client's configuration would trap on it.
    func address() throws -> (host: String, port: Int) {
        let (host, port) = try LoopbackAddress.parse(server ?? environment["NUMBERS_SERVER"] ?? LocalDefaults.server)
        guard port != 0 else { throw ValidationError("the server address needs a port 1...65535, not 0") }
        return (host, port)
    }

    /// The CA file the server's certificate must chain to.
    func caPath() throws -> String {
        let path = ca ?? environment["NUMBERS_CA"] ?? LocalDefaults.caCertificate(dataDirectory: dataDirectory)
        guard FileManager.default.fileExists(atPath: path) else {
            throw ValidationError("no CA certificate at \(path): pass --ca or --data-dir, or start numberd first")
        }
        return path
    }

    /// The client certificate for a numberd that requires one (`--client-ca`, mutual TLS, loopback included), as the
    /// `numbers` CLI takes it: `--cert` and `--cert-key`, else `NUMBERS_CERT` and `NUMBERS_CERT_KEY` (each flag over
    /// its variable); nil when neither is given. One without the other, or a path with no file, is a usage error:
    /// the server would refuse every connection, which the run could only count as connect failures.
    func clientCertificate() throws -> (chain: TLSCertificateSource, key: TLSPrivateKeySource)? {
        do {
            return try NumbersClientConfiguration.clientCertificateFiles(
                certPath: cert, keyPath: certKey, environment: environment)
        } catch {
            throw ValidationError(error.message)
        }
    }

    /// Whether the admin key is the data directory's: neither `--key`, `--key-file`, `NUMBERS_KEY` nor
    /// `NUMBERS_KEY_FILE` gives one (``adminKey()``).
    var keyFromDataDirectory: Bool {
        key == nil && keyFile == nil && environment["NUMBERS_KEY"] == nil && environment["NUMBERS_KEY_FILE"] == nil
    }

    /// The admin key given: `--key`, `--key-file`, `NUMBERS_KEY`, `NUMBERS_KEY_FILE` (a flag over the environment;
    /// two at the same level are refused, as the `numbers` CLI refuses them); nil when none is. A key file must be
    /// readable by its owner only (``SecretFile``).
    func givenKey(environment: [String: String]) throws -> String? {
        guard key == nil || keyFile == nil else { throw ValidationError("--key and --key-file: give one of them") }
        if let key { return key }
        let (value, file) = (environment["NUMBERS_KEY"], environment["NUMBERS_KEY_FILE"])
        guard keyFile != nil || value == nil || file == nil else {
            throw ValidationError("NUMBERS_KEY and NUMBERS_KEY_FILE are both set: set one of them")
        }
        guard let path = keyFile ?? file else { return value }
        do {
            return try SecretFile.read(path, name: keyFile != nil ? "--key-file" : "NUMBERS_KEY_FILE")
        } catch {
            throw ValidationError("\(error)")
        }
    }

    /// Whether the data directory chose anything about the target: `--data-dir` names it, or the admin key or the
    /// CA is its own. Not when `--key` (or `NUMBERS_KEY`) and `--ca` (or `NUMBERS_CA`) are both given and
    /// `--data-dir` is not: the operator chose the target.
    var usesDataDirectory: Bool {
        dataDir != nil || keyFromDataDirectory || (ca ?? environment["NUMBERS_CA"]) == nil
    }

    /// The provider the data directory's numberd is bound to: the `kind` of its `provider.json` (`twilio`, also for a
    /// `twilio-sim` reached as Twilio; `simulator` for the in-process one; numberd's `ProviderBinding`, read here
    /// without its module); nil when the file is missing or cannot be read.
    func providerKind() -> String? {
        struct Binding: Decodable {
            var kind: String
        }
        // Bounded, and never a FIFO's wait: numberd's own limit for the file.
        guard
            let bytes = try? readBoundedFile(
                dataDirectory + "/provider.json", bytesMax: LocalDefaults.providerBindingBytesMax)
        else { return nil }
        return (try? JSONDecoder().decode(Binding.self, from: Data(bytes)))?.kind
    }

    /// The admin key: flag, environment (``givenKey(environment:)``), or the data directory's `admin.key` — the last
    /// only under the `numbers` CLI's rule (``NumbersClientConfiguration/localAdminKey(host:caPath:dataDirectory:)``):
    /// the server is loopback here, but a loopback port can be forwarded (`ssh -L`) to a server that `--ca` names,
    /// which must not get it.
    func adminKey() throws -> String {
        if let given = try givenKey(environment: environment) { return given }
        let host = try address().host
        let caFile = try caPath()
        let found: String?
        do {
            found = try NumbersClientConfiguration.localAdminKey(
                host: host, caPath: caFile, dataDirectory: dataDirectory)
        } catch {
            // Readable by group or others: refused, with the chmod to fix it.
            throw ValidationError("\(error)")
        }
        guard let local = found else {
            throw ValidationError(
                "no admin key: pass --key-file ("
                    + "\(LocalDefaults.adminKeyFile(dataDirectory: dataDirectory)) is not readable, or --ca names "
                    + "another CA than the data directory's, whose server must not get it)")
        }
        return local
    }

    /// A client configuration with no key of its own (calls carry their account's key in metadata), one
    /// connection, no retries (a load test must see every failure), and `timeout` as the default deadline.
    func clientConfiguration(apiKey: String?, timeout: TimeAmount) throws -> NumbersClientConfiguration {
        let (host, port) = try address()
        var configuration = NumbersClientConfiguration(
            host: host, port: port, apiKey: apiKey, trustRoots: .file(try caPath()), connectionPoolSize: 1,
            defaultTimeout: timeout, retry: .none)
        configuration.clientCertificate = try clientCertificate()
        return configuration
    }
}

/// `host:port` limited to this machine: the harness never loads anything but a local server.
enum LoopbackAddress {
    static let hosts: Set<String> = ["127.0.0.1", "localhost", "::1"]

    static func parse(_ text: String) throws -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else {
            throw ValidationError("the server address must be host:port, not \(text)")
        }
        let host = String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        guard hosts.contains(host) else {
            throw ValidationError("numbers-load only targets this machine (127.0.0.1, ::1, localhost), not \(host)")
        }
        return (host == "localhost" ? "127.0.0.1" : host, port)
    }
}
