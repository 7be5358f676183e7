import Foundation
import NumberCore
import TestSupport
import Testing

/// A grace period counts only numberd's uptime. Before, it ran through downtime: a number marked past due on Feb 15
/// with a 7-day grace period, numberd down Feb 17 to Feb 25 (the customer could not add funds), was released by the
/// first billing run back after two usable days instead of seven.
@Suite("Downtimes: a grace period counts only the time numberd runs")
struct DowntimesTests {
    static let week: Int64 = 7 * 86_400

    static func down(_ from: String, _ to: String) -> DateInterval {
        DateInterval(start: .utc(from), end: .utc(to))
    }

    @Test("without downtimes a grace period is over `grace` after the mark")
    func none() {
        let now = Date.utc("2025-03-01T12:00:00Z")
        #expect(Downtimes().graceOver(at: now, grace: Self.week) == .utc("2025-02-22T12:00:00Z"))
        #expect(Downtimes().graceOver(at: now, grace: 0) == now)
    }

    /// The billing run adds the times writes found no room to numberd's downtimes: in order, overlapping or close ones
    /// as one, the shortest dropped past the bound.
    @Test("including other intervals: in time order, overlaps and near ones merged, at most keptMax")
    func including() throws {
        let down = try #require(Downtimes([Self.down("2025-02-10T00:00:00Z", "2025-02-11T00:00:00Z")]))
        let merged = down.including([
            Self.down("2025-02-12T00:00:00Z", "2025-02-12T06:00:00Z"),
            Self.down("2025-02-10T12:00:00Z", "2025-02-11T00:00:30Z"),  // overlaps the first
            Self.down("2025-02-11T00:01:00Z", "2025-02-11T01:00:00Z"),  // 30 s after it: one with it
            Self.down("2025-02-01T00:00:00Z", "2025-02-01T00:10:00Z"),
        ])
        #expect(
            merged.intervals == [
                Self.down("2025-02-01T00:00:00Z", "2025-02-01T00:10:00Z"),
                Self.down("2025-02-10T00:00:00Z", "2025-02-11T01:00:00Z"),
                Self.down("2025-02-12T00:00:00Z", "2025-02-12T06:00:00Z"),
            ])
        #expect(down.including([]) == down)
        let many = (0..<(Downtimes.keptMax + 5)).map { index in
            DateInterval(
                start: Date.utc("2025-01-01T00:00:00Z").addingTimeInterval(Double(index) * 3_600),
                duration: 60 + Double(index))
        }
        let kept = Downtimes().including(many)
        #expect(
            kept.intervals.count == Downtimes.keptMax && kept.intervals.first == many[5], "the shortest five dropped")
    }

    @Test("a downtime inside a grace period pushes its end by the downtime; one before or after it does not")
    func pushedByTheDowntime() throws {
        let outage = try #require(Downtimes([Self.down("2025-02-17T00:00:00Z", "2025-02-25T00:00:00Z")]))
        // Marked Feb 15 00:00:30: two days up before the outage, the other five after it.
        #expect(outage.graceOver(at: .utc("2025-03-02T00:00:30Z"), grace: Self.week) == .utc("2025-02-15T00:00:30Z"))
        #expect(outage.graceOver(at: .utc("2025-03-02T00:00:29Z"), grace: Self.week) < .utc("2025-02-15T00:00:30Z"))
        // Marked after the outage: a week from the mark.
        #expect(outage.graceOver(at: .utc("2025-03-04T00:00:00Z"), grace: Self.week) == .utc("2025-02-25T00:00:00Z"))
        // Over before the outage: the outage is not reached.
        #expect(outage.graceOver(at: .utc("2025-02-16T00:00:00Z"), grace: Self.week) == .utc("2025-02-09T00:00:00Z"))
        // Now within the outage (a test clock; numberd is never up then): nothing of it counts.
        #expect(outage.graceOver(at: .utc("2025-02-20T00:00:00Z"), grace: 86_400) == .utc("2025-02-16T00:00:00Z"))
    }

    @Test("an outage then a restart a day later: both downtimes count, the second start does not forget the first")
    func everyDowntimeCounts() {
        let grace = Self.week
        let first = Downtimes().recording(
            from: .utc("2025-02-17T00:00:00Z"), to: .utc("2025-02-25T00:00:00Z"), grace: grace)
        let second = first.recording(from: .utc("2025-02-26T00:00:00Z"), to: .utc("2025-02-26T00:01:00Z"), grace: grace)
        #expect(
            second.intervals == [
                Self.down("2025-02-17T00:00:00Z", "2025-02-25T00:00:00Z"),
                Self.down("2025-02-26T00:00:00Z", "2025-02-26T00:01:00Z"),
            ])
        #expect(second.graceOver(at: .utc("2025-03-02T00:01:30Z"), grace: grace) == .utc("2025-02-15T00:00:30Z"))
    }

    @Test("recording: an overlapping downtime is merged; a clock behind the data adds none; old ones are dropped")
    func recording() {
        let grace: Int64 = 86_400
        // A start that recorded its downtime and failed before its clock mark moved on: the next start's downtime
        // starts at the same latest time, and covers the first.
        let failed = Downtimes().recording(
            from: .utc("2025-02-01T00:00:00Z"), to: .utc("2025-02-01T01:00:00Z"), grace: grace)
        let next = failed.recording(from: .utc("2025-02-01T00:00:00Z"), to: .utc("2025-02-01T01:05:00Z"), grace: grace)
        #expect(next.intervals == [Self.down("2025-02-01T00:00:00Z", "2025-02-01T01:05:00Z")])
        // A clock behind the data's latest time: no downtime.
        #expect(
            next.recording(from: .utc("2025-02-01T02:00:00Z"), to: .utc("2025-02-01T01:59:00Z"), grace: grace) == next)
        // Ten days later no grace period of a day reaches back to it.
        let later = next.recording(from: .utc("2025-02-11T00:00:00Z"), to: .utc("2025-02-11T00:10:00Z"), grace: grace)
        #expect(later.intervals == [Self.down("2025-02-11T00:00:00Z", "2025-02-11T00:10:00Z")])
        // Kept while a grace period can still reach it.
        let soon = next.recording(from: .utc("2025-02-01T12:00:00Z"), to: .utc("2025-02-01T12:10:00Z"), grace: grace)
        #expect(soon.intervals.count == 2)
    }

    /// A crash loop: numberd up a minute, down a minute, for hours. Every downtime would push a grace end, and the
    /// grace period of a number marked before the loop would end only after a day of the loop's uptime. At most the
    /// last `keptMax` downtimes count: a grace end moves by at most their sum, and releases go on during the loop.
    @Test("a crash loop pushes a grace end by at most its last 100 downtimes")
    func crashLoopIsBounded() {
        let grace: Int64 = 86_400
        var downtimes = Downtimes()
        var time = Date.utc("2025-02-01T00:00:00Z")
        for _ in 0..<1_000 {
            let start = time.addingTimeInterval(60)
            downtimes = downtimes.recording(from: time, to: start, grace: grace)
            time = start.addingTimeInterval(60)
        }
        #expect(downtimes.intervals.count == Downtimes.keptMax)
        let over = downtimes.graceOver(at: time, grace: grace)
        #expect(over >= time.addingTimeInterval(-TimeInterval(grace) - 100 * 60))
        #expect(over == time.addingTimeInterval(-TimeInterval(grace) - 100 * 60))
    }

    /// An outage, then a crash loop before numberd stays up (a held port, a wrong setting, systemd restarting it):
    /// each attempt recorded a downtime of its own, and after 100 of them the outage itself was dropped, so the first
    /// billing run that stayed up released every number whose grace period was running during the outage.
    @Test("an outage stays recorded through a crash loop after it: attempts within a minute merge, the shortest go")
    func outageOutlivesACrashLoop() throws {
        let grace = Self.week
        let outage = Self.down("2025-02-17T00:00:00Z", "2025-02-25T00:00:00Z")
        var downtimes = Downtimes().recording(from: outage.start, to: outage.end, grace: grace)
        var time = outage.end
        // 150 refused starts 5 s apart: one downtime with the outage.
        for _ in 0..<150 {
            let next = time.addingTimeInterval(5)
            downtimes = downtimes.recording(from: time, to: next, grace: grace)
            time = next
        }
        #expect(downtimes.intervals == [DateInterval(start: outage.start, end: time)])
        // Then 150 crashes after two minutes up, each down 10 s: separate downtimes, the shortest dropped past 100.
        for _ in 0..<150 {
            let crash = time.addingTimeInterval(120)
            downtimes = downtimes.recording(from: crash, to: crash.addingTimeInterval(10), grace: grace)
            time = crash.addingTimeInterval(10)
        }
        #expect(downtimes.intervals.count == Downtimes.keptMax)
        #expect(downtimes.intervals.first?.start == outage.start)
        // A number marked past due Feb 15 00:00:30 (two days up before the outage) still has five days after it.
        #expect(downtimes.graceOver(at: time, grace: grace) < .utc("2025-02-15T00:00:30Z"))
    }

    @Test("downtimes out of order, overlapping or too many are refused")
    func validation() {
        let a = Self.down("2025-02-01T00:00:00Z", "2025-02-02T00:00:00Z")
        let b = Self.down("2025-02-02T00:00:00Z", "2025-02-03T00:00:00Z")
        #expect(Downtimes([a, b]) != nil)
        #expect(Downtimes([b, a]) == nil)
        #expect(Downtimes([a, Self.down("2025-02-01T12:00:00Z", "2025-02-04T00:00:00Z")]) == nil)
        let many = (0...Downtimes.keptMax).map {
            DateInterval(start: Date(timeIntervalSince1970: Double($0) * 100), duration: 10)
        }
        #expect(Downtimes(Array(many.prefix(Downtimes.keptMax))) != nil)
        #expect(Downtimes(many) == nil)
    }

    /// What a past-due number's customer is told (``NumberListing/graceEndsAt``) is when billing will find its grace
    /// period over: the earliest time at which ``Downtimes/graceOver(at:grace:)`` reaches the mark — over random
    /// downtimes (marks inside them too), grace periods of 0 to 10 days and marks around them.
    @Test("graceEnds is the first moment graceOver reaches the mark, whatever the downtimes")
    func graceEndsMatchesGraceOver() throws {
        var random = SplitMix64(seed: 0x6A_CE_E2D5)
        let origin = Date.utc("2025-01-01T00:00:00Z")
        for _ in 0..<5_000 {
            var intervals: [DateInterval] = []
            var time = origin.addingTimeInterval(Double(random.next() % 86_400))
            for _ in 0..<Int(random.next() % 6) {
                let start = time.addingTimeInterval(Double(random.next() % (5 * 86_400)))
                let end = start.addingTimeInterval(Double(1 + random.next() % (3 * 86_400)))
                intervals.append(DateInterval(start: start, end: end))
                time = end
            }
            let downtimes = try #require(Downtimes(intervals))
            let mark = origin.addingTimeInterval(Double(random.next() % (20 * 86_400)))
            var grace = Int64(random.next() % (10 * 86_400))
            // One case in four ends exactly at a downtime's start: the time up to it is the whole grace period.
            if random.next() % 4 == 0, let next = intervals.first(where: { $0.start > mark }) {
                grace = Int64(next.start.timeIntervalSince(mark))
            }
            let ends = downtimes.graceEnds(markedAt: mark, grace: grace)
            #expect(ends >= mark.addingTimeInterval(TimeInterval(grace)))
            #expect(downtimes.graceOver(at: ends, grace: grace) >= mark, "\(intervals) \(grace) \(mark): \(ends)")
            // A second earlier it was not over (a grace of 0 is over at the mark itself).
            #expect(
                grace == 0 || downtimes.graceOver(at: ends.addingTimeInterval(-1), grace: grace) < mark,
                "\(intervals) \(grace) \(mark): \(ends)")
        }
    }
}
