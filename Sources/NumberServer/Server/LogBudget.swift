import NIOCore
import Synchronization

/// A budget of log lines shared by every connection of a server, per key (a reason, a status): at most ``linesMax``
/// lines of a key per ``window`` at their level, the rest at debug, counted; the first line of the key that a later
/// window lets through is preceded by one line saying how many were held back (``ThrottledCount``). A limit per
/// connection alone lets a client that reconnects start every connection with a fresh allowance.
final class LogBudget: Sendable {
    /// Lines of one key per window.
    let linesMax: Int
    /// The window.
    let window: TimeAmount
    /// Keys counted apart at most; lines of any further key share one count, so the table stays bounded whatever
    /// the keys are.
    static let keysMax = 64
    private static let otherKey = "other"
    private let counts = Mutex<[String: ThrottledCount]>([:])

    init(linesMax: Int, window: TimeAmount) {
        precondition(linesMax > 0, "linesMax must be positive")
        self.linesMax = linesMax
        self.window = window
    }

    /// Counts one line of `key` at `now`: whether it is logged at its level, and how many lines of the key earlier
    /// windows held back.
    func take(_ key: String = "", now: NIODeadline = .now()) -> ThrottledCount.Decision {
        counts.withLock { table in
            let slot = table[key] != nil || table.count < Self.keysMax ? key : Self.otherKey
            return table[slot, default: ThrottledCount()].take(now: now, interval: window, linesMax: linesMax)
        }
    }
}
