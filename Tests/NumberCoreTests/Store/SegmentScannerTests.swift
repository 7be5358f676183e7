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
}
