import Foundation
import NumberCore
import Testing

/// The pure segment scanner: bytes in, records / torn tail / issues out.
@Suite("SegmentScanner")
struct SegmentScannerTests {
    func line(_ seq: UInt64) -> [UInt8] {
        JournalCodec.recordLine(seq: seq, time: 1, eventsJSON: Array(#"[{"note":{"_0":"n\#(seq)"}}]"#.utf8))
    }

    @Test("an empty segment has no record and no problem")
    func empty() {
        let scan = SegmentScanner.scan([], firstSeq: 5, as: ToyEvent.self)
        #expect(scan.records.isEmpty && scan.issues.isEmpty && scan.torn == nil)
        #expect(scan.lastSeq == 4)
    }

    @Test("good lines come back in order with their offsets")
    func goodLines() {
        let bytes = line(5) + line(6)
        let scan = SegmentScanner.scan(bytes, firstSeq: 5, as: ToyEvent.self)
        #expect(scan.records.map(\.seq) == [5, 6])
        #expect(scan.records.map(\.offset) == [0, line(5).count])
        #expect(scan.records.map(\.events) == [[.note("n5")], [.note("n6")]])
        #expect(scan.lastSeq == 6 && scan.issues.isEmpty && scan.torn == nil)
    }

    @Test("a lone newline at the end is a torn tail of one byte")
    func loneNewline() {
        let scan = SegmentScanner.scan(line(1) + [UInt8(ascii: "\n")], firstSeq: 1, as: ToyEvent.self)
        #expect(scan.torn?.offset == line(1).count)
        #expect(scan.torn?.length == 1)
    }

    @Test("a bad line followed by a torn one: the first is corruption, the last torn")
    func badThenTorn() {
        var damaged = line(2)
        damaged[3] ^= 1
        let bytes = line(1) + damaged + Array(line(3).prefix(10))
        let scan = SegmentScanner.scan(bytes, firstSeq: 1, as: ToyEvent.self)
        #expect(scan.issues == [.corrupt(offset: line(1).count, reason: "checksum mismatch or malformed trailer")])
        #expect(scan.torn?.offset == line(1).count + damaged.count)
        #expect(scan.records.map(\.seq) == [1])
    }

    @Test("a wrong first seq and a repeated seq are gaps at their offsets")
    func gaps() {
        let scan = SegmentScanner.scan(line(2) + line(2), firstSeq: 1, as: ToyEvent.self)
        #expect(
            scan.issues == [.gap(offset: 0, expected: 1, found: 2), .gap(offset: line(2).count, expected: 3, found: 2)])
    }

    @Test("a damaged separator merging the last two records is corruption, not a torn tail")
    func mergedLastLines() {
        var middle = line(2)
        middle[middle.count - 1] = UInt8(ascii: " ")  // its newline damaged
        let scan = SegmentScanner.scan(line(1) + middle + line(3), firstSeq: 1, as: ToyEvent.self)
        #expect(scan.torn == nil)
        #expect(scan.issues.count == 1)
        guard case .corrupt(let offset, _) = scan.issues.first else {
            Issue.record("expected corruption, got \(scan.issues)")
            return
        }
        #expect(offset == line(1).count)
    }

    @Test("a last record missing only its newline is still a torn tail (a crash can stop right before it)")
    func missingFinalNewline() {
        let scan = SegmentScanner.scan(line(1) + line(2).dropLast(), firstSeq: 1, as: ToyEvent.self)
        #expect(scan.issues.isEmpty)
        #expect(scan.torn?.offset == line(1).count)
        #expect(scan.records.map(\.seq) == [1])
    }

    // MARK: - Store format 2: records name their batch

    /// One record of the batch `first...last`.
    func batched(_ seq: UInt64, _ first: UInt64, _ last: UInt64) -> [UInt8] {
        JournalCodec.recordLine(
            seq: seq, time: 1, batch: RecordBatch(first: first, last: last),
            eventsJSON: Array(#"[{"note":{"_0":"n\#(seq)"}}]"#.utf8))
    }

    /// Records 1–3 (one batch, acknowledged once record 4 was written) then 4–9 (the last batch); the offset where
    /// the last batch starts.
    func twoBatches() -> (bytes: [UInt8], lastBatchStart: Int) {
        let acknowledged = (1...3).flatMap { batched($0, 1, 3) }
        return (acknowledged + (4...9).flatMap { batched($0, 4, 9) }, acknowledged.count)
    }

    func lineStarts(_ bytes: [UInt8]) -> [Int] {
        [0] + bytes.indices.filter { bytes[$0] == UInt8(ascii: "\n") }.map { $0 + 1 }
    }

    /// `bytes` with `range` zeroed: a page the power cut never wrote.
    func zeroed(_ bytes: [UInt8], _ range: Range<Int>) -> [UInt8] {
        var copy = bytes
        for index in range.clamped(to: 0..<bytes.count) { copy[index] = 0 }
        return copy
    }

    @Test("a format 2 line carries its batch and scans back with it")
    func batchRoundTrip() {
        let scan = SegmentScanner.scan(batched(4, 4, 9), firstSeq: 4, as: ToyEvent.self)
        #expect(scan.issues.isEmpty && scan.torn == nil)
        #expect(scan.records.first?.batch == RecordBatch(first: 4, last: 9))
        #expect(SegmentScanner.scan(line(4), firstSeq: 4, as: ToyEvent.self).records.first?.batch == nil)
    }

    @Test("a record naming a batch that does not hold it is corruption, even last")
    func batchNotHoldingTheRecord() {
        let scan = SegmentScanner.scan(batched(1, 1, 1) + batched(2, 3, 4), firstSeq: 1, as: ToyEvent.self)
        #expect(scan.torn == nil)
        #expect(scan.issues.count == 1)
    }

    @Test("every window zeroed inside the last batch (pages written out of order) is a torn tail from its first byte")
    func zeroedWindowsInTheLastBatch() async {
        let (bytes, lastBatchStart) = twoBatches()
        let starts = lineStarts(bytes)
        var checked = 0
        for width in [1, 7, 64, 150, 512] {
            for from in stride(from: lastBatchStart, to: bytes.count, by: max(1, width / 3)) {
                if checked % 20 == 0 { await Task.yield() }
                let damaged = zeroed(bytes, from..<(from + width))
                let scan = SegmentScanner.scan(damaged, firstSeq: 1, as: ToyEvent.self)
                let label = "zeroed \(from)..<\(from + width)"
                // The cut starts at the line holding the first zeroed byte; every record before it is kept.
                let cut = starts.last { $0 <= from }!
                #expect(scan.issues.isEmpty, "\(label): \(scan.issues)")
                #expect(scan.torn?.offset == cut, "\(label)")
                #expect(scan.torn.map { $0.offset + $0.length } == bytes.count, "\(label)")
                #expect(scan.records.map(\.seq) == Array(1...UInt64(starts.firstIndex(of: cut)!)), "\(label)")
                #expect(scan.lastSeq == UInt64(starts.firstIndex(of: cut)!), "\(label)")
                checked += 1
            }
        }
        #expect(checked > 100)
    }

    @Test("damage in an acknowledged batch is corruption, whatever the last batch holds")
    func damageInAnEarlierBatch() {
        let (bytes, lastBatchStart) = twoBatches()
        for from in 0..<lastBatchStart {
            let scan = SegmentScanner.scan(zeroed(bytes, from..<(from + 40)), firstSeq: 1, as: ToyEvent.self)
            #expect(!scan.issues.isEmpty, "zeroed from \(from)")
            #expect(scan.torn == nil || scan.issues.contains { if case .corrupt = $0 { true } else { false } })
        }
    }

    @Test("a zeroed separator merging two records of the last batch is a torn tail from the first")
    func mergedInsideTheLastBatch() {
        let (bytes, _) = twoBatches()
        let starts = lineStarts(bytes)
        // The newline ending record 6 zeroed: record 6 and record 7 become one damaged line that ends with record 7.
        let damaged = zeroed(bytes, (starts[6] - 1)..<starts[6])
        let scan = SegmentScanner.scan(damaged, firstSeq: 1, as: ToyEvent.self)
        #expect(scan.issues.isEmpty)
        #expect(scan.torn?.offset == starts[5])
        #expect(scan.records.map(\.seq) == [1, 2, 3, 4, 5])
        // The same damage in format 1 lines stays corruption.
        let old = (1...9).flatMap(line)
        let oldStarts = lineStarts(old)
        let oldScan = SegmentScanner.scan(
            zeroed(old, (oldStarts[6] - 1)..<oldStarts[6]), firstSeq: 1, as: ToyEvent.self)
        #expect(oldScan.torn == nil && !oldScan.issues.isEmpty)
    }

    @Test("damage after the last batch's last record is a later write's: corruption")
    func damageAfterTheBatchEnds() {
        let (bytes, _) = twoBatches()
        let starts = lineStarts(bytes)
        // Record 5 zeroed and bytes after record 9, the batch's last, damaged too.
        let damaged = zeroed(bytes, starts[4]..<(starts[4] + 20)) + Array("garbage\n".utf8) + Array("x".utf8)
        let scan = SegmentScanner.scan(damaged, firstSeq: 1, as: ToyEvent.self)
        #expect(scan.torn == nil || !scan.issues.isEmpty)
        #expect(!scan.issues.isEmpty)
    }

    @Test("intact records of two batches after the damage: corruption")
    func twoBatchesAfterTheDamage() {
        let bytes = batched(1, 1, 2) + batched(2, 1, 2) + batched(3, 3, 4) + batched(4, 3, 4)
        let starts = lineStarts(bytes)
        let scan = SegmentScanner.scan(zeroed(bytes, starts[1]..<(starts[1] + 10)), firstSeq: 1, as: ToyEvent.self)
        #expect(scan.torn == nil && !scan.issues.isEmpty)
    }

    @Test(
        "damage running to the end: torn when zeros inside the batch's records, refused when it passes the batch or is not zeros"
    )
    func damageToTheEnd() {
        let (bytes, _) = twoBatches()
        let starts = lineStarts(bytes)
        /// `bytes` from `from` on overwritten with `fill`, keeping the newlines of the lines starting before `keep`.
        func overwritten(_ bytes: [UInt8], from: Int, keep: Int, fill: UInt8) -> [UInt8] {
            var copy = bytes
            for index in from..<bytes.count where copy[index] != UInt8(ascii: "\n") || index >= keep {
                copy[index] = fill
            }
            return copy
        }
        // Records 6–9 zeroed, records 6 and 7 keeping their newlines: records 4 and 5 say their batch ends at 9.
        let zeroed = overwritten(bytes, from: starts[5], keep: starts[7], fill: 0)
        let scan = SegmentScanner.scan(zeroed, firstSeq: 1, as: ToyEvent.self)
        #expect(scan.issues.isEmpty)
        #expect(scan.torn?.offset == starts[5])
        #expect(scan.records.map(\.seq) == [1, 2, 3, 4, 5])
        // The same bytes as garbage, not zeros: media damage, refused.
        let garbage = overwritten(bytes, from: starts[5], keep: starts[7], fill: 0x20)
        #expect(!SegmentScanner.scan(garbage, firstSeq: 1, as: ToyEvent.self).issues.isEmpty)
        // The same after record 3, whose batch ended with it: a later write is damaged over several lines.
        let later = overwritten(bytes, from: starts[3], keep: starts[5], fill: 0)
        #expect(!SegmentScanner.scan(later, firstSeq: 1, as: ToyEvent.self).issues.isEmpty)
        // More damaged lines than the batch has records left: the damage ran past it (bytes beyond record 9 too).
        let past = overwritten(bytes, from: starts[5], keep: bytes.count, fill: 0) + [0, 10, 0, 10]
        #expect(!SegmentScanner.scan(past, firstSeq: 1, as: ToyEvent.self).issues.isEmpty)
    }

    @Test("flipped bits over the end of an acknowledged batch and all of the next one are refused (review finding)")
    func flippedBitsAcrossBatches() {
        let bytes = (1...3).flatMap { batched($0, 1, 3) } + batched(4, 4, 4)
        let starts = lineStarts(bytes)
        var damaged = bytes
        damaged[starts[2] + 3] ^= 1
        damaged[starts[3] + 3] ^= 1
        // Refused: record 3's line is corruption (record 4's, the last, is a torn line as in format 1).
        #expect(!SegmentScanner.scan(damaged, firstSeq: 1, as: ToyEvent.self).issues.isEmpty)
        // Zeros there instead, one line each: two lines for the one record batch 1–3 has left after record 2.
        let zeros = zeroed(zeroed(bytes, (starts[2] + 3)..<(starts[2] + 9)), (starts[3] + 3)..<(starts[3] + 9))
        #expect(!SegmentScanner.scan(zeros, firstSeq: 1, as: ToyEvent.self).issues.isEmpty)
    }

    /// Why recovery starts a new segment after a cut: records kept from a cut batch still name it, and a batch written
    /// after them in the same file would have the next power cut there taken for damage to acknowledged records.
    @Test("a batch written after a cut batch's records in the same segment: its power cut is refused")
    func staleBatchAfterACut() {
        let bytes = (1...3).flatMap { batched($0, 1, 6) } + (4...7).flatMap { batched($0, 4, 7) }
        let starts = lineStarts(bytes)
        let damaged = zeroed(bytes, (starts[3] + 5)..<(starts[3] + 30))
        #expect(!SegmentScanner.scan(damaged, firstSeq: 1, as: ToyEvent.self).issues.isEmpty)
        // In a segment of its own (as recovery now writes it), the same batch's power cut is a torn tail.
        let own = (4...7).flatMap { batched($0, 4, 7) }
        let ownStarts = lineStarts(own)
        let cut = SegmentScanner.scan(
            zeroed(own, (ownStarts[0] + 5)..<(ownStarts[0] + 30)), firstSeq: 4, as: ToyEvent.self)
        #expect(cut.issues.isEmpty && cut.torn?.offset == 0)
    }

    @Test("the rule is for the journal's last segment only: elsewhere the damage stays corruption")
    func onlyTheLastSegment() {
        let (bytes, lastBatchStart) = twoBatches()
        let damaged = zeroed(bytes, (lastBatchStart + 10)..<(lastBatchStart + 60))
        #expect(SegmentScanner.scan(damaged, firstSeq: 1, as: ToyEvent.self).torn != nil)
        let notLast = SegmentScanner.scan(damaged, firstSeq: 1, as: ToyEvent.self, lastSegment: false)
        #expect(notLast.torn == nil && !notLast.issues.isEmpty)
    }

    @Test("damage at a segment's first record: the batch must begin at the segment's first seq")
    func damageAtTheSegmentStart() {
        let good = (11...14).flatMap { batched($0, 11, 14) }
        let scan = SegmentScanner.scan(zeroed(good, 0..<10), firstSeq: 11, as: ToyEvent.self)
        #expect(scan.issues.isEmpty && scan.torn?.offset == 0 && scan.records.isEmpty && scan.lastSeq == 10)
        // A batch said to begin in an earlier segment cannot be this segment's: corruption.
        let odd = (11...14).flatMap { batched($0, 10, 14) }
        let refused = SegmentScanner.scan(zeroed(odd, 0..<10), firstSeq: 11, as: ToyEvent.self)
        #expect(refused.torn == nil && !refused.issues.isEmpty)
    }

    @Test("a gap or an undecodable line anywhere keeps the damage corruption")
    func otherProblemsKeepTheRefusal() {
        let (bytes, _) = twoBatches()
        let starts = lineStarts(bytes)
        // Record 2 missing (a gap before the damage) and record 7 zeroed.
        let gapped = Array(bytes[..<starts[1]] + bytes[starts[2]...])
        let gapStarts = lineStarts(gapped)
        let gapScan = SegmentScanner.scan(
            zeroed(gapped, gapStarts[5]..<(gapStarts[5] + 5)), firstSeq: 1, as: ToyEvent.self)
        #expect(gapScan.torn == nil && gapScan.issues.count >= 2)
        // A checksummed line that does not decode, after the damage.
        let undecodable = ChecksummedLine.encode(
            head: Array(#"{"seq":9,"time":1,"batch":[4,9],"events":"#.utf8), body: Array("[7]".utf8))
        let mixed = Array(zeroed(bytes, starts[6]..<(starts[6] + 5))[..<starts[8]]) + undecodable
        let mixedScan = SegmentScanner.scan(mixed, firstSeq: 1, as: ToyEvent.self)
        #expect(mixedScan.torn == nil && mixedScan.issues.count == 3, "damage, the gap after it, the undecodable line")
    }
}
