import Foundation
import Testing

@testable import NumberCore

/// The never-regenerated fixture of store format 2 (`Fixtures/store-format-2`): the records of format 1's fixture,
/// written by a build whose journal lines name their batch. Format 1's suite covers the event kinds and tables; this
/// one pins what format 2 adds and that both formats' files hold the same state.
@Suite("Store format 2 fixture")
struct StoreFormatTwoFixtureTests {
    static let folder = StoreFixture.folder(format: 2)
    static let store = folder.appendingPathComponent("store")

    static func scratchCopy(dropping dropped: (String) -> Bool = { _ in false }) throws -> TempDirectory {
        let scratch = TempDirectory("fixture2")
        for name in try FileManager.default.contentsOfDirectory(atPath: store.path) where !dropped(name) {
            try FileManager.default.copyItem(at: store.appendingPathComponent(name), to: scratch.file(name))
        }
        return scratch
    }

    /// Every journal line of the fixture, checked and decoded.
    static func lines() throws -> [(raw: ArraySlice<UInt8>, frame: RecordFrame<CoreEvent>)] {
        let names = try FileManager.default.contentsOfDirectory(atPath: store.path).sorted()
        return try names.filter { JournalLayout.segmentSeq($0) != nil }.flatMap { name in
            let bytes = [UInt8](try Data(contentsOf: store.appendingPathComponent(name)))
            return try bytes.split(separator: UInt8(ascii: "\n")).map { line in
                #expect(ChecksummedLine.verify(line))
                return (line, try JournalCodec.decode(RecordFrame<CoreEvent>.self, line))
            }
        }
    }

    @Test("FORMAT says format 2, readers 1; every journal line names a batch that holds it")
    func linesNameTheirBatch() throws {
        #expect(
            [UInt8](try Data(contentsOf: Self.store.appendingPathComponent("FORMAT")))
                == Array(#"{"format":2,"readers":1}"#.utf8) + [10])
        let lines = try Self.lines()
        #expect(lines.count == 44)
        for (raw, frame) in lines {
            let batch = try #require(frame.batch, "record \(frame.seq)")
            #expect(batch.contains(frame.seq))
            #expect(
                String(decoding: raw, as: UTF8.self).hasPrefix(
                    #"{"seq":\#(frame.seq),"time":\#(frame.time),"batch":[\#(batch.first),\#(batch.last)],"events":["#))
        }
    }

    @Test("it opens to format 1's expected state, from the snapshot and from the journal alone")
    func opensToTheSameStateAsFormatOne() async throws {
        let expected = try StoreFormatFixtureTests.expectedState()
        #expect(
            try Data(contentsOf: Self.folder.appendingPathComponent(StoreFixture.expectedStateName))
                == Data(
                    contentsOf: StoreFormatFixtureTests.folder.appendingPathComponent(StoreFixture.expectedStateName)))
        let whole = try Self.scratchCopy()
        defer { whole.remove() }
        let (state, json) = try await StoreFormatFixtureTests.openedState(whole)
        #expect(StoreFormatFixtureTests.differences(expected, json).isEmpty)
        #expect(state.checkInvariants() == [])
        // Moved on to this build's format (3: older readers would drop ledger actors), never back.
        #expect(try whole.bytes("FORMAT") == StoreFormatFile.encode(.current))
        let journalOnly = try Self.scratchCopy(dropping: { JournalLayout.snapshotSeq($0) != nil })
        defer { journalOnly.remove() }
        #expect(try await StoreFormatFixtureTests.openedState(journalOnly).0 == state)
    }

    /// What a format 1 build decodes a journal line as: no `batch`.
    struct FormatOneFrame: Decodable, Equatable {
        var seq: UInt64
        var time: Int64
        var events: [CoreEvent]
    }

    @Test("a format 1 reader reads every format 2 line as the same record (readers stays 1)")
    func formatOneReadersReadIt() throws {
        for (raw, frame) in try Self.lines() {
            let journalReader = try JSONLineDecoder.decode(FormatOneFrame.self, from: raw)
            let foundation = try JSONDecoder().decode(FormatOneFrame.self, from: Data(raw))
            let expected = FormatOneFrame(seq: frame.seq, time: frame.time, events: frame.events)
            #expect(journalReader == expected && foundation == expected)
        }
    }

    @Test("numberd verify finds it sound, format 2")
    func verifiesSound() async throws {
        let scratch = try Self.scratchCopy()
        defer { scratch.remove() }
        let report = await verifyDataDirectory(scratch.url)
        #expect(report.isSound && report.journal.isClean, "\(report.journal.problems) \(report.replayError ?? "")")
        #expect(report.journal.format == .recorded(StoreFormat(format: 2, readers: 1)))
    }
}
