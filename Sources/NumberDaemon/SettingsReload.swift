import Foundation
import Logging
import NumberServer
import Synchronization

/// SIGHUP's reading of the config file again (`systemctl reload numberd`): an operator turns debug logging on in a
/// running numberd and off again, or changes the per-account limits, without a restart that drops calls.
///
/// The file (`--config`, `NUMBERD_CONFIG`) is read again (a regular file only, at most 1 MiB, checked on the descriptor
/// opened) and resolved with every check of the start, under the start's flags and environment
/// (``NumberdConfiguration/Origin``: a setting given by flag or `NUMBERD_` variable keeps winning over the file, as at
/// start; the default data directory is the start's; the Twilio credentials are left to their own reload). A file the next start would refuse — unreadable, not a JSON object, an unknown key, a
/// bad value of any key — changes nothing: an error says why and every setting stays as it was. Otherwise the settings
/// that can change safely while numberd runs (``reloadableKeys``) take the file's values:
/// - `log-level`: the ``SharedLogLevel`` every logger reads at each line;
/// - `rate-limit` and `purchase-cap`: ``NumberServer/RateLimiter/update(_:now:)`` (what an account spent stays spent).
///
/// Each change is logged at notice with its old and new value. Any other setting the file changed is read at start
/// only (its listener, store, budgets or timers were built from it): one notice names those, and the changed ones a
/// flag or variable overrides. Without a config file, or with one given through a pipe (read once), there is nothing to
/// read again: said once, at notice. A file that was a regular one at start and is not now is refused as invalid.
package final class SettingsReload: Sendable {
    /// What a reload did: `numberd_config_reloads_total{outcome}`.
    package enum Outcome: String, Sendable, CaseIterable {
        /// A setting took a new value (the log level, the rate limit, the purchase cap).
        case changed
        /// The file was read again; no setting a reload applies changed.
        case unchanged
        /// The file cannot be read, or a start would refuse it: every setting stays as it was.
        case invalid
        /// numberd has no config file it can read again (none given, or a pipe).
        case noFile = "no_file"
    }

    /// The config file's keys a reload applies. Every other one needs a restart: see README ("Configuration and
    /// limits") for why each cannot change under a running numberd.
    package static let reloadableKeys: Set<String> = ["log-level", "rate-limit", "purchase-cap"]

    /// Where the start's settings came from (its flags, `NUMBERD_` variables and the file as it read it).
    let origin: NumberdConfiguration.Origin
    /// The level every logger of numberd follows.
    let logLevel: SharedLogLevel
    /// The per-account limits of the RPC server.
    let rateLimiter: RateLimiter
    let gauges: OperationalGauges
    let logger: Logger
    /// Whether the notice that there is no file to read again was logged. Held through a whole reload, so reloads
    /// (SIGHUP's, a test's) run one at a time.
    private let toldNoFile = Mutex(false)
    /// Whether the config file was a regular file when numberd started (not a pipe, `--config <(…)`): one that is no
    /// longer one at a reload (a FIFO or a directory in its place) is refused as invalid, not taken for a pipe.
    private let regularAtStart: Bool

    init(
        origin: NumberdConfiguration.Origin, logLevel: SharedLogLevel, rateLimiter: RateLimiter,
        gauges: OperationalGauges, logger: Logger
    ) {
        self.origin = origin
        self.logLevel = logLevel
        self.rateLimiter = rateLimiter
        self.gauges = gauges
        self.logger = logger
        var status = stat()
        self.regularAtStart =
            origin.configPath.map { stat($0, &status) == 0 && status.st_mode & S_IFMT == S_IFREG } ?? false
    }

    /// Reads the config file again and applies what changed of ``reloadableKeys``.
    func reload() -> Outcome {
        let outcome = toldNoFile.withLock { attempt(toldNoFile: &$0) }
        gauges.recordSettingsReload(outcome)
        return outcome
    }

    private func attempt(toldNoFile: inout Bool) -> Outcome {
        func noFile() -> Outcome {
            if !toldNoFile {
                toldNoFile = true
                let why =
                    origin.configPath.map { "the config file \($0) is not a regular file (a pipe is read once)" }
                    ?? "numberd runs without a config file (--config, NUMBERD_CONFIG)"
                logger.notice(
                    Logger.Message(
                        stringLiteral: "SIGHUP: \(why): the log level and the per-account limits change only with a "
                            + "restart; give them in a config file to change them with a reload"))
            }
            return .noFile
        }
        guard let path = origin.configPath else { return noFile() }
        var now = origin
        let resolved: NumberdConfiguration
        do {
            // Only a regular file is read again, as the opened descriptor says (no check before the open that a
            // file replaced meanwhile could pass): a pipe (`--config <(…)`) is empty once read, and a named FIFO is
            // not waited for. A file that is gone is refused as at start.
            now.file = try NumberdConfiguration.loadFile(path, regularOnly: true)
            // The start's environment (its data directory from XDG_DATA_HOME or HOME), not only its NUMBERD_ variables.
            resolved = try NumberdConfiguration.resolve(now, environment: origin.startEnvironment)
        } catch is NumberdConfiguration.NotARegularFile {
            guard regularAtStart else { return noFile() }
            logger.error(
                Logger.Message(
                    stringLiteral: "SIGHUP: config file not applied, every setting stays as it was: it was a regular "
                        + "file at start and is not one now (a FIFO or a directory in its place?)"),
                metadata: ["file": "\(path)"])
            return .invalid
        } catch {
            logger.error(
                "SIGHUP: config file not applied, every setting stays as it was: a start would refuse it",
                metadata: ["file": "\(path)", "error": "\(error)"])
            return .invalid
        }
        // Every notice of this reload is written while the more verbose of the two levels is in force, so each is
        // seen whenever either level shows notices: raised to `warning`, the lines saying so and what else changed are
        // still written (the limits' line used to come after the new level, and a change of them went unsaid).
        let oldLevel = logLevel.level
        let newLevel = resolved.logLevel
        logLevel.level = min(oldLevel, newLevel)
        defer { logLevel.level = newLevel }
        tellUnapplied(file: now.file, path: path)
        if newLevel != oldLevel {
            logger.notice(
                "SIGHUP: log level changed", metadata: ["from": "\(oldLevel)", "to": "\(newLevel)", "file": "\(path)"])
        }
        let limitsChanged = apply(limits: resolved.rateLimits, path: path)
        guard newLevel != oldLevel || limitsChanged else {
            logger.notice(
                "SIGHUP: config file read again; the log level and the per-account limits are unchanged",
                metadata: ["file": "\(path)", "log_level": "\(newLevel)"])
            return .unchanged
        }
        return .changed
    }

    /// Sets the rate limiter's limits when the call rate, its burst or the purchase cap changed.
    private func apply(limits new: RateLimiter.Limits, path: String) -> Bool {
        let old = rateLimiter.limits
        guard
            new.callsPerSecond != old.callsPerSecond || new.callsBurst != old.callsBurst
                || new.purchasedNumbersPerHour != old.purchasedNumbersPerHour
        else { return false }
        rateLimiter.update(new)
        logger.notice(
            "SIGHUP: per-account limits changed",
            metadata: [
                "rate_limit_from": "\(Self.text(old.callsPerSecond))",
                "rate_limit_to": "\(Self.text(new.callsPerSecond))",
                "purchase_cap_from": "\(Self.text(old.purchasedNumbersPerHour))",
                "purchase_cap_to": "\(Self.text(new.purchasedNumbersPerHour))", "file": "\(path)",
            ])
        return true
    }

    /// One notice naming the file's settings that differ from the start's and that this reload does not apply: read
    /// at start only (a restart takes them), or overridden by the flag or variable the start was given.
    private func tellUnapplied(file: [String: String], path: String) {
        let changed = Set(file.keys).union(origin.file.keys).filter { file[$0] != origin.file[$0] }
        let overridden = changed.compactMap { key in origin.override(of: key).map { "\(key) (\($0))" } }.sorted()
        let restart = changed.filter { origin.override(of: $0) == nil && !Self.reloadableKeys.contains($0) }.sorted()
        guard !overridden.isEmpty || !restart.isEmpty else { return }
        var metadata: Logger.Metadata = ["file": "\(path)"]
        if !restart.isEmpty { metadata["restart_needed"] = "\(restart.joined(separator: ","))" }
        if !overridden.isEmpty { metadata["overridden"] = "\(overridden.joined(separator: ","))" }
        logger.notice(
            Logger.Message(
                stringLiteral: "SIGHUP: config file settings changed that a reload does not apply: restart_needed are "
                    + "read at start only, overridden are given by a flag or NUMBERD_ variable, which wins"),
            metadata: metadata)
    }

    /// A limit as the config file gives it: `50`, not `50.0`.
    static func text(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}
