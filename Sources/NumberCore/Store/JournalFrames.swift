import Foundation

/// The decoded form of a journal line (the checksum is checked on the raw bytes, not here).
package struct RecordFrame<Event: Decodable>: Decodable {
    package var seq: UInt64
    package var time: Int64
    /// The seqs of the records written with this one by one `write` and one `fdatasync` (store format 2; nil in
    /// lines of format 1). Recovery uses it to tell a power cut inside the last, never-acknowledged batch from
    /// damage to acknowledged records (``SegmentScanner``).
    package var batch: RecordBatch?
    package var events: [Event]
}

/// The first and last seq of a group-commit batch, written `"batch":[first,last]` in each of its records.
package struct RecordBatch: Decodable, Sendable, Hashable {
    package var first: UInt64
    package var last: UInt64

    package init(first: UInt64, last: UInt64) {
        precondition(first <= last, "a batch's first seq is at most its last")
        self.first = first
        self.last = last
    }

    package init(from decoder: any Decoder) throws {
        var pair = try decoder.unkeyedContainer()
        let first = try pair.decode(UInt64.self)
        let last = try pair.decode(UInt64.self)
        guard pair.isAtEnd, first <= last else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "a batch is [first, last] with first ≤ last"))
        }
        self.init(first: first, last: last)
    }

    /// Whether `seq` is one of the batch's records.
    package func contains(_ seq: UInt64) -> Bool { first <= seq && seq <= last }
}

/// The decoded form of a snapshot file.
package struct SnapshotFrame<State: Decodable>: Decodable {
    package var seq: UInt64
    package var time: Int64
    package var state: State
}

/// Any JSON value; lets the offline verifier decode lines without knowing the event and state types.
package struct AnyJSONValue: Decodable, Sendable {
    package init(from decoder: any Decoder) throws {
        if var array = try? decoder.unkeyedContainer() {
            while !array.isAtEnd { _ = try array.decode(AnyJSONValue.self) }
        } else if let object = try? decoder.container(keyedBy: AnyCodingKey.self) {
            for key in object.allKeys { _ = try object.decode(AnyJSONValue.self, forKey: key) }
        } else {
            let single = try decoder.singleValueContainer()
            if single.decodeNil() { return }
            if (try? single.decode(Bool.self)) != nil { return }
            if (try? single.decode(Double.self)) != nil { return }
            _ = try single.decode(String.self)
        }
    }
}

/// Encodes records and snapshots into their canonical lines.
package enum JournalCodec {
    /// The JSON of `value` (a snapshot's state), through the streaming ``JSONLineEncoder`` with dictionaries in
    /// key order, so equal values give equal bytes. Foundation's `JSONEncoder` with sorted keys, used before, built
    /// a tree of the whole state first and took 2.6 times as long (91 s against 35 s at 1M owned numbers;
    /// `JSONDecoder` reads both).
    package static func encodeJSON<Value: Encodable>(_ value: Value) throws(JournalError) -> [UInt8] {
        try checkedLine { try JSONLineEncoder.encode(value, sortingDictionaries: true) }
    }

    /// The JSON of a record's events, through the streaming ``JSONLineEncoder`` (compact, keys in encoding order:
    /// events hold no dictionaries, so equal events give equal bytes). Read back with ``decode(_:_:)`` like the rest.
    package static func encodeEventsJSON<Value: Encodable>(_ value: Value) throws(JournalError) -> [UInt8] {
        try checkedLine { try JSONLineEncoder.encode(value) }
    }

    /// Runs an encoder, mapping its error, and checks the bytes fit on one line: both encoders escape control
    /// characters inside strings, but a raw newline would split the line, so check rather than trust.
    private static func checkedLine(_ encode: () throws -> [UInt8]) throws(JournalError) -> [UInt8] {
        let bytes: [UInt8]
        do {
            bytes = try encode()
        } catch {
            throw JournalError(.encodingFailed, "cannot encode to JSON: \(error)")
        }
        let hasNewline = bytes.withUnsafeBytes { raw in
            raw.baseAddress.map { memchr($0, Int32(UInt8(ascii: "\n")), raw.count) != nil } ?? false
        }
        guard !hasNewline else {
            throw JournalError(.encodingFailed, "encoded JSON contains a raw newline")
        }
        return bytes
    }

    /// The full journal line of a record whose events are already encoded: `{"seq":S,"time":T,"batch":[F,L],"events":…}`
    /// (store format 2; without `batch`, the line of format 1 that tests and fuzz seeds still write).
    package static func recordLine(
        seq: UInt64, time: Int64, batch: RecordBatch? = nil, eventsJSON: [UInt8]
    ) -> [UInt8] {
        let batchJSON = batch.map { #""batch":[\#($0.first),\#($0.last)],"# } ?? ""
        return ChecksummedLine.encode(
            head: Array(#"{"seq":\#(seq),"time":\#(time),\#(batchJSON)"events":"#.utf8), body: eventsJSON)
    }

    /// The full content of a snapshot file.
    package static func snapshotLine(seq: UInt64, time: Int64, stateJSON: [UInt8]) -> [UInt8] {
        ChecksummedLine.encode(head: snapshotHead(seq: seq, time: time), body: stateJSON)
    }

    /// The full content of a snapshot file of `state`: ``snapshotLine(seq:time:stateJSON:)`` of its JSON
    /// (``encodeJSON(_:)``), byte for byte, encoded in one buffer of at least `capacity` bytes — the file's whole
    /// size held once, not the JSON and then a copy of it with the head.
    package static func snapshotFile<State: Encodable>(
        seq: UInt64, time: Int64, state: State, capacity: Int
    ) throws(JournalError) -> [UInt8] {
        var line = try checkedLine {
            try JSONLineEncoder.encode(
                state, sortingDictionaries: true, after: snapshotHead(seq: seq, time: time), capacity: capacity)
        }
        ChecksummedLine.appendTrailer(to: &line)
        return line
    }

    private static func snapshotHead(seq: UInt64, time: Int64) -> [UInt8] {
        Array(#"{"seq":\#(seq),"time":\#(time),"state":"#.utf8)
    }

    /// Decodes a line already checked by `ChecksummedLine.verify`, through ``JSONLineDecoder`` (Foundation's
    /// `JSONDecoder`, used before, took 90 % of a snapshot reload and reads the same values).
    package static func decode<Frame: Decodable>(_ type: Frame.Type, _ line: ArraySlice<UInt8>) throws -> Frame {
        try JSONLineDecoder.decode(Frame.self, from: line)
    }
}
