import Foundation
import Testing

@testable import NumberCore

/// The never-regenerated fixture of store format 6 (`Fixtures/store-format-6`): format 5's records, the keyed release's
/// request naming its key's record (`"key"` on the event, `"releaseRequestKey"` on the number). It pins those, that a
/// retry under the key through the service replays the release, and that a numberd reading only up to format 5 refuses
/// these files.
@Suite("Store format 6 fixture")
struct StoreFormatSixFixtureTests {
    static let folder = StoreFixture.folder(format: 6)
    static let store = folder.appendingPathComponent("store")

    @Test("FORMAT says format 6, readers 6; the keyed release's request and record as written, journal and snapshot")
    func formatAndLines() throws {
        #expect(
            [UInt8](try Data(contentsOf: Self.store.appendingPathComponent("FORMAT")))
                == Array(#"{"format":6,"readers":6}"#.utf8) + [10])
        #expect(StoreFormat.current.format > 6, "format 7 has a fixture of its own")
        let text = try StoreFixtureChecks.journalText(Self.store)
        let kinds = try StoreFixtureChecks.journalKinds(Self.store)
        #expect(kinds == StoreFormatFixtureTests.formatOneKinds)
        #expect(text.contains(#""key":"release-1","operation":"release","fingerprint":"#))
        #expect(text.contains(#""outcome":{"releaseRequested":{"numberId":"NUM_FXNUMBER001","renewalIds":[]}}"#))
        #expect(text.contains(#""by":"KEY_0a1b2c3d4e5f","key":"ACC_FX7Q2M4RTBA\u001frelease-1"}"#))
        let snapshotText = try StoreFixtureChecks.snapshotText(Self.store)
        #expect(
            snapshotText.contains(#"{"releaseRequested":{"numberId":"NUM_FXNUMBER001","renewalIds":[]}}"#),
            "in the snapshot too")
        #expect(snapshotText.contains(#""releaseRequestKey":"ACC_FX7Q2M4RTBA\u001frelease-1""#))
    }

    @Test("it opens to exactly its expected state, from the snapshot and from the journal alone")
    func opensToItsExpectedState() async throws {
        let state = try await StoreFixtureChecks.openedExpectedState(Self.store, folder: Self.folder)
        let acme = StoreFixtureEvents.acme
        let record = state.idempotency[IdempotencyRecord.storageKey(accountId: acme, key: "release-1")]
        #expect(record?.operation == .release)
        #expect(state.numbers["NUM_FXNUMBER001"]?.status == .released)
        #expect(state.accounts[acme]?.balance == 11_024)
    }

    @Test("a retry of the keyed release replays it; the key for another number, or for AddFunds, is refused")
    func keyedReleaseReplays() async throws {
        let scratch = try StoreFormatThreeFixtureTests.scratchCopy(of: Self.store)
        defer { scratch.remove() }
        let store = try FileNumberStore.open(directory: scratch.url)
        // Within a day of the release's request (the key's record is made then).
        let clock = ManualClock(StoreFixtureEvents.at(days: 54, seconds: 150))
        let provider = FakeProvider()
        let service = try await NumberService.open(store: store, provider: provider, clock: clock, config: .defaults)
        let acme = StoreFixtureEvents.acme
        let retry = try await service.release(
            accountId: acme, numberId: "NUM_FXNUMBER001", idempotencyKey: "release-1",
            actor: .apiKey("KEY_0a0a0a0a0a0a"))
        #expect(retry.replayed && retry.transaction?.id == "TXN_FXREFUND002" && retry.refund == 24)
        #expect(retry.releasedAt == StoreFixtureEvents.at(days: 53, seconds: 200) && retry.renewals.isEmpty)
        #expect(retry.number.status == .released && provider.calls(.release) == 0)
        let otherNumber = await #expect(throws: NumberError.self) {
            _ = try await service.release(accountId: acme, numberId: "NUM_FXNUMBER002", idempotencyKey: "release-1")
        }
        #expect(otherNumber?.reason == .idempotencyKeyReused)
        let asFunds = await #expect(throws: NumberError.self) {
            _ = try await service.addFunds(accountId: acme, amount: 300, idempotencyKey: "release-1")
        }
        #expect(asFunds?.reason == .idempotencyKeyReused)
        #expect(try service.balance(accountId: acme).balance == 11_024, "nothing posted twice")
        #expect(service.durableState().checkInvariants() == [])
        await store.close()
    }

    @Test("a numberd that reads store formats up to 5 refuses it, changing nothing")
    func formatFiveReaderRefused() throws {
        try StoreFixtureChecks.olderReaderRefuses(Self.store, format: 6)
    }

    @Test("numberd verify finds it sound, format 6")
    func verifiesSound() async throws {
        try await StoreFixtureChecks.verifiesSound(Self.store, format: 6)
    }
}
