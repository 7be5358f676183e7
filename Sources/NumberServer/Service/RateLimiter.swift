import NIOCore
import NumberAPI
import Synchronization

/// Per-account token buckets: calls per second with a burst, and purchased numbers per hour (the purchase cap).
///
/// The table is bounded (`bucketsMax`). When a new subject finds it full, one sweep drops every bucket that has
/// refilled completely (it limits nothing: a missing bucket starts full), and if that frees less than a tenth of the
/// table, buckets up to a tenth: those whose purchase cap is full first, then the least recently refilled (their
/// subjects start over with full buckets; a subject that spent its hourly purchases is dropped last). Eviction
/// therefore costs O(n) at most once per n/10 new subjects, not on every call.
public final class RateLimiter: Sendable {
    /// Limits, each with a default.
    public struct Limits: Sendable, Hashable {
        /// Sustained calls per second per account (or admin key). Default 500.
        public var callsPerSecond: Double
        /// Calls allowed at once above the sustained rate. Default 1000.
        public var callsBurst: Double
        /// Numbers an account may buy per hour. Default 100.
        public var purchasedNumbersPerHour: Double
        /// Buckets kept (distinct accounts seen recently). Default 100 000.
        public var bucketsMax: Int

        /// Creates limits.
        public init(
            callsPerSecond: Double = 500, callsBurst: Double = 1000, purchasedNumbersPerHour: Double = 100,
            bucketsMax: Int = 100_000
        ) {
            self.callsPerSecond = callsPerSecond
            self.callsBurst = callsBurst
            self.purchasedNumbersPerHour = purchasedNumbersPerHour
            self.bucketsMax = bucketsMax
        }

        /// The defaults.
        public static let defaults = Limits()
    }

    private struct Bucket {
        var calls: Double
        var purchases: Double
        var refilled: NIODeadline

        /// Adds what `limits` refill from `refilled` until `now`, up to the burst and the cap.
        mutating func refill(at now: NIODeadline, limits: Limits) {
            let elapsed = Double((now - refilled).nanoseconds) / 1e9
            guard elapsed > 0 else { return }
            calls = min(limits.callsBurst, calls + elapsed * limits.callsPerSecond)
            purchases = min(
                limits.purchasedNumbersPerHour, purchases + elapsed * limits.purchasedNumbersPerHour / 3600)
            refilled = now
        }

        /// Whether both buckets would be full at `now`: then the bucket limits nothing and may be dropped.
        func isFull(at now: NIODeadline, limits: Limits) -> Bool {
            let elapsed = Double((now - refilled).nanoseconds) / 1e9
            return calls + elapsed * limits.callsPerSecond >= limits.callsBurst
                && purchasesFull(at: now, limits: limits)
        }

        /// Whether the purchase bucket would be full at `now`.
        func purchasesFull(at now: NIODeadline, limits: Limits) -> Bool {
            let elapsed = Double((now - refilled).nanoseconds) / 1e9
            return purchases + elapsed * limits.purchasedNumbersPerHour / 3600 >= limits.purchasedNumbersPerHour
        }
    }

    /// The limits in force and the buckets, under one lock: a change of limits (``update(_:)``) and a call never see
    /// each other half done.
    private struct Table {
        var limits: Limits
        var buckets: [String: Bucket] = [:]
    }

    private let table: Mutex<Table>

    /// Creates a limiter.
    public init(limits: Limits) {
        table = Mutex(Table(limits: limits))
    }

    /// The limits in force.
    public var limits: Limits { table.withLock { $0.limits } }

    /// Applies new call rate, burst and purchase cap (SIGHUP re-reading `rate-limit` and `purchase-cap`); `bucketsMax`
    /// stays, as it sizes the table. What each subject has spent stays spent: its buckets are refilled to `now` under
    /// the old limits, then moved by the change of the burst and of the cap — raised, an account gets the difference at
    /// once, as a new subject starts with the whole new cap; lowered, an account that has spent more than the new cap
    /// allows starts from an empty bucket (never below), which refills at the new rate.
    public func update(_ new: Limits, now: NIODeadline = .now()) {
        table.withLock { table in
            let old = table.limits
            var limits = new
            limits.bucketsMax = old.bucketsMax
            table.limits = limits
            // In place, through the values' indices: assigning by key while iterating the dictionary held a second
            // reference to it, so the first write copied the whole table (up to `bucketsMax`) under the lock every
            // call takes. A native dictionary's index holds no reference to it, and writing a value moves no index.
            var index = table.buckets.startIndex
            while index != table.buckets.endIndex {
                Self.move(&table.buckets.values[index], from: old, to: limits, at: now)
                table.buckets.formIndex(after: &index)
            }
        }
    }

    /// Refills `bucket` to `now` under `old`, then moves it by the change of the burst and of the cap, clamped to
    /// empty and full (``update(_:now:)``).
    private static func move(_ bucket: inout Bucket, from old: Limits, to limits: Limits, at now: NIODeadline) {
        bucket.refill(at: now, limits: old)
        bucket.calls = min(limits.callsBurst, max(0, bucket.calls + limits.callsBurst - old.callsBurst))
        bucket.purchases = min(
            limits.purchasedNumbersPerHour,
            max(0, bucket.purchases + limits.purchasedNumbersPerHour - old.purchasedNumbersPerHour))
    }

    /// Takes `calls` calls (one unless told otherwise) and `numbers` purchased numbers from `subject`'s buckets, or
    /// throws RESOURCE_EXHAUSTED saying which limit and when to retry. Nothing is taken when it throws.
    public func admit(
        _ subject: String, calls: Int = 1, purchasing numbers: Int = 0, now: NIODeadline = .now()
    ) throws(RPCError) {
        let refusal: RPCError? = self.table.withLock { held in
            let limits = held.limits
            var bucket =
                held.buckets[subject]
                ?? Bucket(calls: limits.callsBurst, purchases: limits.purchasedNumbersPerHour, refilled: now)
            bucket.refill(at: now, limits: limits)
            if calls > 0, bucket.calls < Double(calls) {
                // Only a subject already held is written back: a new one refused took nothing (and must not grow
                // the table past its bound).
                if held.buckets[subject] != nil { held.buckets[subject] = bucket }
                let wait = (Double(calls) - bucket.calls) / limits.callsPerSecond
                return RPCError(
                    code: .resourceExhausted,
                    message: "rate limit of \(Self.text(limits.callsPerSecond)) calls per second reached",
                    reason: "RATE_LIMITED", details: ["retryAfterMs": "\(Self.retryAfterMilliseconds(wait))"])
            }
            // More numbers than the cap holds at all: no wait would ever let them through (a cap lowered below a
            // client's batch), so not a wait to retry after — nothing taken.
            if Double(numbers) > limits.purchasedNumbersPerHour {
                if held.buckets[subject] != nil { held.buckets[subject] = bucket }
                let cap = Int(limits.purchasedNumbersPerHour.rounded(.down))
                return RPCError(
                    code: .invalidArgument,
                    message:
                        "\(numbers) numbers is more than the purchase cap of \(cap) numbers per hour: buy fewer at once",
                    reason: "LIMIT_EXCEEDED", details: ["max": String(cap)])
            }
            if numbers > 0, bucket.purchases < Double(numbers) {
                if held.buckets[subject] != nil { held.buckets[subject] = bucket }
                let wait = (Double(numbers) - bucket.purchases) * 3600 / limits.purchasedNumbersPerHour
                return RPCError(
                    code: .resourceExhausted,
                    message: "purchase cap of \(Self.text(limits.purchasedNumbersPerHour)) numbers per hour reached",
                    reason: "PURCHASE_CAP", details: ["retryAfterMs": "\(Self.retryAfterMilliseconds(wait))"])
            }
            bucket.calls -= Double(calls)
            bucket.purchases -= Double(numbers)
            if held.buckets[subject] == nil, held.buckets.count >= limits.bucketsMax {
                Self.evict(from: &held.buckets, now: now, limits: limits)
            }
            held.buckets[subject] = bucket
            return nil
        }
        if let refusal { throw refusal }
    }

    /// The longest retry time said: one year. A longer wait (limits far below any numberd accepts) is said as this.
    public static let retryAfterMillisecondsMax = 365 * 86_400_000

    /// `seconds` as whole milliseconds, rounded up, within 0...``retryAfterMillisecondsMax``: never a trap, whatever the
    /// limits (a wait past `Int.max` ms, infinite or NaN — a limit of 1e-18, or infinite — used to trap the process).
    static func retryAfterMilliseconds(_ seconds: Double) -> Int {
        let milliseconds = (seconds * 1000).rounded(.up)
        guard !milliseconds.isNaN else { return retryAfterMillisecondsMax }
        return Int(min(max(milliseconds, 0), Double(retryAfterMillisecondsMax)))
    }

    /// A limit as said to the client: `50`, `0.5`; never a trap (`Int(_:)` of an infinite or huge value would).
    static func text(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }

    /// Makes room in a full table (see the type's comment).
    private static func evict(from table: inout [String: Bucket], now: NIODeadline, limits: Limits) {
        let before = table.count
        table = table.filter { !$0.value.isFull(at: now, limits: limits) }
        let wanted = max(1, limits.bucketsMax / 10) - (before - table.count)
        guard wanted > 0 else { return }
        // Buckets whose purchase cap is full go first (dropping one forgets only a call rate, which refills in
        // seconds), then by idleness; a subject that spent its hourly purchases is dropped last.
        let ranked = table.map {
            (subject: $0.key, capFull: $0.value.purchasesFull(at: now, limits: limits), refilled: $0.value.refilled)
        }
        let idlest = ranked.sorted { $0.capFull != $1.capFull ? $0.capFull : $0.refilled < $1.refilled }
            .prefix(wanted)
        for entry in idlest { table[entry.subject] = nil }
    }

    /// Buckets held (for tests and metrics).
    public var bucketCount: Int { table.withLock { $0.buckets.count } }

    /// Gives purchased numbers back to the cap (the purchase failed and charged nothing).
    public func refund(_ subject: String, numbers: Int) {
        table.withLock { table in
            guard var bucket = table.buckets[subject] else { return }
            bucket.purchases = min(table.limits.purchasedNumbersPerHour, bucket.purchases + Double(numbers))
            table.buckets[subject] = bucket
        }
    }
}
