import ArgumentParser
import Foundation
import NIOCore
import NumberAPI
import NumberClient
import NumberTLS

/// `numbers`: the operator's CLI for numberd.
@main
struct NumbersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "numbers",
        abstract: "Search, buy, list and release phone numbers on a numberd server.",
        discussion: """
            With no connection flags it talks to the local default server (127.0.0.1:7443) with the admin key and \
            CA from the local data directory ($NUMBERD_DATA_DIR, else $XDG_DATA_HOME/numberd, else \
            ~/.local/share/numberd).
            Exit codes: 0 ok, 1 other error (a declined question among them), 3 invalid argument, 4 not found, 5 \
            failed precondition (e.g. insufficient balance), 6 unauthenticated or permission denied, 7 unavailable \
            or timed out, 8 rate limited, 64 usage, 130 interrupted (Ctrl-C; 143 for SIGTERM).
            Ctrl-C (or SIGTERM) cancels the running call and says on stderr whether it may have been carried out, \
            with the --idempotency-key to rerun `buy` or `funds add` safely; a second one exits at once.
            """,
        subcommands: [
            Search.self, Buy.self, List.self, Show.self, Release.self, TrunkCommand.self, Balance.self,
            Transactions.self, Funds.self, Trunks.self, Accounts.self, Keys.self, Health.self,
        ])

    /// Parses the arguments and runs the command in a task that SIGINT and SIGTERM cancel (see
    /// `InterruptionState`), instead of dying silently mid-call with the idempotency key lost.
    static func main() async {
        let running = Task {
            let parsed: any ParsableCommand
            do {
                parsed = try await asyncParseAsRoot(nil)
            } catch {
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
        guard let interrupted = Interruption.shared.exitCode else { exit(withError: error) }
        // Interrupted: the command printed its own error (a `CLIError`, reported as an `ExitCode`); any other one
        // is printed here. Either way the status says it was interrupted.
        if !(error is ExitCode) { FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8)) }
        exit(withError: ExitCode(interrupted))
    }
}

/// Connection and output options every subcommand takes.
struct GlobalOptions: ParsableArguments {
    @Option(help: "Server host:port (env NUMBERS_SERVER; default 127.0.0.1:7443).") var server: String?
    @Option(help: "API key nk_… (env NUMBERS_KEY; default the local admin key).") var key: String?
    @Option(help: "CA certificate PEM to trust (env NUMBERS_CA; default the local data directory's).") var ca: String?
    @Option(help: "Account ACC_… (needed with an admin key; env NUMBERS_ACCOUNT).") var account: String?
    @Flag(help: "Print the response message as JSON.") var json = false
    @Option(help: "Call deadline in seconds, 1...86400 (default 30).") var timeout: Int = 30

    /// The longest `--timeout`: a day.
    static let timeoutSecondsMax = 86_400

    var environment: [String: String] { ProcessInfo.processInfo.environment }

    var accountId: String { account ?? environment["NUMBERS_ACCOUNT"] ?? "" }

    /// Usage errors (exit 64) before anything is sent: a deadline out of range, a server that is not host:port.
    func validate() throws {
        guard (1...Self.timeoutSecondsMax).contains(timeout) else {
            throw ValidationError("--timeout must be 1...\(Self.timeoutSecondsMax) seconds, not \(timeout)")
        }
        _ = try serverAddress()
    }

    /// The server's host and port (`--server`, `NUMBERS_SERVER`, the local default): `host:port` or `[v6]:port`,
    /// the port 1...65535.
    func serverAddress() throws -> (host: String, port: Int) {
        let address = server ?? environment["NUMBERS_SERVER"] ?? LocalDefaults.server
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
            (1...65535).contains(port)
        else {
            throw ValidationError("--server must be host:port with a port 1...65535, not \(address)")
        }
        let host = String(address[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        guard !host.isEmpty else { throw ValidationError("--server must be host:port, not \(address)") }
        return (host, port)
    }

    func clientConfiguration() throws -> NumbersClientConfiguration {
        var configuration = NumbersClientConfiguration.localDefault(environment: environment)
        (configuration.host, configuration.port) = try serverAddress()
        if let apiKey = key ?? environment["NUMBERS_KEY"] { configuration.apiKey = apiKey }
        let dataDirectory = LocalDefaults.dataDirectory(environment: environment)
        let caPath = ca ?? environment["NUMBERS_CA"] ?? LocalDefaults.caCertificate(dataDirectory: dataDirectory)
        guard FileManager.default.fileExists(atPath: caPath) else {
            throw CLIError(code: 7, message: "no CA certificate at \(caPath): pass --ca or start numberd first")
        }
        configuration.trustRoots = .file(caPath)
        configuration.defaultTimeout = .seconds(Int64(timeout))
        return configuration
    }

    /// Runs `body` with a client; RPC errors become one clear line on stderr and an exit code by class. A keyed
    /// call inside runs under `UnknownOutcome.advising`, which adds how to rerun it when its outcome is open.
    func withClient<T: Sendable>(_ body: (NumbersClient) async throws -> T) async throws -> T {
        do {
            return try await withNumbersClient(try clientConfiguration(), body)
        } catch let error as RPCError {
            throw CLIError(code: CLIError.exitCode(for: error.code), message: "error: \(error)")
        }
    }

    /// Prints `message` as JSON (enum names, camelCase fields) when `--json`, else runs `human`.
    func output<M: Encodable>(_ message: M, human: () -> Void) throws {
        guard json else {
            human()
            return
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        encoder.userInfo[.protoEnumNames] = true
        print(String(decoding: try encoder.encode(message), as: UTF8.self))
    }
}

/// A failure the CLI reports in one line with a chosen exit code.
struct CLIError: Error, CustomStringConvertible {
    var code: Int32
    var message: String

    var description: String { message }

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
    /// Runs the command body, turning a `CLIError` into its message on stderr and its exit code.
    func reporting(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as CLIError {
            try? FileHandle.standardError.write(contentsOf: Data((error.message + "\n").utf8))
            throw ExitCode(error.code)
        }
    }
}
