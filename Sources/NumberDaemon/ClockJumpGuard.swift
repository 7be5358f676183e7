import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Whether the wall clock moved ahead of the time that really passed while numberd runs. The start refuses a clock far
/// ahead of what the data and the clock mark saw (``Numberd``'s clock check); a running numberd compares the wall clock
/// with the boot clock (`CLOCK_BOOTTIME`: it counts a suspended machine's time too, and no one sets it) between checks.
/// A forward jump of more than `clockLeadMaxSeconds` — `date -s` with a wrong year, a hypervisor's clock restored
/// wrongly — would otherwise renew every number once per month skipped and expire every idempotency key at the next
/// billing run; billing and the clock mark wait instead, until the clock is set right again (or a restart, whose own
/// check then decides).
final class ClockJumpGuard: Sendable {
    private let leadMaxSeconds: Int
    private let wall: @Sendable () -> Date
    private let boot: @Sendable () -> Double
    /// The wall and boot clocks at the last check that found them in step.
    private let reference: Mutex<(wall: Date, boot: Double)>

    /// A guard allowing `leadMaxSeconds` (0: off); the clocks are injectable for tests.
    init(
        leadMaxSeconds: Int, wall: @escaping @Sendable () -> Date = { Date() },
        boot: @escaping @Sendable () -> Double = ClockJumpGuard.bootSeconds
    ) {
        self.leadMaxSeconds = leadMaxSeconds
        self.wall = wall
        self.boot = boot
        reference = Mutex((wall(), boot()))
    }

    /// How many seconds the wall clock is ahead of the time that passed since the last check in step, when that is
    /// more than allowed; nil when it is not (this check then becomes the reference). A clock set back is in step.
    func jumpAhead() -> Double? {
        guard leadMaxSeconds > 0 else { return nil }
        let (wallNow, bootNow) = (wall(), boot())
        return reference.withLock { reference in
            let jump = wallNow.timeIntervalSince(reference.wall) - (bootNow - reference.boot)
            if jump > Double(leadMaxSeconds) { return jump }
            reference = (wallNow, bootNow)
            return nil
        }
    }

    /// Seconds since boot, suspended time included.
    static func bootSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_BOOTTIME, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
