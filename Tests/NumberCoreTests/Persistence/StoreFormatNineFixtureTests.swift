import Foundation
import Testing

@testable import NumberCore

/// The never-regenerated fixture of store format 9 (`Fixtures/store-format-9`): format 8's records, and adoption
/// routings recorded before they are sent (`adoptionRouteRequested`, `adoptionRouteEnded`, the snapshot's
/// `"adoptionRoutes"`): two open at the snapshot, one ended after it. A format 8 reader cannot decode the new events,
/// so `readers` is 9.
///
/// Written once by ``StoreFixtureGenerator`` (`NUMBERD_WRITE_STORE_FIXTURE=1 swift test --filter
/// StoreFixtureGenerator`, see `Fixtures/README.md`), then never again.
@Suite("Store format 9 fixture")
struct StoreFormatNineFixtureTests {
    static let folder = StoreFixture.folder(format: 9)
    static let store = folder.appendingPathComponent("store")

    @Test("FORMAT says format 9, readers 9; the adoption routings in journal lines and the snapshot")
    func formatAndLines() throws {
        #expect(
            [UInt8](try Data(contentsOf: Self.store.appendingPathComponent("FORMAT")))
                == Array(#"{"format":9,"readers":9}"#.utf8) + [10])
        #expect(StoreFormat.current.format > 9, "format 10 has a fixture of its own")
        let events = try StoreFixtureChecks.journalEvents(Self.store)
        let kinds = Set(events.map(StoreFormatFixtureTests.kind))
        var requested: [AdoptionRouteRequest] = []
        var ended: [String] = []
        for event in events {
            if case .adoptionRouteRequested(let route) = event { requested.append(route) }
            if case .adoptionRouteEnded(let phone) = event { ended.append(phone) }
        }
        #expect(
            kinds
                == StoreFormatFixtureTests.formatOneKinds.union([
                    "numberRouteRequested", "adoptionRouteRequested", "adoptionRouteEnded",
                ]))
        #expect(requested.map(\.phoneNumber) == ["+14155550177", "+14155550178"])
        #expect(ended == ["+14155550178"])
        let snapshotText = try StoreFixtureChecks.snapshotText(Self.store)
        #expect(snapshotText.contains(#""adoptionRoutes":{"+14155550177":{"#), "both open at the snapshot")
        #expect(snapshotText.contains(#""+14155550178":{"phoneNumber":"+14155550178""#))
    }

    @Test("it opens to exactly its expected state, one routing still recorded, from the snapshot and the journal alone")
    func opensToItsExpectedState() async throws {
        let state = try await StoreFixtureChecks.openedExpectedState(Self.store, folder: Self.folder)
        #expect(
            state.adoptionRoutes == [
                "+14155550177": AdoptionRouteRequest(
                    phoneNumber: "+14155550177", accountId: StoreFixtureEvents.acme, trunkId: StoreFixtureEvents.trunk,
                    at: StoreFixtureEvents.at(days: 53, seconds: 500))
            ])
    }

    @Test("a numberd that reads store formats up to 8 refuses it, changing nothing")
    func formatEightReadersRefuseIt() throws {
        let bytes = [UInt8](try Data(contentsOf: Self.store.appendingPathComponent("FORMAT")))
        let format = try StoreFormatFile.decode(bytes).get()
        #expect(format.isReadable(by: 9) && !format.isReadable(by: 8))
        try StoreFixtureChecks.olderReaderRefuses(Self.store, format: 9, readers: 9)
    }

    @Test("numberd verify finds it sound, format 9 (readers 9)")
    func verifiesSound() async throws {
        try await StoreFixtureChecks.verifiesSound(Self.store, format: 9, readers: 9)
    }
}
