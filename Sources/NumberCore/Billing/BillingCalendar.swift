import Foundation

/// Pure billing arithmetic: monthly cycles anchored on the purchase day, and the prorated refund.
public enum BillingCalendar {
    /// Seconds in a day.
    public static let secondsPerDay: Int64 = 86_400

    private static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    /// The UTC day of month of `date` (1...31): the anchor for all later billing dates.
    public static func anchorDay(of date: Date) -> Int {
        utc.component(.day, from: date)
    }

    /// The billing date after a cycle starting at `cycleStart`: the `anchorDay` of the next month at 00:00 UTC,
    /// clamped to that month's last day (anchor 31 → Feb 28/29 → Mar 31).
    public static func nextBillingDate(after cycleStart: Date, anchorDay: Int) -> Date {
        precondition((1...31).contains(anchorDay), "anchor day out of range")
        let parts = utc.dateComponents([.year, .month], from: cycleStart)
        var year = parts.year!
        var month = parts.month! + 1
        if month > 12 {
            month = 1
            year += 1
        }
        let day = min(anchorDay, daysInMonth(year: year, month: month))
        return utc.date(from: DateComponents(year: year, month: month, day: day))!
    }

    /// The number of days in a month of the Gregorian calendar.
    public static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Whether `year` is a Gregorian leap year.
    public static func isLeapYear(_ year: Int) -> Bool {
        (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    }

    /// Whole days from `start` to `end` (rounded down; 0 if `end` is not after `start`).
    public static func wholeDays(from start: Date, to end: Date) -> Int64 {
        let seconds = end.timeIntervalSince(start)
        guard seconds > 0 else { return 0 }
        return Int64((seconds / Double(secondsPerDay)).rounded(.down))
    }

    /// The prorated refund for releasing at `releaseAt` a number whose paid cycle runs from `cycleStart` to
    /// `nextBillingDate`: `monthlyFee × remainingWholeDays / daysInCycle`, rounded down, so 0 ≤ refund ≤ fee.
    public static func proratedRefund(
        monthlyFee: Int64, cycleStart: Date, nextBillingDate: Date, releaseAt: Date
    ) -> Refund {
        let daysInCycle = wholeDays(from: cycleStart, to: nextBillingDate)
        let remaining = min(wholeDays(from: releaseAt, to: nextBillingDate), daysInCycle)
        guard monthlyFee > 0, daysInCycle > 0, remaining > 0 else {
            return Refund(amount: 0, remainingDays: remaining, daysInCycle: daysInCycle)
        }
        // fee × remaining can exceed Int64 for absurd fees: compute in full width.
        let product = monthlyFee.multipliedFullWidth(by: remaining)
        let (quotient, _) = daysInCycle.dividingFullWidth(product)
        return Refund(amount: quotient, remainingDays: remaining, daysInCycle: daysInCycle)
    }

    /// A computed refund and the figures it came from.
    public struct Refund: Sendable, Hashable {
        /// Minor units, 0 ≤ amount ≤ monthly fee.
        public var amount: Int64
        /// Whole days left in the cycle at release.
        public var remainingDays: Int64
        /// Whole days between cycle start and next billing date.
        public var daysInCycle: Int64
    }
}
