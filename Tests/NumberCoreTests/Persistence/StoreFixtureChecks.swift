import Foundation
import Testing

@testable import NumberCore

/// The checks every store format's fixture gets alike (from format 4 on): a numberd reading only older formats refuses
/// it, changing nothing, and `numberd verify` finds it sound.
enum StoreFixtureChecks {
    /// A numberd that reads store formats up to `readers - 1` refuses the fixture `store` of `format` (whose readers
    /// are `readers`, by default `format`), with the message that says so, and leaves every file as it was.
    static func olderReaderRefuses(
        _ store: URL, format: Int, readers: Int? = nil, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let scratch = try StoreFormatThreeFixtureTests.scratchCopy(of: store)
        defer { scratch.remove() }
        let before = scratch.files().reduce(into: [String: [UInt8]]()) { $0[$1] = try? scratch.bytes($1) }
        let needed = readers ?? format
        let older = needed - 1
        let error = #expect(throws: JournalError.self, sourceLocation: sourceLocation) {
            _ = try FileJournal<CoreEvent, CoreState>.open(
                directory: scratch.url, options: FileNumberStore.Options.defaults.journal,
                format: StoreFormat(format: older, readers: older), initialState: CoreState(),
                apply: { state, event in try state.applyChecked(event) })
        }
        #expect(error?.code == .formatTooNew, sourceLocation: sourceLocation)
        #expect(
            error?.description.contains(
                "written by store format \(format) and needs a numberd that reads format \(needed) or later; this "
                    + "numberd reads store formats up to \(older)") == true, "\(String(describing: error))",
            sourceLocation: sourceLocation)
        #expect(
            scratch.files().reduce(into: [String: [UInt8]]()) { $0[$1] = try? scratch.bytes($1) } == before,
            sourceLocation: sourceLocation)
    }

    /// Every journal line of the fixture `store`, segment by segment in order, with its record, each line's checksum
    /// checked.
    static func journalRecords(
        _ store: URL, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> [(line: [UInt8], record: RecordFrame<CoreEvent>)] {
        var records: [(line: [UInt8], record: RecordFrame<CoreEvent>)] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: store.path).sorted()
        where JournalLayout.segmentSeq(name) != nil {
            let bytes = [UInt8](try Data(contentsOf: store.appendingPathComponent(name)))
            for line in bytes.split(separator: UInt8(ascii: "\n")) {
                #expect(ChecksummedLine.verify(line), sourceLocation: sourceLocation)
                records.append((Array(line), try JournalCodec.decode(RecordFrame<CoreEvent>.self, line)))
            }
        }
        return records
    }

    /// The events of every journal line of the fixture `store`, in order, each line's checksum checked.
    static func journalEvents(_ store: URL, sourceLocation: SourceLocation = #_sourceLocation) throws -> [CoreEvent] {
        try journalRecords(store, sourceLocation: sourceLocation).flatMap(\.record.events)
    }

    /// The journal lines of the fixture `store` as text, one per line, each line's checksum checked.
    static func journalText(_ store: URL, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        try journalRecords(store, sourceLocation: sourceLocation).map { String(decoding: $0.line, as: UTF8.self) }
            .joined(separator: "\n")
    }

    /// The kinds of the events in the fixture `store`'s journal (``StoreFormatFixtureTests/kind(_:)``).
    static func journalKinds(_ store: URL, sourceLocation: SourceLocation = #_sourceLocation) throws -> Set<String> {
        Set(try journalEvents(store, sourceLocation: sourceLocation).map(StoreFormatFixtureTests.kind))
    }

    /// The text of the fixture `store`'s one snapshot.
    static func snapshotText(_ store: URL, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let snapshots = try FileManager.default.contentsOfDirectory(atPath: store.path).filter {
            JournalLayout.snapshotSeq($0) != nil
        }
        let name = try #require(
            snapshots.count == 1 ? snapshots.first : nil, "\(snapshots)", sourceLocation: sourceLocation)
        return String(decoding: try Data(contentsOf: store.appendingPathComponent(name)), as: UTF8.self)
    }

    /// The state a fixture's store must open to: its `expected-state.json`, beside `store/` in `folder`.
    static func expectedState(in folder: URL) throws -> JSONValue {
        try JSONDecoder().decode(
            JSONValue.self, from: Data(contentsOf: folder.appendingPathComponent(StoreFixture.expectedStateName)))
    }

    /// The state the fixture `store` opens to (through a scratch copy), checked to be exactly the `expected-state.json`
    /// in `folder`, to hold every invariant, and to be what the journal alone replays to.
    static func openedExpectedState(
        _ store: URL, folder: URL, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> CoreState {
        let whole = try StoreFormatThreeFixtureTests.scratchCopy(of: store)
        defer { whole.remove() }
        let (state, json) = try await StoreFormatFixtureTests.openedState(whole)
        let differences = StoreFormatFixtureTests.differences(try expectedState(in: folder), json)
        #expect(differences.isEmpty, "\(differences.prefix(20))", sourceLocation: sourceLocation)
        #expect(state.checkInvariants() == [], sourceLocation: sourceLocation)
        let journalOnly = try StoreFormatThreeFixtureTests.scratchCopy(
            of: store, dropping: { JournalLayout.snapshotSeq($0) != nil })
        defer { journalOnly.remove() }
        #expect(
            try await StoreFormatFixtureTests.openedState(journalOnly).0 == state, sourceLocation: sourceLocation)
        return state
    }

    /// `numberd verify` finds the fixture `store` sound, its `FORMAT` recorded as `format` with readers `readers`
    /// (`format` when not given).
    static func verifiesSound(
        _ store: URL, format: Int, readers: Int? = nil, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let scratch = try StoreFormatThreeFixtureTests.scratchCopy(of: store)
        defer { scratch.remove() }
        let report = await verifyDataDirectory(scratch.url)
        #expect(
            report.isSound && report.journal.isClean, "\(report.journal.problems) \(report.replayError ?? "")",
            sourceLocation: sourceLocation)
        #expect(
            report.journal.format == .recorded(StoreFormat(format: format, readers: readers ?? format)),
            sourceLocation: sourceLocation)
        #expect(report.violations.isEmpty, sourceLocation: sourceLocation)
    }
}
