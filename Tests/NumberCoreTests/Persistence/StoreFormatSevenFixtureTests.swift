import Foundation
import Testing

@testable import NumberCore

/// The never-regenerated fixture of store format 7 (`Fixtures/store-format-7`): format 6's records, the trunk numberd
/// made at the provider recording where its calls go (`"originationSipUri"` on its `trunkCreated` event and in the
/// snapshot's trunk). Format 6 readers may open it (`readers` stays 6): they would lose only that display.
///
/// Written once by ``StoreFixtureGenerator`` (`NUMBERD_WRITE_STORE_FIXTURE=1 swift test --filter
/// StoreFixtureGenerator`, see `Fixtures/README.md`), then never again.
@Suite("Store format 7 fixture")
struct StoreFormatSevenFixtureTests {
    static let folder = StoreFixture.folder(format: 7)
    static let store = folder.appendingPathComponent("store")
    static let uriMember = #""originationSipUri":"\#(StoreFixtureEvents.originationSipUri)""#

    @Test("FORMAT says format 7, readers 6; the created trunk's origination SIP URI in its journal line and snapshot")
    func formatAndLines() throws {
        #expect(
            [UInt8](try Data(contentsOf: Self.store.appendingPathComponent("FORMAT")))
                == Array(#"{"format":7,"readers":6}"#.utf8) + [10])
        let text = try StoreFixtureChecks.journalText(Self.store)
        let kinds = try StoreFixtureChecks.journalKinds(Self.store)
        #expect(kinds == StoreFormatFixtureTests.formatOneKinds)
        #expect(StoreFormat.current.format > 7, "format 8 has a fixture of its own")
        // The main trunk's creation carries it; the registered trunk's does not (absent, never null).
        #expect(text.components(separatedBy: Self.uriMember).count == 2, "once, on the managed trunk")
        #expect(!text.contains(#""originationSipUri":null"#))
        let snapshotText = try StoreFixtureChecks.snapshotText(Self.store)
        #expect(snapshotText.contains(Self.uriMember), "in the snapshot too")
    }

    @Test("it opens to exactly its expected state, the trunk's URI included, from the snapshot and the journal alone")
    func opensToItsExpectedState() async throws {
        let state = try await StoreFixtureChecks.openedExpectedState(Self.store, folder: Self.folder)
        let trunk = try #require(state.trunks[StoreFixtureEvents.trunk])
        #expect(trunk.originationSipUri == StoreFixtureEvents.originationSipUri && trunk.providerManaged == true)
        #expect(state.trunks.values.filter { $0.originationSipUri != nil }.map(\.id) == [trunk.id])
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
