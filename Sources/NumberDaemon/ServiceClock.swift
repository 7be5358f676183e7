import Foundation
import NumberCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The time every decision of a running numberd is made at — purchases and the billing cycles they start, renewals,
/// refunds, grace periods, idempotency keys' lives, the clock mark: the wall clock, kept from going back and from
/// jumping ahead of the time that really passed.
///
/// - **Ahead:** the wall clock is compared with the boot clock (`CLOCK_BOOTTIME`: it counts a suspended machine's time
///   too, and no one sets it) since the last reading in step. A wall clock more than `leadMaxSeconds` ahead of that —
///   `date -s` with a wrong year, a hypervisor's clock restored wrongly — is not used: time goes on from the last
///   reading in step by the boot clock, until the wall clock is set right (or a restart, whose own check compares it
///   with the data). Used as it was, it would renew every number once per month skipped, release past-due numbers
///   whose grace had not ended, expire every idempotency key (a client's retry of a lost `AddFunds` answer credited
///   twice), start purchased numbers' cycles in the future and refund nothing on a release.
/// - **Back:** time never goes below a time already given nor, from the start, below the latest time the data
///   records anything at or a numberd running on it saw (`floor`): a clock set back, or booted behind, holds time
///   where it was until it catches up, so nothing is stamped in the past — a number bought then would be billed for
///   months at once when the clock is set right, a past-due number's grace would count from a time long gone, a key
///   would expire early. A clock set back keeps the reference it was in step with, so setting it right again is in
///   step; and the reference starts at the floor, so a clock booted behind its data and then corrected is too.
///
/// Within the limit the wall clock is used as it reads (an NTP step, a long drift corrected), and it becomes the next
/// reference. `leadMaxSeconds` 0 turns the ahead check off (as at start); time still never goes back.
final class ServiceClock: NumberClock {
    private let leadMaxSeconds: Int
    private let wall: @Sendable () -> Date
    private let boot: @Sendable () -> Double

    private struct State {
        /// The wall and boot clocks at the last reading in step.
        var reference: (wall: Date, boot: Double)
        /// The latest time given.
        var given: Date
        /// How far the wall clock was ahead of the reference at the last reading, when beyond the limit.
        var jump: Double?
    }

    private let state: Mutex<State>

    /// A clock allowing `leadMaxSeconds` ahead (0: any), never below `floor`; the clocks are injectable for tests.
    init(
        leadMaxSeconds: Int, floor: Date? = nil, wall: @escaping @Sendable () -> Date = { Date() },
        boot: @escaping @Sendable () -> Double = ServiceClock.bootSeconds
    ) {
        self.leadMaxSeconds = leadMaxSeconds
        self.wall = wall
        self.boot = boot
        let start = max(wall(), floor ?? .distantPast)
        state = Mutex(State(reference: (start, boot()), given: start))
    }

    func now() -> Date {
        let (wallNow, bootNow) = (wall(), boot())
        return state.withLock { state in
            let elapsed = state.reference.wall.addingTimeInterval(bootNow - state.reference.boot)
            let ahead = wallNow.timeIntervalSince(elapsed)
            var time = wallNow
            if leadMaxSeconds > 0, ahead > Double(leadMaxSeconds) {
                state.jump = ahead
                time = elapsed
            } else {
                state.jump = nil
                if ahead >= 0 { state.reference = (wallNow, bootNow) }
            }
            if time > state.given { state.given = time }
            return state.given
        }
    }

    /// How many seconds the wall clock is ahead of the time that passed since the last reading in step, when that is
    /// more than allowed (time then follows the boot clock); nil when it is not.
    func jumpAhead() -> Double? {
        _ = now()
        return state.withLock { $0.jump }
    }

    /// Seconds since boot, suspended time included.
    static func bootSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_BOOTTIME, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
