import NIOCore
import NumberAPI
import NumberServer
import Testing

@Suite("RateLimiter: call rate, purchase cap and the bounded table")
struct RateLimiterTests {
    private let start = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    /// The RPCError `body` throws, nil if it returns.
    private func refusal(_ body: () throws -> Void) -> RPCError? {
        do {
            try body()
            return nil
        } catch {
            return error as? RPCError
        }
    }

    @Test("the burst is admitted to its last call, then RATE_LIMITED with when to retry; the rate refills it")
    func callBurst() {
        let limiter = RateLimiter(limits: .init(callsPerSecond: 10, callsBurst: 5))
        for _ in 0..<5 { #expect(refusal { try limiter.admit("ACC_1", now: start) } == nil) }
        let refused = refusal { try limiter.admit("ACC_1", now: start) }
        #expect(refused?.code == .resourceExhausted && refused?.reason == "RATE_LIMITED")
        #expect(refused?.details["retryAfterMs"] == "100")
        // Another account has its own bucket.
        #expect(refusal { try limiter.admit("ACC_2", now: start) } == nil)
        // 100 ms later one call has refilled, and only one.
        let later = start + .milliseconds(100)
        #expect(refusal { try limiter.admit("ACC_1", now: later) } == nil)
        #expect(refusal { try limiter.admit("ACC_1", now: later) }?.reason == "RATE_LIMITED")
    }

    @Test("the purchase cap at its edge; a refused call takes nothing and a refund gives numbers back")
    func purchaseCap() {
        let limiter = RateLimiter(limits: .init(callsPerSecond: 1000, callsBurst: 1000, purchasedNumbersPerHour: 3))
        #expect(refusal { try limiter.admit("ACC_1", purchasing: 2, now: start) } == nil)
        let refused = refusal { try limiter.admit("ACC_1", purchasing: 2, now: start) }
        #expect(refused?.reason == "PURCHASE_CAP" && refused?.code == .resourceExhausted)
        #expect(refused?.details["retryAfterMs"] == "1200000", "one number refills in 1200 s")
        #expect(refusal { try limiter.admit("ACC_1", purchasing: 1, now: start) } == nil, "the refusal took nothing")
        #expect(refusal { try limiter.admit("ACC_1", purchasing: 1, now: start) }?.reason == "PURCHASE_CAP")
        limiter.refund("ACC_1", numbers: 2)
        #expect(refusal { try limiter.admit("ACC_1", purchasing: 2, now: start) } == nil)
    }

    /// A purchase of more numbers than the cap holds was told to retry after a wait, and refused again after it, for
    /// ever (a cap lowered below a client's usual batch): it is refused as too large, taking nothing.
    @Test("more numbers than the cap holds is LIMIT_EXCEEDED with the cap, not a wait; nothing taken")
    func moreThanTheCap() {
        let limiter = RateLimiter(limits: .init(callsPerSecond: 1000, callsBurst: 1000, purchasedNumbersPerHour: 5))
        let refused = refusal { try limiter.admit("ACC_1", purchasing: 6, now: start) }
        #expect(
            refused?.code == .invalidArgument && refused?.reason == "LIMIT_EXCEEDED", "\(String(describing: refused))")
        #expect(refused?.details == ["max": "5"], "no retryAfterMs")
        #expect(
            refusal { try limiter.admit("ACC_1", purchasing: 5, now: start) } == nil, "the whole cap is still there")
    }

    /// A purchase's numbers are charged apart from its call (after the request's checks): `calls: 0` takes only
    /// numbers and is refused only by the cap, even with the call bucket empty.
    @Test("numbers can be charged without a call")
    func purchasesWithoutACall() {
        let limiter = RateLimiter(limits: .init(callsPerSecond: 1, callsBurst: 1, purchasedNumbersPerHour: 3))
        #expect(refusal { try limiter.admit("ACC_1", now: start) } == nil)
        #expect(refusal { try limiter.admit("ACC_1", now: start) }?.reason == "RATE_LIMITED")
        #expect(refusal { try limiter.admit("ACC_1", calls: 0, purchasing: 3, now: start) } == nil)
        #expect(refusal { try limiter.admit("ACC_1", calls: 0, purchasing: 1, now: start) }?.reason == "PURCHASE_CAP")
    }

    @Test("a full table drops refilled buckets first, keeps a limited subject limited, and never grows")
    func boundedTable() {
        let limiter = RateLimiter(limits: .init(callsPerSecond: 1, callsBurst: 2, bucketsMax: 100))
        // One subject spends its burst; 99 others make one call each a minute earlier (refilled since).
        for index in 0..<99 { try? limiter.admit("ACC_idle_\(index)", now: start) }
        let now = start + .seconds(60)
        for _ in 0..<2 { try? limiter.admit("ACC_busy", now: now) }
        #expect(limiter.bucketCount == 100)
        // A new subject: the 99 refilled buckets go, the busy one stays limited.
        #expect(refusal { try limiter.admit("ACC_new", now: now) } == nil)
        #expect(limiter.bucketCount == 2)
        #expect(refusal { try limiter.admit("ACC_busy", now: now) }?.reason == "RATE_LIMITED")
    }

    @Test("with every bucket still limiting, a full table drops the idlest tenth and stays at its bound")
    func boundedTableAllBusy() {
        let limiter = RateLimiter(limits: .init(callsPerSecond: 1, callsBurst: 1, bucketsMax: 100))
        for index in 0..<100 { try? limiter.admit("ACC_\(index)", now: start + .milliseconds(Int64(index))) }
        #expect(limiter.bucketCount == 100)
        let now = start + .milliseconds(200)
        for index in 100..<1_000 { try? limiter.admit("ACC_\(index)", now: now) }
        #expect(limiter.bucketCount <= 100)
        // The most recent subject is still limited; the idlest first ones were dropped and start over.
        #expect(refusal { try limiter.admit("ACC_999", now: now) }?.reason == "RATE_LIMITED")
        #expect(refusal { try limiter.admit("ACC_0", now: now) } == nil)
    }

    /// SIGHUP re-reads `rate-limit` and `purchase-cap` (`SettingsReload`): what an account spent stays spent. Without
    /// moving the buckets, a raised cap reached an account that had bought nothing only an hour later (its bucket
    /// full at the old cap) while a new account had it at once; a lowered one let an account that had bought nothing
    /// buy the old cap's worth.
    @Test(
        "new limits: spent stays spent — a raised cap gives the difference at once, a lowered one never goes below empty"
    )
    func limitsChange() {
        let limiter = RateLimiter(
            limits: .init(callsPerSecond: 1000, callsBurst: 1000, purchasedNumbersPerHour: 10, bucketsMax: 50))
        #expect(refusal { try limiter.admit("ACC_1", purchasing: 4, now: start) } == nil)
        #expect(refusal { try limiter.admit("ACC_2", purchasing: 10, now: start) } == nil)
        limiter.update(.init(callsPerSecond: 1000, callsBurst: 1000, purchasedNumbersPerHour: 20), now: start)
        #expect(limiter.limits.purchasedNumbersPerHour == 20)
        #expect(limiter.limits.bucketsMax == 50, "the table's bound stays")
        // Raised by 10: ACC_1 (4 spent) has 16 now, ACC_2 (10 spent) 10, a new account the whole 20.
        #expect(refusal { try limiter.admit("ACC_1", purchasing: 16, now: start) } == nil)
        #expect(refusal { try limiter.admit("ACC_1", purchasing: 1, now: start) }?.reason == "PURCHASE_CAP")
        #expect(refusal { try limiter.admit("ACC_2", purchasing: 10, now: start) } == nil)
        #expect(refusal { try limiter.admit("ACC_2", purchasing: 1, now: start) }?.reason == "PURCHASE_CAP")
        #expect(refusal { try limiter.admit("ACC_3", purchasing: 20, now: start) } == nil)
        // Lowered to 5: ACC_4 (2 of 20 spent) keeps 3; ACC_1 (20 spent) is empty, not 15 below, and earns one number
        // back per 12 minutes at the new cap.
        #expect(refusal { try limiter.admit("ACC_4", purchasing: 2, now: start) } == nil)
        limiter.update(.init(callsPerSecond: 1000, callsBurst: 1000, purchasedNumbersPerHour: 5), now: start)
        #expect(refusal { try limiter.admit("ACC_4", purchasing: 3, now: start) } == nil)
        #expect(refusal { try limiter.admit("ACC_4", purchasing: 1, now: start) }?.reason == "PURCHASE_CAP")
        let refused = refusal { try limiter.admit("ACC_1", purchasing: 1, now: start) }
        #expect(refused?.reason == "PURCHASE_CAP" && refused?.details["retryAfterMs"] == "720000")
        #expect(refused?.message.contains("purchase cap of 5 numbers per hour") == true)
        #expect(refusal { try limiter.admit("ACC_1", purchasing: 1, now: start + .seconds(720)) } == nil)
        // The call burst moves the same way: lowered from 1000 to 2 just after ACC_1's call, ACC_1 has 1 call left, a
        // new account 2.
        let later = start + .seconds(720)
        limiter.update(.init(callsPerSecond: 1, callsBurst: 2, purchasedNumbersPerHour: 5), now: later)
        #expect(refusal { try limiter.admit("ACC_1", now: later) } == nil)
        #expect(refusal { try limiter.admit("ACC_1", now: later) }?.reason == "RATE_LIMITED")
        #expect(refusal { try limiter.admit("ACC_5", now: later) } == nil)
        #expect(refusal { try limiter.admit("ACC_5", now: later) } == nil)
        #expect(refusal { try limiter.admit("ACC_5", now: later) }?.reason == "RATE_LIMITED")
    }

    /// `"rate-limit": 1e-18` (which numberd's configuration accepted, only checking > 0) put the retry time of the first
    /// refused call past `Int.max` milliseconds, and `Int(_:)` trapped: numberd died on the first refused call (and, by
    /// SIGHUP, a running one). numberd now refuses such limits (`NumberdConfiguration.rateLimitRange`), and the limiter
    /// says a year at most, whatever limits it is given.
    @Test("limits far below any accepted refuse without a trap: the retry time is said as a year at most")
    func tinyLimitsDoNotTrap() {
        let limiter = RateLimiter(
            limits: .init(callsPerSecond: 1e-18, callsBurst: 1, purchasedNumbersPerHour: 1e-18))
        #expect(refusal { try limiter.admit("ACC_1", now: start) } == nil)
        let calls = refusal { try limiter.admit("ACC_1", now: start) }
        #expect(calls?.reason == "RATE_LIMITED")
        #expect(calls?.details["retryAfterMs"] == String(RateLimiter.retryAfterMillisecondsMax))
        #expect(calls?.message.contains("rate limit of 1e-18 calls per second") == true, "\(String(describing: calls))")
        // A cap below one number can never hold a purchase: too large, not a wait.
        let purchases = refusal { try limiter.admit("ACC_2", purchasing: 1, now: start) }
        #expect(purchases?.reason == "LIMIT_EXCEEDED" && purchases?.details == ["max": "0"])
        // No rate at all: an infinite wait, said as the same year; an infinite limit named without a trap.
        let stopped = RateLimiter(limits: .init(callsPerSecond: 0, callsBurst: 0, purchasedNumbersPerHour: .infinity))
        let refused = refusal { try stopped.admit("ACC_1", now: start) }
        #expect(refused?.details["retryAfterMs"] == String(RateLimiter.retryAfterMillisecondsMax))
        let infinite = RateLimiter(limits: .init(callsPerSecond: .infinity, callsBurst: 0.5))
        let named = refusal { try infinite.admit("ACC_1", now: start) }
        #expect(named?.reason == "RATE_LIMITED" && named?.message.contains("rate limit of inf calls") == true)
        #expect(named?.details["retryAfterMs"] == "0")
    }

    /// `update` moves every bucket (written in place now, not by key while iterating, which copied the whole table
    /// under the lock each call takes): each of many subjects keeps what it spent, under the new limits.
    @Test("new limits move every bucket of a large table, each by what its subject spent")
    func limitsChangeEveryBucket() {
        let limiter = RateLimiter(
            limits: .init(callsPerSecond: 1000, callsBurst: 1000, purchasedNumbersPerHour: 10, bucketsMax: 5_000))
        for index in 0..<3_000 {
            #expect(refusal { try limiter.admit("ACC_\(index)", purchasing: index % 11, now: start) } == nil)
        }
        limiter.update(.init(callsPerSecond: 1000, callsBurst: 1000, purchasedNumbersPerHour: 15), now: start)
        #expect(limiter.bucketCount == 3_000)
        var wrong: [Int] = []
        for index in 0..<3_000 {
            // Spent index % 11 of 10, raised by 5: 15 - spent left, and not one more.
            let left = 15 - index % 11
            if refusal({ try limiter.admit("ACC_\(index)", purchasing: left, now: start) }) != nil
                || refusal({ try limiter.admit("ACC_\(index)", purchasing: 1, now: start) })?.reason != "PURCHASE_CAP"
            {
                wrong.append(index)
            }
        }
        #expect(wrong.isEmpty, "buckets not moved: \(wrong.prefix(10))")
    }
}
