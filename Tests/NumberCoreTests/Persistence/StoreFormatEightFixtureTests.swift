import Foundation
import Testing

@testable import NumberCore

/// The never-regenerated fixture of store format 8 (`Fixtures/store-format-8`): format 7's records, and trunk changes
/// recorded before they are sent (`numberRouteRequested` events, `"routeRequest"` on the number): one open at the
/// snapshot and settled after it, one off the trunk (no `trunkId`) still open at the end. A format 7 reader cannot
/// decode the new event, so `readers` is 8.
///
/// Written once by ``StoreFixtureGenerator`` (`NUMBERD_WRITE_STORE_FIXTURE=1 swift test --filter
/// StoreFixtureGenerator`, see `Fixtures/README.md`), then never again.
@Suite("Store format 8 fixture")
struct StoreFormatEightFixtureTests {
    static let folder = StoreFixture.folder(format: 8)
    static let store = folder.appendingPathComponent("store")
    static let number = "NUM_FXNUMBER002"

    @Test("FORMAT says format 8, readers 8; the route requests in journal lines and the snapshot")
    func formatAndLines() throws {
        #expect(
            [UInt8](try Data(contentsOf: Self.store.appendingPathComponent("FORMAT")))
                == Array(#"{"format":8,"readers":8}"#.utf8) + [10])
        #expect(StoreFormat.current.format > 8, "format 9 has a fixture of its own")
        let events = try StoreFixtureChecks.journalEvents(Self.store)
        let kinds = Set(events.map(StoreFormatFixtureTests.kind))
        var requests: [(String?, Date)] = []
        for case .numberRouteRequested(let id, let trunkId, let at) in events where id == Self.number {
            requests.append((trunkId, at))
        }
        #expect(kinds == StoreFormatFixtureTests.formatOneKinds.union(["numberRouteRequested"]))
        #expect(requests.map(\.0) == [StoreFixtureEvents.trunk, nil], "one to the main trunk, one off it")
        let snapshotText = try StoreFixtureChecks.snapshotText(Self.store)
        #expect(snapshotText.contains(#""routeRequest":{"#), "open at the snapshot")
    }

    @Test("it opens to exactly its expected state, the open request included, from the snapshot and the journal alone")
    func opensToItsExpectedState() async throws {
        let state = try await StoreFixtureChecks.openedExpectedState(Self.store, folder: Self.folder)
        let number = try #require(state.numbers[Self.number])
        #expect(number.trunkId == StoreFixtureEvents.trunk, "the request open at the snapshot was settled after it")
        #expect(number.routeRequest == RouteRequest(trunkId: nil, at: StoreFixtureEvents.at(days: 54, seconds: 30)))
        #expect(state.routeRequests == [Self.number])
    }

    @Test("a numberd that reads store formats up to 7 refuses it, changing nothing")
    func formatSevenReadersRefuseIt() throws {
        let bytes = [UInt8](try Data(contentsOf: Self.store.appendingPathComponent("FORMAT")))
        let format = try StoreFormatFile.decode(bytes).get()
        #expect(format.isReadable(by: 8) && !format.isReadable(by: 7))
        try StoreFixtureChecks.olderReaderRefuses(Self.store, format: 8, readers: 8)
    }

    @Test("numberd verify finds it sound, format 8 (readers 8)")
    func verifiesSound() async throws {
        try await StoreFixtureChecks.verifiesSound(Self.store, format: 8, readers: 8)
    }
}
