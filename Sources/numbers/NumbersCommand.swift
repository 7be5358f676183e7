import ArgumentParser
import Foundation
import NIOCore
import NumberAPI
import NumberClient
import NumberTLS
import Synchronization

/// `numbers`: the operator's CLI for numberd.
@main
struct NumbersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "numbers",
        abstract: "Search, buy, list and release phone numbers on a numberd server.",
        discussion: """
            With no connection flags it talks to the local default server (127.0.0.1:7443) with the admin key and \
            CA from the local data directory ($NUMBERD_DATA_DIR, else $XDG_DATA_HOME/numberd, else \
            ~/.local/share/numberd). That admin key goes only to a server on this machine (localhost, 127.0.0.0/8, \
            ::1) checked against that directory's CA; for any other, give a key with --key-file PATH (or \
            NUMBERS_KEY_FILE, or NUMBERS_KEY). --key works too but leaves the key where other users see it (ps, \
            /proc) and in the shell history. A numberd run with --client-ca (mutual TLS) also wants a client \
            certificate, on loopback too: --cert PATH --cert-key PATH (or NUMBERS_CERT, NUMBERS_CERT_KEY).
            Exit codes: 0 ok, 1 other error (a declined question among them), 3 invalid argument (a request over a \
            size bound among them: LIMIT_EXCEEDED for more than 20 numbers, a page over 500; REQUEST_TOO_LARGE, a request \
            over the 64 KiB message limit, not sent), 4 not found, \
            5 failed precondition, already exists or aborted (e.g. insufficient balance, a balance that would pass \
            its ceiling, a trunk name already taken, a release of the number already in progress, or a numberd too \
            old for an option given: SERVER_TOO_OLD, nothing sent), 6 unauthenticated or permission denied, 7 unavailable or timed out with \
            nothing done (but for an `adopt` whose routing at Twilio got no answer: that routing is recorded and held, \
            see `adopt --help`; or no usable CA file, or `health` answered not serving), 8 rate limited, at the hourly \
            purchase cap, at a count limit (accounts, trunks, numbers or keys: LIMIT_EXCEEDED, once something is \
            freed) or numberd's disk full or behind (STORE_FULL, STORE_BUSY; nothing done: retry later), 9 a setup is \
            wrong and a retry does not help: numberd's provider setup (PROVIDER_MISCONFIGURED: tell its operator), or \
            numberd's certificate does not verify against the CA checked, or numberd refused the client certificate \
            (CERTIFICATE_REJECTED: --ca, --server's host, the certificate, or --cert), 10 the outcome is unknown (the call \
            may have been carried out, or may still be: rerun with the --idempotency-key and --account printed on \
            stderr, never a new key, within the 24 hours of numberd's running time it keeps the key; a command without \
            a key: a create says to look before running it again, a change a rerun settles says to run it again, \
            `backup` and `audit --run` say how to see whether one started), 11 the result could not be written to \
            standard output (a full disk, a closed pipe) though the command was carried out: stderr says how to see it \
            again or undo it (the --idempotency-key to rerun with, the key to revoke), 64 usage, 130 interrupted \
            (Ctrl-C; 143 for SIGTERM, 129 for SIGHUP: the terminal closed) before a call was sent or with nothing \
            changed (a call that changes something, once sent, exits 10 or 11 as above).
            `buy`, `adopt`, `funds add`, `funds adjust` and `release` print their idempotency key and account on stderr just \
            before they send the call (numbers: idempotency key KEY (account ACC_…)), so a run killed meanwhile \
            leaves them in the scrollback or log. A rerun under a key whose first run still goes on at numberd \
            (REQUEST_IN_PROGRESS) asks again for up to about a minute, then exits 10. Ctrl-C (or SIGTERM, SIGHUP) \
            cancels the running call and says on stderr whether it may have been carried out, with the \
            --idempotency-key and --account to rerun `buy`, `adopt`, `funds add`, `funds adjust` or `release` safely \
            (exit 10 then); a second one exits at once.
            """,
        version: NumberdVersion.current,
        subcommands: [
            Search.self, Buy.self, List.self, Show.self, Release.self, TrunkCommand.self, Balance.self,
            Transactions.self, StatementCommand.self, Funds.self, Trunks.self, Accounts.self, Keys.self, Backup.self,
            Audit.self, Adopt.self,
            Health.self,
        ])

    /// Parses the arguments and runs the command in a task that SIGINT, SIGTERM and SIGHUP cancel (see
    /// `InterruptionState`), instead of dying silently mid-call with the idempotency key lost.
    static func main() async {
        // Before anything uses OpenSSL: an exit while a call's handshake runs must not free OpenSSL under it.
        OpenSSLProcess.initialize()
        let running = Task {
            let parsed: any ParsableCommand
            do {
                parsed = try await asyncParseAsRoot(nil)
            } catch {
                // ArgumentParser reads `funds add -5.00` as an option and says the amount is missing.
                if let hint = Funds.signedAmountHint(Array(CommandLine.arguments.dropFirst()), error: error) {
                    try? FileHandle.standardError.write(contentsOf: Data(("Error: " + hint + "\n").utf8))
                    exit(withError: ExitCode.validationFailure)
                }
                exit(withError: error)  // --help among them
            }
            if var command = parsed as? any AsyncParsableCommand {
                try await command.run()
            } else {
                var command = parsed
                try command.run()
            }
        }
        Interruption.shared.install { running.cancel() }
        let result = await running.result
        guard case .failure(let error) = result else { exit() }  // done despite a signal: its outcome is known
        let status = (error as? ExitCode)?.rawValue
        guard let interrupted = Interruption.shared.exitCode(commandStatus: status) else { exit(withError: error) }
        // Interrupted: the command printed its own error (a `CLIError`, reported as an `ExitCode`); any other one
        // is printed here. The status says it was interrupted, or what became of the call sent (10, 11).
        // `try?`: after SIGHUP stderr may be a closed terminal; the status still says what happened.
        if !(error is ExitCode) {
            try? FileHandle.standardError.write(contentsOf: Data((fullMessage(for: error) + "\n").utf8))
        }
        exit(withError: ExitCode(interrupted))
    }
}

/// Connection and output options every subcommand takes.
struct GlobalOptions: ParsableArguments {
    @Option(help: "Server host:port, [IPv6]:port (env NUMBERS_SERVER; default 127.0.0.1:7443).") var server: String?
    @Option(help: "API key nk_…: other users see it in ps, and the shell history keeps it; prefer --key-file.")
    var key: String?
    @Option(
        name: .customLong("key-file"),
        help: "A file holding the API key, mode 0600 (env NUMBERS_KEY_FILE, or the key itself in NUMBERS_KEY).")
    var keyFile: String?
    @Option(help: "CA certificate PEM to trust (env NUMBERS_CA; default the local data directory's).") var ca: String?
    @Option(
        name: .customLong("data-dir"),
        help: """
            numberd's data directory, for the local defaults: its CA and admin key (default $NUMBERD_DATA_DIR, else \
            $XDG_DATA_HOME/numberd, else ~/.local/share/numberd), as numberd and numbers-load take it.
            """)
    var dataDir: String?
    @Option(help: "Client certificate PEM for a numberd run with --client-ca (env NUMBERS_CERT; with --cert-key).")
    var cert: String?
    @Option(name: .customLong("cert-key"), help: "The private key PEM of --cert (env NUMBERS_CERT_KEY).")
    var certKey: String?
    @Option(help: "Account ACC_… (needed with an admin key; env NUMBERS_ACCOUNT).") var account: String?
    @Flag(help: "Print the response message as JSON.") var json = false
    @Option(parsing: .unconditional, help: "Call deadline in seconds, 1...86400 (default 30; `backup` 1800).")
    var timeout: Int?

    /// The longest `--timeout`: a day.
    static let timeoutSecondsMax = 86_400
    /// The deadline of a call when `--timeout` is not given.
    static let timeoutSecondsDefault = 30

    /// `--timeout`, else `fallback`.
    func deadlineSeconds(_ fallback: Int = timeoutSecondsDefault) -> Int { timeout ?? fallback }

    /// The process's environment, `--data-dir` in it as `NUMBERD_DATA_DIR` (an operator's walk: numberd and
    /// numbers-load take `--data-dir`, `numbers` did not): every local default is looked up through it.
    var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        if let dataDir { environment["NUMBERD_DATA_DIR"] = dataDir }
        return environment
    }

    var accountId: String { account ?? environment["NUMBERS_ACCOUNT"] ?? "" }

    /// `--account ACC_…` when the account was given (flag or environment), for a page hint: a page token is its
    /// account's own, whatever the environment says by the next run.
    var accountArguments: [String] { accountId.isEmpty ? [] : ["--account", accountId] }

    /// Usage errors (exit 64) before anything is sent: a deadline out of range, a server that is not host:port, two
    /// keys. A key on the command line is warned about (once, here).
    func validate() throws {
        if json { CLIError.json.store(true, ordering: .relaxed) }
        if let timeout, !(1...Self.timeoutSecondsMax).contains(timeout) {
            throw ValidationError("--timeout must be 1...\(Self.timeoutSecondsMax) seconds, not \(timeout)")
        }
        _ = try serverAddress()
        guard key == nil || keyFile == nil else { throw ValidationError("--key and --key-file: give one of them") }
        if key != nil {
            FileHandle.standardError.write(
                Data(
                    ("numbers: warning: --key leaves the key where other users see it (ps, /proc) and in the shell "
                        + "history; use --key-file PATH or NUMBERS_KEY_FILE\n").utf8))
        }
    }

    /// The API key: `--key`, `--key-file`, `NUMBERS_KEY`, `NUMBERS_KEY_FILE` (a flag over the environment; two at
    /// the same level are refused), else the local admin key when the server may have it
    /// (``NumbersClientConfiguration/localAdminKey(host:caPath:environment:)``), else nil.
    /// `toleratingLocalKey`: a local admin key refused for its mode is no key (a call that needs none), not an error.
    func apiKey(host: String, caPath: String, toleratingLocalKey: Bool = false) throws -> String? {
        if let key { return key }
        if let keyFile { return try readKeyFile(keyFile, name: "--key-file") }
        let (value, file) = (environment["NUMBERS_KEY"], environment["NUMBERS_KEY_FILE"])
        guard value == nil || file == nil else {
            throw ValidationError("NUMBERS_KEY and NUMBERS_KEY_FILE are both set: set one of them")
        }
        if let value { return value }
        if let file { return try readKeyFile(file, name: "NUMBERS_KEY_FILE") }
        do {
            return try NumbersClientConfiguration.localAdminKey(host: host, caPath: caPath, environment: environment)
        } catch {
            // Readable by group or others: refused as a --key-file would be, with the chmod to fix it.
            if toleratingLocalKey { return nil }
            throw ValidationError("\(error)")
        }
    }

    private func readKeyFile(_ path: String, name: String) throws -> String {
        do {
            return try SecretFile.read(path, name: name)
        } catch {
            throw ValidationError("\(error)")
        }
    }

    /// The server's host and port (`--server`, `NUMBERS_SERVER`, the local default): `host:port` or `[v6]:port`,
    /// the port 1...65535. An IPv6 address must be in brackets: bare, its own colons split it (`::1` read as host
    /// `:`, port 1), so a host with a colon outside them is a usage error saying so.
    func serverAddress() throws -> (host: String, port: Int) {
        let address = server ?? environment["NUMBERS_SERVER"] ?? LocalDefaults.server
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
            (1...65535).contains(port)
        else {
            throw ValidationError(
                "--server must be host:port or [IPv6]:port with a port 1...65535, not \(address)"
                    + (address.filter { $0 == ":" }.count > 1 && !address.hasPrefix("[")
                        ? " (an IPv6 address goes in brackets: [::1]:7443)" : ""))
        }
        var host = String(address[..<colon])
        if host.hasPrefix("[") || host.hasSuffix("]") {
            guard host.count > 2, host.hasPrefix("["), host.hasSuffix("]") else {
                throw ValidationError("--server must be [IPv6]:port, e.g. [::1]:7443, not \(address)")
            }
            host = String(host.dropFirst().dropLast())
        } else if host.contains(":") {
            throw ValidationError(
                "--server \(address): an IPv6 address goes in brackets with its port, e.g. [::1]:7443")
        }
        guard !host.isEmpty, !host.contains("["), !host.contains("]") else {
            throw ValidationError("--server must be host:port or [IPv6]:port, not \(address)")
        }
        return (host, port)
    }

    /// The client certificate for a numberd that requires one (`numberd serve --client-ca`, mutual TLS, on every
    /// connection, loopback included): `--cert` and `--cert-key`, else `NUMBERS_CERT` and `NUMBERS_CERT_KEY` (each
    /// flag over its variable), PEM files read when the client's TLS context is made; nil when neither is given.
    /// One without the other, or a path with no file, is a usage error (64) here: the server would refuse the
    /// handshake, which the client can only report as a connect failure (exit 7). A file that holds no PEM certificate
    /// or unencrypted key is one too, once the client reads it (`unusableTLSFiles`).
    func clientCertificate() throws -> (chain: TLSCertificateSource, key: TLSPrivateKeySource)? {
        do {
            return try NumbersClientConfiguration.clientCertificateFiles(
                certPath: cert, keyPath: certKey, environment: environment)
        } catch {
            throw ValidationError(error.message)
        }
    }

    /// The CA certificate to trust: `--ca`, else `NUMBERS_CA`, else the local data directory's `tls/ca.pem`
    /// (`isDefault`), the CA numberd generates there — which a numberd serving a certificate of its own (`--tls-cert`)
    /// is not checked against with any success.
    func caCertificate() -> (path: String, isDefault: Bool) {
        if let given = ca ?? environment["NUMBERS_CA"] { return (given, false) }
        let dataDirectory = LocalDefaults.dataDirectory(environment: environment)
        return (LocalDefaults.caCertificate(dataDirectory: dataDirectory), true)
    }

    /// The client's configuration; with `needsKey`, a usage error (64, nothing sent) when no key is to be had,
    /// saying how to give one.
    func clientConfiguration(needsKey: Bool = true) throws -> NumbersClientConfiguration {
        let (host, port) = try serverAddress()
        let certificate = try clientCertificate()
        let dataDirectory = LocalDefaults.dataDirectory(environment: environment)
        let (caPath, caIsDefault) = caCertificate()
        guard FileManager.default.fileExists(atPath: caPath) else {
            throw CLIError(code: 7, message: Self.noCACertificate(at: caPath, isDefault: caIsDefault))
        }
        // A call that needs no key (HealthCheck) does not fail on a local admin key refused for its mode: it goes
        // without one, as without the file (a monitoring user in numberd's group ran `numbers health` into exit 64).
        // A key given and unusable (--key-file unreadable, two sources) is still an error.
        let apiKey = try apiKey(host: host, caPath: caPath, toleratingLocalKey: !needsKey)
        if needsKey, apiKey == nil {
            let adminKey = LocalDefaults.adminKeyFile(dataDirectory: dataDirectory)
            let hasAdminKey = FileManager.default.fileExists(atPath: adminKey)
            let local =
                hasAdminKey
                ? "the local admin key (\(adminKey)) goes only to a numberd on this machine (localhost, 127.0.0.0/8, "
                    + "::1) checked against its own CA (\(LocalDefaults.caCertificate(dataDirectory: dataDirectory)))"
                : "there is no local admin key (\(adminKey))"
            // With no admin key here, numberd may keep its own in another data directory.
            let elsewhere = hasAdminKey ? "" : ", \(Self.dataDirectoryHint)"
            throw ValidationError(
                "no API key for \(host):\(port): \(local); give one with --key-file PATH or NUMBERS_KEY_FILE "
                    + "(a file of mode 0600 holding it), or NUMBERS_KEY" + elsewhere)
        }
        var configuration = NumbersClientConfiguration(
            host: host, port: port, apiKey: apiKey, trustRoots: .file(caPath))
        configuration.clientCertificate = certificate
        configuration.defaultTimeout = .seconds(Int64(deadlineSeconds()))
        return configuration
    }

    /// Runs `body` with a client; RPC errors become one clear line on stderr and an exit code by class. A keyed
    /// call inside runs under `UnknownOutcome.advising`, which adds how to rerun it when its outcome is open; a call
    /// that changes something without a key passes `unkeyedAdvice`, what a rerun of that command would do
    /// (`UnknownOutcome.Unkeyed`: look first unless a rerun settles it), printed when its outcome is open — also by a
    /// second signal while it runs (`Interruption.unkeyedChange`); nil for reads. A CA, client certificate or key file
    /// the client cannot make its TLS context of is one line too, with its documented exit code (`unusableTLSFiles`).
    /// `needsKey` false: the call works without an API key (HealthCheck), so none is no usage error.
    func withClient<T: Sendable>(
        needsKey: Bool = true, unkeyedAdvice: String? = nil, _ body: (NumbersClient) async throws -> T
    ) async throws -> T {
        let configuration = try clientConfiguration(needsKey: needsKey)
        do {
            guard let unkeyedAdvice else { return try await withNumbersClient(configuration, body) }
            return try await Interruption.shared.unkeyedChange(advice: unkeyedAdvice) {
                try await withNumbersClient(configuration, body)
            }
        } catch let error as TLSError {
            // Only making the client throws one: a connection's TLS failure reaches here as CONNECT_FAILED (or, its
            // certificate not verifying, CERTIFICATE_REJECTED).
            throw Self.unusableTLSFiles(error, trustRoots: configuration.trustRoots)
        } catch let error as RPCError {
            var message = Format.error(error)
            // A keyed call's advice (its key) was added inside.
            if error.outcomeUnknown, error.idempotencyKey == nil, let unkeyedAdvice {
                message += "\n" + unkeyedAdvice
            }
            // Refused by the client library, unsent: which flag to leave out, or to upgrade numberd.
            if error.reason == "SERVER_TOO_OLD" { message += "\n" + ServerTooOld.advice(error) }
            if let advice = Self.fieldAdvice(error) { message += "\n" + advice }
            if let advice = trunkInUseAdvice(error) { message += "\n" + advice }
            if let advice = localAdminKeyAdvice(error) { message += "\n" + advice }
            // numberd's words say when the first audit runs; the command that runs one now is the CLI's.
            if error.reason == "NO_AUDIT_YET", error.details["running"] != "true" {
                message += "\nrun one now: numbers audit --run (then numbers audit once it has finished)"
            }
            if let advice = clientCertificateAdvice(error) { message += "\n" + advice }
            let (caPath, caIsDefault) = caCertificate()
            if let advice = Self.caAdvice(error, ca: caPath, isDefault: caIsDefault) {
                message += "\n" + advice
            }
            throw CLIError(code: CLIError.exitCode(for: error), message: message, status: error)
        }
    }

    /// What to do when the key refused was the local admin key (no `--key`, `--key-file`, `NUMBERS_KEY` or
    /// `NUMBERS_KEY_FILE`): revoked, or another numberd's, it said only "the API key is not valid" — and numberd makes
    /// a new one at its next start when the one in `admin.key` no longer works.
    func localAdminKeyAdvice(_ error: RPCError) -> String? {
        guard error.code == .unauthenticated, key == nil, keyFile == nil, environment["NUMBERS_KEY"] == nil,
            environment["NUMBERS_KEY_FILE"] == nil
        else { return nil }
        let file = LocalDefaults.adminKeyFile(dataDirectory: LocalDefaults.dataDirectory(environment: environment))
        return "the key refused is the local admin key (\(file)): revoked, or not this numberd's; numberd makes a new "
            + "one at its next start (restart it), or pass --key-file with a working key"
    }

    /// How the CLI finds a numberd run with `--data-dir`: a missing CA or admin key said nothing of it.
    static let dataDirectoryHint = "or give numberd's --data-dir (--data-dir or NUMBERD_DATA_DIR)"

    /// Why no call is made: no CA file at `path`. The default one (`isDefault`) is looked for in the local data
    /// directory, so the message also says how to name numberd's.
    static func noCACertificate(at path: String, isDefault: Bool) -> String {
        isDefault
            ? "no CA certificate at \(path): pass --ca or start numberd first, \(dataDirectoryHint)"
            : "no CA certificate at \(path) (--ca or NUMBERS_CA): name numberd's ca.pem (in its data directory's tls/)"
    }

    /// What to add to a connect failure whose cause is numberd's certificate not verifying: the CA file it was
    /// checked against (`ca`), since the failure alone ("certificate verify failed") named none. The default one
    /// (`isDefault`: no `--ca` or `NUMBERS_CA` given) is the CA numberd generates, which a numberd serving a
    /// certificate of its own (`--tls-cert`, the README's systemd unit) did not use; for a given one the failure's own
    /// words say why (another issuer, an expired certificate, another host). nil for any other failure.
    static func caAdvice(_ error: RPCError, ca: String, isDefault: Bool) -> String? {
        guard error.reason == "CERTIFICATE_REJECTED", error.details["certificate"] != "client" else { return nil }
        guard isDefault else {
            return "numberd's certificate was checked against \(ca) (--ca or NUMBERS_CA)"
        }
        return "numberd's certificate was checked against \(ca) (the default: numberd's generated CA); a "
            + "numberd serving its own certificate (--tls-cert) needs --ca (or NUMBERS_CA) naming the CA that issued it"
    }

    /// What to add to a connect failure whose cause is numberd asking for a client certificate (it runs with
    /// `--client-ca`) that was not given, or refusing the one given: the TLS alert alone ("tlsv13 alert certificate
    /// required") named no flag. The client library tells which (`certificate=client`, from the alert); nil for any
    /// other failure.
    func clientCertificateAdvice(_ error: RPCError) -> String? {
        guard error.reason == "CERTIFICATE_REJECTED", error.details["certificate"] == "client" else { return nil }
        guard cert != nil || environment["NUMBERS_CERT"] != nil else {
            return "numberd asks for a client certificate (it runs with --client-ca): give --cert PATH --cert-key PATH "
                + "(or NUMBERS_CERT, NUMBERS_CERT_KEY)"
        }
        return "numberd refused the client certificate given (--cert or NUMBERS_CERT): it must be issued by the CA "
            + "numberd's --client-ca names, and be valid now"
    }

    /// For an `INVALID_FIELD` refusal, the CLI's way to give that field (`details["field"]`, as numberd names it):
    /// numberd's own words name the request's field, not a flag — an admin key with no account named got
    /// "account_id is required with an admin key; field=account_id" from `balance`, `list`, `search`, `funds add`
    /// or `trunks create`, with nothing saying that `--account` gives it. nil for a field with no flag of its own.
    /// A value refused for being taken (ALREADY_EXISTS: a trunk's name or SID registered already) was given right:
    /// no advice on how to give it.
    static func fieldAdvice(_ error: RPCError) -> String? {
        guard error.reason == "INVALID_FIELD", error.code != .alreadyExists, let field = error.details["field"]
        else { return nil }
        switch field {
        case "account_id", "accountId":
            return "give the account: --account ACC_… or NUMBERS_ACCOUNT"
        case "originationSipUri", "origination_sip_uri":
            // Given with --sid, where it does not belong (numberd sets nothing on a trunk it did not make).
            guard !error.message.hasPrefix("originationSipUri is for a trunk numberd creates") else {
                return "leave out --origination: a trunk given by --sid keeps the routing it was configured with"
            }
            return "give where the trunk's calls go: --origination sip:… (or --sid TK… for a trunk made elsewhere)"
        case "providerTrunkSid", "provider_trunk_sid":
            return "the trunk's SID is --sid TK… (TK and 32 hex digits)"
        default:
            return nil
        }
    }

    /// For a trunk's deletion refused because numbers are on it (`TRUNK_IN_USE`, `numbers` > 0), the commands that
    /// see and move them: numberd's words say only how many. nil when the trunk holds none of its records (a change
    /// in progress or one Twilio still routes: numberd's message says what to do).
    func trunkInUseAdvice(_ error: RPCError) -> String? {
        guard error.reason == "TRUNK_IN_USE", let trunkId = error.details["trunkId"],
            let count = error.details["numbers"].flatMap(Int.init), count > 0
        else { return nil }
        let list = (["numbers", "list", "--trunk", trunkId] + accountArguments).joined(separator: " ")
        return "see them: \(list); take each off (numbers trunk unassign NUM_…) or release "
            + "it (one being released leaves it once Twilio confirms), then delete the trunk"
    }

    /// Which file kept the client from making its TLS context (`error`), as the help says: the CA (exit 7, as a CA
    /// file missing: nothing sent) when it alone makes none, else the client certificate or its key (a usage error,
    /// 64, as one missing). It used to end as `Error: TLSError.invalidConfiguration: …`, exit 1, whichever it was.
    /// The CA is read again only on this failure path.
    static func unusableTLSFiles(_ error: TLSError, trustRoots: TLSTrustRoots) -> CLIError {
        do {
            _ = try TLSContext(configuration: .client(trustRoots: trustRoots))
        } catch let failure as TLSError {
            return CLIError(
                code: 7,
                message: "the CA certificate cannot be used: \(failure.message); pass --ca (or NUMBERS_CA) the PEM "
                    + "of the CA that issued numberd's certificate")
        } catch {
            return CLIError(code: 7, message: "the CA certificate cannot be used: \(error)")
        }
        return CLIError(
            code: 64,
            message: "the client certificate or its key cannot be used: \(error.message); --cert and --cert-key (or "
                + "NUMBERS_CERT and NUMBERS_CERT_KEY) take PEM files, the key unencrypted")
    }

    /// Prints `message` as JSON (enum names, camelCase fields, times in ISO 8601 UTC to the millisecond) when
    /// `--json`, else runs `human`. Milliseconds: numberd stamps its times in them, and a `createdAt` a script feeds
    /// back to `--from` / `--to` must be that stamp — in whole seconds it fell before it, and a page of a period ending
    /// at it missed or counted twice the transactions of that second. Then checks that the result was written
    /// (`flushResult`); `unwritten` says, when it was not, how to see or undo what the command did.
    func output<M: Encodable>(_ message: M, unwritten: String? = nil, human: () -> Void) throws {
        guard json else {
            human()
            try Self.flushResult(unwritten: unwritten)
            return
        }
        let encoder = JSONEncoder()
        // A path or URI as it is ("/tmp/backup", not "\/tmp\/backup": valid JSON either way, but not what a reader
        // or a grep expects).
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, dateEncoder in
            var container = dateEncoder.singleValueContainer()
            try container.encode(Format.timestamp(date))
        }
        encoder.userInfo[.protoEnumNames] = true
        print(String(decoding: try encoder.encode(message), as: UTF8.self))
        try Self.flushResult(unwritten: unwritten)
    }

    /// Flushes standard output, where the result went. A result that could not be written (a full disk, a closed
    /// pipe) used to exit 0 with it lost — a new key's one-time secret, a credit's transaction; now stderr says the
    /// command was carried out all the same, with `unwritten` (how to see or undo what it did), and the run exits
    /// ``CLIError/resultUnwritten``. A command with nothing to see again or undo (`unwritten` nil: a listing, a look)
    /// whose reader went away (`EPIPE`: `numbers list --json | head -1`) ends as it would have, 0: NIO ignores
    /// SIGPIPE for the process, which would otherwise have ended it quietly. `fflush(nil)`, every stream: Swift 6
    /// refuses a reference to C's `stdout` (shared mutable state), and stderr is unbuffered. It reports a failure of
    /// this flush only: a flush glibc made while printing (its 4 KiB buffer full) that failed and dropped its bytes
    /// may go unseen here (`ferror` would need `stdout`).
    static func flushResult(unwritten: String?) throws {
        guard fflush(nil) != 0 else { return }
        let failure = errno
        if unwritten == nil, failure == EPIPE { return }
        let reason = String(cString: strerror(failure))
        throw CLIError(
            code: CLIError.resultUnwritten,
            message: "numbers: the command was carried out, but its result could not be written to standard output "
                + "(\(reason))" + (unwritten.map { ": " + $0 } ?? ""))
    }
}

/// A failure the CLI reports in one line with a chosen exit code.
struct CLIError: Error, CustomStringConvertible {
    var code: Int32
    var message: String
    /// numberd's status, when the failure is a call's: its code, reason and metadata for `--json`'s error object.
    var status: RPCError?

    init(code: Int32, message: String, status: RPCError? = nil) {
        self.code = code
        self.message = message
        self.status = status
    }

    /// Set once `--json` is parsed (``GlobalOptions/validate()``): a failure is then written as one JSON object.
    static let json = Atomic<Bool>(false)

    /// The failure as `--json` writes it on stderr, one line: `{"error":{"exitCode":5,"message":"…","code":
    /// "FAILED_PRECONDITION","reason":"INSUFFICIENT_BALANCE","details":{…}}}` — `message` the text the CLI prints
    /// without `--json` (numberd's words and the CLI's advice), `code`, `reason` and `details` numberd's status when
    /// the failure is a call's.
    var jsonLine: String {
        struct Body: Encodable {
            var exitCode: Int32
            var message: String
            var code: String?
            var reason: String?
            var details: [String: String]?
        }
        struct Line: Encodable { var error: Body }
        let body = Body(
            exitCode: code, message: message, code: status.map { "\($0.code)" }, reason: status?.reason,
            details: status.map(\.details))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(Line(error: body))) ?? Data(#"{"error":{}}"#.utf8)
        return String(decoding: data, as: UTF8.self)
    }

    var description: String { message }

    /// The exit status of a run that failed with `error`: 10 when its outcome is unknown (`outcome=unknown`: the call
    /// may have been carried out, or may still be — a script must not rerun it under a new idempotency key, which
    /// could buy, credit or debit twice: it reruns with the key printed, or checks), else by its status code
    /// (`RESOURCE_EXHAUSTED` / `RESPONSE_TOO_LARGE` in place of a response too large for the client is 10 through
    /// the library's `outcome=unknown` after a call that changes something, 8 after a read).
    static func exitCode(for error: RPCError) -> Int32 {
        // UNAVAILABLE, but nothing a retry fixes: numberd's provider setup (a regulatory Bundle, credentials, the
        // base URL) is wrong until its operator fixes it, so scripts that retry exit 7 must not loop on it.
        if error.reason == "PROVIDER_MISCONFIGURED" { return 9 }
        // Nor does a certificate refused (numberd's, which the CA checked against did not issue, naming another
        // host or expired; or, under mutual TLS, the one this CLI gave or did not): an operator's fix, not a retry.
        if error.reason == "CERTIFICATE_REJECTED" { return 9 }
        // RESOURCE_EXHAUSTED, but a request over the size limit is the input's fault, as a field over its bound is
        // (exit 3): "retry later" (8) will not make it fit.
        if error.reason == "REQUEST_TOO_LARGE" { return 3 }
        // Exit 7 ("unavailable, retry") used to cover a connection lost after a keyed call was sent: a script that
        // retried on 7 without the key printed on stderr did it twice.
        // A response too large after a call that changes something is marked so by the client library; after a
        // read it only says to ask for less (exit 8, "over a limit").
        if error.outcomeUnknown { return outcomeUnknown }
        return exitCode(for: error.code)
    }

    /// The exit status of a call whose outcome is unknown.
    static let outcomeUnknown: Int32 = 10

    /// The exit status of a command carried out whose result could not be written to standard output
    /// (`GlobalOptions.flushResult`).
    static let resultUnwritten: Int32 = 11

    static func exitCode(for status: StatusCode) -> Int32 {
        switch status {
        case .invalidArgument, .outOfRange: return 3
        case .notFound: return 4
        case .failedPrecondition, .alreadyExists, .aborted: return 5
        case .unauthenticated, .permissionDenied: return 6
        case .unavailable, .deadlineExceeded, .cancelled: return 7
        case .resourceExhausted: return 8
        default: return 1
        }
    }
}

extension AsyncParsableCommand {
    /// Runs the command body, turning a `CLIError` into its message on stderr and its exit code. A usage error the body
    /// finds (a key file that cannot be used, `--cert` without `--cert-key`: known only once it runs) is one too, exit
    /// 64: with `--json` it was text, and under the root command's usage.
    func reporting(_ body: () async throws -> Void) async throws {
        do {
            do {
                try await body()
            } catch let error as ValidationError {
                throw CLIError(code: ExitCode.validationFailure.rawValue, message: "Error: \(error.message)")
            }
        } catch let error as CLIError {
            let text = CLIError.json.load(ordering: .relaxed) ? error.jsonLine : error.message
            try? FileHandle.standardError.write(contentsOf: Data((text + "\n").utf8))
            throw ExitCode(error.code)
        }
    }
}
