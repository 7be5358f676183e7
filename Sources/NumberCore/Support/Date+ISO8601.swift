import Foundation

extension Date {
    /// ISO 8601 in UTC to the millisecond, `2026-01-31T10:00:00.123Z`: how a time goes into an error's metadata.
    /// Whole seconds (`formatted(.iso8601)`) cut the milliseconds numberd keeps, so a caller comparing a time from an
    /// error with the Timestamp it holds (a release's `releasedAt`, a dry run's `next_billing_date`) saw two times.
    /// Rounded to the nearest millisecond: a time stored as a `Double` of .123 s may read .12299999.
    package var iso8601Milliseconds: String {
        let millisecondsPerDay: Int64 = 86_400_000
        let milliseconds = Int64((timeIntervalSince1970 * 1000).rounded())
        var days = milliseconds / millisecondsPerDay
        var ofDay = milliseconds % millisecondsPerDay
        if ofDay < 0 {
            days -= 1
            ofDay += millisecondsPerDay
        }
        let (year, month, day) = BillingCalendar.civil(fromDays: days)
        func padded(_ value: Int64, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        let date = "\(padded(Int64(year), 4))-\(padded(Int64(month), 2))-\(padded(Int64(day), 2))"
        let time = "\(padded(ofDay / 3_600_000, 2)):\(padded(ofDay / 60_000 % 60, 2)):\(padded(ofDay / 1000 % 60, 2))"
        return "\(date)T\(time).\(padded(ofDay % 1000, 3))Z"
    }
}
