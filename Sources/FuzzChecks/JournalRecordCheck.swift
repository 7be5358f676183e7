import Foundation
import NumberCore

/// Journal segment bytes through `SegmentScanner` (recovery and the offline verifier use it).
///
/// Input: byte 0 bit 0 set and no newline in the rest: the rest is the `events` JSON of one record, given a valid
/// checksum (so the fuzzer reaches the JSON decoding past the CRC); otherwise the rest is a raw segment. Properties:
/// no crash; records, issues and the torn tail are consistent with the bytes; a checksummed complete line is a
/// record or a corrupt issue, never a torn tail; every decoded record re-encodes and scans back equal; whatever the
/// journal's `JSONLineDecoder` reads from a line, Foundation's `JSONDecoder` reads as the same record; records that
/// write and read their own JSON do so as their `Codable` conformance would.
enum JournalRecordCheck {
    static let name = FuzzTarget.journalRecord.rawValue
    static let newline = UInt8(ascii: "\n")
    /// A fixed record time for wrapped inputs (2025-11-29).
    static let time: Int64 = 1_764_385_200_123

    static func run(_ input: [UInt8]) throws(FuzzCheckFailure) {
        guard let mode = input.first else { return }
        let body = Array(input.dropFirst())
        let wrapped = mode & 1 == 1 && !body.contains(newline)
        let segment = wrapped ? JournalCodec.recordLine(seq: 1, time: time, eventsJSON: body) : body
        let scan = SegmentScanner.scan(segment, firstSeq: 1, as: CoreEvent.self)
        try checkConsistency(scan, segment: segment)
        if wrapped {
            let corrupt = scan.issues.filter { if case .corrupt = $0 { true } else { false } }.count
            guard scan.torn == nil, scan.records.count + corrupt == 1 else {
                throw FuzzCheckFailure(
                    name,
                    "a complete checksummed line scanned as \(scan.records.count) records, "
                        + "\(corrupt) corrupt, torn \(scan.torn.map { "\($0)" } ?? "nil")")
            }
        }
        for record in scan.records {
            try roundTrip(record)
            try sameAsFoundation(record, segment: segment)
        }
        if wrapped {
            // The records that read themselves read what their Codable conformance reads, or fail as it fails.
            let direct = try? JSONLineDecoder.decode([CoreEvent].self, from: body[...])
            let codable = try? JSONLineDecoder.decode([CoreEvent].self, from: body[...], readingDirectly: false)
            guard direct == codable else {
                throw FuzzCheckFailure(name, "the events read directly differ from the events read through Codable")
            }
        }
    }

    /// The line of `record` read by Foundation's `JSONDecoder` (what the journal used before) gives the same record.
    static func sameAsFoundation(_ record: ScannedRecord<CoreEvent>, segment: [UInt8]) throws(FuzzCheckFailure) {
        let end = segment[record.offset...].firstIndex(of: newline) ?? segment.count
        let foundation = try? JSONDecoder().decode(
            RecordFrame<CoreEvent>.self, from: Data(segment[record.offset..<end]))
        guard let foundation, foundation.seq == record.seq, foundation.time == record.time,
            foundation.events == record.events
        else {
            throw FuzzCheckFailure(name, "record \(record.seq) reads differently through JSONDecoder")
        }
    }

    static func checkConsistency(_ scan: SegmentScan<CoreEvent>, segment: [UInt8]) throws(FuzzCheckFailure) {
        var previous = -1
        for record in scan.records {
            guard record.offset > previous, record.offset < segment.count else {
                throw FuzzCheckFailure(name, "record offsets out of order or bounds: \(record.offset)")
            }
            previous = record.offset
            let end = segment[record.offset...].firstIndex(of: newline) ?? segment.count
            guard ChecksummedLine.verify(segment[record.offset..<end]) else {
                throw FuzzCheckFailure(name, "record at \(record.offset) does not pass its checksum")
            }
        }
        guard scan.lastSeq == (scan.records.last?.seq ?? 0) else {
            throw FuzzCheckFailure(name, "lastSeq \(scan.lastSeq) is not the last record's seq")
        }
        if let torn = scan.torn {
            guard torn.offset > previous, torn.offset + torn.length == segment.count, torn.length > 0 else {
                throw FuzzCheckFailure(name, "torn tail \(torn) is not the end of the \(segment.count) bytes")
            }
        }
    }

    static func roundTrip(_ record: ScannedRecord<CoreEvent>) throws(FuzzCheckFailure) {
        let json: [UInt8]
        do {
            // The journal's own encoder (JSONLineEncoder): what it writes must scan back to the same events.
            json = try JournalCodec.encodeEventsJSON(record.events)
        } catch {
            throw FuzzCheckFailure(name, "decoded events do not encode: \(error)")
        }
        let line = JournalCodec.recordLine(seq: record.seq, time: record.time, batch: record.batch, eventsJSON: json)
        let again = SegmentScanner.scan(line, firstSeq: record.seq, as: CoreEvent.self)
        guard again.issues.isEmpty, again.torn == nil, again.records.count == 1,
            again.records[0].events == record.events, again.records[0].time == record.time,
            again.records[0].batch == record.batch
        else {
            throw FuzzCheckFailure(name, "record \(record.seq) does not round-trip: \(again.issues)")
        }
        guard (try? JournalCodec.encodeEventsJSON(again.records[0].events)) == json else {
            throw FuzzCheckFailure(name, "record \(record.seq) encodes differently after a round trip")
        }
        // The records that write their own JSON write what their Codable conformance would.
        guard (try? JSONLineEncoder.encode(record.events, writingDirectly: false)) == json else {
            throw FuzzCheckFailure(name, "record \(record.seq): direct JSON differs from the Codable JSON")
        }
    }
}
