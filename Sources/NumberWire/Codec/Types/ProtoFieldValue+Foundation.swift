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
    /// A date of whole milliseconds — the Double `Date(timeIntervalSince1970: ms / 1000)` makes, as every time numberd
    /// stamps is — goes out as exactly those milliseconds: its Double alone is up to ~60 ns off them (2025-01-15
    /// 10:30:00.123 is .122999907 s), so a peer that keeps milliseconds read another time, and a period bound it sent
    /// back as .123 did not match the stamp it came from. ``date(seconds:nanos:)`` reads whole milliseconds back to the
    /// same Double.
    static func split(_ date: Date) -> (seconds: Int64, nanos: Int32)? {
        let interval = date.timeIntervalSinceReferenceDate
        // Working from the reference date keeps the fraction exact for dates near now.
        guard interval.isFinite, abs(interval) < 1e12 else { return nil }
        if let milliseconds = wholeMilliseconds(date) {
            let (seconds, remainder) = milliseconds.quotientAndRemainder(dividingBy: 1000)
            // Division truncates toward zero: a date before 1970 takes its nanoseconds from the second before.
            let (whole, millis) = remainder < 0 ? (seconds - 1, remainder + 1000) : (seconds, remainder)
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
        guard seconds >= secondsMin, seconds <= secondsMax else { return nil }
        return (seconds, Int32(nanos))
    }

    /// The date's time in whole milliseconds since 1970, if it is exactly the Double those milliseconds make.
    static func wholeMilliseconds(_ date: Date) -> Int64? {
        let milliseconds = (date.timeIntervalSince1970 * 1000).rounded()
        // Past 2^53 a Double holds no exact integer count; the Timestamp range ends far before.
        guard abs(milliseconds) < 9e15 else { return nil }
        let whole = Int64(milliseconds)
        return Date(timeIntervalSince1970: Double(whole) / 1000) == date ? whole : nil
    }

    /// Rebuilds a date; nil when seconds or nanos are outside what a Timestamp may hold. Whole milliseconds make the
    /// Double numberd's own stamps of them are (``split(_:)``); the last instants of 9999 — which a Double rounds up to
    /// year 10000, where a Timestamp cannot go — read as the last Double before it, so a date read can always be
    /// written again.
    static func date(seconds: Int64, nanos: Int32) -> Date? {
        guard seconds >= secondsMin, seconds <= secondsMax, nanos >= 0, Int64(nanos) < nanosPerSecond else {
            return nil
        }
        if nanos % 1_000_000 == 0 {
            return Date(timeIntervalSince1970: Double(seconds * 1000 + Int64(nanos / 1_000_000)) / 1000)
        }
        let end = Double(secondsMax + 1 - referenceDateSeconds)
        let interval = Double(seconds - referenceDateSeconds) + Double(nanos) / 1e9
        return Date(timeIntervalSinceReferenceDate: min(interval, end.nextDown))
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
