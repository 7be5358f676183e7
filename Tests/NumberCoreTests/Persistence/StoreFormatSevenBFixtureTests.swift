import Foundation
import Testing

@testable import NumberCore

/// The second, never-regenerated fixture of store format 7 (`Fixtures/store-format-7b`): orphan watches of voided
/// purchases with the trunk SID their buys carried (`"buyTrunkSid"`: the trunk's `TK…`, and `""` for a buy that carried
/// none), which format 7 added after `store-format-7` was written, so that one holds no such member. One watch of each
/// in the snapshot, a third after it in the journal.
///
/// Written once, by hand, in the bytes numberd writes for these records (see `Fixtures/README.md`); `formatAndLines`
/// encodes every line again with today's code and compares.
@Suite("Store format 7b fixture")
struct StoreFormatSevenBFixtureTests {
    static let folder = StoreFixture.folder(named: "store-format-7b")
    static let store = folder.appendingPathComponent("store")
    static let trunkSid = "TK" + String(repeating: "d", count: 32)
    /// Each watch's buy trunk SID, by phone number: the first two in the snapshot, the third replayed after it.
    static let buyTrunkSids: [String: String?] = [
        "+14155550111": trunkSid, "+14155550112": "", "+14155550113": trunkSid,
    ]

    @Test("FORMAT says format 7, readers 6; each line is what numberd writes for its records, buyTrunkSid included")
    func formatAndLines() throws {
        #expect(
            [UInt8](try Data(contentsOf: Self.store.appendingPathComponent("FORMAT")))
                == Array(#"{"format":7,"readers":6}"#.utf8) + [10])
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.store.path).sorted()
        var watches: [OrphanWatch] = []
        for (line, frame) in try StoreFixtureChecks.journalRecords(Self.store) {
            let eventsJSON = try JournalCodec.encodeEventsJSON(frame.events)
            let again = JournalCodec.recordLine(
                seq: frame.seq, time: frame.time, batch: frame.batch, eventsJSON: eventsJSON)
            #expect(again == line + [10], "seq \(frame.seq) is not what numberd writes for it")
            for case .orphanWatchStarted(let started) in frame.events { watches += started }
        }
        #expect(watches.map(\.buyTrunkSid) == [Self.trunkSid, "", Self.trunkSid])
        // The on-disk key, in the journal and in the snapshot.
        let snapshots = names.filter { JournalLayout.snapshotSeq($0) != nil }
        #expect(snapshots == ["snapshot-00000000000000000007.json"])
        let file = try Data(contentsOf: Self.store.appendingPathComponent(snapshots[0]))
        let snapshot = try #require(try JSONSerialization.jsonObject(with: file) as? [String: Any])
        let state = try #require(snapshot["state"] as? [String: Any])
        let watched = try #require(state["orphanWatch"] as? [String: [String: Any]])
        #expect(watched["+14155550111"]?["buyTrunkSid"] as? String == Self.trunkSid)
        #expect(watched["+14155550112"]?["buyTrunkSid"] as? String == "")
        #expect(watched.count == 2)
    }

    @Test("it opens to exactly its expected state, each buy trunk SID kept, from the snapshot and the journal alone")
    func opensToItsExpectedState() async throws {
        let state = try await StoreFixtureChecks.openedExpectedState(Self.store, folder: Self.folder)
        #expect(state.orphanWatch.mapValues(\.buyTrunkSid) == Self.buyTrunkSids)
    }

    @Test("a numberd that reads store formats up to 6 may open it; one up to 5 refuses it, changing nothing")
    func formatSixReadersOpenIt() throws {
        let bytes = [UInt8](try Data(contentsOf: Self.store.appendingPathComponent("FORMAT")))
        let format = try StoreFormatFile.decode(bytes).get()
        #expect(format.isReadable(by: 6) && !format.isReadable(by: 5))
        try StoreFixtureChecks.olderReaderRefuses(Self.store, format: 7, readers: 6)
    }

    @Test("numberd verify finds it sound, format 7 (readers 6)")
    func verifiesSound() async throws {
        try await StoreFixtureChecks.verifiesSound(Self.store, format: 7, readers: 6)
    }
}
