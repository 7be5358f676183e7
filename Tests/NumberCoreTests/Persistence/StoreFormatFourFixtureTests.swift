import Foundation
import Testing

@testable import NumberCore

/// The never-regenerated fixture of store format 4 (`Fixtures/store-format-4`): format 3's records plus two keyed
/// balance adjustments (`AdjustBalance`), one before the snapshot and one after it, whose idempotency records name the
/// operation `"adjustment"` and the outcome `"adjusted"`. It pins those, that a retry of either through the service
/// replays the first transaction, and that a numberd reading only up to format 3 refuses these files instead of
/// stopping at the first such record as if the journal were damaged.
@Suite("Store format 4 fixture")
struct StoreFormatFourFixtureTests {
    static let folder = StoreFixture.folder(format: 4)
    static let store = folder.appendingPathComponent("store")

    @Test("FORMAT says format 4, readers 4; the keyed adjustments' records as written")
    func formatAndLines() throws {
        #expect(
            [UInt8](try Data(contentsOf: Self.store.appendingPathComponent("FORMAT")))
                == Array(#"{"format":4,"readers":4}"#.utf8) + [10])
        #expect(StoreFormat.current.format > 4, "format 5 has a fixture of its own")
        let text = try StoreFixtureChecks.journalText(Self.store)
        let kinds = try StoreFixtureChecks.journalKinds(Self.store)
        #expect(kinds == StoreFormatFixtureTests.formatOneKinds)
        #expect(text.contains(#""operation":"adjustment","fingerprint":"#))
        #expect(text.contains(#""outcome":{"adjusted":{"transactionId":"TXN_FXADJUST002"}}"#))
        #expect(text.contains(#""outcome":{"adjusted":{"transactionId":"TXN_FXADJUST003"}}"#))
        let snapshotText = try StoreFixtureChecks.snapshotText(Self.store)
        #expect(snapshotText.contains(#"{"adjusted":{"transactionId":"TXN_FXADJUST002"}}"#), "in the snapshot too")
    }

    @Test("it opens to exactly its expected state, from the snapshot and from the journal alone")
    func opensToItsExpectedState() async throws {
        let state = try await StoreFixtureChecks.openedExpectedState(Self.store, folder: Self.folder)
        let acme = StoreFixtureEvents.acme
        let adjustments = state.transactions[acme]?.filter { $0.kind == .adjustment }.map(\.amount)
        #expect(adjustments == [-25, 28, -300])
        #expect(state.accounts[acme]?.balance == 11_000)
        for key in ["fix-1", "fix-2"] {
            let record = state.idempotency[IdempotencyRecord.storageKey(accountId: acme, key: key)]
            #expect(record?.operation == .adjustment, "\(key)")
        }
    }

    @Test("a retry of the recorded adjustment replays it; its key with another amount, or for AddFunds, is refused")
    func keyedAdjustmentReplays() async throws {
        let scratch = try StoreFormatThreeFixtureTests.scratchCopy(of: Self.store)
        defer { scratch.remove() }
        let store = try FileNumberStore.open(directory: scratch.url)
        // Within a day of the second adjustment; the first one's key (a day and 9 minutes before) has expired.
        let clock = ManualClock(StoreFixtureEvents.at(days: 54, seconds: 600))
        let service = try await NumberService.open(
            store: store, provider: FakeProvider(), clock: clock, config: .defaults)
        let acme = StoreFixtureEvents.acme
        let retry = try await service.adjustBalance(
            accountId: acme, amount: -300, reason: "Duplicate top-up reversed", idempotencyKey: "fix-2",
            actor: .apiKey("KEY_0a1b2c3d4e5f"))
        #expect(retry.replayed && retry.transaction.id == "TXN_FXADJUST003")
        #expect(retry.transaction.actor == StoreFixtureEvents.adminKey, "the first call's actor")
        let otherAmount = await #expect(throws: NumberError.self) {
            _ = try await service.adjustBalance(
                accountId: acme, amount: -301, reason: "Duplicate top-up reversed", idempotencyKey: "fix-2")
        }
        #expect(otherAmount?.reason == .idempotencyKeyReused)
        let asFunds = await #expect(throws: NumberError.self) {
            _ = try await service.addFunds(accountId: acme, amount: 300, idempotencyKey: "fix-2")
        }
        #expect(asFunds?.reason == .idempotencyKeyReused)
        #expect(try service.balance(accountId: acme).balance == 11_000, "nothing posted twice")
        let expired = try await service.adjustBalance(
            accountId: acme, amount: 28, reason: "Outage credit, ticket 4711", idempotencyKey: "fix-1")
        #expect(!expired.replayed && expired.transaction.id != "TXN_FXADJUST002", "a key lives a day")
        #expect(service.durableState().checkInvariants() == [])
        await store.close()
    }

    @Test("a numberd that reads store formats up to 3 refuses it, changing nothing")
    func formatThreeReaderRefused() throws {
        try StoreFixtureChecks.olderReaderRefuses(Self.store, format: 4)
    }

    @Test("numberd verify finds it sound, format 4")
    func verifiesSound() async throws {
        try await StoreFixtureChecks.verifiesSound(Self.store, format: 4)
    }
}
