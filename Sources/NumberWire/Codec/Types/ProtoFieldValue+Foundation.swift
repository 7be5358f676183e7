#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension Data: ProtoFieldEncodable, ProtoFieldDecodable {
    func encodeProtoField(_ encoder: ProtoFieldEncoder) throws {
        withUnsafeBytes { encoder.encodeBytes($0) }
    }

    static func decodeProtoField(_ decoder: ProtoFieldDecoder) throws -> Data {
        let bytes = try decoder.decodeBytes()
        return bytes.isEmpty ? Data() : Data(bytes)
    }
}

/// `google.protobuf.Timestamp`: seconds since the Unix epoch (int64, field 1) and nanoseconds (int32, field 2).
enum Timestamp {
    /// 0001-01-01T00:00:00Z, the first second a Timestamp may hold.
    static let secondsMin: Int64 = -62_135_596_800
    /// 9999-12-31T23:59:59Z, the last second a Timestamp may hold.
    static let secondsMax: Int64 = 253_402_300_799
    /// Seconds from the Unix epoch to Foundation's reference date (2001-01-01).
    static let referenceDateSeconds: Int64 = 978_307_200
    static let nanosPerSecond: Int64 = 1_000_000_000

    /// Splits a date into whole seconds since 1970 and nanoseconds in 0..<1e9; nil outside the Timestamp range.
    ///
    /// A date of whole milliseconds — the Double ``stamp(milliseconds:)`` makes, as every time numberd stamps is —
    /// goes out as exactly those milliseconds: its Double alone is up to ~120 ns off them (2025-01-15 10:30:00.123 is
    /// .122999907 s), so a peer that keeps milliseconds read another time, and a period bound it sent back as .123 did
    /// not match the stamp it came from. ``date(seconds:nanos:)`` reads whole milliseconds back to the same Double.
    /// Any other date goes out inside the millisecond whose two stamps it lies between, never as a whole one: its own
    /// nanoseconds may fall on the other side of a stamp, and read back it would then put a transaction of that stamp
    /// on the other side of a period's bound.
    static func split(_ date: Date) -> (seconds: Int64, nanos: Int32)? {
        let interval = date.timeIntervalSinceReferenceDate
        // Working from the reference date keeps the fraction exact for dates near now.
        guard interval.isFinite, abs(interval) < 1e12 else { return nil }
        if let milliseconds = wholeMilliseconds(date) {
            let (whole, millis) = secondsAndMilliseconds(milliseconds)
            guard whole >= secondsMin, whole <= secondsMax else { return nil }
            return (whole, Int32(millis) * 1_000_000)
        }
        let whole = interval.rounded(.down)
        var nanos = Int64(((interval - whole) * 1e9).rounded())
        var seconds = Int64(whole) + referenceDateSeconds
        if nanos >= nanosPerSecond {
            seconds += 1
            nanos -= nanosPerSecond
        }
        // The millisecond the nanoseconds fall in, moved by one where the stamps put the date in its neighbour (a
        // stamp is far less than a millisecond off its own); the nanoseconds within it are kept off its two ends.
        var millisecond = seconds * 1000 + nanos / 1_000_000
        var within = min(max(nanos % 1_000_000, 1), 999_999)
        if date < stamp(milliseconds: millisecond) {
            millisecond -= 1
            within = 999_999
        } else if date > stamp(milliseconds: millisecond + 1) {
            millisecond += 1
            within = 1
        }
        // The Doubles next to the stamps are what a time too near them reads as (``date(seconds:nanos:)``): they go out
        // as the nanosecond beside the stamp, which reads back to them, even where Doubles are finer than nanoseconds.
        if interval == stamp(milliseconds: millisecond).timeIntervalSinceReferenceDate.nextUp {
            within = 1
        } else if interval == stamp(milliseconds: millisecond + 1).timeIntervalSinceReferenceDate.nextDown {
            within = 999_999
        }
        let (second, millis) = secondsAndMilliseconds(millisecond)
        guard second >= secondsMin, second <= secondsMax else { return nil }
        return (second, Int32(millis * 1_000_000 + within))
    }

    /// The date numberd stamps for a time of whole milliseconds since 1970, built as `NumberService.now()` builds it,
    /// so that the two compare exactly.
    static func stamp(milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    /// Whole milliseconds since 1970 as whole seconds and milliseconds in 0..<1000: division truncates toward zero,
    /// so a time before 1970 takes its milliseconds from the second before.
    static func secondsAndMilliseconds(_ milliseconds: Int64) -> (seconds: Int64, milliseconds: Int64) {
        let (seconds, remainder) = milliseconds.quotientAndRemainder(dividingBy: 1000)
        return remainder < 0 ? (seconds - 1, remainder + 1000) : (seconds, remainder)
    }

    /// The date's time in whole milliseconds since 1970, if it is exactly the Double those milliseconds make.
    static func wholeMilliseconds(_ date: Date) -> Int64? {
        let milliseconds = (date.timeIntervalSince1970 * 1000).rounded()
        // Past 2^53 a Double holds no exact integer count; the Timestamp range ends far before.
        guard abs(milliseconds) < 9e15 else { return nil }
        let whole = Int64(milliseconds)
        return stamp(milliseconds: whole) == date ? whole : nil
    }

    /// Rebuilds a date; nil when seconds or nanos are outside what a Timestamp may hold. Whole milliseconds make the
    /// Double numberd's own stamps of them are (``stamp(milliseconds:)``). A time between two whole milliseconds reads
    /// as a Double strictly between their stamps: the Double nearest it may be one of them (near now a Double's step
    /// is ~119 ns, and a stamp is up to ~120 ns off its millisecond), and a period starting 1 ns after a transaction
    /// then counted it in. The last instants of 9999 — which a Double rounds up to year 10000, where a Timestamp
    /// cannot go — read as the last Double before it, so a date read can always be written again.
    static func date(seconds: Int64, nanos: Int32) -> Date? {
        guard seconds >= secondsMin, seconds <= secondsMax, nanos >= 0, Int64(nanos) < nanosPerSecond else {
            return nil
        }
        // Nanos are never negative, so this is the millisecond at or before the time, before 1970 too.
        let millisecond = seconds * 1000 + Int64(nanos / 1_000_000)
        if nanos % 1_000_000 == 0 { return stamp(milliseconds: millisecond) }
        let interval = Double(seconds - referenceDateSeconds) + Double(nanos) / 1e9
        let after = stamp(milliseconds: millisecond).timeIntervalSinceReferenceDate.nextUp
        let before = stamp(milliseconds: millisecond + 1).timeIntervalSinceReferenceDate.nextDown
        let end = Double(secondsMax + 1 - referenceDateSeconds)
        return Date(timeIntervalSinceReferenceDate: min(max(interval, after), before, end.nextDown))
    }
}

extension Date: ProtoFieldEncodable, ProtoFieldDecodable {
    func encodeProtoField(_ encoder: ProtoFieldEncoder) throws {
        try encoder.encodeTimestamp(self)
    }

    static func decodeProtoField(_ decoder: ProtoFieldDecoder) throws -> Date {
        try decoder.decodeTimestamp()
    }
}
