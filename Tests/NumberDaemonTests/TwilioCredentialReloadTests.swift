import Dispatch
import Foundation
import Logging
import NumberAPI
import NumberClient
import NumberCore
import Prometheus
import Synchronization
import TestSupport
import Testing
import TwilioSimulator

@testable import NumberDaemon

#if canImport(Glibc)
import Glibc
#endif

extension HangUpSignalTests {
    /// Operators rotate the Twilio auth token (Twilio's secondary token, promoted once everything uses it) or the API key
    /// secret and expect `systemctl reload numberd` (SIGHUP) to take it. Before, the secret was read at start only: a
    /// reload kept sending the old one, which stopped working when the secondary token was promoted.
    @Suite("numberd: the Twilio secret rotates on SIGHUP", .serialized)
    struct TwilioCredentialReloadTests {
        /// What a test runs against: numberd (Twilio credentials) and the simulator standing for Twilio.
        struct Rig {
            let running: RunningNumberd
            let simulator: TwilioSimulator
            /// The token file (0600), when the secret comes from one.
            let tokenFile: String
            let lines: CapturingLogHandler.Lines
            let metrics: PrometheusCollectorRegistry
            /// The environment numberd resolved its Twilio credentials from.
            let environment: [String: String]

            var engine: SimulatorEngine { simulator.engine }

            /// Replaces the token file's content (written beside it and renamed over it, 0600, as an operator's tool does).
            func writeToken(_ token: String, mode: Int = 0o600) throws {
                let staging = tokenFile + ".new"
                try (token + "\n").write(toFile: staging, atomically: false, encoding: .utf8)
                try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: staging)
                #expect(rename(staging, tokenFile) == 0)
            }

            /// Searches through numberd (which asks the simulator); true when it found numbers.
            func search() async throws -> Bool {
                try await withNumbersClient(running.client()) { admin in
                    let account = try await admin.createAccount(CreateAccountRequest(name: "rotation", currency: "USD"))
                    let found = try await admin.searchNumbers(
                        SearchNumbersRequest(accountId: account.account.id, country: "US", areaCode: "415", limit: 2))
                    return !found.numbers.isEmpty
                }
            }

            /// The credentials the simulator saw on `endpoint` since the log was cleared.
            func credentials(_ endpoint: Endpoint) -> [RequestCredential?] {
                engine.requestLog.filter { $0.endpoint == endpoint }.map(\.credential)
            }

            /// `numberd_twilio_credentials_reloads_total{outcome}`.
            func reloads(_ outcome: String) -> Double? {
                let text = String(decoding: metrics.emitToBuffer(), as: UTF8.self)
                let prefix = "numberd_twilio_credentials_reloads_total{outcome=\"\(outcome)\"} "
                return text.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap {
                    Double($0.dropFirst(prefix.count))
                }
            }

            /// Error or notice lines about the Twilio credentials (SIGHUP's).
            func reloadLines(_ level: Logger.Level) -> [CapturingLogHandler.Line] {
                lines.all.filter {
                    $0.level == level && $0.message.contains("Twilio") && $0.message.hasPrefix("SIGHUP")
                }
            }
        }

        /// numberd reaching an external simulator over HTTPS as Twilio, with the account's token (or `token`) in a 0600
        /// file (or, with `plainVariable`, in `TWILIO_AUTH_TOKEN`). `body` runs once numberd's start-time check of its
        /// credentials has logged what Twilio said, so that its request is not among those a test counts.
        static func withRig(
            plainVariable: Bool = false, apiKey: Bool = false, token: String? = nil, _ body: (Rig) async throws -> Void
        ) async throws {
            let folder = try TwilioSecretFileTests.folder()
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let simulator = try await startExternalSimulator(directory: folder)
            do {
                let credentials = simulator.credentials
                let tokenFile = try TwilioSecretFileTests.secretFile(
                    folder, "twilio-token", (token ?? credentials.authToken) + "\n")
                var environment = [
                    "TWILIO_ACCOUNT_SID": credentials.accountSid, "NUMBERD_TWILIO_BASE_URL": simulator.baseURL,
                    "NUMBERD_TWILIO_CA_FILE": try #require(simulator.caPEMPath), "NUMBERD_DATA_DIR": folder + "/data",
                ]
                if apiKey, let key = credentials.apiKeys.first {
                    environment["TWILIO_API_KEY_SID"] = key.key
                    environment["TWILIO_API_KEY_SECRET_FILE"] = try TwilioSecretFileTests.secretFile(
                        folder, "twilio-key-secret", key.value + "\n")
                } else if plainVariable {
                    environment["TWILIO_AUTH_TOKEN"] = credentials.authToken
                } else {
                    environment["TWILIO_AUTH_TOKEN_FILE"] = tokenFile
                }
                let resolved = try NumberdConfiguration.resolve(flags: [:], environment: environment)
                let lines = CapturingLogHandler.Lines()
                let logger = Logger(label: "rotate") { _ in CapturingLogHandler(lines: lines) }
                let metrics = PrometheusCollectorRegistry()
                try await withNumberd(
                    logger: logger, metrics: metrics,
                    configure: {
                        $0.provider = resolved.provider
                        $0.twilioBaseURL = resolved.twilioBaseURL
                        $0.twilioCAFile = resolved.twilioCAFile
                        // As the environment resolves it (the default 15 s), not the daemon tests' longer one: the
                        // promotion delay said is computed from it.
                        $0.twilioRequestTimeoutMilliseconds = resolved.twilioRequestTimeoutMilliseconds
                        $0.twilioSecretSources = resolved.twilioSecretSources
                        $0.twilioCredentialEnvironment = resolved.twilioCredentialEnvironment
                    }
                ) { running in
                    let deadline = ContinuousClock.now + .seconds(60)
                    while Self.startCheck(lines) == nil, ContinuousClock.now < deadline {
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    try await body(
                        Rig(
                            running: running, simulator: simulator, tokenFile: tokenFile, lines: lines,
                            metrics: metrics,
                            environment: resolved.twilioCredentialEnvironment))
                }
            } catch {
                try? await simulator.shutdown()
                throw error
            }
            try await simulator.shutdown()
        }

        /// The line numberd's start-time check of its Twilio credentials logged (``TwilioCredentialCheck``), if any yet.
        static func startCheck(_ lines: CapturingLogHandler.Lines) -> CapturingLogHandler.Line? {
            lines.all.first {
                $0.message.hasPrefix("Twilio accepts numberd's credentials")
                    || $0.message.hasPrefix("Twilio refuses numberd's credentials")
                    || $0.message.hasPrefix("Twilio could not be asked at start")
            }
        }

        /// A wrong token used to start without a word: the first customer's call failing PROVIDER_MISCONFIGURED was
        /// the first sign. Now one request at start says it, at error; a right one at info.
        @Test("at start, one request says whether Twilio takes the credentials: an error for a wrong token")
        func startCheck() async throws {
            try await Self.withRig(token: String(repeating: "0", count: 32)) { rig in
                let line = try #require(Self.startCheck(rig.lines))
                #expect(line.level == .error && line.message.contains("PROVIDER_MISCONFIGURED"), "\(line)")
                #expect(line.metadata["account_sid"] == rig.simulator.credentials.accountSid)
                // The start went on: numberd serves, and a search says what the check said.
                await #expect(throws: RPCError.self) { _ = try await rig.search() }
            }
            try await Self.withRig { rig in
                let line = try #require(Self.startCheck(rig.lines))
                #expect(line.level == .info && line.message == "Twilio accepts numberd's credentials", "\(line)")
                #expect(try await rig.search())
            }
        }

        @Test("SIGHUP: a rotated token file is checked at Twilio, then used; the promoted token keeps working")
        func rotatedTokenIsUsedAfterHangUp() async throws {
            try await Self.withRig { rig in
                #expect(try await rig.search())
                let original = try #require(rig.running.numberd.twilioCredentials)
                // The operator creates Twilio's secondary auth token and puts it in the file numberd reads.
                let secondary = rig.engine.createSecondaryAuthToken()
                try rig.writeToken(secondary)
                rig.engine.clearRequestLog()
                // SIGHUP until this numberd logs the rotation.
                let rotated = {
                    rig.lines.all.contains { $0.message.hasPrefix("SIGHUP: Twilio accepted the new secret") }
                }
                guard try await HangUpSignalTests.hangUp(until: rotated) else {
                    Issue.record("numberd did not rotate its Twilio credentials after SIGHUP")
                    return
                }
                // Checked with one request sent with the new token, before any other used it.
                let log = rig.engine.requestLog
                let check = try #require(log.first { $0.credential == .secondaryAuthToken })
                #expect(check.endpoint == .listNumbers && check.query == "PageSize=1" && check.status == 200)
                #expect(
                    log.prefix { $0.credential != .secondaryAuthToken }.allSatisfy {
                        $0.credential == .primaryAuthToken
                    },
                    "\(log)")
                let now = try #require(rig.running.numberd.twilioCredentials)
                #expect(now == (try TwilioCredentials.authToken(accountSid: original.accountSid, authToken: secondary)))
                rig.engine.clearRequestLog()
                #expect(try await rig.search())
                #expect(rig.credentials(.searchNumbers).allSatisfy { $0 == .secondaryAuthToken })
                #expect(!rig.credentials(.searchNumbers).isEmpty)
                // Promoted, the old primary stops working at Twilio: numberd goes on with the new one.
                #expect(rig.engine.promoteSecondaryAuthToken())
                rig.engine.clearRequestLog()
                #expect(try await rig.search())
                #expect(rig.credentials(.searchNumbers).allSatisfy { $0 == .primaryAuthToken })
                #expect(rig.engine.requestLog.allSatisfy { $0.status.map { $0 < 400 } ?? false })
                // Said at notice, never with the secret; counted.
                let notice = try #require(rig.reloadLines(.notice).first { $0.message.contains("accepted") })
                #expect(notice.metadata["secret_from"] == "TWILIO_AUTH_TOKEN_FILE")
                // When the old token may be retired: the longest request with its retries under this numberd's
                // Twilio timeout (the default 15 s: 4 × (10 s queued + 15 s) + 3 × 10 s between).
                #expect(notice.metadata["promote_after_seconds"] == "130", "\(notice)")
                #expect(!"\(rig.lines.all)".contains(secondary))
                #expect(rig.reloads("rotated") == 1)
            }
        }

        @Test("a new secret Twilio refuses, or a file that fails its checks: the old one stays in use, with an error")
        func refusedSecretKeepsTheOldOne() async throws {
            try await Self.withRig { rig in
                let original = try #require(rig.running.numberd.twilioCredentials)
                try rig.writeToken("not-the-accounts-token")
                rig.engine.clearRequestLog()
                #expect(await rig.running.numberd.reloadTwilioCredentials() == .refused)
                // Twilio was asked, refused (401/20003), and nothing else was sent with it.
                #expect(rig.engine.requestLog.map(\.status) == [401])
                #expect(rig.running.numberd.twilioCredentials == original)
                let error = try #require(rig.reloadLines(.error).last)
                #expect(error.message.contains("Twilio refused the new secret"), "\(error)")
                #expect(error.metadata["error"]?.contains("20003") == true, "\(error)")
                #expect(!"\(rig.lines.all)".contains("not-the-accounts-token"))
                rig.engine.clearRequestLog()
                #expect(try await rig.search())
                #expect(rig.credentials(.searchNumbers).allSatisfy { $0 == .primaryAuthToken })
                #expect(rig.reloads("refused") == 1)

                // A file others may read is refused as at start, and Twilio is not asked.
                try rig.writeToken(rig.simulator.credentials.authToken + "x", mode: 0o644)
                rig.engine.clearRequestLog()
                #expect(await rig.running.numberd.reloadTwilioCredentials() == .invalid)
                #expect(rig.engine.requestLog.isEmpty)
                #expect(rig.reloadLines(.error).last?.metadata["error"]?.contains("chmod 600") == true)
                #expect(rig.running.numberd.twilioCredentials == original)

                // The file back as it was: nothing to do, nothing asked.
                try rig.writeToken(rig.simulator.credentials.authToken)
                #expect(await rig.running.numberd.reloadTwilioCredentials() == .unchanged)
                #expect(rig.engine.requestLog.isEmpty)
            }
        }

        @Test("Twilio out of reach: the new secret is not used, the old one stays")
        func unreachableTwilioKeepsTheOldOne() async throws {
            try await Self.withRig { rig in
                let original = try #require(rig.running.numberd.twilioCredentials)
                let secondary = rig.engine.createSecondaryAuthToken()
                try rig.writeToken(secondary)
                rig.engine.addFault(try FaultRule.parse("listNumbers:503-before"))
                #expect(await rig.running.numberd.reloadTwilioCredentials() == .unreachable)
                #expect(rig.running.numberd.twilioCredentials == original)
                #expect(rig.reloadLines(.error).last?.message.contains("could not be checked") == true)
                rig.engine.clearFaults()
                #expect(await rig.running.numberd.reloadTwilioCredentials() == .rotated)
            }
        }

        @Test("another account SID is refused on reload: it names the data directory's provider account")
        func accountChangeIsRefused() async throws {
            try await Self.withRig { rig in
                let original = try #require(rig.running.numberd.twilioCredentials)
                var environment = rig.environment
                environment["TWILIO_ACCOUNT_SID"] = "AC" + String(repeating: "ab", count: 16)
                rig.engine.clearRequestLog()
                #expect(await rig.running.numberd.reloadTwilioCredentials(environment: environment) == .accountChanged)
                #expect(rig.engine.requestLog.isEmpty)
                #expect(rig.running.numberd.twilioCredentials == original)
                let error = try #require(rig.reloadLines(.error).last)
                #expect(error.message.contains("account SID may not change"), "\(error)")
                #expect(rig.reloads("account_changed") == 1)
                #expect(try await rig.search())
            }
        }

        @Test(
            "a secret given as a plain variable: SIGHUP changes nothing, said once at notice; the simulator's neither")
        func plainVariableCannotChange() async throws {
            try await Self.withRig(plainVariable: true) { rig in
                let original = try #require(rig.running.numberd.twilioCredentials)
                rig.engine.clearRequestLog()
                var environment = rig.environment
                environment["TWILIO_AUTH_TOKEN"] = rig.engine.createSecondaryAuthToken()
                #expect(await rig.running.numberd.reloadTwilioCredentials(environment: environment) == .variable)
                #expect(await rig.running.numberd.reloadTwilioCredentials() == .variable)
                #expect(rig.engine.requestLog.isEmpty)
                #expect(rig.running.numberd.twilioCredentials == original)
                let notices = rig.reloadLines(.notice)
                #expect(notices.count == 1, "\(notices)")
                #expect(notices.first?.message.contains("cannot change") == true)
                #expect(rig.reloads("variable") == 2)
            }
            // The in-process simulator's generated credentials are not reloaded.
            try await withNumberd { running in
                #expect(await running.numberd.reloadTwilioCredentials() == nil)
            }
        }

        /// A review of the rotation: an API key's secret never changes at Twilio (a new secret is a new key, with a new
        /// SID read at start), and Twilio does not let a Standard key fetch the account: a reload could only fail, blaming
        /// a correct secret. It says the key cannot change instead, once, and asks Twilio nothing.
        @Test("an API key: SIGHUP says its secret cannot change without its SID, and asks Twilio nothing")
        func apiKeyCannotRotate() async throws {
            try await Self.withRig(apiKey: true) { rig in
                let original = try #require(rig.running.numberd.twilioCredentials)
                #expect(original.username.hasPrefix("SK"))
                rig.engine.clearRequestLog()
                #expect(await rig.running.numberd.reloadTwilioCredentials() == .apiKey)
                #expect(await rig.running.numberd.reloadTwilioCredentials() == .apiKey)
                #expect(rig.engine.requestLog.isEmpty)
                #expect(rig.running.numberd.twilioCredentials == original)
                #expect(rig.reloadLines(.notice).count == 1)
                #expect(rig.reloads("api_key") == 2)
                #expect(try await rig.search())
            }
        }

        /// A reload whose secret file is on a stalled mount, then a shutdown: it was logged as a secret that cannot be
        /// read, at error, and counted `invalid`, though nothing was wrong with it.
        @Test("a reload a shutdown ends while its secret file is still being read: interrupted, the old secret kept")
        func shutdownInterruptsTheRead() async throws {
            try await Self.withRig { rig in
                let original = try #require(rig.running.numberd.twilioCredentials)
                try rig.writeToken(rig.engine.createSecondaryAuthToken())
                // The secrets' lane held as a stalled mount holds it.
                let stalled = DispatchSemaphore(value: 0)
                let holding = Atomic(false)
                FileWork.Lane.secrets.queue.async {
                    holding.store(true, ordering: .relaxed)
                    stalled.wait()
                }
                defer { stalled.signal() }
                let deadline = ContinuousClock.now + .seconds(60)
                while !holding.load(ordering: .relaxed) {
                    try #require(ContinuousClock.now < deadline, "the file work's queue never ran")
                    try await Task.sleep(for: .milliseconds(5))
                }
                rig.engine.clearRequestLog()
                let reload = Task { await rig.running.numberd.reloadTwilioCredentials() }
                try await Task.sleep(for: .milliseconds(50))
                reload.cancel()
                #expect(await reload.value == .interrupted)
                #expect(rig.engine.requestLog.isEmpty)
                #expect(rig.running.numberd.twilioCredentials == original)
                #expect(rig.reloadLines(.error).isEmpty, "\(rig.reloadLines(.error))")
                #expect(rig.lines.all.contains { $0.level == .info && $0.message.contains("ended by the shutdown") })
                #expect(rig.reloads("interrupted") == 1)
                #expect(rig.reloads("invalid") == 0)
                // The other lanes go on: the clock's mark, the certificates' check, the config file.
                for lane in [FileWork.Lane.clock, .certificates, .configuration] {
                    #expect(try await lane.run { lane.isCurrent }, "\(lane.label)")
                }
            }
        }

        /// The same for a shutdown while the new secret is checked at Twilio (a request timeout at most): it was logged
        /// at error and counted `unreachable`.
        @Test("a reload a shutdown ends while Twilio checks the new secret: interrupted, the old secret kept")
        func shutdownInterruptsTheCheck() async throws {
            try await Self.withRig { rig in
                let original = try #require(rig.running.numberd.twilioCredentials)
                try rig.writeToken(rig.engine.createSecondaryAuthToken())
                rig.engine.addFault(FaultRule(endpoint: .listNumbers, kind: .latency(milliseconds: 60_000), times: 1))
                let reload = Task { await rig.running.numberd.reloadTwilioCredentials() }
                // The rule is used up when the check reaches the simulator, which then holds its answer.
                let deadline = ContinuousClock.now + .seconds(60)
                while !rig.engine.faultRules.isEmpty {
                    try #require(ContinuousClock.now < deadline, "the check never reached the simulator")
                    try await Task.sleep(for: .milliseconds(5))
                }
                reload.cancel()
                #expect(await reload.value == .interrupted)
                #expect(rig.running.numberd.twilioCredentials == original)
                #expect(rig.reloadLines(.error).isEmpty, "\(rig.reloadLines(.error))")
                #expect(rig.reloads("interrupted") == 1)
                #expect(rig.reloads("unreachable") == 0)
                #expect(try await rig.search())
            }
        }

        /// The same review: a secret given through a pipe (`<(pass show twilio)`, which README shows) is empty once read,
        /// and a named FIFO's open waits for a writer for ever — SIGHUP, then the shutdown, stuck behind it. Only a regular
        /// file is read again.
        @Test("a secret file that is a pipe is not read again on SIGHUP")
        func pipeIsNotReadAgain() async throws {
            try await Self.withRig { rig in
                let original = try #require(rig.running.numberd.twilioCredentials)
                var ends: [Int32] = [0, 0]
                try #require(pipe(&ends) == 0)
                defer { close(ends[0]) }
                let token = Array((rig.engine.createSecondaryAuthToken() + "\n").utf8)
                #expect(write(ends[1], token, token.count) == token.count)
                close(ends[1])  // as `<(…)` leaves it: written once, then the writer gone
                var environment = rig.environment
                environment["TWILIO_AUTH_TOKEN_FILE"] = "/dev/fd/\(ends[0])"
                rig.engine.clearRequestLog()
                #expect(await rig.running.numberd.reloadTwilioCredentials(environment: environment) == .variable)
                #expect(rig.engine.requestLog.isEmpty)
                #expect(rig.running.numberd.twilioCredentials == original)
            }
        }
    }
}
