#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The shared state of one `ProtoEncoder.encode` call: the single output buffer and the stack of open
/// length-delimited regions (sub-messages and packed runs) whose length prefixes are not written yet.
///
/// Each open region reserves one byte for its length; when the region closes the length is written there,
/// shifting the region right in the rare case it needs more than one byte. Regions close lazily: any write
/// at a shallower level first closes every deeper region, so nested values need no end-of-value callback.
final class ProtoEncodingState {
    /// An open length-delimited region.
    struct Frame {
        /// Index of the reserved length byte.
        var slot: Int
        /// Which encoder opened it (a value may ask for its keyed container more than once).
        var serial: UInt32
        /// The field number, to continue a packed run.
        var field: UInt32
        /// A packed run of repeated scalars rather than a sub-message.
        var isPacked: Bool
    }

    // One state belongs to one encode call on one thread and no access to these overlaps another, so the runtime's
    // exclusivity checks (two calls per field write, ~5 % of a server's CPU in a ListNumbers profile) are turned off.
    @exclusivity(unchecked) var bytes: [UInt8] = []
    @exclusivity(unchecked) var frames: [Frame] = []
    /// The keys leading to the value being encoded, for error messages (the Codable path only: no capacity up front).
    @exclusivity(unchecked) var codingPath: [any CodingKey] = []
    /// An error found where Codable gives no way to throw (e.g. `container(keyedBy:)`); thrown at the end.
    @exclusivity(unchecked) var deferredError: EncodingError?
    let options: ProtoEncoder.Options
    // Kept as given: converting to [CodingUserInfoKey: Any] allocates, and few values ever read it.
    let userInfo: [CodingUserInfoKey: any Sendable]
    @exclusivity(unchecked) private var serialCounter: UInt32 = 0

    init(options: ProtoEncoder.Options, userInfo: [CodingUserInfoKey: any Sendable]) {
        self.options = options
        self.userInfo = userInfo
        bytes.reserveCapacity(options.initialCapacity)
        frames.reserveCapacity(8)
    }

    /// A fresh identity for an encoder or a repeated field.
    @inline(__always)
    func makeSerial() -> UInt32 {
        serialCounter &+= 1
        return serialCounter
    }

    /// Closes every open region deeper than `depth`.
    @inline(__always)
    func close(downTo depth: Int) {
        while frames.count > depth { closeTop() }
    }

    private func closeTop() {
        let frame = frames.removeLast()
        let length = bytes.count - frame.slot - 1
        if length < 0x80 {
            bytes[frame.slot] = UInt8(truncatingIfNeeded: length)
            return
        }
        // Longer than 127 bytes: move the body right to make room for the longer length (at most four bytes).
        let shift = Wire.varintSize(UInt64(length)) - 1
        let bodyStart = frame.slot + 1
        for _ in 0..<shift { bytes.append(0) }
        bytes.withUnsafeMutableBytes { raw in
            let base = raw.baseAddress!
            // copyMemory allows overlapping regions (memmove).
            (base + bodyStart + shift).copyMemory(from: base + bodyStart, byteCount: length)
        }
        var value = UInt64(length)
        var index = frame.slot
        while value >= 0x80 {
            bytes[index] = UInt8(truncatingIfNeeded: value) | 0x80
            value >>= 7
            index += 1
        }
        bytes[index] = UInt8(truncatingIfNeeded: value)
    }

    /// Writes the tag of a length-delimited field and reserves its length byte.
    func open(field: UInt32, serial: UInt32, isPacked: Bool) {
        bytes.appendTag(field: field, wireType: .lengthDelimited)
        frames.append(Frame(slot: bytes.count, serial: serial, field: field, isPacked: isPacked))
        bytes.append(0)
        if !isPacked && frames.count > options.nestingDepthMax && deferredError == nil {
            deferredError = error(
                .nestingTooDeep, "messages nested deeper than nestingDepthMax (\(options.nestingDepthMax))", field)
        }
    }

    /// Appends a scalar's value bytes (no tag).
    @inline(__always)
    func appendValue<S: ProtoScalar>(_ value: S) {
        switch S.wireType {
        case .fixed32: bytes.appendFixed32(UInt32(truncatingIfNeeded: value.wireBits))
        case .fixed64: bytes.appendFixed64(value.wireBits)
        default: bytes.appendVarint(value.wireBits)
        }
    }

    /// Writes a scalar field, leaving out a default value unless the field has explicit presence.
    @inline(__always)
    func writeScalar<S: ProtoScalar>(_ value: S, field: UInt32, explicit: Bool) {
        if !explicit && value.isProtoDefault { return }
        bytes.appendTag(field: field, wireType: S.wireType)
        appendValue(value)
    }

    /// Writes a length-delimited field with the given payload, leaving out an empty one unless explicit.
    @inline(__always)
    func writeBytes(_ payload: UnsafeRawBufferPointer, field: UInt32, explicit: Bool) {
        if !explicit && payload.isEmpty { return }
        bytes.appendTag(field: field, wireType: .lengthDelimited)
        bytes.appendVarint(UInt64(payload.count))
        bytes.append(contentsOf: payload)
    }

    /// Writes a string field as UTF-8.
    @inline(__always)
    func writeString(_ value: String, field: UInt32, explicit: Bool) {
        if !explicit && value.isEmpty { return }
        let done: Void? = value.utf8.withContiguousStorageIfAvailable {
            writeBytes(UnsafeRawBufferPointer($0), field: field, explicit: true)
        }
        if done == nil {
            Array(value.utf8).withUnsafeBytes { writeBytes($0, field: field, explicit: true) }
        }
    }

    /// Encodes any value as `encoder`'s field: the codec's own types directly, anything else through Codable.
    @inline(__always)
    func encodeValue<T: Encodable>(_ value: T, encoder: ProtoFieldEncoder) throws {
        // Asking the metatype first: casting a value larger than three words to an existential boxes it on the
        // heap even when the cast fails, which made every nested message cost an allocation. The codec's own
        // types are all small, so the value cast below never boxes.
        if T.self is any ProtoFieldEncodable.Type {
            try (value as! any ProtoFieldEncodable).encodeProtoField(encoder)
        } else {
            try value.encode(to: encoder)
        }
    }

    /// A date's `google.protobuf.Timestamp` seconds and nanos, or the error for one outside years 1...9999.
    func timestampParts(_ date: Date) throws -> (seconds: Int64, nanos: Int32) {
        guard let parts = Timestamp.split(date) else {
            throw error(
                .timestampOutOfRange,
                "Date \(date.timeIntervalSince1970)s since 1970 is outside google.protobuf.Timestamp (years 1...9999)",
                // The interval, not the Date: describing a NaN Date traps.
                date.timeIntervalSince1970)
        }
        return parts
    }

    /// An `EncodingError.invalidValue` carrying a `ProtoEncodingError`.
    func error(
        _ kind: ProtoEncodingError.Kind, _ message: String, _ value: Any, key: (any CodingKey)? = nil
    )
        -> EncodingError
    {
        let path = key.map { codingPath + [$0] } ?? codingPath
        let underlying = ProtoEncodingError(kind: kind, message: message)
        return EncodingError.invalidValue(
            value, EncodingError.Context(codingPath: path, debugDescription: message, underlyingError: underlying))
    }

    /// The error for a CodingKey without a protobuf field number.
    func invalidKey(_ key: some CodingKey, value: Any) -> EncodingError {
        error(
            .invalidFieldKey,
            "CodingKey '\(key.stringValue)' has no protobuf field number in 1...\(Wire.fieldNumberMax): "
                + "declare `enum CodingKeys: Int, CodingKey` with the .proto field numbers",
            value, key: key)
    }

    /// Records an error where Codable gives no way to throw; the first one is thrown when encoding ends.
    func deferError(_ error: EncodingError) {
        if deferredError == nil { deferredError = error }
    }
}
