import Logging
import Synchronization

/// A budget of log lines per key (a reason, a status), shared by everything that logs them: at most ``linesMax`` lines
/// of a key per ``window`` at their level, the rest at debug, counted; the first line of the key that a later window
/// lets through is preceded by one line saying how many were held back (``ThrottledCount``). For the lines that
/// others' traffic multiplies: the server's of what clients can cause (a limit per connection alone lets a client
/// that reconnects start every connection with a fresh allowance), the core's retries of Twilio requests while
/// Twilio fails (one per request tenants make).
///
/// ```swift
/// let level = budget.level(.info, key: "server_error", logger: logger, held: "retries logged at debug")
/// logger.log(level: level, "retrying Twilio request")
/// ```
package final class LogBudget: Sendable {
    /// Lines of one key per window.
    package let linesMax: Int
    /// The window.
    package let window: Duration
    /// Keys counted apart at most; lines of any further key share one count, so the table stays bounded whatever
    /// the keys are.
    static let keysMax = 64
    private static let otherKey = "other"
    private let counts = Mutex<[String: ThrottledCount]>([:])

    package init(linesMax: Int, window: Duration) {
        precondition(linesMax > 0, "linesMax must be positive")
        self.linesMax = linesMax
        self.window = window
    }

    /// The level to log one line of `key` at: `level` while the budget has room, else debug. The first line a later
    /// window lets through is preceded, on `logger` at `level`, by `held` with how many lines of `key` earlier windows
    /// held back (counted when the next line passes: there is no timer). A line `logger` would not write at `level`
    /// anyway takes nothing from the budget (nor its lock).
    package func level(
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
    package func take(_ key: String = "", now: ContinuousClock.Instant = .now) -> ThrottledCount.Decision {
        counts.withLock { table in
            let slot = table[key] != nil || table.count < Self.keysMax ? key : Self.otherKey
            return table[slot, default: ThrottledCount()].take(now: now, interval: window, linesMax: linesMax)
        }
    }
}
