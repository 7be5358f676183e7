import Foundation
import Testing

@testable import NumberCore

/// The never-regenerated fixture of store format 5 (`Fixtures/store-format-5`): format 4's records plus a keyed release
/// (`ReleaseNumber` with an idempotency key), requested before the snapshot and recorded after it, whose idempotency
/// record names the operation `"release"` and the outcome `"releaseRequested"`. It pins those, that a numberd reading only
/// up to format 4 refuses these files instead of stopping at the first such record as if the journal were damaged, and
/// that format 6, which knows a keyed release by the key its request names, no longer answers this one to a retry.
@Suite("Store format 5 fixture")
struct StoreFormatFiveFixtureTests {
    static let folder = StoreFixture.folder(format: 5)
    static let store = folder.appendingPathComponent("store")

    @Test("FORMAT says format 5, readers 5; the keyed release's record as written, in the journal and the snapshot")
    func formatAndLines() throws {
        #expect(
            [UInt8](try Data(contentsOf: Self.store.appendingPathComponent("FORMAT")))
                == Array(#"{"format":5,"readers":5}"#.utf8) + [10])
        #expect(StoreFormat.current.format > 5, "format 6 has a fixture of its own")
        let text = try StoreFixtureChecks.journalText(Self.store)
        let kinds = try StoreFixtureChecks.journalKinds(Self.store)
        #expect(kinds == StoreFormatFixtureTests.formatOneKinds)
        #expect(text.contains(#""key":"release-1","operation":"release","fingerprint":"#))
        #expect(text.contains(#""outcome":{"releaseRequested":{"numberId":"NUM_FXNUMBER001","renewalIds":[]}}"#))
        let snapshotText = try StoreFixtureChecks.snapshotText(Self.store)
        #expect(
            snapshotText.contains(#"{"releaseRequested":{"numberId":"NUM_FXNUMBER001","renewalIds":[]}}"#),
            "in the snapshot too")
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

    @Test(
        "read by format 6: the keyed release is no retry's (ALREADY_RELEASED names its refund); the key is still refused for another number or AddFunds"
    )
    func keyedReleaseReadByFormatSix() async throws {
        let scratch = try StoreFormatThreeFixtureTests.scratchCopy(of: Self.store)
        defer { scratch.remove() }
        let store = try FileNumberStore.open(directory: scratch.url)
        // Within a day of the release's request (the key's record is made then).
        let clock = ManualClock(StoreFixtureEvents.at(days: 54, seconds: 150))
        let provider = FakeProvider()
        let service = try await NumberService.open(store: store, provider: provider, clock: clock, config: .defaults)
        let acme = StoreFixtureEvents.acme
        // Format 5 matched a release to its key by time; its request names no key, so the retry is not answered it: a new
        // release, refused for a number already released.
        let retry = await #expect(throws: NumberError.self) {
            _ = try await service.release(
                accountId: acme, numberId: "NUM_FXNUMBER001", idempotencyKey: "release-1",
                actor: .apiKey("KEY_0a0a0a0a0a0a"))
        }
        #expect(retry?.reason == .alreadyReleased && retry?.details["refundTransactionId"] == "TXN_FXREFUND002")
        #expect(provider.calls(.release) == 0)
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

    @Test("a numberd that reads store formats up to 4 refuses it, changing nothing")
    func formatFourReaderRefused() throws {
        try StoreFixtureChecks.olderReaderRefuses(Self.store, format: 5)
    }

    @Test("numberd verify finds it sound, format 5")
    func verifiesSound() async throws {
        try await StoreFixtureChecks.verifiesSound(Self.store, format: 5)
    }
}
