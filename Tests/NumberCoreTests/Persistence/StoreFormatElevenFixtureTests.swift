import Foundation
import Testing

@testable import NumberCore

/// The never-regenerated fixture of store format 11 (`Fixtures/store-format-11`): format 10's records, and a voided
/// purchase's watch that replaced other watches of its number counting what they were still to release
/// (`"earlierBuys"`): two at the snapshot, one after the sweep released a landed number. A format 10 reader would drop
/// the count and end the watch at that release, so `readers` is 11.
///
/// Written once by ``StoreFixtureGenerator`` (`NUMBERD_WRITE_STORE_FIXTURE=1 swift test --filter
/// StoreFixtureGenerator`, see `Fixtures/README.md`), then never again.
@Suite("Store format 11 fixture")
struct StoreFormatElevenFixtureTests {
    static let folder = StoreFixture.folder(format: 11)
    static let store = folder.appendingPathComponent("store")
    static let phone = "+14155550106"

    @Test("FORMAT says format 11, readers 11; the counted watches in journal lines and the snapshot")
    func formatAndLines() throws {
        #expect(
            [UInt8](try Data(contentsOf: Self.store.appendingPathComponent("FORMAT")))
                == Array(#"{"format":11,"readers":11}"#.utf8) + [10])
        #expect(StoreFormat.current == StoreFormat(format: 11, readers: 11), "a later format adds its own fixture")
        var counts: [Int?] = []
        for case .orphanWatchStarted(let watches) in try StoreFixtureChecks.journalEvents(Self.store) {
            counts += watches.filter { $0.phoneNumber == Self.phone }.map(\.earlierBuys)
        }
        #expect(counts == [nil, 1, 2, 1], "the first void's watch, then two that replaced it, then one release")
        #expect(
            try StoreFixtureChecks.snapshotText(Self.store).contains(#""earlierBuys":2"#),
            "two more to release at the snapshot")
    }

    @Test("it opens to exactly its expected state: the watch counting one more number to release")
    func opensToItsExpectedState() async throws {
        let state = try await StoreFixtureChecks.openedExpectedState(Self.store, folder: Self.folder)
        let watch = try #require(state.orphanWatch[Self.phone])
        #expect(watch.intentId == "PIN_FXINTENT010" && watch.earlierBuys == 1, "\(watch)")
        #expect(state.intents["PIN_FXINTENT009"] == nil && state.intents["PIN_FXINTENT010"] == nil, "both voided")
    }

    @Test("a numberd that reads store formats up to 10 refuses it, changing nothing")
    func formatTenReadersRefuseIt() throws {
        let bytes = [UInt8](try Data(contentsOf: Self.store.appendingPathComponent("FORMAT")))
        let format = try StoreFormatFile.decode(bytes).get()
        #expect(format.isReadable(by: 11) && !format.isReadable(by: 10))
        try StoreFixtureChecks.olderReaderRefuses(Self.store, format: 11, readers: 11)
    }

    @Test("numberd verify finds it sound, format 11 (readers 11)")
    func verifiesSound() async throws {
        try await StoreFixtureChecks.verifiesSound(Self.store, format: 11, readers: 11)
    }
}
