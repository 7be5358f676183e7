import Foundation
import NumberCore
import Synchronization
import Testing

@testable import NumberDaemon

/// A running numberd compared the wall clock with nothing: a clock set a year ahead while it ran (`date -s` with a wrong
/// year, a hypervisor restoring a wrong time) renewed every number once per month skipped and expired every
/// idempotency key at the next billing run. A guard then paused billing alone, while purchases, releases and
/// idempotency still read the jumped clock (a retried `AddFunds` credited twice, a purchase's cycle started a year
/// ahead, a release refunded nothing), and a clock set back or booted behind stamped decisions in the past (a number
/// bought then billed for every month at once when the clock was set right). And a clock set back, then set right,
/// paused billing until a restart. Every decision now reads ``ServiceClock``.
@Suite("The service's clock: never back, never ahead of the time that passed")
struct ServiceClockTests {
    final class Clocks: Sendable {
        let wall = Mutex(Date(timeIntervalSince1970: 1_764_500_000))
        let boot = Mutex(1_000.0)

        func advance(wall seconds: Double, boot bootSeconds: Double) {
            wall.withLock { $0 = $0.addingTimeInterval(seconds) }
            boot.withLock { $0 += bootSeconds }
        }

        var wallNow: Date { wall.withLock { $0 } }
    }

    static func clock(_ clocks: Clocks, leadMax: Int, floor: Date? = nil) -> ServiceClock {
        ServiceClock(
            leadMaxSeconds: leadMax, floor: floor, wall: { clocks.wall.withLock { $0 } },
            boot: { clocks.boot.withLock { $0 } })
    }

    /// Within a millisecond (dates are floating-point seconds).
    static func near(_ jump: Double?, _ expected: Double) -> Bool { jump.map { abs($0 - expected) < 0.001 } ?? false }
    static func near(_ date: Date, _ expected: Date) -> Bool { abs(date.timeIntervalSince(expected)) < 0.001 }

    @Test("in step, or stepped within the limit: the wall clock; ahead by more: the boot clock's time, until set right")
    func forwardJump() {
        let clocks = Clocks()
        let clock = Self.clock(clocks, leadMax: 3_600)
        clocks.advance(wall: 60, boot: 60)
        #expect(clock.jumpAhead() == nil && clock.now() == clocks.wallNow)
        // Within the limit (an NTP step after a long drift): in step, and the new reference.
        clocks.advance(wall: 60 + 3_600, boot: 60)
        #expect(clock.jumpAhead() == nil && clock.now() == clocks.wallNow)
        let inStep = clocks.wallNow
        // A year ahead in one minute: not used; time goes on by the boot clock, at the next readings too.
        clocks.advance(wall: 365 * 86_400 + 60, boot: 60)
        #expect(Self.near(clock.jumpAhead(), 365 * 86_400))
        #expect(Self.near(clock.now(), inStep.addingTimeInterval(60)))
        clocks.advance(wall: 60, boot: 60)
        #expect(Self.near(clock.jumpAhead(), 365 * 86_400))
        #expect(Self.near(clock.now(), inStep.addingTimeInterval(120)))
        // Set right again: in step with the last reference.
        clocks.wall.withLock { $0 = $0.addingTimeInterval(-365 * 86_400) }
        #expect(clock.jumpAhead() == nil && clock.now() == clocks.wallNow)
    }

    @Test("the edge: exactly the limit ahead is in step, one second more is a jump")
    func edges() {
        let clocks = Clocks()
        let clock = Self.clock(clocks, leadMax: 3_600)
        let start = clocks.wallNow
        clocks.advance(wall: 3_600, boot: 0)
        #expect(clock.jumpAhead() == nil && clock.now() == clocks.wallNow)
        clocks.advance(wall: 3_601, boot: 0)
        #expect(Self.near(clock.jumpAhead(), 3_601))
        #expect(Self.near(clock.now(), start.addingTimeInterval(3_600)))
    }

    @Test("a clock set back holds time where it was until it catches up, and setting it right again is in step")
    func neverBack() {
        let clocks = Clocks()
        let clock = Self.clock(clocks, leadMax: 31 * 86_400)
        clocks.advance(wall: 60, boot: 60)
        let before = clock.now()
        // Set back 40 days (a hypervisor restoring an old time): no jump, and no time before the last one given.
        clocks.advance(wall: -40 * 86_400, boot: 10)
        #expect(clock.jumpAhead() == nil)
        #expect(clock.now() == before)
        clocks.advance(wall: 3_600, boot: 3_600)
        #expect(clock.now() == before)
        // NTP sets it right, 40 days ahead of its last reading: in step with the reference kept from before the step
        // back (re-based there, this paused billing until a restart).
        clocks.advance(wall: 40 * 86_400, boot: 0)
        #expect(clock.jumpAhead() == nil)
        #expect(clock.now() == clocks.wallNow)
    }

    @Test("started behind its data: time starts at the floor, holds there, and the clock set right later is in step")
    func startedBehindTheData() {
        let clocks = Clocks()
        // The data's latest record is a year ahead of this machine's clock (a dead RTC): 20 days later NTP corrects
        // it to the true time, 20 days after the data's latest record plus the time since the start.
        let floor = clocks.wallNow.addingTimeInterval(365 * 86_400)
        let clock = Self.clock(clocks, leadMax: 31 * 86_400, floor: floor)
        #expect(clock.now() == floor)
        clocks.advance(wall: 3_600, boot: 3_600)
        #expect(clock.now() == floor, "held at the data's latest record, not stamped a year in its past")
        clocks.wall.withLock { $0 = floor.addingTimeInterval(20 * 86_400 + 3_600) }
        #expect(clock.jumpAhead() == nil)
        #expect(clock.now() == clocks.wallNow)
    }

    @Test("clock-lead-max 0 turns the ahead check off, as at start; time still never goes back")
    func off() {
        let clocks = Clocks()
        let clock = Self.clock(clocks, leadMax: 0)
        clocks.advance(wall: 10 * 365 * 86_400, boot: 1)
        #expect(clock.jumpAhead() == nil && clock.now() == clocks.wallNow)
        let far = clocks.wallNow
        clocks.advance(wall: -10 * 365 * 86_400, boot: 1)
        #expect(clock.now() == far)
    }

    @Test("the boot clock advances with real time")
    func bootClock() async throws {
        let before = ServiceClock.bootSeconds()
        try await Task.sleep(for: .milliseconds(50))
        #expect(ServiceClock.bootSeconds() - before >= 0.04)
    }

    @Test("a year's jump while running: a keyed AddFunds retried is answered from its first use, not credited twice")
    func jumpDoesNotExpireKeys() async throws {
        let clocks = Clocks()
        let clock = Self.clock(clocks, leadMax: 31 * 86_400)
        let service = try await NumberService.open(
            store: InMemoryNumberStore(), provider: NoProvider(), clock: clock, logger: quietLogger)
        let account = try await service.createAccount(name: "Acme", currency: "USD")
        let first = try await service.addFunds(accountId: account.id, amount: 10_000, idempotencyKey: "K")
        clocks.advance(wall: 365 * 86_400 + 60, boot: 60)
        let retry = try await service.addFunds(accountId: account.id, amount: 10_000, idempotencyKey: "K")
        #expect(retry.id == first.id)
        #expect(try service.balance(accountId: account.id).balance == 10_000)
        // Renewals, grace and key expiry run at the boot clock's time: nothing is due a minute later.
        let report = try await service.runBillingUntilCaughtUp(runsMax: 10)
        #expect(report.expiredKeys == 0)
        #expect(try await service.addFunds(accountId: account.id, amount: 10_000, idempotencyKey: "K").id == first.id)
    }
}
