import Foundation

/// One good record found in a segment.
package struct ScannedRecord<Event> {
    package var seq: UInt64
    package var time: Int64
    package var offset: Int
    /// The batch it was written in (nil for a record of store format 1).
    package var batch: RecordBatch?
    package var events: [Event]
}

/// A problem found while scanning a segment.
package enum SegmentIssue: Sendable, Hashable {
    /// A damaged line that is not the last one: refuse to start.
    case corrupt(offset: Int, reason: String)
    /// A good line whose seq is not the one expected.
    case gap(offset: Int, expected: UInt64, found: UInt64)
}

/// The end of a segment that a crash left damaged and that was never acknowledged: its last line incomplete or failing
/// its checksum (a crash cut the last append), or damage inside the last batch (a power cut wrote that batch's pages
/// out of order). Recovery cuts the segment at `offset` and keeps the bytes aside.
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
    ///
    /// One exception, for records that name their batch (store format 2) in the journal's last segment
    /// (`lastSegment`: only it can hold a batch whose write was never acknowledged): damage that lies wholly inside
    /// the segment's last batch is a torn tail from its first damaged byte (``lastBatchDamage(_:_:firstSeq:damaged:)``).
    package static func scan<Event: Decodable>(
        _ bytes: [UInt8], firstSeq: UInt64, as type: Event.Type, lastSegment: Bool = true
    ) -> SegmentScan<Event> {
        var scan = SegmentScan<Event>(lastSeq: firstSeq &- 1)
        var expected = firstSeq
        var start = 0
        // Lines failing their checksum (or incomplete), and whether any intact line did not decode.
        var damaged: [Range<Int>] = []
        var undecodable = false
        while start < bytes.count {
            let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n"))
            let end = newline ?? bytes.count
            let next = newline.map { $0 + 1 } ?? bytes.count
            let isLast = next == bytes.count
            switch check(bytes[start..<end], hasNewline: newline != nil, as: type) {
            case .undecodable(let reason):
                // The checksum holds, so the bytes are what was written: not a torn write, wherever it is.
                scan.issues.append(.corrupt(offset: start, reason: reason))
                undecodable = true
            case .failure(let reason):
                damaged.append(start..<next)
                if isLast, let inner = embeddedRecordOffset(bytes[start..<end]) {
                    // A killed process leaves a prefix of what it wrote, never a whole record after a damaged one:
                    // this is a damaged line separator merging an earlier record with the last one (or a power cut
                    // inside the last batch, which the batch rule below settles).
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
                    ScannedRecord(
                        seq: frame.seq, time: frame.time, offset: start, batch: frame.batch, events: frame.events))
                scan.lastSeq = frame.seq
                expected = frame.seq &+ 1
            }
            start = next
        }
        if lastSegment, !undecodable, let torn = lastBatchDamage(scan, bytes, firstSeq: firstSeq, damaged: damaged) {
            scan.records.removeAll { $0.offset >= torn.offset }
            scan.issues = []
            scan.torn = torn
            scan.lastSeq = scan.records.last?.seq ?? firstSeq &- 1
        }
        return scan
    }

    /// The torn tail to cut when every damaged line of the scan lies inside the segment's last batch, else nil.
    ///
    /// Group commit writes a batch of records with one `write` and acknowledges none of them before its `fdatasync`
    /// returns, and writes the next batch only after that: a power cut during the sync can leave the batch's pages on
    /// disk in any order — a page never written reads as zeros (or as it was before: the previous batch's bytes, then
    /// zeros) — so intact records of the batch may follow damaged ones, which a scan by lines would take for damage
    /// before the last record and refuse. Nothing earlier can be damaged that way. So the damage, from its first byte
    /// `d` to the end, is taken for that power cut when:
    /// - nothing is wrong before `d` (no gap, no damage) and every line after it is damaged or an intact record
    ///   (including one that ends a damaged line, its separator lost);
    /// - every damaged line that ends with a newline holds a zero byte (a record's JSON never does: unwritten pages
    ///   read as zeros, while flipped bits or garbage are media damage; only the last line may be a clean prefix);
    /// - every intact record after `d` names the same batch, one that began no later than the first damaged record
    ///   (the record after the last intact one before `d`), holds each of them in increasing order, and agrees with
    ///   that last intact record (its batch, or a batch that ended with it);
    /// - with no intact record after `d`, the last intact record's batch goes on past it;
    /// - the damaged lines fit in the records the batch leaves for them: between two known records at most one line
    ///   per record missing there, and after the last one at most one per record the batch still has (zeros merge
    ///   lines, never split them), so damage running into a later write is refused.
    /// Like the torn last line of format 1, the rule cannot tell media damage that looks exactly like this from the
    /// power cut; it never cuts records followed by a later batch's. Recovery starts a new segment after any cut
    /// (``FileJournal/Recovery``), so the records left name no batch that later writes continue.
    static func lastBatchDamage<Event>(
        _ scan: SegmentScan<Event>, _ bytes: [UInt8], firstSeq: UInt64, damaged: [Range<Int>]
    ) -> TornTail? {
        // A torn last line and nothing else wrong is format 1's torn tail, already found.
        guard let start = damaged.first?.lowerBound, scan.torn == nil || !scan.issues.isEmpty else { return nil }
        for issue in scan.issues {
            if case .gap(let offset, _, _) = issue, offset < start { return nil }
        }
        let newline = UInt8(ascii: "\n")
        for range in damaged where bytes[range].last == newline {
            guard bytes[range].contains(0) else { return nil }
        }
        let before = scan.records.last { $0.offset < start }
        let firstDamagedSeq = before.map { $0.seq &+ 1 } ?? firstSeq
        // Intact records after the damage: whole lines, and a record that ends a damaged line.
        var after = scan.records.filter { $0.offset > start }.map { (offset: $0.offset, seq: $0.seq, batch: $0.batch) }
        for range in damaged {
            let line = bytes[range].last == newline ? bytes[range].dropLast() : bytes[range]
            guard let inner = embeddedRecordOffset(line),
                let frame = try? JournalCodec.decode(RecordFrame<AnyJSONValue>.self, line[inner...])
            else { continue }
            after.append((inner, frame.seq, frame.batch))
        }
        after.sort { $0.offset < $1.offset }
        let batch: RecordBatch
        let reason: String
        if !after.isEmpty {
            guard let named = after[0].batch, named.first <= firstDamagedSeq,
                after.allSatisfy({ $0.batch == named && named.contains($0.seq) && $0.seq > firstDamagedSeq }),
                zip(after, after.dropFirst()).allSatisfy({ $0.0.seq < $0.1.seq })
            else { return nil }
            // The record before the damage is of the same batch, or its own batch ended with it and this one began
            // right after (a batch never spans segments: a segment's first batch begins at its first seq).
            if before?.batch != named {
                guard named.first == firstDamagedSeq, before.map({ $0.batch?.last ?? $0.seq }) == before?.seq else {
                    return nil
                }
            }
            batch = named
            reason =
                "damage inside the last batch (records \(batch.first)–\(batch.last), written by one write that was never "
                + "acknowledged): a power cut wrote its pages out of order; \(after.count) intact record(s) after the "
                + "damage are cut off with it"
        } else {
            guard let before, let theirs = before.batch, theirs.last > before.seq else { return nil }
            batch = theirs
            reason =
                "damage from here to the end inside the last batch (records \(theirs.first)–\(theirs.last), written by "
                + "one write that was never acknowledged; the last intact record is \(before.seq)): a power cut wrote "
                + "its pages out of order"
        }
        // The damaged lines between known records, and after the last, fit in the records missing there.
        var known = firstDamagedSeq &- 1
        var lines = 0
        var pieces = damaged.map(\.lowerBound)[...]
        for record in after {
            while let piece = pieces.first, piece < record.offset {
                lines += 1
                pieces = pieces.dropFirst()
            }
            guard UInt64(lines) < record.seq - known else { return nil }
            known = record.seq
            lines = 0
        }
        guard UInt64(lines + pieces.count) <= batch.last - known else { return nil }
        return TornTail(offset: start, length: bytes.count - start, reason: reason)
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
            let frame = try JournalCodec.decode(RecordFrame<Event>.self, line)
            if let batch = frame.batch, !batch.contains(frame.seq) {
                return .undecodable(
                    "record \(frame.seq) names a batch [\(batch.first),\(batch.last)] that does not hold it")
            }
            return .success(frame)
        } catch {
            return .undecodable("checksum is valid but the line does not decode as a record: \(error)")
        }
    }
}
