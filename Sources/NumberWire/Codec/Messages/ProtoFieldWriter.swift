#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Writes the fields of one message for generated `ProtoMessage` code, with the rules of the Codable path: a
/// non-optional field holding its default is left out; a set optional, a repeated element and a map entry are
/// always written; a non-optional sub-message or timestamp is always written, empty or not.
public struct ProtoFieldWriter {
    let state: ProtoEncodingState
    /// How many length-delimited regions enclose these fields.
    let level: Int

    init(state: ProtoEncodingState, level: Int) {
        self.state = state
        self.level = level
    }

    @inline(__always)
    private func scalar<S: ProtoScalar>(_ value: S, _ field: UInt32, explicit: Bool) {
        state.close(downTo: level)
        state.writeScalar(value, field: field, explicit: explicit)
    }

    /// Writes an `int64` field.
    public func write(_ value: Int64, field: UInt32) { scalar(value, field, explicit: false) }
    /// Writes an `int32` (or enum) field.
    public func write(_ value: Int32, field: UInt32) { scalar(value, field, explicit: false) }
    /// Writes a `uint64` field.
    public func write(_ value: UInt64, field: UInt32) { scalar(value, field, explicit: false) }
    /// Writes a `uint32` field.
    public func write(_ value: UInt32, field: UInt32) { scalar(value, field, explicit: false) }
    /// Writes a `bool` field.
    public func write(_ value: Bool, field: UInt32) { scalar(value, field, explicit: false) }
    /// Writes a `double` field.
    public func write(_ value: Double, field: UInt32) { scalar(value, field, explicit: false) }
    /// Writes a `float` field.
    public func write(_ value: Float, field: UInt32) { scalar(value, field, explicit: false) }

    /// Writes a proto3 `optional int64` field when set.
    public func write(_ value: Int64?, field: UInt32) { if let value { scalar(value, field, explicit: true) } }
    /// Writes a proto3 `optional int32` (or enum) field when set.
    public func write(_ value: Int32?, field: UInt32) { if let value { scalar(value, field, explicit: true) } }
    /// Writes a proto3 `optional uint64` field when set.
    public func write(_ value: UInt64?, field: UInt32) { if let value { scalar(value, field, explicit: true) } }
    /// Writes a proto3 `optional uint32` field when set.
    public func write(_ value: UInt32?, field: UInt32) { if let value { scalar(value, field, explicit: true) } }
    /// Writes a proto3 `optional bool` field when set.
    public func write(_ value: Bool?, field: UInt32) { if let value { scalar(value, field, explicit: true) } }
    /// Writes a proto3 `optional double` field when set.
    public func write(_ value: Double?, field: UInt32) { if let value { scalar(value, field, explicit: true) } }
    /// Writes a proto3 `optional float` field when set.
    public func write(_ value: Float?, field: UInt32) { if let value { scalar(value, field, explicit: true) } }

    /// Writes a `string` field.
    public func write(_ value: String, field: UInt32) {
        state.close(downTo: level)
        state.writeString(value, field: field, explicit: false)
    }

    /// Writes a proto3 `optional string` field when set.
    public func write(_ value: String?, field: UInt32) {
        guard let value else { return }
        state.close(downTo: level)
        state.writeString(value, field: field, explicit: true)
    }

    /// Writes a `bytes` field.
    public func write(_ value: [UInt8], field: UInt32) {
        state.close(downTo: level)
        value.withUnsafeBytes { state.writeBytes($0, field: field, explicit: false) }
    }

    /// Writes a `repeated string` field, every element (empty ones too).
    public func write(_ values: [String], field: UInt32) {
        state.close(downTo: level)
        for index in values.indices { state.writeString(values[index], field: field, explicit: true) }
    }

    /// Writes a sub-message field.
    public func write<M: ProtoMessage>(_ message: M, field: UInt32) throws {
        try writeMessage(field: field) { try message.encodeProtoFields(to: $0) }
    }

    /// Writes a sub-message field whose fields `body` writes. Not generic, so generated code calling it from
    /// another module costs no generic metadata look-ups (the generic `write` cannot be specialised there).
    public func writeMessage(field: UInt32, _ body: (ProtoFieldWriter) throws -> Void) throws {
        state.close(downTo: level)
        state.open(field: field, serial: state.makeSerial(), isPacked: false)
        try body(ProtoFieldWriter(state: state, level: level + 1))
        state.close(downTo: level)
    }

    /// Writes a proto3 `optional` sub-message field when set.
    public func write<M: ProtoMessage>(_ message: M?, field: UInt32) throws {
        if let message { try write(message, field: field) }
    }

    /// Writes a `repeated` sub-message field.
    public func write<M: ProtoMessage>(_ messages: [M], field: UInt32) throws {
        for index in messages.indices { try write(messages[index], field: field) }
    }

    /// Writes a `google.protobuf.Timestamp` field.
    public func write(_ date: Date, field: UInt32) throws {
        let (seconds, nanos) = try state.timestampParts(date)
        state.close(downTo: level)
        state.open(field: field, serial: state.makeSerial(), isPacked: false)
        state.writeScalar(seconds, field: 1, explicit: false)
        state.writeScalar(nanos, field: 2, explicit: false)
        state.close(downTo: level)
    }

    /// Writes a proto3 `optional google.protobuf.Timestamp` field when set.
    public func write(_ date: Date?, field: UInt32) throws {
        if let date { try write(date, field: field) }
    }

    /// Writes a `map<string, string>` field: one entry message per pair, in key order when the encoder sorts maps.
    public func write(_ map: [String: String], field: UInt32) {
        guard !map.isEmpty else { return }
        state.close(downTo: level)
        if state.options.sortsMapEntries, map.count > 1 {
            for (key, value) in map.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
                writeEntry(key, value, field)
            }
        } else {
            for (key, value) in map { writeEntry(key, value, field) }
        }
    }

    private func writeEntry(_ key: String, _ value: String, _ field: UInt32) {
        state.open(field: field, serial: state.makeSerial(), isPacked: false)
        state.writeString(key, field: 1, explicit: true)
        state.writeString(value, field: 2, explicit: true)
        state.close(downTo: level)
    }
}
