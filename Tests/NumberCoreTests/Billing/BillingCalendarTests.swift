import Foundation
import TestSupport
import Testing

@testable import NumberCore

@Suite("Billing calendar")
struct BillingCalendarTests {
    @Test(
        "next billing date is the anchor day next month at 00:00 UTC, clamped",
        arguments: [
            ("2025-01-15T10:30:00Z", 15, "2025-02-15T00:00:00Z"),
            ("2025-01-31T23:59:59Z", 31, "2025-02-28T00:00:00Z"),
            ("2024-01-31T08:00:00Z", 31, "2024-02-29T00:00:00Z"),
            ("2024-02-29T00:00:00Z", 31, "2024-03-31T00:00:00Z"),
            ("2025-03-31T00:00:00Z", 31, "2025-04-30T00:00:00Z"),
            ("2025-04-30T00:00:00Z", 31, "2025-05-31T00:00:00Z"),
            ("2025-12-15T00:00:00Z", 15, "2026-01-15T00:00:00Z"),
            ("2025-12-31T12:00:00Z", 31, "2026-01-31T00:00:00Z"),
            ("2100-01-29T00:00:00Z", 29, "2100-02-28T00:00:00Z"),
            ("2000-01-30T00:00:00Z", 30, "2000-02-29T00:00:00Z"),
        ])
    func nextBillingDate(start: String, anchor: Int, expected: String) {
        #expect(BillingCalendar.nextBillingDate(after: .utc(start), anchorDay: anchor) == .utc(expected))
    }

    @Test("the anchor survives short months: Jan 31 → Feb 29 → Mar 31 → Apr 30 → May 31")
    func anchorIsKept() {
        var date = Date.utc("2024-01-31T09:00:00Z")
        let anchor = BillingCalendar.anchorDay(of: date)
        #expect(anchor == 31)
        var seen: [Date] = []
        for _ in 0..<4 {
            date = BillingCalendar.nextBillingDate(after: date, anchorDay: anchor)
            seen.append(date)
        }
        #expect(seen == ["2024-02-29", "2024-03-31", "2024-04-30", "2024-05-31"].map { Date.utc($0 + "T00:00:00Z") })
    }

    @Test("civil date arithmetic agrees with Foundation's calendar for 1900–2200")
    func civilMatchesFoundation() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var day = BillingCalendar.days(fromCivil: 1900, 1, 1)
        let end = BillingCalendar.days(fromCivil: 2200, 1, 1)
        while day < end {
            let date = Date(timeIntervalSince1970: TimeInterval(day * 86_400))
            let parts = calendar.dateComponents([.year, .month, .day], from: date)
            let civil = BillingCalendar.civil(fromDays: day)
            #expect(civil.year == parts.year && civil.month == parts.month && civil.day == parts.day)
            #expect(BillingCalendar.days(fromCivil: civil.year, civil.month, civil.day) == day)
            day += 17
        }
    }

    @Test("refund examples: whole days left, of the cycle's calendar days (its first included), rounded down")
    func refundExamples() {
        let start = Date.utc("2025-01-15T10:30:00Z")
        let next = Date.utc("2025-02-15T00:00:00Z")  // 31 calendar days, January 15 (the purchase day) included
        let refund = BillingCalendar.proratedRefund(
            monthlyFee: 100, cycleStart: start, nextBillingDate: next, releaseAt: .utc("2025-01-31T00:00:00Z"))
        #expect(refund == BillingCalendar.Refund(amount: 100 * 15 / 31, remainingDays: 15, daysInCycle: 31))
        // Released the instant it was bought: the purchase day is a day of the cycle, used; the 30 after it are not.
        let atStart = BillingCalendar.proratedRefund(
            monthlyFee: 100, cycleStart: start, nextBillingDate: next, releaseAt: start)
        #expect(atStart.amount == 100 * 30 / 31)
        // It used to be 30 / 30: a release on the purchase day refunded the whole month, the day used for nothing —
        // and a purchase a second after midnight had a shorter cycle than one at midnight.
        let lateInTheDay = BillingCalendar.proratedRefund(
            monthlyFee: 100, cycleStart: start, nextBillingDate: next, releaseAt: .utc("2025-01-15T23:59:59Z"))
        #expect(lateInTheDay.amount == 100 * 30 / 31)
        for purchase in ["2025-01-15T00:00:00Z", "2025-01-15T00:00:01Z", "2025-01-15T23:59:59Z"] {
            let cycle = BillingCalendar.proratedRefund(
                monthlyFee: 100, cycleStart: .utc(purchase), nextBillingDate: next, releaseAt: next)
            #expect(cycle.daysInCycle == 31, "\(purchase)")
        }
        // A renewed cycle starts at 00:00: its calendar days are its whole days.
        let renewed = BillingCalendar.proratedRefund(
            monthlyFee: 100, cycleStart: next, nextBillingDate: .utc("2025-03-15T00:00:00Z"),
            releaseAt: .utc("2025-02-15T00:05:00Z"))
        #expect(renewed == BillingCalendar.Refund(amount: 100 * 27 / 28, remainingDays: 27, daysInCycle: 28))
        let late = BillingCalendar.proratedRefund(
            monthlyFee: 100, cycleStart: start, nextBillingDate: next, releaseAt: .utc("2025-02-14T01:00:00Z"))
        #expect(late.amount == 0)
        let afterEnd = BillingCalendar.proratedRefund(
            monthlyFee: 100, cycleStart: start, nextBillingDate: next, releaseAt: .utc("2025-03-01T00:00:00Z"))
        #expect(afterEnd.amount == 0)
        // Released exactly at the billing date: no whole day left, nothing back; a millisecond before, still less than
        // a day; a whole day before, one day.
        let atTheEnd = BillingCalendar.proratedRefund(
            monthlyFee: 100, cycleStart: start, nextBillingDate: next, releaseAt: next)
        #expect(atTheEnd == BillingCalendar.Refund(amount: 0, remainingDays: 0, daysInCycle: 31))
        let justBefore = BillingCalendar.proratedRefund(
            monthlyFee: 100, cycleStart: start, nextBillingDate: next, releaseAt: next.addingTimeInterval(-0.001))
        #expect(justBefore == BillingCalendar.Refund(amount: 0, remainingDays: 0, daysInCycle: 31))
        let dayBefore = BillingCalendar.proratedRefund(
            monthlyFee: 100, cycleStart: start, nextBillingDate: next, releaseAt: next.addingTimeInterval(-86_400))
        #expect(dayBefore == BillingCalendar.Refund(amount: 100 * 1 / 31, remainingDays: 1, daysInCycle: 31))
        let huge = BillingCalendar.proratedRefund(
            monthlyFee: .max, cycleStart: start, nextBillingDate: next, releaseAt: start)
        #expect(huge.amount == Int64((Int128(Int64.max) * 30 / 31)), "in full width")
        let whole = BillingCalendar.proratedRefund(
            monthlyFee: .max, cycleStart: next, nextBillingDate: .utc("2025-03-15T00:00:00Z"), releaseAt: next)
        #expect(whole.amount == .max)
    }

    @Test("property: a million random cases keep 0 ≤ refund ≤ fee, and a released number never refunds again")
    func refundProperty() async {
        var generator = SplitMix64(seed: 0x5EED)  // the store tests' SplitMix64
        let low = BillingCalendar.days(fromCivil: 2023, 1, 1) * 86_400
        let high = BillingCalendar.days(fromCivil: 2030, 12, 31) * 86_400
        var leapDayCases = 0
        var monthEndCases = 0
        for index in 0..<1_000_000 {
            if index % 10_000 == 0 { await Task.yield() }
            let fee = Int64(generator.next() % 1_000_001)
            var purchase = low + Int64(generator.next() % UInt64(high - low))
            if index % 10 == 0 {
                // Force Feb 29 and month-end purchases to be common: one case in twenty on a Feb 29, one on the last
                // day of a month (28, 29, 30 or 31), at any time of the day.
                let days = index % 20 == 0 ? Self.leapDays : Self.monthEnds
                let day = days[Int(generator.next() % UInt64(days.count))]
                purchase = day * 86_400 + Int64(generator.next() % 86_400)
            }
            let purchaseDate = Date(timeIntervalSince1970: TimeInterval(purchase))
            let anchor = BillingCalendar.anchorDay(of: purchaseDate)
            let civil = BillingCalendar.civil(fromDays: BillingCalendar.epochDay(of: purchaseDate))
            if civil.month == 2 && civil.day == 29 { leapDayCases += 1 }
            if civil.day == BillingCalendar.daysInMonth(year: civil.year, month: civil.month) { monthEndCases += 1 }
            let next = BillingCalendar.nextBillingDate(after: purchaseDate, anchorDay: anchor)
            let span = Int64(next.timeIntervalSince(purchaseDate))
            let release = purchase - 86_400 + Int64(generator.next() % UInt64(span + 2 * 86_400))
            let releaseDate = Date(timeIntervalSince1970: TimeInterval(release))
            let refund = BillingCalendar.proratedRefund(
                monthlyFee: fee, cycleStart: purchaseDate, nextBillingDate: next, releaseAt: releaseDate)
            // A release after the purchase instant never gets the whole fee back: the purchase day is used.
            let afterPurchase = release > purchase
            guard refund.amount >= 0, refund.amount <= fee, refund.daysInCycle >= 28, refund.daysInCycle <= 31,
                refund.remainingDays <= refund.daysInCycle, !(afterPurchase && fee > 0 && refund.amount == fee)
            else {
                Issue.record("bad refund \(refund) fee \(fee) purchase \(purchaseDate) release \(releaseDate)")
                return
            }
            var number = Self.number(fee: fee, purchasedAt: purchaseDate, next: next, anchor: anchor)
            #expect(NumberService.refund(for: number, at: releaseDate) == refund)
            number.status = .released
            number.releasedAt = releaseDate
            number.refundTransactionId = refund.amount > 0 ? "TXN_000000000001" : nil
            if NumberService.refund(for: number, at: releaseDate).amount != 0 {
                Issue.record("a released number would be refunded again")
                return
            }
        }
        // 50 000 forced Feb 29s and as many forced month ends (Feb 29s are month ends too), besides the random ones.
        #expect(leapDayCases >= 50_000 && monthEndCases >= 100_000, "\(leapDayCases) \(monthEndCases)")
    }

    /// The Feb 29s of the property's years, as days since 1970.
    static let leapDays: [Int64] = (2023...2030).filter { BillingCalendar.isLeapYear($0) }.map {
        BillingCalendar.days(fromCivil: $0, 2, 29)
    }

    /// The last day of each month of the property's years, as days since 1970.
    static let monthEnds: [Int64] = (2023...2030).flatMap { year in
        (1...12).map { month in
            BillingCalendar.days(fromCivil: year, month, BillingCalendar.daysInMonth(year: year, month: month))
        }
    }

    static func number(fee: Int64, purchasedAt: Date, next: Date, anchor: Int) -> OwnedNumber {
        OwnedNumber(
            id: "NUM_000000000001", accountId: "ACC_000000000001", phoneNumber: "+14155550100",
            friendlyName: "+1 (415) 555-0100", country: "US", region: nil, locality: nil, postalCode: nil, type: .local,
            capabilities: NumberCapabilities(voice: true), status: .active, trunkId: nil, setupFee: 0, monthlyFee: fee,
            currency: "USD", providerSid: "PN1", purchasedAt: purchasedAt, billingAnchorDay: anchor,
            cycleStart: purchasedAt, nextBillingDate: next)
    }
}
