import NIOCore

/// A connection's budget of one kind of frame that costs its sender nothing (PING, SETTINGS, CANCEL and stray
/// frames): at most `max` between two completed calls, the next closes the connection. It also earns one frame back
/// per `renewal` interval, up to `max`: a client that sends such frames no faster than that is never closed even when
/// it completes no call (a monitor that only health-checks, which renews nothing), while a flood is closed after `max`
/// plus one per interval. Earned lazily when a frame is spent: no timer, and a budget never used costs no clock read.
struct FloodBudget {
    let max: Int
    /// One frame back per this much time; zero: only completed calls renew the budget.
    let renewal: TimeAmount
    /// Frames spent and not yet earned back or renewed.
    private(set) var spent = 0
    /// Since when the budget earns frames back (the first frame spent from a full budget, moved on by what it earned).
    private var earningSince = NIODeadline.uptimeNanoseconds(0)

    init(max: Int, renewal: TimeAmount) {
        self.max = max
        self.renewal = renewal
    }

    /// Spends one frame at `now` (read only when the budget renews by time); whether that passes `max`.
    mutating func spend(now: () -> NIODeadline) -> Bool {
        if renewal > .zero {
            let now = now()
            if spent > 0 {
                let earned = (now - earningSince).nanoseconds / renewal.nanoseconds
                if earned > 0 {
                    spent = Swift.max(0, spent - Int(earned))
                    earningSince = earningSince + .nanoseconds(earned * renewal.nanoseconds)
                }
            }
            if spent == 0 { earningSince = now }
        }
        spent += 1
        return spent > max
    }

    /// A completed call: the whole budget again.
    mutating func renew() {
        spent = 0
    }
}
