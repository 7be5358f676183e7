import Foundation

/// Pure billing arithmetic: monthly cycles anchored on the purchase day, and the prorated refund.
public enum BillingCalendar {
    /// Seconds in a day.
    public static let secondsPerDay: Int64 = 86_400

    /// The dates the calendar is meant for: years 1970...9999 (UTC). Its integer arithmetic traps on dates far
    /// outside them, which only a damaged record could hold (the state's invariants refuse one).
    public static let supportedDates =
        Date(timeIntervalSince1970: 0)...Date(timeIntervalSince1970: 253_402_300_799)

    /// The UTC day of month of `date` (1...31): the anchor for all later billing dates.
    public static func anchorDay(of date: Date) -> Int {
        civil(fromDays: epochDay(of: date)).day
    }

    /// The billing date after a cycle starting at `cycleStart`: the `anchorDay` of the next month at 00:00 UTC,
    /// clamped to that month's last day (anchor 31 → Feb 28/29 → Mar 31).
    public static func nextBillingDate(after cycleStart: Date, anchorDay: Int) -> Date {
        precondition((1...31).contains(anchorDay), "anchor day out of range")
        let today = civil(fromDays: epochDay(of: cycleStart))
        var year = today.year
        var month = today.month + 1
        if month > 12 {
            month = 1
            year += 1
        }
        let day = min(anchorDay, daysInMonth(year: year, month: month))
        let days = self.days(fromCivil: year, month, day)
        return Date(timeIntervalSince1970: TimeInterval(days * secondsPerDay))
    }

    /// Days since 1970-01-01 (UTC) of the day `date` falls in.
    static func epochDay(of date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 / Double(secondsPerDay)).rounded(.down))
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`): integer
    /// arithmetic, so a million property cases run in well under a second.
    static func days(fromCivil year: Int, _ month: Int, _ day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The proleptic Gregorian date of a day count since 1970-01-01 (`civil_from_days`).
    static func civil(fromDays days: Int64) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        return (Int(year), Int(month), Int(day))
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

    /// The UTC calendar days of a cycle from `start` (its day included, however late in it) to `end` (00:00 UTC).
    public static func cycleDays(from start: Date, to end: Date) -> Int64 {
        max(0, epochDay(of: end) - epochDay(of: start))
    }

    /// Whole days from `start` to `end` (rounded down; 0 if `end` is not after `start`).
    public static func wholeDays(from start: Date, to end: Date) -> Int64 {
        let seconds = end.timeIntervalSince(start)
        guard seconds > 0 else { return 0 }
        return Int64((seconds / Double(secondsPerDay)).rounded(.down))
    }

    /// The prorated refund for releasing at `releaseAt` a number whose paid cycle runs from `cycleStart` to
    /// `nextBillingDate`: `monthlyFee × remainingWholeDays / daysInCycle`, rounded down, so 0 ≤ refund ≤ fee. The
    /// cycle's days are its UTC calendar days, the day it started included: a first cycle starts at the purchase,
    /// mid-day, and counting only the whole days after that instant left the purchase day out of the cycle — a release
    /// on that day refunded the whole month, the day used for nothing. (A renewed cycle starts at 00:00 UTC: the same.)
    public static func proratedRefund(
        monthlyFee: Int64, cycleStart: Date, nextBillingDate: Date, releaseAt: Date
    ) -> Refund {
        let daysInCycle = cycleDays(from: cycleStart, to: nextBillingDate)
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
        /// UTC calendar days from the cycle's start (its day included) to the next billing date.
        public var daysInCycle: Int64
    }
}
