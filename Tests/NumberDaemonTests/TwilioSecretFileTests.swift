import Foundation
import NumberAPI
import NumberCore
import NumberDaemon
import Synchronization
import Testing

/// The Twilio secrets from a file (`TWILIO_AUTH_TOKEN_FILE`, `TWILIO_API_KEY_SECRET_FILE`) or a systemd credential
/// (`$CREDENTIALS_DIRECTORY/twilio-auth-token`) instead of the environment, where `systemctl show` and
/// `docker inspect` show them to others. Before, only the variables were read: a `_FILE` alone was a start refused
/// for a missing token.
@Suite("numberd: Twilio secrets from files")
struct TwilioSecretFileTests {
    static let accountSid = "AC" + String(repeating: "0123456789abcdef", count: 2)
    static let keySid = "SK" + String(repeating: "fedcba9876543210", count: 2)

    /// A temporary folder; removed by the caller.
    static func folder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-secrets-\(UUID())").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Writes `text` to `folder/name` with `mode` and returns its path.
    static func secretFile(_ folder: String, _ name: String, _ text: String, mode: Int = 0o600) throws -> String {
        let path = folder + "/" + name
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        return path
    }

    static func provider(_ environment: [String: String]) throws -> NumberdConfiguration.Provider {
        try NumberdConfiguration.resolve(flags: [:], environment: environment).provider
    }

    @Test("an auth token or API key secret from its _FILE, trailing line ends dropped, is the variable's value")
    func fromFiles() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let token = try Self.secretFile(folder, "token", "token-from-file\n")
        #expect(
            try Self.provider(["TWILIO_ACCOUNT_SID": Self.accountSid, "TWILIO_AUTH_TOKEN_FILE": token])
                == .twilio(try TwilioCredentials.authToken(accountSid: Self.accountSid, authToken: "token-from-file")))
        let secret = try Self.secretFile(folder, "secret", "secret-from-file\r\n", mode: 0o400)
        #expect(
            try Self.provider([
                "TWILIO_ACCOUNT_SID": Self.accountSid, "TWILIO_API_KEY_SID": Self.keySid,
                "TWILIO_API_KEY_SECRET_FILE": secret,
            ])
                == .twilio(
                    try TwilioCredentials.apiKey(
                        accountSid: Self.accountSid, keySid: Self.keySid, keySecret: "secret-from-file")))
        // The variables still work, as before.
        #expect(
            try Self.provider(["TWILIO_ACCOUNT_SID": Self.accountSid, "TWILIO_AUTH_TOKEN": "token-from-env"])
                == .twilio(try TwilioCredentials.authToken(accountSid: Self.accountSid, authToken: "token-from-env")))
    }

    @Test("a systemd credential in $CREDENTIALS_DIRECTORY is the variable's value, whatever its mode shows")
    func fromSystemdCredential() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // systemd grants the unit's user with an ACL where it can, which shows as group bits (0440).
        _ = try Self.secretFile(folder, "twilio-auth-token", "token-from-systemd\n", mode: 0o440)
        #expect(
            try Self.provider(["TWILIO_ACCOUNT_SID": Self.accountSid, "CREDENTIALS_DIRECTORY": folder])
                == .twilio(
                    try TwilioCredentials.authToken(accountSid: Self.accountSid, authToken: "token-from-systemd")))
        // A credentials folder without numberd's credentials (the unit has others) changes nothing.
        let other = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: other) }
        #expect(try Self.provider(["CREDENTIALS_DIRECTORY": other]) == .simulator(seed: 1))
    }

    @Test(
        "refused, naming the variable and path, never the secret: others can read it, missing, empty, given twice",
        arguments: [
            "readable by others", "readable by group", "missing", "empty", "variable and file",
            "file and credential", "a folder", "too large",
        ])
    func refused(_ kind: String) throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var environment = ["TWILIO_ACCOUNT_SID": Self.accountSid]
        var expected: [String]
        switch kind {
        case "readable by others", "readable by group":
            let path = try Self.secretFile(
                folder, "token", "s3cret-token\n", mode: kind == "readable by others" ? 0o644 : 0o640)
            environment["TWILIO_AUTH_TOKEN_FILE"] = path
            expected = ["TWILIO_AUTH_TOKEN_FILE", path, "chmod 600"]
        case "missing":
            environment["TWILIO_AUTH_TOKEN_FILE"] = folder + "/none"
            expected = ["TWILIO_AUTH_TOKEN_FILE", folder + "/none", "cannot open"]
        case "empty":
            environment["TWILIO_AUTH_TOKEN_FILE"] = try Self.secretFile(folder, "token", "\n")
            expected = ["TWILIO_AUTH_TOKEN_FILE", "is empty"]
        case "variable and file":
            environment["TWILIO_AUTH_TOKEN"] = "s3cret-token"
            environment["TWILIO_AUTH_TOKEN_FILE"] = try Self.secretFile(folder, "token", "s3cret-token\n")
            expected = ["TWILIO_AUTH_TOKEN is given 2 ways", "TWILIO_AUTH_TOKEN_FILE"]
        case "file and credential":
            _ = try Self.secretFile(folder, "twilio-api-key-secret", "s3cret-token\n")
            environment["CREDENTIALS_DIRECTORY"] = folder
            environment["TWILIO_API_KEY_SID"] = Self.keySid
            environment["TWILIO_API_KEY_SECRET_FILE"] = try Self.secretFile(folder, "secret", "s3cret-token\n")
            expected = ["TWILIO_API_KEY_SECRET is given 2 ways", "$CREDENTIALS_DIRECTORY/twilio-api-key-secret"]
        case "too large":
            let path = try Self.secretFile(folder, "token", "s3cret-token" + String(repeating: "x", count: 5000))
            environment["TWILIO_AUTH_TOKEN_FILE"] = path
            expected = ["TWILIO_AUTH_TOKEN_FILE", "more than 4096 bytes"]
        default:
            environment["TWILIO_AUTH_TOKEN_FILE"] = folder
            expected = ["TWILIO_AUTH_TOKEN_FILE", "not a regular file or a pipe"]
        }
        let error = #expect(throws: ConfigurationError.self) { try Self.provider(environment) }
        let message = error?.description ?? ""
        for part in expected { #expect(message.contains(part), "\(kind): \(message)") }
        #expect(!message.contains("s3cret"), "\(kind): \(message)")
    }

    /// The edge of `SecretFile.bytesMax`: a secret of exactly 4096 bytes with its line end is read, one byte more is
    /// refused (the line end used to count, refusing the 4096-byte secret); and a pipe (a shell's `<(pass show …)`)
    /// is read like a file.
    @Test("a 4096-byte secret with its newline is read, 4097 bytes are refused, a pipe is read")
    func edgesAndPipes() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let exact = String(repeating: "k", count: SecretFile.bytesMax)
        let fits = try Self.secretFile(folder, "fits", exact + "\r\n")
        #expect(try SecretFile.read(fits, name: "T") == exact)
        let over = try Self.secretFile(folder, "over", exact + "k\n")
        #expect(throws: SecretFileError.self) { try SecretFile.read(over, name: "T") }
        let pipe = folder + "/pipe"
        #expect(mkfifo(pipe, 0o600) == 0)
        let writer = Thread {
            let handle = FileHandle(forWritingAtPath: pipe)
            handle?.write(Data("piped-secret\n".utf8))
            try? handle?.close()
        }
        writer.start()
        #expect(try SecretFile.read(pipe, name: "T") == "piped-secret")
    }

    /// SIGHUP's reload checked the secret file with `stat`, then opened it blocking: a named FIFO swapped in between
    /// made the open wait for a writer for ever, and the reload, then the stop, with it. Read as a regular file only
    /// (`regularOnly`, what the reload asks), a FIFO with no writer is refused at once.
    @Test("a FIFO with no writer, read as a regular file only (SIGHUP's reload), is refused at once")
    func fifoWithoutWriterIsRefusedAtOnce() async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let fifo = folder + "/token"
        #expect(mkfifo(fifo, 0o600) == 0)
        // On a thread of its own: a read that waits for a writer must not hold a cooperative thread.
        let outcome = Outcome()
        Thread.detachNewThread {
            let message: String
            do {
                let secret = try SecretFile.read(fifo, name: "TWILIO_AUTH_TOKEN_FILE", regularOnly: true)
                message = "read: " + secret
            } catch {
                message = "\(error)"
            }
            outcome.message.withLock { $0 = message }
        }
        // At once, or never (before: the open waited for a writer for ever); a starved thread may take 50 s to start.
        let deadline = ContinuousClock.now + .seconds(120)
        while outcome.message.withLock({ $0 }) == nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        guard let message = outcome.message.withLock({ $0 }) else {
            Issue.record("the read waited for a writer of the FIFO")
            // Lets the waiting open go (a writer that opens and closes at once), so the thread ends.
            let writer = open(fifo, O_WRONLY | O_NONBLOCK)
            if writer >= 0 { close(writer) }
            return
        }
        #expect(message.contains("TWILIO_AUTH_TOKEN_FILE: \(fifo) is not a regular file"), "\(message)")
        #expect(!message.contains("or a pipe"), "\(message)")
    }

    /// What the reading thread ended with.
    private final class Outcome: Sendable {
        let message = Mutex<String?>(nil)
    }
}
