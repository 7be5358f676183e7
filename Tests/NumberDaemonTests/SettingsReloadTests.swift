import Foundation
import Logging
import NumberAPI
import NumberClient
import Prometheus
import TestSupport
import Testing

@testable import NumberDaemon

#if canImport(Glibc)
import Glibc
#endif

extension HangUpSignalTests {
    /// An operator turns debug logging on in a running numberd to see what it does, and off again, with
    /// `systemctl reload numberd` (SIGHUP); or changes an account limit. Before, the log level and the limits were read
    /// at start only, and each logger held the start's level by value: a change needed a restart, which drops calls.
    @Suite("numberd: the config file's log level and limits apply on SIGHUP", .serialized)
    struct SettingsReloadTests {
        /// Writes `settings` as the JSON config file at `path` (beside it, then renamed over it, as an editor does).
        static func writeConfig(_ path: String, _ settings: [String: Any]) throws {
            let data = try JSONSerialization.data(withJSONObject: settings, options: [.sortedKeys])
            try data.write(to: URL(fileURLWithPath: path + ".new"))
            #expect(rename(path + ".new", path) == 0)
        }

        /// The log file's lines that contain `text`.
        static func lines(_ file: String, containing text: String) -> [Substring] {
            let log = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
            return log.split(separator: "\n").filter { $0.contains(text) }
        }

        /// Waits (up to 60 s) until `condition` holds; whether it did.
        static func eventually(_ condition: () -> Bool) async throws -> Bool {
            let deadline = ContinuousClock.now + .seconds(60)
            while !condition() {
                guard ContinuousClock.now < deadline else { return false }
                try await Task.sleep(for: .milliseconds(20))
            }
            return true
        }

        /// The numberd binary as operators run it, its level from the config file (no flag, no variable): SIGHUP after the
        /// file says `debug` shows the server's per-call debug lines — logged through loggers copied into the connection
        /// handlers from the start's — and after it says `info` again they stop. A level the file misspells is refused
        /// at error and the level in force stays.
        @Test("SIGHUP turns debug logging on in the numberd binary and off again; a bad level is refused, the old kept")
        func debugOnAndOffInTheBinary() async throws {
            let root = try ClosedOutputTests.scratch("numberd-hup-level")
            defer { try? FileManager.default.removeItem(atPath: root) }
            let config = root + "/numberd.json"
            try Self.writeConfig(config, ["log-level": "info"])
            let logFile = root + "/stderr.log"
            #expect(FileManager.default.createFile(atPath: logFile, contents: nil))
            let standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logFile))
            let (child, simulator, launch) = try await ClosedOutputTests.start(in: root) { launch in
                launch.logLevel = nil
                launch.environment["NUMBERD_CONFIG"] = config
                launch.standardError = standardError
            }
            func lines(_ text: String) -> [Substring] { Self.lines(logFile, containing: text) }
            func finished() -> Int { lines("call finished").count }
            // Round `round` of calls on one connection: a successful one (its line at debug), then a failed one (at
            // info), logged in that order by the connection's handler: once the failed call's line is there, the first
            // call's was written or skipped. Whether the `round`th failed call's line came.
            func calls(_ round: Int) async throws -> Bool {
                try await withNumbersClient(try launch.adminClient()) { client in
                    _ = try await client.healthCheck(HealthCheckRequest())
                    _ = try? await client.getAccount(GetAccountRequest(accountId: "ACC_missing"))
                }
                return try await Self.eventually {
                    lines("call failed").filter { $0.contains("GetAccount") }.count >= round
                }
            }

            #expect(try await calls(1))
            #expect(finished() == 0, "a debug line at info")

            try Self.writeConfig(config, ["log-level": "debug"])
            let toDebug = { lines("SIGHUP: log level changed").contains { $0.contains("from=info to=debug") } }
            guard try await HangUpSignalTests.hangUp(child.process, until: toDebug) else {
                Issue.record("numberd did not change its log level after SIGHUP: \(lines("SIGHUP"))")
                await child.crash()
                try await simulator.shutdown()
                return
            }
            #expect(try await calls(2))
            #expect(try await Self.eventually { finished() == 1 }, "no debug line after the reload")
            #expect(lines("call finished").first?.contains("HealthCheck") == true)

            // Misspelt: refused, and numberd keeps logging at debug.
            try Self.writeConfig(config, ["log-level": "verbose"])
            let refused = { lines("SIGHUP: config file not applied").contains { $0.contains("'verbose'") } }
            #expect(try await HangUpSignalTests.hangUp(child.process, until: refused))
            #expect(lines("SIGHUP: config file not applied").allSatisfy { $0.contains(" error ") })
            #expect(try await calls(3))
            #expect(try await Self.eventually { finished() == 2 }, "the refused file changed the level")

            try Self.writeConfig(config, ["log-level": "info"])
            let toInfo = { lines("SIGHUP: log level changed").contains { $0.contains("from=debug to=info") } }
            #expect(try await HangUpSignalTests.hangUp(child.process, until: toInfo))
            #expect(try await calls(4))
            #expect(finished() == 2, "a debug line after the level went back to info")
            #expect(child.process.isRunning)
            child.process.send(SIGTERM)
            await child.waitForExit()
            try await simulator.shutdown()
        }

        /// What an in-process numberd under test logs through: the real handler on a file, following `level`.
        struct Rig {
            let running: RunningNumberd
            let config: String
            let logFile: String
            let stream: QueuedLogStream
            let metrics: PrometheusCollectorRegistry

            /// The log's lines containing `text`, once what was queued is written.
            func lines(_ text: String) -> [Substring] {
                _ = stream.flush(timeout: .seconds(10))
                return SettingsReloadTests.lines(logFile, containing: text)
            }

            /// `numberd_config_reloads_total{outcome}`.
            func reloads(_ outcome: String) -> Double? {
                let text = String(decoding: metrics.emitToBuffer(), as: UTF8.self)
                let prefix = "numberd_config_reloads_total{outcome=\"\(outcome)\"} "
                return text.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap {
                    Double($0.dropFirst(prefix.count))
                }
            }
        }

        /// numberd in process, started with `flags` and `environment` as the command would be, and `settings` in its
        /// config file (none when nil); it logs through a `QueuedLogHandler` into a file, at the start's level.
        static func withRig(
            settings: [String: Any]?, flags: [String: String] = [:], environment: [String: String] = [:],
            afterReading: (String) throws -> Void = { _ in }, _ body: (Rig) async throws -> Void
        ) async throws {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-settings-\(UUID())")
                .path
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let config = folder + "/numberd.json"
            var flags = flags
            if let settings {
                try writeConfig(config, settings)
                flags["config"] = config
            }
            let resolved = try NumberdConfiguration.resolve(flags: flags, environment: environment)
            try afterReading(config)
            let logFile = folder + "/numberd.log"
            // Left open: the stream's writer thread lives as long as the test process, as it does in numberd.
            let descriptor = open(logFile, O_WRONLY | O_CREAT | O_APPEND, 0o600)
            try #require(descriptor >= 0)
            let stream = QueuedLogStream(descriptor: descriptor, metrics: PrometheusMetricsFactory())
            let level = SharedLogLevel(resolved.logLevel)
            let logger = Logger(label: "numberd") { QueuedLogHandler(label: $0, stream: stream, level: level) }
            let metrics = PrometheusCollectorRegistry()
            try await withNumberd(
                logger: logger, metrics: metrics, logLevel: level,
                configure: {
                    $0.origin = resolved.origin
                    $0.logLevel = resolved.logLevel
                    $0.rateLimits = resolved.rateLimits
                }
            ) { running in
                try await body(
                    Rig(running: running, config: config, logFile: logFile, stream: stream, metrics: metrics))
            }
        }

        /// The edge of the precedence: a level given at start by `NUMBERD_LOG_LEVEL` (or a flag) keeps winning, whatever
        /// the file says, and the reload says the file's value is not used; a key read at start only is named as
        /// needing a restart. And the notice of a change is written even when the new level hides notices.
        @Test(
            "a level given by variable keeps winning over the file; keys read at start are named; raised to error, said"
        )
        func precedenceEdge() async throws {
            try await Self.withRig(
                settings: ["log-level": "debug", "rate-limit": 100], environment: ["NUMBERD_LOG_LEVEL": "notice"]
            ) { rig in
                let numberd = rig.running.numberd
                #expect(numberd.logLevel == .notice)
                try Self.writeConfig(rig.config, ["log-level": "trace", "rate-limit": 100, "listen": "127.0.0.1:1"])
                #expect(numberd.reloadSettings() == .unchanged)
                #expect(numberd.logLevel == .notice)
                let notice = try #require(rig.lines("a reload does not apply").first)
                #expect(notice.contains(" notice "), "\(notice)")
                #expect(notice.contains("overridden=log-level (NUMBERD_LOG_LEVEL)"), "\(notice)")
                #expect(notice.contains("restart_needed=listen"), "\(notice)")
                #expect(rig.reloads("unchanged") == 1)
            }
            // From the file alone: raised from info to error, the change's notice is still written (before the change),
            // and lowered back to info too (after it); the notices of numberd at error are not.
            try await Self.withRig(settings: [:]) { rig in
                let numberd = rig.running.numberd
                #expect(numberd.logLevel == .info)
                try Self.writeConfig(rig.config, ["log-level": "error"])
                #expect(numberd.reloadSettings() == .changed)
                #expect(numberd.logLevel == .error)
                try Self.writeConfig(rig.config, ["log-level": "error", "purchase-cap": 7])
                #expect(numberd.reloadSettings() == .changed)
                #expect(numberd.rateLimits.purchasedNumbersPerHour == 7)
                try Self.writeConfig(rig.config, [:])
                #expect(numberd.reloadSettings() == .changed)
                #expect(numberd.logLevel == .info)
                let changes = rig.lines("SIGHUP: log level changed")
                #expect(changes.count == 2, "\(changes)")
                #expect(changes.first?.contains("from=info to=error") == true)
                #expect(changes.last?.contains("from=error to=info") == true)
                // The limits' notice, logged while numberd was at error, was not written.
                #expect(rig.lines("per-account limits changed").count == 1, "\(rig.lines("per-account"))")
                #expect(rig.lines("per-account limits changed").first?.contains("purchase_cap_from=7") == true)
                #expect(rig.reloads("changed") == 3)
            }
        }

        /// A reload that raised the level to `warning` and changed a limit said only the level's change: the limits' line
        /// came after the new level, which hides notices, and the next reload's "from" was the first sign.
        @Test("raised to warning with a limit changed in the same reload: both notices are written")
        func raisedLevelKeepsOtherNotices() async throws {
            try await Self.withRig(settings: ["rate-limit": 50, "purchase-cap": 1000]) { rig in
                let numberd = rig.running.numberd
                try Self.writeConfig(rig.config, ["log-level": "warning"])
                #expect(numberd.reloadSettings() == .changed)
                #expect(numberd.logLevel == .warning && numberd.rateLimits.purchasedNumbersPerHour == 100)
                #expect(rig.lines("SIGHUP: log level changed").first?.contains("from=info to=warning") == true)
                let limits = try #require(rig.lines("per-account limits changed").first)
                #expect(limits.contains("rate_limit_from=50") && limits.contains("purchase_cap_from=1000"), "\(limits)")
                // At warning from now on: the next reload's notices are not written.
                try Self.writeConfig(rig.config, ["log-level": "warning", "purchase-cap": 7])
                #expect(numberd.reloadSettings() == .changed)
                #expect(rig.lines("per-account limits changed").count == 1)
            }
        }

        /// A file the start would refuse changes nothing — neither the level nor a limit it also changes — and says why;
        /// numberd goes on. A file that disappeared is refused the same way.
        @Test("a misspelt level or any bad value in the file: refused at error, every setting kept, numberd serves on")
        func invalidFileKeepsTheOldSettings() async throws {
            try await Self.withRig(settings: ["log-level": "notice", "rate-limit": 50]) { rig in
                let numberd = rig.running.numberd
                #expect(numberd.logLevel == .notice && numberd.rateLimits.callsPerSecond == 50)
                try Self.writeConfig(rig.config, ["log-level": "verbose", "rate-limit": 5])
                #expect(numberd.reloadSettings() == .invalid)
                #expect(numberd.logLevel == .notice)
                #expect(numberd.rateLimits.callsPerSecond == 50)
                let error = try #require(rig.lines("SIGHUP: config file not applied").last)
                #expect(error.contains(" error ") && error.contains("'verbose'"), "\(error)")
                // A bad value of a key read at start only refuses the whole file too: the next start would.
                try Self.writeConfig(rig.config, ["log-level": "debug", "listen": "nowhere"])
                #expect(numberd.reloadSettings() == .invalid)
                #expect(numberd.logLevel == .notice)
                try Self.writeConfig(rig.config, ["log-level": "debug", "rate_limit": 5])
                #expect(numberd.reloadSettings() == .invalid)
                #expect(rig.lines("SIGHUP: config file not applied").last?.contains("unknown key 'rate_limit'") == true)
                try FileManager.default.removeItem(atPath: rig.config)
                #expect(numberd.reloadSettings() == .invalid)
                #expect(rig.reloads("invalid") == 4)
                #expect(numberd.logLevel == .notice)
                try await withNumbersClient(rig.running.client()) { client in
                    let health = try await client.healthCheck(HealthCheckRequest())
                    #expect(health.status == .serving)
                }
            }
        }

        /// The reload resolved the file under the start's `NUMBERD_` variables alone: a numberd whose data directory
        /// came from the default (`XDG_DATA_HOME`, or `HOME`) had it computed without them, so the checks that depend
        /// on it compared other paths than the start had — here `backup-dir`, outside the start's store but inside the
        /// one the reload computed, refused every reload, and the log level could not change.
        @Test("a data directory from XDG_DATA_HOME and a backup-dir in the file: the reload checks the start's paths")
        func reloadUsesTheStartEnvironment() async throws {
            let xdg = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-xdg-\(UUID())").path
            // Inside the store the default would be without XDG_DATA_HOME and HOME; outside the start's.
            let elsewhere = NSHomeDirectory() + "/.local/share/numberd/store/backups"
            try await Self.withRig(
                settings: ["backup-dir": elsewhere, "log-level": "info"], environment: ["XDG_DATA_HOME": xdg]
            ) { rig in
                let numberd = rig.running.numberd
                try Self.writeConfig(rig.config, ["backup-dir": elsewhere, "log-level": "debug"])
                #expect(numberd.reloadSettings() == .changed, "\(rig.lines("SIGHUP"))")
                #expect(numberd.logLevel == .debug)
                // A config file swapped for a named FIFO is not waited for, and is refused: it was a regular file at
                // start (found probing: it was counted no_file, as a pipe given at start is, which an alert on
                // invalid reloads missed).
                try FileManager.default.removeItem(atPath: rig.config)
                #expect(mkfifo(rig.config, 0o600) == 0)
                #expect(numberd.reloadSettings() == .invalid)
                #expect(rig.lines("was a regular file at start and is not one now").count == 1)
                #expect(rig.reloads("invalid") == 1)
                #expect(numberd.logLevel == .debug)
            }
        }

        /// A config file given through a pipe (`--config <(…)`: read once at start) has nothing to read again: said
        /// once, counted `no_file` at each reload.
        @Test("a config file that was no regular file at start (a pipe): no_file, said once")
        func pipeAtStartIsNoFile() async throws {
            try await Self.withRig(
                settings: ["log-level": "info"],
                afterReading: { config in
                    try FileManager.default.removeItem(atPath: config)
                    #expect(mkfifo(config, 0o600) == 0)
                }
            ) { rig in
                #expect(rig.running.numberd.reloadSettings() == .noFile)
                #expect(rig.running.numberd.reloadSettings() == .noFile)
                #expect(rig.lines("is not a regular file (a pipe is read once)").count == 1)
                #expect(rig.reloads("no_file") == 2)
            }
        }

        /// The rate limit from the file applies to calls at once, and what an account spent stays spent.
        @Test("rate-limit lowered in the file: the next calls over it are refused RATE_LIMITED")
        func rateLimitApplies() async throws {
            try await Self.withRig(settings: ["rate-limit": 1000]) { rig in
                let numberd = rig.running.numberd
                try await withNumbersClient(rig.running.client()) { client in
                    _ = try await client.listAccounts(ListAccountsRequest())
                    try Self.writeConfig(rig.config, ["rate-limit": 1])
                    #expect(numberd.reloadSettings() == .changed)
                    #expect(numberd.rateLimits.callsPerSecond == 1 && numberd.rateLimits.callsBurst == 2)
                    var refusal: RPCError?
                    for _ in 0..<4 where refusal == nil {
                        do {
                            _ = try await client.listAccounts(ListAccountsRequest())
                        } catch let error as RPCError {
                            refusal = error
                        }
                    }
                    #expect(refusal?.reason == "RATE_LIMITED", "\(String(describing: refusal))")
                    #expect(refusal?.message.contains("rate limit of 1 calls per second") == true)
                }
                let notice = try #require(rig.lines("SIGHUP: per-account limits changed").first)
                #expect(notice.contains("rate_limit_from=1000") && notice.contains("rate_limit_to=1"), "\(notice)")
            }
            // Without a config file there is nothing to read again: said once, counted each time.
            try await Self.withRig(settings: nil) { rig in
                #expect(rig.running.numberd.reloadSettings() == .noFile)
                #expect(rig.running.numberd.reloadSettings() == .noFile)
                #expect(rig.lines("numberd runs without a config file").count == 1)
                #expect(rig.reloads("no_file") == 2)
            }
        }
    }
}
