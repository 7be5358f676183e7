import Foundation
import NumberCore
import NumberServer
import Prometheus
import Synchronization
import Testing

@testable import NumberDaemon

/// A running numberd compared the wall clock with nothing: a clock set a year ahead while it ran (`date -s` with a wrong
/// year, a hypervisor restoring a wrong time) renewed every number once per month skipped and expired every
/// idempotency key at the next billing run. A guard then paused billing alone, while purchases, releases and
/// idempotency still read the jumped clock (a retried `AddFunds` credited twice, a purchase's cycle started a year
/// ahead, a release refunded nothing), and a clock set back or booted behind stamped decisions in the past (a number
/// bought then billed for every month at once when the clock was set right). And a clock set back, then set right,
/// paused billing until a restart; and a jump below `clock-lead-max` (31 days) was used as it read. Every decision now
/// reads ``ServiceClock``.
@Suite("The service's clock: the wall clock while it keeps step with the time that passed")
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

    @Test("in step, or stepped within 300 s: the wall clock; stepped further: the time that passed, until set right")
    func forwardJump() {
        let clocks = Clocks()
        let clock = Self.clock(clocks, leadMax: 31 * 86_400)
        clocks.advance(wall: 60, boot: 60)
        #expect(clock.step() == nil && clock.now() == clocks.wallNow)
        // Within the limit (an NTP step): in step, and the new reference.
        clocks.advance(wall: 60 + 300, boot: 60)
        #expect(clock.step() == nil && clock.now() == clocks.wallNow)
        let inStep = clocks.wallNow
        // A year ahead in one minute: not used; time goes on by the boot clock, at the next readings too.
        clocks.advance(wall: 365 * 86_400 + 60, boot: 60)
        #expect(Self.near(clock.step(), 365 * 86_400))
        #expect(
            Self.near(clock.behindWallClockSeconds, 365 * 86_400), "what reconciliation allows the provider's dates")
        #expect(Self.near(clock.now(), inStep.addingTimeInterval(60)))
        clocks.advance(wall: 60, boot: 60)
        #expect(Self.near(clock.step(), 365 * 86_400))
        #expect(Self.near(clock.now(), inStep.addingTimeInterval(120)))
        // Set right again: in step with the last reference.
        clocks.wall.withLock { $0 = $0.addingTimeInterval(-365 * 86_400) }
        #expect(clock.step() == nil && clock.now() == clocks.wallNow)
        #expect(clock.behindWallClockSeconds == 0)
        // Ten days ahead (below clock-lead-max, which only the start uses): not used either.
        clocks.advance(wall: 10 * 86_400, boot: 1)
        #expect(Self.near(clock.step(), 10 * 86_400 - 1))
    }

    @Test("the edges: 300 s either way is in step (a step back holds time), one second more is not")
    func edges() {
        let clocks = Clocks()
        let clock = Self.clock(clocks, leadMax: 31 * 86_400)
        let start = clocks.wallNow
        clocks.advance(wall: 300, boot: 0)
        #expect(clock.step() == nil && clock.now() == clocks.wallNow)
        clocks.advance(wall: 301, boot: 0)
        #expect(Self.near(clock.step(), 301))
        #expect(Self.near(clock.now(), start.addingTimeInterval(300)))
        let back = Self.clock(clocks, leadMax: 31 * 86_400)
        let held = back.now()
        clocks.advance(wall: -300, boot: 0)
        #expect(back.step() == nil)
        #expect(back.now() == held, "held, never back")
        let further = Self.clock(clocks, leadMax: 31 * 86_400)
        let before = further.now()
        clocks.advance(wall: -301, boot: 0)
        #expect(Self.near(further.step(), -301))
        #expect(further.now() == before)
        // Small steps back are each taken (time holds until the wall clock catches up): they do not add up to a
        // clock out of step for good.
        let creeping = Self.clock(clocks, leadMax: 31 * 86_400)
        let first = creeping.now()
        for _ in 0..<3 {
            clocks.advance(wall: -120, boot: 0)
            #expect(creeping.step() == nil)
            #expect(creeping.now() == first)
        }
        #expect(Self.near(creeping.heldSeconds(), 360), "held 360 s ahead of the wall clock")
        // Forward again in steps within the limit: held until the wall clock passes the time given, then followed.
        clocks.advance(wall: 200, boot: 0)
        #expect(creeping.step() == nil && creeping.now() == first)
        clocks.advance(wall: 200, boot: 0)
        #expect(creeping.step() == nil && creeping.now() == clocks.wallNow)
    }

    @Test("a clock set back far is not followed: time goes on as it passed, and setting it right again is in step")
    func neverBack() {
        let clocks = Clocks()
        let clock = Self.clock(clocks, leadMax: 31 * 86_400)
        clocks.advance(wall: 60, boot: 60)
        let before = clock.now()
        // Set back 40 days (a hypervisor restoring an old time).
        clocks.advance(wall: -40 * 86_400, boot: 10)
        #expect(Self.near(clock.step(), -40 * 86_400 - 10))
        #expect(Self.near(clock.now(), before.addingTimeInterval(10)))
        clocks.advance(wall: 3_600, boot: 3_600)
        #expect(Self.near(clock.now(), before.addingTimeInterval(3_610)))
        // NTP sets it right: in step with the reference from before the step back (the old guard re-based there and
        // took the correction for a jump ahead, pausing billing until a restart).
        clocks.advance(wall: 40 * 86_400 + 10, boot: 0)
        #expect(clock.step() == nil)
        #expect(clock.now() == clocks.wallNow)
    }

    @Test("started behind its data: time holds at the data's latest record, and the clock's correction is in step")
    func startedBehindTheData() {
        let clocks = Clocks()
        // The data's latest record is a year ahead of this machine's clock (a dead RTC): an hour later NTP corrects
        // it to the true time, 20 days after the data's latest record (numberd was stopped that long) plus the hour.
        let floor = clocks.wallNow.addingTimeInterval(365 * 86_400)
        let clock = Self.clock(clocks, leadMax: 31 * 86_400, floor: floor)
        #expect(clock.now() == floor)
        #expect(Self.near(clock.heldSeconds(), 365 * 86_400), "held, shown by numberd_clock_held_seconds")
        // What the saga allows for when it compares the provider's dates with its own (`earliestCreation`).
        #expect(Self.near(clock.aheadOfWallClockSeconds, 365 * 86_400))
        clocks.advance(wall: 3_600, boot: 3_600)
        #expect(clock.step() == nil)
        #expect(clock.now() == floor, "not stamped a year before the data")
        #expect(Self.near(clock.heldSeconds(), 365 * 86_400 - 3_600))
        clocks.wall.withLock { $0 = floor.addingTimeInterval(20 * 86_400 + 3_600) }
        #expect(clock.step() == nil)
        #expect(clock.now() == clocks.wallNow)
        #expect(clock.heldSeconds() == 0 && clock.aheadOfWallClockSeconds == 0)
        // Settled: the next step is held to the running limit again.
        clocks.advance(wall: 86_400, boot: 0)
        #expect(Self.near(clock.step(), 86_400))
    }

    /// The start recorded no downtime (its clock read no time since the data's latest): the correction is what tells
    /// how long numberd was stopped — 20 days here, the hour it ran on held at the floor not among them. A clock that
    /// merely catches up reveals nothing (a time-review's finding: a corrected clock's gap counted as running time).
    @Test("a correction of a clock that started behind its data reveals the stop as downtime; catching up reveals none")
    func correctionRevealsTheStop() {
        let clocks = Clocks()
        let floor = clocks.wallNow.addingTimeInterval(365 * 86_400)
        let clock = Self.clock(clocks, leadMax: 31 * 86_400, floor: floor)
        let heard = Mutex<[DateInterval]>([])
        #expect(clock.now() == floor)
        clocks.advance(wall: 3_600, boot: 3_600)
        #expect(clock.now() == floor)
        clocks.wall.withLock { $0 = floor.addingTimeInterval(20 * 86_400 + 3_600) }
        #expect(clock.now() == clocks.wallNow)
        // Revealed before anyone asked: kept for the first to ask, once.
        clock.onCorrection { interval in heard.withLock { $0.append(interval) } }
        #expect(heard.withLock { $0 } == [DateInterval(start: floor, end: floor.addingTimeInterval(20 * 86_400))])
        clocks.advance(wall: 60, boot: 60)
        _ = clock.now()
        #expect(heard.withLock { $0.count } == 1)
        // A clock 100 s behind its data that simply catches up: nothing was hidden.
        let caughtUp = Clocks()
        let near = caughtUp.wallNow.addingTimeInterval(100)
        let second = Self.clock(caughtUp, leadMax: 31 * 86_400, floor: near)
        let none = Mutex<[DateInterval]>([])
        second.onCorrection { interval in none.withLock { $0.append(interval) } }
        caughtUp.advance(wall: 150, boot: 150)
        #expect(second.now() == caughtUp.wallNow)
        #expect(none.withLock { $0 }.isEmpty)
    }

    @Test("started behind its data by 100 s: a later correction by weeks is still taken (the wait did not end it)")
    func settlingSurvivesReadingsBehindTheFloor() {
        let clocks = Clocks()
        let floor = clocks.wallNow.addingTimeInterval(100)
        let clock = Self.clock(clocks, leadMax: 31 * 86_400, floor: floor)
        #expect(clock.now() == floor)
        clocks.advance(wall: 10, boot: 10)
        #expect(clock.step() == nil && clock.now() == floor)
        clocks.advance(wall: 20 * 86_400, boot: 0)
        #expect(clock.step() == nil)
        #expect(clock.now() == clocks.wallNow)
    }

    @Test(
        "a floor ahead of the true time (stamped under a clock that was ahead) holds time only until the clock gets there"
    )
    func floorAheadOfTheTruth() {
        let clocks = Clocks()
        let floor = clocks.wallNow.addingTimeInterval(8 * 3_600)
        let clock = Self.clock(clocks, leadMax: 31 * 86_400, floor: floor)
        clocks.advance(wall: 3 * 3_600, boot: 3 * 3_600)
        #expect(clock.now() == floor, "held, not run on from the floor")
        clocks.advance(wall: 6 * 3_600, boot: 6 * 3_600)
        #expect(clock.now() == clocks.wallNow, "the true time again")
        clocks.advance(wall: 86_400, boot: 0)
        #expect(Self.near(clock.step(), 86_400))
    }

    @Test("started behind its data, corrected further than clock-lead-max: not used (the start would refuse it too)")
    func startedBehindCorrectedTooFar() {
        let clocks = Clocks()
        let start = clocks.wallNow
        let floor = start.addingTimeInterval(86_400)
        let clock = Self.clock(clocks, leadMax: 31 * 86_400, floor: floor)
        clocks.wall.withLock { $0 = floor.addingTimeInterval(40 * 86_400) }
        #expect(Self.near(clock.step(), 41 * 86_400))
        #expect(clock.now() == floor)
    }

    @Test("clock-lead-max 0 allows any correction of a clock started behind its data; the running limits still hold")
    func leadMaxZero() {
        let clocks = Clocks()
        let floor = clocks.wallNow.addingTimeInterval(86_400)
        let clock = Self.clock(clocks, leadMax: 0, floor: floor)
        clocks.wall.withLock { $0 = floor.addingTimeInterval(10 * 365 * 86_400) }
        #expect(clock.step() == nil && clock.now() == clocks.wallNow)
        let taken = clocks.wallNow
        clocks.advance(wall: 365 * 86_400, boot: 1)
        #expect(Self.near(clock.step(), 365 * 86_400 - 1))
        #expect(Self.near(clock.now(), taken.addingTimeInterval(1)))
    }

    /// The clock gauges were set by the billing tick only: with `--billing-interval 86400` a step of the wall clock
    /// showed in `numberd_clock_jump_seconds` up to a day late, and so did the README's "clock stepped" and "time held"
    /// alerts. The clock's minute sets them now, through the helper the billing tick calls too.
    @Test("the clock gauges' helper, which the clock's minute calls, shows a step, its end and time held at once")
    func clockGauges() {
        let registry = PrometheusCollectorRegistry()
        let gauges = OperationalGauges(factory: PrometheusMetricsFactory(registry: registry))
        let gauge = { (name: String) -> Double? in
            OperationalMetricsTests.value(name, in: String(decoding: registry.emitToBuffer(), as: UTF8.self))
        }
        let clocks = Clocks()
        let clock = Self.clock(clocks, leadMax: 31 * 86_400)
        clocks.advance(wall: 400, boot: 0)
        #expect(Self.near(Numberd.recordClock(clock, gauges: gauges), 400))
        #expect(Self.near(gauge("numberd_clock_jump_seconds"), 400))
        #expect(gauge("numberd_clock_held_seconds") == 0)
        // Set right: in step again at the next minute. A step back within the limit then holds time, which shows.
        clocks.advance(wall: -400, boot: 0)
        #expect(Numberd.recordClock(clock, gauges: gauges) == nil)
        #expect(gauge("numberd_clock_jump_seconds") == 0)
        clocks.advance(wall: -200, boot: 0)
        #expect(Numberd.recordClock(clock, gauges: gauges) == nil)
        #expect(gauge("numberd_clock_jump_seconds") == 0)
        #expect(Self.near(gauge("numberd_clock_held_seconds"), 200))
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
        // Renewals, grace and key expiry run at the time that passed: nothing is due a minute later.
        let report = try await service.runBillingUntilCaughtUp(runsMax: 10)
        #expect(report.expiredKeys == 0)
        #expect(try await service.addFunds(accountId: account.id, amount: 10_000, idempotencyKey: "K").id == first.id)
    }

    @Test(
        "numberd_clock_held_seconds: a start behind its data's clock mark holds time there, and the gauge shows by how much"
    )
    func heldTimeGauge() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-held-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // A directory that served (a clock file beside no store is refused as a lost store), then the data's latest
        // time an hour ahead of this machine's clock (stamped under a clock that was ahead).
        try await withNumberd(dataDirectory: directory) { _ in }
        try "\(Int64(Date().timeIntervalSince1970) + 3_600)\n".write(
            toFile: directory + "/clock", atomically: true, encoding: .utf8)
        let registry = PrometheusCollectorRegistry()
        try await withNumberd(dataDirectory: directory, metrics: registry) { _ in
            let deadline = ContinuousClock.now + .seconds(60)
            var held: Double?
            // The gauge reads 0 until the start's billing run sets it.
            while (held ?? 0) == 0, ContinuousClock.now < deadline {
                let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
                held = text.split(separator: "\n").first { $0.hasPrefix("numberd_clock_held_seconds ") }
                    .flatMap { Double($0.split(separator: " ")[1]) }
                if (held ?? 0) == 0 { try await Task.sleep(for: .milliseconds(50)) }
            }
            let seconds = try #require(held, "no numberd_clock_held_seconds")
            #expect((3_000...3_600).contains(seconds), "\(seconds)")
        }
    }

    @Test("a stop ends billing and reconciliation, then writes the final snapshot, and marks the clock last")
    func stopOrder() async throws {
        try await withNumberd { running in
            let services = running.numberd.services
            // Graceful shutdown stops the services in reverse: the server first.
            #expect(services.last is NumberServer)
            let stopOrder = services.reversed().compactMap { ($0 as? PeriodicService)?.name }
            let position = { (name: String) in stopOrder.firstIndex(of: name) ?? -1 }
            #expect(position("reconcile") >= 0 && position("billing") >= 0, "\(stopOrder)")
            #expect(position("reconcile") < position("snapshot") && position("billing") < position("snapshot"))
            #expect(stopOrder.last == "clock", "\(stopOrder)")
        }
    }
}
