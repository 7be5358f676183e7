/// Events counted between log lines about them (the server's refusals and failed calls, the core's retries of
/// Twilio requests), at most a few lines per interval: a flood of refusals or failures
/// must not flood the log too. The events an interval gives no line are counted and reported with the first line of a
/// later one. ``note(now:interval:)`` is the one-line form (connections refused at a limit: the line says how many);
/// ``take(now:interval:linesMax:)`` the form for lines that each tell one event (a failed call), which the caller
/// precedes with one line counting those held back.
package struct ThrottledCount: Sendable {
    /// Whether an event gets its line.
    package enum Decision: Hashable, Sendable {
        /// Log it; `heldBefore` events of earlier intervals got no line (to report first, when not 0).
        case log(heldBefore: Int)
        /// No line at its level: counted for the next event that gets one.
        case held
    }

    package init() {}

    /// Events held back since the last line.
    private var held = 0
    /// When the current interval began (with its first line); nil before any event.
    private var intervalStart: ContinuousClock.Instant?
    /// Lines the current interval has had.
    private var linesInInterval = 0

    /// Counts one event; returns how many to report (this one included) if a line is due now: one line per interval.
    package mutating func note(now: ContinuousClock.Instant, interval: Duration) -> Int? {
        switch take(now: now, interval: interval, linesMax: 1) {
        case .log(let heldBefore): return heldBefore + 1
        case .held: return nil
        }
    }

    /// The events held back since the last line, now reported elsewhere (a connection's end): counted from zero again.
    package mutating func takeHeld() -> Int {
        defer { held = 0 }
        return held
    }

    /// Counts one event: a line for it while the interval has had fewer than `linesMax`, else none. An interval begins
    /// with the first event after the last one ended.
    package mutating func take(now: ContinuousClock.Instant, interval: Duration, linesMax: Int) -> Decision {
        if let start = intervalStart, start.duration(to: now) < interval {
            guard linesInInterval < linesMax else {
                held += 1
                return .held
            }
            linesInInterval += 1
            return .log(heldBefore: 0)
        }
        defer { held = 0 }
        intervalStart = now
        linesInInterval = 1
        return .log(heldBefore: held)
    }
}
