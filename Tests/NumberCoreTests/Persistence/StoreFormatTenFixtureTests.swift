import Foundation
import Testing

@testable import NumberCore

/// The never-regenerated fixture of store format 10 (`Fixtures/store-format-10`): format 9's records, and voided
/// purchases' watches claimed by the number the account bought again while their POSTs could still land
/// (`"claimedBy"`): both claimed at the snapshot, one watching again after it once its number is released. A format 9
/// reader's start-up check refuses a watch beside an owned number, so `readers` is 10.
///
/// Written once by ``StoreFixtureGenerator`` (`NUMBERD_WRITE_STORE_FIXTURE=1 swift test --filter
/// StoreFixtureGenerator`, see `Fixtures/README.md`), then never again.
@Suite("Store format 10 fixture")
struct StoreFormatTenFixtureTests {
    static let folder = StoreFixture.folder(format: 10)
    static let store = folder.appendingPathComponent("store")

    @Test("FORMAT says format 10, readers 10; the claimed watches in journal lines and the snapshot")
    func formatAndLines() throws {
        #expect(
            [UInt8](try Data(contentsOf: Self.store.appendingPathComponent("FORMAT")))
                == Array(#"{"format":10,"readers":10}"#.utf8) + [10])
        #expect(StoreFormat.current.format > 10, "format 11 has a fixture of its own")
        var claimed: [String: String] = [:]
        for case .orphanWatchStarted(let watches) in try StoreFixtureChecks.journalEvents(Self.store) {
            for watch in watches { claimed[watch.phoneNumber] = watch.claimedBy }
        }
        #expect(claimed["+14155550101"] == "NUM_FXNUMBER001" && claimed["+14155550102"] == "NUM_FXNUMBER002")
        let snapshotText = try StoreFixtureChecks.snapshotText(Self.store)
        #expect(snapshotText.contains(#""claimedBy":"NUM_FXNUMBER001""#), "both claimed at the snapshot")
        #expect(snapshotText.contains(#""claimedBy":"NUM_FXNUMBER002""#))
    }

    @Test("it opens to exactly its expected state: the released number's watch watching again, the other claimed")
    func opensToItsExpectedState() async throws {
        let state = try await StoreFixtureChecks.openedExpectedState(Self.store, folder: Self.folder)
        #expect(state.orphanWatch["+14155550101"]?.claimedBy == nil)
        #expect(state.numbers["NUM_FXNUMBER001"]?.status == .released)
        #expect(state.orphanWatch["+14155550102"]?.claimedBy == "NUM_FXNUMBER002")
        #expect(state.phoneOwners["+14155550102"] == "NUM_FXNUMBER002")
    }

    @Test("a numberd that reads store formats up to 9 refuses it, changing nothing")
    func formatNineReadersRefuseIt() throws {
        let bytes = [UInt8](try Data(contentsOf: Self.store.appendingPathComponent("FORMAT")))
        let format = try StoreFormatFile.decode(bytes).get()
        #expect(format.isReadable(by: 10) && !format.isReadable(by: 9))
        try StoreFixtureChecks.olderReaderRefuses(Self.store, format: 10, readers: 10)
    }

    @Test("numberd verify finds it sound, format 10 (readers 10)")
    func verifiesSound() async throws {
        try await StoreFixtureChecks.verifiesSound(Self.store, format: 10, readers: 10)
    }
}
