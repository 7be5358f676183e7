import Foundation

/// One good record found in a segment.
package struct ScannedRecord<Event> {
    package var seq: UInt64
    package var time: Int64
    package var offset: Int
    package var events: [Event]
}

/// A problem found while scanning a segment.
package enum SegmentIssue: Sendable, Hashable {
    /// A damaged line that is not the last one: refuse to start.
    case corrupt(offset: Int, reason: String)
    /// A good line whose seq is not the one expected.
    case gap(offset: Int, expected: UInt64, found: UInt64)
}

/// The last line of a segment is incomplete or fails its checksum: a crash cut the last append.
package struct TornTail: Sendable, Hashable {
    /// Where the torn line starts (the length the segment is cut to).
    package var offset: Int
    /// How many bytes it has.
    package var length: Int
    /// Why it is torn.
    package var reason: String
}

/// The result of scanning one segment file.
package struct SegmentScan<Event> {
    package var records: [ScannedRecord<Event>] = []
    package var issues: [SegmentIssue] = []
    package var torn: TornTail?
    /// The seq of the last good record, or `firstSeq - 1` if none.
    package var lastSeq: UInt64
}

/// Splits a segment's bytes into checked records; pure, shared by recovery and the offline verifier.
package enum SegmentScanner {
    /// Scans `bytes`, a segment whose first record must have seq `firstSeq`.
    ///
    /// A damaged LAST line (no newline, or a bad checksum) is a torn tail — unless a complete record with a valid
    /// checksum ends it (a damaged separator merged two records); a damaged line followed by more bytes is
    /// corruption, and so is any line whose checksum holds but which does not decode (a crash cannot produce
    /// it, so cutting it could drop an acknowledged record). Every problem is reported; scanning continues.
    package static func scan<Event: Decodable>(
        _ bytes: [UInt8], firstSeq: UInt64, as type: Event.Type
    ) -> SegmentScan<Event> {
        var scan = SegmentScan<Event>(lastSeq: firstSeq &- 1)
        var expected = firstSeq
        var start = 0
        while start < bytes.count {
            let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n"))
            let end = newline ?? bytes.count
            let next = newline.map { $0 + 1 } ?? bytes.count
            let isLast = next == bytes.count
            switch check(bytes[start..<end], hasNewline: newline != nil, as: type) {
            case .undecodable(let reason):
                // The checksum holds, so the bytes are what was written: not a torn write, wherever it is.
                scan.issues.append(.corrupt(offset: start, reason: reason))
            case .failure(let reason):
                if isLast, let inner = embeddedRecordOffset(bytes[start..<end]) {
                    // A crash leaves a prefix of what it wrote, never a whole record after a damaged one: this is
                    // a damaged line separator merging an earlier record with the last one.
                    scan.issues.append(
                        .corrupt(
                            offset: start,
                            reason: "\(reason); a complete record starts inside it at offset \(inner), so it is "
                                + "damage, not a torn write"))
                } else if isLast {
                    scan.torn = TornTail(offset: start, length: bytes.count - start, reason: reason)
                } else {
                    scan.issues.append(.corrupt(offset: start, reason: reason))
                }
            case .success(let frame):
                if frame.seq != expected {
                    scan.issues.append(.gap(offset: start, expected: expected, found: frame.seq))
                }
                scan.records.append(
                    ScannedRecord(seq: frame.seq, time: frame.time, offset: start, events: frame.events))
                scan.lastSeq = frame.seq
                expected = frame.seq &+ 1
            }
            start = next
        }
        return scan
    }

    /// The offset of a record line starting inside `line` (after its first byte) and running to its end with a
    /// valid checksum, if there is one.
    static func embeddedRecordOffset(_ line: ArraySlice<UInt8>) -> Int? {
        let opening = Array(#"{"seq":"#.utf8)
        var index = line.startIndex + 1
        while index + opening.count <= line.endIndex {
            if line[index] == opening[0], line[index..<(index + opening.count)].elementsEqual(opening),
                ChecksummedLine.verify(line[index...])
            {
                return index
            }
            index += 1
        }
        return nil
    }

    private enum LineCheck<Event: Decodable> {
        case success(RecordFrame<Event>)
        /// Incomplete or failing its checksum: what a crash mid-append leaves.
        case failure(String)
        /// Intact bytes that do not decode as a record of `Event`.
        case undecodable(String)
    }

    private static func check<Event: Decodable>(
        _ line: ArraySlice<UInt8>, hasNewline: Bool, as type: Event.Type
    ) -> LineCheck<Event> {
        guard hasNewline else { return .failure("incomplete line (no newline)") }
        guard ChecksummedLine.verify(line) else { return .failure("checksum mismatch or malformed trailer") }
        do {
            return .success(try JournalCodec.decode(RecordFrame<Event>.self, line))
        } catch {
            return .undecodable("checksum is valid but the line does not decode as a record: \(error)")
        }
    }
}
