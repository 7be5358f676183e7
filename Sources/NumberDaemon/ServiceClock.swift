import Foundation
import NumberCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The time every decision of a running numberd is made at — purchases and the billing cycles they start, renewals,
/// refunds, grace periods, idempotency keys' lives, the clock mark: the wall clock while it keeps step with the time
/// that really passed, and that time when it does not.
///
/// The wall clock is compared with the boot clock (`CLOCK_BOOTTIME`: it counts a suspended machine's time too, no one
/// sets it, and NTP's rate corrections apply to both) since the last reading in step. A wall clock that stepped more
/// than ``stepMaxSeconds`` away from that — `date -s` with a wrong year, a hypervisor restoring a wrong time, a clock
/// set back — is not used: time goes on by the boot clock from the last reading in step, until the wall clock is set
/// right (or a restart, whose own check compares it with the data). Used as it read, a clock ahead would renew every
/// number once per month skipped, release past-due numbers whose grace had not ended, expire idempotency keys (a
/// client's retry of a lost `AddFunds` answer credited twice), start purchased numbers' cycles in the future and
/// refund nothing on a release; a clock behind would stamp decisions in the past (a number bought then billed for every
/// month at once when the clock is set right, a grace counted from a time long gone).
///
/// Time never goes back: a step back within the limit holds it where it was until the wall clock catches up. And it
/// starts no earlier than `floor` — the latest time the data records anything at, or a numberd running on it saw: a
/// clock booted behind its data goes on from there, and its correction (by any amount up to `leadMaxSeconds` ahead, as
/// the time numberd was stopped is unknown) is taken as the first reading in step.
///
/// `leadMaxSeconds` 0 (`--clock-lead-max 0`: the clock is trusted, as at start) uses the wall clock as it reads.
final class ServiceClock: NumberClock {
    /// How far the wall clock may step from the time that passed and still be used: an NTP step corrects less than
    /// this while running (drift is slewed, and slewing moves both clocks).
    static let stepMaxSeconds = 300

    private let leadMaxSeconds: Int
    private let wall: @Sendable () -> Date
    private let boot: @Sendable () -> Double

    private struct State {
        /// The wall and boot clocks at the last reading in step.
        var reference: (wall: Date, boot: Double)
        /// The latest time given.
        var given: Date
        /// How far the wall clock was from the time that passed at the last reading, when beyond the limit.
        var step: Double?
        /// Started with the wall clock behind the floor: its first correction ahead may be as large as a stop was long.
        var settling: Bool
    }

    private let state: Mutex<State>

    /// A clock starting no earlier than `floor` and allowing `leadMaxSeconds` ahead at start (0: the wall clock as it
    /// reads); the clocks are injectable for tests.
    init(
        leadMaxSeconds: Int, floor: Date? = nil, wall: @escaping @Sendable () -> Date = { Date() },
        boot: @escaping @Sendable () -> Double = ServiceClock.bootSeconds
    ) {
        self.leadMaxSeconds = leadMaxSeconds
        self.wall = wall
        self.boot = boot
        let wallNow = wall()
        let start = max(wallNow, floor ?? .distantPast)
        state = Mutex(State(reference: (start, boot()), given: start, step: nil, settling: start > wallNow))
    }

    func now() -> Date {
        let wallNow = wall()
        guard leadMaxSeconds > 0 else { return wallNow }
        let bootNow = boot()
        return state.withLock { state in
            let passed = state.reference.wall.addingTimeInterval(bootNow - state.reference.boot)
            let step = wallNow.timeIntervalSince(passed)
            let aheadMax = Double(state.settling ? leadMaxSeconds : Self.stepMaxSeconds)
            var time = passed
            if step >= -Double(Self.stepMaxSeconds), step <= aheadMax {
                (time, state.step, state.settling) = (wallNow, nil, false)
                // A step back keeps the reference: small steps back cannot add up to a clock set far back.
                if step >= 0 { state.reference = (wallNow, bootNow) }
            } else {
                state.step = step
            }
            if time > state.given { state.given = time }
            return state.given
        }
    }

    /// How many seconds the wall clock is from the time that passed since the last reading in step (negative: behind)
    /// when that is beyond the limit, so that time follows the boot clock; nil when it is in step.
    func step() -> Double? {
        _ = now()
        return state.withLock { $0.step }
    }

    /// Seconds since boot, suspended time included.
    static func bootSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_BOOTTIME, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
