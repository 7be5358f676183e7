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
/// Time never goes back: a step back within the limit is taken, and holds time where it was until the wall clock
/// catches up. And it
/// starts no earlier than `floor` — the latest time the data records anything at, or a numberd running on it saw: a
/// wall clock behind that at the start holds time at the floor until it catches up — or until it is corrected: while
/// it is behind the floor, a step ahead to at most `leadMaxSeconds` past the floor (plus the time since the start) is
/// taken as in step, as the start's own check would (how long numberd was stopped is unknown). Holding, not going on
/// from the floor by the boot clock: a floor itself ahead of the true time (stamped under a clock that was ahead)
/// would otherwise keep numberd ahead for good.
///
/// `leadMaxSeconds` 0 (`--clock-lead-max 0`) allows any such correction; the rest holds whatever its value.
final class ServiceClock: NumberClock {
    /// How far the wall clock may step from the time that passed and still be used: an NTP step corrects less than
    /// this while running (drift is slewed, and slewing moves both clocks).
    static let stepMaxSeconds = 300

    private let leadMaxSeconds: Int
    private let wall: @Sendable () -> Date
    private let boot: @Sendable () -> Double
    /// Told of the downtime a correction revealed (``now()``), under the clock's lock; one revealed before anyone asked
    /// is kept for the first to ask.
    private let corrected = Mutex<(body: (@Sendable (DateInterval) -> Void)?, unheard: DateInterval?)>((nil, nil))

    /// Calls `body` with the downtime a correction of a clock that started behind its data reveals: from the floor
    /// to the true time of the start (the corrected wall clock less the boot clock's time since). The start recorded
    /// none (its clock read no time since the data's latest), so without it grace periods and idempotency keys would
    /// count that stop as running time — a past-due number released days early, a retry's key gone. `body` runs under
    /// the clock's lock, before any reading returns the corrected time (a billing run reading it would otherwise plan
    /// without the stop): it must be quick, and must not read this clock.
    func onCorrection(_ body: @escaping @Sendable (DateInterval) -> Void) {
        let unheard = corrected.withLock { corrected in
            corrected.body = body
            defer { corrected.unheard = nil }
            return corrected.unheard
        }
        if let unheard { body(unheard) }
    }

    private struct State {
        /// The wall and boot clocks at the last reading in step.
        var reference: (wall: Date, boot: Double)
        /// The latest time given (from the start: at least the floor).
        var given: Date
        /// How far the wall clock was from the time that passed at the last reading, when beyond the limit.
        var step: Double?
        /// The floor and the boot clock at the start, while the wall clock has not yet reached the floor.
        var settling: (floor: Date, boot: Double)?
    }

    private let state: Mutex<State>

    /// A clock starting no earlier than `floor`; the clocks are injectable for tests.
    init(
        leadMaxSeconds: Int, floor: Date? = nil, wall: @escaping @Sendable () -> Date = { Date() },
        boot: @escaping @Sendable () -> Double = ServiceClock.bootSeconds
    ) {
        self.leadMaxSeconds = leadMaxSeconds
        self.wall = wall
        self.boot = boot
        let (wallNow, bootNow) = (wall(), boot())
        let behind = floor.map { $0 > wallNow } ?? false
        state = Mutex(
            State(
                reference: (wallNow, bootNow), given: behind ? floor! : wallNow, step: nil,
                settling: behind ? (floor!, bootNow) : nil))
    }

    /// The wall clock's forward step this clock ignores (until a restart); 0 in step or behind (``step()``).
    var behindWallClockSeconds: TimeInterval { max(0, step() ?? 0) }

    /// The time given ahead of the wall clock (``heldSeconds()``).
    var aheadOfWallClockSeconds: TimeInterval { heldSeconds() }

    func now() -> Date {
        let (wallNow, bootNow) = (wall(), boot())
        return state.withLock { state in
            let passed = state.reference.wall.addingTimeInterval(bootNow - state.reference.boot)
            let step = wallNow.timeIntervalSince(passed)
            let limit = Double(Self.stepMaxSeconds)
            var inStep = step >= -limit && step <= limit
            if !inStep, step > 0, let settling = state.settling {
                // The correction of a clock that started behind its data: as far ahead as the start would allow.
                let allowed = settling.floor.addingTimeInterval(bootNow - settling.boot + Double(leadMaxSeconds))
                inStep = leadMaxSeconds == 0 || wallNow <= allowed
            }
            var time = passed
            if inStep {
                // Also a small step back: the wall clock is the truth while in step (a clock stepped back now and
                // then by its corrections, whose boot clock runs as fast, would otherwise drift out of step for good);
                // time holds until it catches up.
                (time, state.step, state.reference) = (wallNow, nil, (wallNow, bootNow))
            } else {
                state.step = step
            }
            if time >= state.given {
                // The end of a hold at the floor: the clock caught up, or was corrected. The stop before the start
                // lasted until the corrected time less what ran since; nothing when it merely caught up.
                if let settling = state.settling {
                    let startedAt = wallNow.addingTimeInterval(-(bootNow - settling.boot))
                    if inStep, startedAt > settling.floor {
                        reveal(DateInterval(start: settling.floor, end: startedAt))
                    }
                }
                state.given = time
                state.settling = nil
            }
            return state.given
        }
    }

    /// Tells ``onCorrection(_:)``'s body of `interval` (called under the state lock), or keeps it for the first to ask.
    private func reveal(_ interval: DateInterval) {
        let body = corrected.withLock { corrected in
            if corrected.body == nil { corrected.unheard = interval }
            return corrected.body
        }
        body?(interval)
    }

    /// How many seconds the wall clock is from the time that passed since the last reading in step (negative: behind)
    /// when that is beyond the limit, so that time follows the boot clock; nil when it is in step.
    func step() -> Double? {
        _ = now()
        return state.withLock { $0.step }
    }

    /// How many seconds the time given is ahead of the wall clock, 0 when it is not: time held at the data's latest
    /// record (a clock booted behind it) or after a step back, every decision stamped at a time the wall clock has not
    /// reached. A long hold means a clock that is wrong one way or the other — the machine's, or the one that stamped
    /// the data — and nothing else shows it (`numberd_clock_held_seconds`).
    func heldSeconds() -> Double {
        let time = now()
        return max(0, time.timeIntervalSince(wall()))
    }

    /// Seconds since boot, suspended time included.
    static func bootSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_BOOTTIME, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
