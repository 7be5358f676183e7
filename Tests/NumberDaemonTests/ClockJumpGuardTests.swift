import Foundation
import Synchronization
import Testing

@testable import NumberDaemon

/// A running numberd compared the wall clock with nothing: a clock set a year ahead while it ran (`date -s` with a wrong
/// year, a hypervisor restoring a wrong time) renewed every number once per month skipped and expired every
/// idempotency key at the next billing run — the start's own check only looks at a start. Billing and the clock mark now
/// wait while the wall clock is ahead of the boot clock's elapsed time by more than `clock-lead-max`.
@Suite("The wall clock jumping while numberd runs")
struct ClockJumpGuardTests {
    final class Clocks: Sendable {
        let wall = Mutex(Date(timeIntervalSince1970: 1_764_500_000))
        let boot = Mutex(1_000.0)

        func advance(wall seconds: Double, boot bootSeconds: Double) {
            wall.withLock { $0 = $0.addingTimeInterval(seconds) }
            boot.withLock { $0 += bootSeconds }
        }
    }

    static func guarding(_ clocks: Clocks, leadMax: Int) -> ClockJumpGuard {
        ClockJumpGuard(
            leadMaxSeconds: leadMax, wall: { clocks.wall.withLock { $0 } }, boot: { clocks.boot.withLock { $0 } })
    }

    /// Within a millisecond (dates are floating-point seconds).
    static func near(_ jump: Double?, _ expected: Double) -> Bool { jump.map { abs($0 - expected) < 0.001 } ?? false }

    @Test("in step, or slewed within the limit: no jump; ahead by more: the jump, until the clock is set right")
    func forwardJump() {
        let clocks = Clocks()
        let guarding = Self.guarding(clocks, leadMax: 3_600)
        clocks.advance(wall: 60, boot: 60)
        #expect(guarding.jumpAhead() == nil)
        // Within the limit (an NTP step after a long drift): in step, and the new reference.
        clocks.advance(wall: 60 + 3_600, boot: 60)
        #expect(guarding.jumpAhead() == nil)
        // A year ahead in one minute: refused, and again at the next checks while it stays so.
        clocks.advance(wall: 365 * 86_400 + 60, boot: 60)
        #expect(Self.near(guarding.jumpAhead(), 365 * 86_400))
        clocks.advance(wall: 60, boot: 60)
        #expect(Self.near(guarding.jumpAhead(), 365 * 86_400))
        // Set right again: in step with the last reference, billing goes on.
        clocks.wall.withLock { $0 = $0.addingTimeInterval(-365 * 86_400) }
        #expect(guarding.jumpAhead() == nil)
    }

    @Test("the edge: exactly the limit ahead is in step, one second more is a jump; a clock set back is in step")
    func edges() {
        let clocks = Clocks()
        let guarding = Self.guarding(clocks, leadMax: 3_600)
        clocks.advance(wall: 3_600, boot: 0)
        #expect(guarding.jumpAhead() == nil)
        clocks.advance(wall: 3_601, boot: 0)
        #expect(Self.near(guarding.jumpAhead(), 3_601))
        let back = Self.guarding(clocks, leadMax: 3_600)
        clocks.advance(wall: -86_400, boot: 10)
        #expect(back.jumpAhead() == nil)
    }

    @Test("clock-lead-max 0 turns it off, as at start")
    func off() {
        let clocks = Clocks()
        let guarding = Self.guarding(clocks, leadMax: 0)
        clocks.advance(wall: 10 * 365 * 86_400, boot: 1)
        #expect(guarding.jumpAhead() == nil)
    }

    @Test("the boot clock advances with real time")
    func bootClock() async throws {
        let before = ClockJumpGuard.bootSeconds()
        try await Task.sleep(for: .milliseconds(50))
        #expect(ClockJumpGuard.bootSeconds() - before >= 0.04)
    }
}
