import Logging
import Synchronization

/// A budget of log lines per key (a reason): at most ``linesMax`` lines of a key per ``window`` at their level, the
/// rest at debug, counted; the first line of the key that a later window lets through is preceded by one line saying
/// how many were held back. The server's `LogBudget` does the same for the lines a client can cause; it counts time on
/// NIO's clock, which the core does not import, so the core's lines that tenants' traffic multiplies (a retry of
/// every request while Twilio fails) go through this one.
///
/// ```swift
/// let level = budget.level(.info, key: "server_error", logger: logger, held: "retries logged at debug")
/// logger.log(level: level, "retrying Twilio request")
/// ```
final class LogLineBudget: Sendable {
    /// Whether a line gets its level.
    enum Decision: Hashable {
        /// Log it at its level; `heldBefore` lines of earlier windows went to debug (to report first, when not 0).
        case log(heldBefore: Int)
        /// Log it at debug: counted for the next line that gets its level.
        case held
    }

    /// The lines of one key: how many the current window has had, and how many went to debug since the last report.
    private struct Count {
        /// When the current window began (with its first line); nil before any line.
        var windowStart: ContinuousClock.Instant?
        var linesInWindow = 0
        var held = 0

        /// A window begins with the first line after the last one ended.
        mutating func take(now: ContinuousClock.Instant, window: Duration, linesMax: Int) -> Decision {
            if let start = windowStart, start.duration(to: now) < window {
                guard linesInWindow < linesMax else {
                    held += 1
                    return .held
                }
                linesInWindow += 1
                return .log(heldBefore: 0)
            }
            defer { held = 0 }
            windowStart = now
            linesInWindow = 1
            return .log(heldBefore: held)
        }
    }

    /// Lines of one key per window.
    let linesMax: Int
    /// The window.
    let window: Duration
    /// Keys counted apart at most; lines of any further key share one count, so the table stays bounded whatever
    /// the keys are.
    static let keysMax = 64
    private static let otherKey = "other"
    private let counts = Mutex<[String: Count]>([:])

    init(linesMax: Int, window: Duration) {
        precondition(linesMax > 0, "linesMax must be positive")
        self.linesMax = linesMax
        self.window = window
    }

    /// The level to log one line of `key` at: `level` while the budget has room, else debug. The first line a later
    /// window lets through is preceded, on `logger` at `level`, by `held` with how many lines of `key` earlier windows
    /// held back (counted when the next line passes: there is no timer). A line `logger` would not write at `level`
    /// anyway takes nothing from the budget (nor its lock).
    func level(
        _ level: Logger.Level, key: String = "", logger: Logger, held: @autoclosure () -> Logger.Message
    ) -> Logger.Level {
        guard logger.logLevel <= level else { return level }
        switch take(key) {
        case .held:
            return .debug
        case .log(let heldBefore):
            if heldBefore > 0 {
                var metadata: Logger.Metadata = ["lines": "\(heldBefore)"]
                if !key.isEmpty { metadata["kind"] = "\(key)" }
                logger.log(level: level, held(), metadata: metadata)
            }
            return level
        }
    }

    /// Counts one line of `key` at `now`: whether it is logged at its level, and how many lines of the key earlier
    /// windows held back.
    func take(_ key: String = "", now: ContinuousClock.Instant = .now) -> Decision {
        counts.withLock { table in
            let slot = table[key] != nil || table.count < Self.keysMax ? key : Self.otherKey
            return table[slot, default: Count()].take(now: now, window: window, linesMax: linesMax)
        }
    }
}
