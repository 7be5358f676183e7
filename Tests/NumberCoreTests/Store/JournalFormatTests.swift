import Foundation
import NumberCore
import Testing

/// Golden bytes pinning the on-disk format, and the checks on them.
@Suite("Journal format")
struct JournalFormatTests {
    @Test("CRC-32C matches the standard check value")
    func crcCheckValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        let split = CRC32C.update(CRC32C.checksum(Array("1234".utf8)), Array("56789".utf8))
        #expect(split == 0xE306_9283)
        // The software path gives the same values (and is the one used without the CPU instruction).
        #expect(CRC32C.softwareUpdate(0, Array("123456789".utf8)) == 0xE306_9283)
    }

    @Test("the CPU instruction and the table agree at every length, alignment and split (the instruction is in use)")
    func crcHardwareMatchesTable() {
        #if arch(x86_64)
        #expect(CRC32C.usesHardware)
        #endif
        var random = SystemRandomNumberGenerator()
        let bytes = (0..<4_096).map { _ in UInt8.random(in: 0...255, using: &random) }
        for length in [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1_000, 4_000] {
            for start in 0..<9 {
                let slice = bytes[start..<(start + length)]
                #expect(CRC32C.update(0x1234_5678, slice) == CRC32C.softwareUpdate(0x1234_5678, slice))
                let cut = start + length / 3
                #expect(
                    CRC32C.update(CRC32C.checksum(bytes[start..<cut]), bytes[cut..<(start + length)])
                        == CRC32C.checksum(slice))
            }
        }
        // A sequence without contiguous storage takes the table.
        #expect(CRC32C.checksum(Array("123456789".utf8).lazy.map { $0 }) == 0xE306_9283)
    }

    @Test("a record line has pinned bytes: JSON head, events, CRC-32C of everything before the trailer")
    func recordLineGolden() throws {
        let line = JournalCodec.recordLine(seq: 1, time: 2, eventsJSON: Array("[1]".utf8))
        #expect(String(decoding: line, as: UTF8.self) == #"{"seq":1,"time":2,"events":[1],"crc":"49b5ddff"}"# + "\n")
        let events = try JournalCodec.encodeJSON([ToyEvent.note("hi")])
        let toy = JournalCodec.recordLine(seq: 7, time: 1_764_385_200_123, eventsJSON: events)
        #expect(
            String(decoding: toy, as: UTF8.self)
                == #"{"seq":7,"time":1764385200123,"events":[{"note":{"_0":"hi"}}],"crc":"4907bd31"}"# + "\n")
        #expect(ChecksummedLine.verify(toy.dropLast()))
    }

    @Test("the checksum check refuses any single flipped bit and a malformed trailer")
    func verifyRefusesDamage() {
        let line = Array(JournalCodec.recordLine(seq: 3, time: 4, eventsJSON: Array("[true]".utf8)).dropLast())
        #expect(ChecksummedLine.verify(line[...]))
        for index in line.indices {
            for bit in 0..<8 {
                var damaged = line
                damaged[index] ^= UInt8(1 << bit)
                #expect(!ChecksummedLine.verify(damaged[...]), "bit \(bit) of byte \(index)")
            }
        }
        #expect(!ChecksummedLine.verify(line.dropLast()))
        #expect(!ChecksummedLine.verify(Array(#","crc":"00000000"}"#.utf8)[...]))
        #expect(!ChecksummedLine.verify([]))
    }

    @Test("file names sort by seq and parse back; other names are ignored")
    func layoutNames() {
        #expect(JournalLayout.segmentName(firstSeq: 42) == "journal-00000000000000000042.jsonl")
        #expect(JournalLayout.snapshotName(seq: UInt64.max) == "snapshot-18446744073709551615.json")
        #expect(JournalLayout.segmentSeq("journal-00000000000000000042.jsonl") == 42)
        #expect(JournalLayout.segmentSeq("journal-42.jsonl") == nil)
        #expect(JournalLayout.segmentSeq("journal-00000000000000000042.jsonl.torn-1") == nil)
        #expect(JournalLayout.snapshotSeq("snapshot-00000000000000000009.json.tmp") == nil)
        #expect(JournalLayout.isSnapshotTemp("snapshot-00000000000000000009.json.tmp"))
    }

    @Test("encoded JSON never holds a raw newline")
    func noRawNewline() throws {
        let bytes = try JournalCodec.encodeJSON([ToyEvent.note("a\nb\r\u{2028}")])
        #expect(!bytes.contains(UInt8(ascii: "\n")))
        let decoded = try JSONDecoder().decode([ToyEvent].self, from: Data(bytes))
        #expect(decoded == [.note("a\nb\r\u{2028}")])
    }
}
