import Foundation

/// Parses the 2010 API's RFC 2822 dates (`Thu, 30 Jul 2015 23:19:04 +0000`) without a shared `DateFormatter`.
enum TwilioDateParser {
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// The date, or `nil` if `text` is not in that shape.
    static func rfc2822(_ text: String) -> Date? {
        // Drop the optional "Thu, " then read "30 Jul 2015 23:19:04 +0000".
        let body = text.split(separator: ",", maxSplits: 1).last.map(String.init) ?? text
        let fields = body.split(separator: " ")
        guard fields.count == 5, let day = Int(fields[0]), let monthIndex = months.firstIndex(of: String(fields[1])),
            let year = Int(fields[2])
        else { return nil }
        let time = fields[3].split(separator: ":").compactMap { Int($0) }
        guard time.count == 3, let offset = offsetSeconds(fields[4]) else { return nil }
        guard (1...31).contains(day), (1970...9999).contains(year), (0...23).contains(time[0]),
            (0...59).contains(time[1]), (0...60).contains(time[2])
        else { return nil }
        let days = daysFromCivil(year: year, month: monthIndex + 1, day: day)
        let seconds = days * 86_400 + time[0] * 3_600 + time[1] * 60 + time[2] - offset
        return Date(timeIntervalSince1970: TimeInterval(seconds))
    }

    /// `+0000`, `-0730` → seconds east of UTC; `GMT`/`UT`/`Z` → 0.
    private static func offsetSeconds(_ field: Substring) -> Int? {
        if ["GMT", "UT", "UTC", "Z"].contains(field) { return 0 }
        let bytes = Array(field.utf8)
        guard bytes.count == 5, bytes[0] == UInt8(ascii: "+") || bytes[0] == UInt8(ascii: "-"),
            let hhmm = Int(String(field.dropFirst())), hhmm % 100 < 60
        else { return nil }
        let seconds = (hhmm / 100) * 3_600 + (hhmm % 100) * 60
        return bytes[0] == UInt8(ascii: "-") ? -seconds : seconds
    }

    /// Howard Hinnant's days_from_civil: days since 1970-01-01 of a proleptic Gregorian date.
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
