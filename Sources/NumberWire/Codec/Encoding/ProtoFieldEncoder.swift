#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The `Encoder` handed to a value: it stands for one field of the enclosing message (or for the top-level
/// message when `field` is 0). Three words, so passing it as `any Encoder` never allocates a box.
struct ProtoFieldEncoder: Encoder {
    let state: ProtoEncodingState
    /// Field number in the low 29 bits; bit 31 marks explicit presence (an `Optional` that is set).
    private let fieldBits: UInt32
    /// How many regions are open at the level of the enclosing message.
    let depth: UInt32
    /// This encoder's identity, to reuse its sub-message when a value asks for a keyed container twice.
    let serial: UInt32
    /// Non-zero for an element of a repeated field: the repeated field's identity, shared by its packed run.
    let repeatedSerial: UInt32

    private static let explicitBit: UInt32 = 1 << 31

    init(state: ProtoEncodingState, field: UInt32, depth: Int, explicit: Bool, repeatedSerial: UInt32 = 0) {
        self.state = state
        self.fieldBits = field | (explicit ? Self.explicitBit : 0)
        self.depth = UInt32(depth)
        self.serial = state.makeSerial()
        self.repeatedSerial = repeatedSerial
    }

    /// The field number; 0 means "the enclosing message itself" (top level, or `superEncoder()`).
    var field: UInt32 { fieldBits & ~Self.explicitBit }
    /// Whether a default value is still written (proto3 `optional` that is set, repeated elements, map entries).
    var explicit: Bool { fieldBits & Self.explicitBit != 0 }
    var level: Int { Int(depth) }

    var codingPath: [any CodingKey] { state.codingPath }
    var userInfo: [CodingUserInfoKey: Any] {
        var userInfo: [CodingUserInfoKey: Any] = [:]
        for (key, value) in state.userInfo { userInfo[key] = value }
        return userInfo
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(ProtoKeyedEncodingContainer<Key>(state: state, depth: openMessage()))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if field == 0 { state.deferError(notAMessage("an unkeyed container")) }
        return ProtoUnkeyedEncodingContainer(state: state, field: max(field, 1), depth: level)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        ProtoSingleValueEncodingContainer(encoder: self)
    }

    /// Opens (or reopens) the sub-message this encoder stands for; returns the depth of its fields.
    func openMessage() -> Int {
        if field == 0 {
            state.close(downTo: level)
            return level
        }
        if state.frames.count > level, state.frames[level].serial == serial {
            state.close(downTo: level + 1)
        } else {
            state.close(downTo: level)
            state.open(field: field, serial: serial, isPacked: false)
        }
        return level + 1
    }

    /// The encoder for an element of the repeated field this encoder stands for.
    func element(repeatedSerial: UInt32) -> ProtoFieldEncoder {
        ProtoFieldEncoder(state: state, field: field, depth: level, explicit: true, repeatedSerial: repeatedSerial)
    }

    func notAMessage(_ what: String) -> EncodingError {
        state.error(.notAMessage, "the top-level value must be a message (keyed container), not \(what)", ())
    }

    func error(_ kind: ProtoEncodingError.Kind, _ message: String, _ value: Any) -> EncodingError {
        state.error(kind, message, value)
    }
}

extension ProtoFieldEncoder {
    /// Writes a scalar: into the open packed run for a repeated element, as its own field otherwise.
    func encodeScalar<S: ProtoScalar>(_ value: S) {
        guard field != 0 else { return state.deferError(notAMessage("a scalar")) }
        if repeatedSerial != 0 {
            appendPacked(value)
        } else {
            state.close(downTo: level)
            state.writeScalar(value, field: field, explicit: explicit)
        }
    }

    private func appendPacked<S: ProtoScalar>(_ value: S) {
        let frames = state.frames
        let continues =
            frames.count == level + 1 && frames[level].isPacked && frames[level].serial == repeatedSerial
        if !continues {
            state.close(downTo: level)
            state.open(field: field, serial: repeatedSerial, isPacked: true)
        }
        state.appendValue(value)
    }

    func encodeString(_ value: String) {
        guard field != 0 else { return state.deferError(notAMessage("a string")) }
        state.close(downTo: level)
        state.writeString(value, field: field, explicit: explicit)
    }

    func encodeBytes(_ value: UnsafeRawBufferPointer) {
        guard field != 0 else { return state.deferError(notAMessage("bytes")) }
        state.close(downTo: level)
        state.writeBytes(value, field: field, explicit: explicit)
    }

    /// Writes a whole repeated scalar field as one packed run, sized up front.
    func encodePacked<S: ProtoScalar>(_ values: [S]) {
        guard field != 0 else { return state.deferError(notAMessage("a repeated field")) }
        guard !values.isEmpty else { return }
        state.close(downTo: level)
        let length: Int
        switch S.wireType {
        case .fixed32: length = 4 * values.count
        case .fixed64: length = 8 * values.count
        default:
            var sum = 0
            for index in values.indices { sum += Wire.varintSize(values[index].wireBits) }
            length = sum
        }
        state.bytes.appendTag(field: field, wireType: .lengthDelimited)
        state.bytes.appendVarint(UInt64(length))
        // Index loops: this code often runs unspecialised (reached through an existential), where an
        // array iterator over a generic element allocates on every step.
        for index in values.indices { state.appendValue(values[index]) }
    }

    /// Writes each element of a repeated field of strings, bytes, messages or enums.
    func encodeRepeated<Element: Encodable>(_ values: [Element]) throws {
        guard field != 0 else { throw notAMessage("a repeated field") }
        let repeatedSerial = state.makeSerial()
        if Element.self is any ProtoFieldEncodable.Type {
            for index in values.indices {
                try state.encodeValue(values[index], encoder: element(repeatedSerial: repeatedSerial))
            }
        } else {
            for index in values.indices { try values[index].encode(to: element(repeatedSerial: repeatedSerial)) }
        }
    }

    /// Writes one map entry: a sub-message with the key as field 1 and the value as field 2, both always written.
    func encodeMapEntry<K: Encodable, V: Encodable>(key: K, value: V) throws {
        guard field != 0 else { throw notAMessage("a map") }
        state.close(downTo: level)
        state.open(field: field, serial: state.makeSerial(), isPacked: false)
        let entryLevel = level + 1
        try state.encodeValue(
            key, encoder: ProtoFieldEncoder(state: state, field: 1, depth: entryLevel, explicit: true))
        try state.encodeValue(
            value, encoder: ProtoFieldEncoder(state: state, field: 2, depth: entryLevel, explicit: true))
    }

    /// Writes a `Date` as a `google.protobuf.Timestamp` sub-message.
    func encodeTimestamp(_ date: Date) throws {
        guard field != 0 else { throw notAMessage("a Date") }
        let (seconds, nanos) = try state.timestampParts(date)
        let fieldsLevel = openMessage()
        state.close(downTo: fieldsLevel)
        state.writeScalar(seconds, field: 1, explicit: false)
        state.writeScalar(nanos, field: 2, explicit: false)
    }
}
