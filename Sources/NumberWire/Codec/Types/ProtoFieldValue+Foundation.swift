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
    static func split(_ date: Date) -> (seconds: Int64, nanos: Int32)? {
        let interval = date.timeIntervalSinceReferenceDate
        // Working from the reference date keeps the fraction exact for dates near now.
        guard interval.isFinite, abs(interval) < 1e12 else { return nil }
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

    /// Rebuilds a date; nil when seconds or nanos are outside what a Timestamp may hold.
    static func date(seconds: Int64, nanos: Int32) -> Date? {
        guard seconds >= secondsMin, seconds <= secondsMax, nanos >= 0, Int64(nanos) < nanosPerSecond else {
            return nil
        }
        return Date(timeIntervalSinceReferenceDate: Double(seconds - referenceDateSeconds) + Double(nanos) / 1e9)
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
