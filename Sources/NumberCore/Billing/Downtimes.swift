import Foundation

/// When numberd was not running, as its starts recorded it (numberd keeps them in its data directory's `downtimes`
/// file): a past-due number's grace period counts only the time outside them, so a customer who could not pay while
/// numberd was down still gets the whole period while it is up to take the payment (README "Money rules").
///
/// Each start adds the time from the latest the data directory knew numberd running (its latest record, or the `clock`
/// mark kept every minute) to the start. Downtimes less than ``mergeGapSeconds`` apart are one; at most ``keptMax`` are
/// kept (past it the shortest goes, so an outage is never forgotten for a crash loop after it, and a grace end moves
/// by at most the longest ``keptMax``), and those no grace period can reach any more are dropped.
public struct Downtimes: Sendable, Hashable {
    /// How many downtimes are kept at most.
    public static let keptMax = 100

    /// A run shorter than this between two downtimes (a start refused or crashed before numberd's first minute — a
    /// held port, a wrong setting, systemd restarting it every few seconds) gave no customer time to pay: the two are
    /// recorded as one downtime. Without it a crash loop after an outage added one entry per attempt, and ``keptMax``
    /// of them pushed the outage itself out of the record, so its grace periods ended as if numberd had been up.
    public static let mergeGapSeconds: TimeInterval = 60

    /// In time order; each ends no later than the next starts.
    public let intervals: [DateInterval]

    /// None.
    public init() { intervals = [] }

    /// `intervals`, if they are in time order without overlapping and at most ``keptMax``; nil otherwise.
    public init?(_ intervals: [DateInterval]) {
        guard intervals.count <= Self.keptMax,
            zip(intervals, intervals.dropFirst()).allSatisfy({ $0.end <= $1.start })
        else { return nil }
        self.intervals = intervals
    }

    /// The latest time a number may have been marked past due for its grace period of `grace` seconds to be over at
    /// `now`: the time from which `grace` seconds outside every downtime have passed by `now`. Without downtimes,
    /// `now - grace`.
    public func graceOver(at now: Date, grace: Int64) -> Date {
        var remaining = TimeInterval(grace)
        var time = now
        for interval in intervals.reversed() {
            // One recorded after `time` (a clock set back) skips nothing.
            guard interval.start < time else { continue }
            let up = max(0, time.timeIntervalSince(interval.end))
            if up >= remaining { break }
            remaining -= up
            time = interval.start
        }
        return time.addingTimeInterval(-remaining)
    }

    /// When the grace period of `grace` seconds of a number marked past due at `mark` ends, counting only the time
    /// outside these downtimes: the earliest `now` at which ``graceOver(at:grace:)`` is at or after `mark`. A downtime
    /// recorded later (numberd stopped before then) moves it on. Without downtimes, `mark + grace`.
    public func graceEnds(markedAt mark: Date, grace: Int64) -> Date {
        var remaining = TimeInterval(grace)
        var time = mark
        for interval in intervals where interval.end > time {
            let up = max(0, interval.start.timeIntervalSince(time))
            if up >= remaining { break }
            remaining -= up
            time = interval.end
        }
        return time.addingTimeInterval(remaining)
    }

    /// These with numberd's downtime from `stop` to `start` added (merged with any it overlaps or follows within
    /// ``mergeGapSeconds``: a start that recorded its downtime and failed before its clock mark moved on), the shortest
    /// dropped while more than ``keptMax``, less those that no grace period of `grace` seconds can reach from `start`
    /// on. A `start` not after `stop` (a clock behind the data) adds nothing.
    public func recording(from stop: Date, to start: Date, grace: Int64) -> Downtimes {
        var kept = intervals
        if stop < start {
            var added = DateInterval(start: stop, end: start)
            while let last = kept.last, last.end.addingTimeInterval(Self.mergeGapSeconds) > added.start {
                added = DateInterval(start: min(last.start, added.start), end: max(last.end, added.end))
                kept.removeLast()
            }
            kept.append(added)
        }
        // Past the bound the shortest downtime goes (the oldest of equals), not the oldest: an outage stays recorded
        // however many short restarts follow it, and a grace end moves by at most the longest ``keptMax``.
        while kept.count > Self.keptMax, let shortest = kept.indices.min(by: { kept[$0].duration < kept[$1].duration })
        {
            kept.remove(at: shortest)
        }
        // A grace period over at `start` is over at every later time: the downtimes it ended before never count again.
        let over = Downtimes(unchecked: kept).graceOver(at: start, grace: grace)
        kept.removeAll { $0.end <= over }
        return Downtimes(unchecked: kept)
    }

    /// These and `others` as one record: in time order, overlapping ones (or ones closer than ``mergeGapSeconds``)
    /// merged, the shortest dropped past ``keptMax``.
    public func including(_ others: [DateInterval]) -> Downtimes {
        guard !others.isEmpty else { return self }
        var merged: [DateInterval] = []
        for interval in (intervals + others).sorted(by: { $0.start < $1.start }) {
            if let last = merged.last, last.end.addingTimeInterval(Self.mergeGapSeconds) > interval.start {
                merged[merged.count - 1] = DateInterval(start: last.start, end: max(last.end, interval.end))
            } else {
                merged.append(interval)
            }
        }
        while merged.count > Self.keptMax,
            let shortest = merged.indices.min(by: { merged[$0].duration < merged[$1].duration })
        {
            merged.remove(at: shortest)
        }
        return Downtimes(unchecked: merged)
    }

    private init(unchecked intervals: [DateInterval]) { self.intervals = intervals }
}

extension NumberServiceConfig {
    /// The time up to which idempotency records are expired at `now`: `idempotency.ttlSeconds` of numberd's running
    /// time before it, the downtimes its starts recorded (`billing.downtimes`) and those found since (`revealed`: a
    /// clock corrected while running, ``NumberService/noteDowntime(_:)``) left out as a grace period leaves them, so a
    /// client that retries once numberd is back from a long outage still gets its first result.
    func idempotencyKeysExpired(by now: Date, revealed: [DateInterval] = []) -> Date {
        billing.downtimes.including(revealed).graceOver(at: now, grace: idempotency.ttlSeconds)
    }
}
