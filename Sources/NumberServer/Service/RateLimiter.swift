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

    private let limits: Limits
    private let buckets = Mutex<[String: Bucket]>([:])

    /// Creates a limiter.
    public init(limits: Limits) {
        self.limits = limits
    }

    /// Takes `calls` calls (one unless told otherwise) and `numbers` purchased numbers from `subject`'s buckets, or
    /// throws RESOURCE_EXHAUSTED saying which limit and when to retry. Nothing is taken when it throws.
    public func admit(
        _ subject: String, calls: Int = 1, purchasing numbers: Int = 0, now: NIODeadline = .now()
    ) throws(RPCError) {
        let limits = self.limits
        let refusal: RPCError? = buckets.withLock { table in
            var bucket =
                table[subject]
                ?? Bucket(calls: limits.callsBurst, purchases: limits.purchasedNumbersPerHour, refilled: now)
            let elapsed = Double((now - bucket.refilled).nanoseconds) / 1e9
            if elapsed > 0 {
                bucket.calls = min(limits.callsBurst, bucket.calls + elapsed * limits.callsPerSecond)
                bucket.purchases = min(
                    limits.purchasedNumbersPerHour, bucket.purchases + elapsed * limits.purchasedNumbersPerHour / 3600)
                bucket.refilled = now
            }
            if calls > 0, bucket.calls < Double(calls) {
                // Only a subject already held is written back: a new one refused took nothing (and must not grow
                // the table past its bound).
                if table[subject] != nil { table[subject] = bucket }
                let wait = (Double(calls) - bucket.calls) / limits.callsPerSecond
                return RPCError(
                    code: .resourceExhausted,
                    message: "rate limit of \(Int(limits.callsPerSecond)) calls per second reached",
                    reason: "RATE_LIMITED", details: ["retryAfterMs": "\(Int((wait * 1000).rounded(.up)))"])
            }
            if numbers > 0, bucket.purchases < Double(numbers) {
                if table[subject] != nil { table[subject] = bucket }
                let wait = (Double(numbers) - bucket.purchases) * 3600 / limits.purchasedNumbersPerHour
                return RPCError(
                    code: .resourceExhausted,
                    message: "purchase cap of \(Int(limits.purchasedNumbersPerHour)) numbers per hour reached",
                    reason: "PURCHASE_CAP", details: ["retryAfterMs": "\(Int((wait * 1000).rounded(.up)))"])
            }
            bucket.calls -= Double(calls)
            bucket.purchases -= Double(numbers)
            if table[subject] == nil, table.count >= limits.bucketsMax {
                Self.evict(from: &table, now: now, limits: limits)
            }
            table[subject] = bucket
            return nil
        }
        if let refusal { throw refusal }
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
    public var bucketCount: Int { buckets.withLock { $0.count } }

    /// Gives purchased numbers back to the cap (the purchase failed and charged nothing).
    public func refund(_ subject: String, numbers: Int) {
        let cap = limits.purchasedNumbersPerHour
        buckets.withLock { table in
            guard var bucket = table[subject] else { return }
            bucket.purchases = min(cap, bucket.purchases + Double(numbers))
            table[subject] = bucket
        }
    }
}
