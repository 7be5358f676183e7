import Foundation
import Testing

@testable import NumberCore

/// The never-regenerated fixture of store format 3 (`Fixtures/store-format-3`): format 1's records, written by a build
/// that records who caused each money movement (``LedgerActor``) — on ledger transactions, purchase intents, owned
/// numbers and release requests. Format 1's suite covers the event kinds and tables; this one pins what format 3 adds,
/// that older files read with no actor, and that a numberd reading only up to format 2 refuses these files instead of
/// dropping the actors at its next snapshot.
@Suite("Store format 3 fixture")
struct StoreFormatThreeFixtureTests {
    static let folder = StoreFixture.folder(format: 3)
    static let store = folder.appendingPathComponent("store")
    static let admin = StoreFixtureEvents.adminKey
    static let service = StoreFixtureEvents.serviceKey

    static func scratchCopy(
        of store: URL = store, dropping dropped: (String) -> Bool = { _ in false }
    ) throws -> TempDirectory {
        let scratch = TempDirectory("fixture3")
        for name in try FileManager.default.contentsOfDirectory(atPath: store.path) where !dropped(name) {
            try FileManager.default.copyItem(at: store.appendingPathComponent(name), to: scratch.file(name))
        }
        return scratch
    }

    static func expectedState() throws -> JSONValue { try StoreFixtureChecks.expectedState(in: folder) }

    @Test("FORMAT says format 3, readers 3; journal lines name their batch and carry the actors")
    func formatAndLines() throws {
        #expect(
            [UInt8](try Data(contentsOf: Self.store.appendingPathComponent("FORMAT")))
                == Array(#"{"format":3,"readers":3}"#.utf8) + [10])
        #expect(StoreFormat.current.format > 3, "format 4 has a fixture of its own")
        let records = try StoreFixtureChecks.journalRecords(Self.store)
        for (_, frame) in records {
            #expect(frame.batch?.contains(frame.seq) == true, "record \(frame.seq)")
        }
        let kinds = Set(records.flatMap(\.record.events).map(StoreFormatFixtureTests.kind))
        let text = records.map { String(decoding: $0.line, as: UTF8.self) }.joined(separator: "\n")
        #expect(kinds == StoreFormatFixtureTests.formatOneKinds)
        // The members format 3 adds, as written (key order pinned: the direct writer and `Codable` agree on it).
        #expect(text.contains(#""idempotencyKey":"fund-1","actor":"KEY_a1b2c3d4e5f6"}"#))
        #expect(text.contains(#""status":"open","actor":"KEY_0a1b2c3d4e5f"}"#), "an intent's asker")
        #expect(text.contains(#""actor":"system:billing"}"#), "a renewal")
        #expect(
            text.contains(
                #"{"numberReleaseRequested":{"numberId":"NUM_FXNUMBER002","at":763295460.0,"by":"system:grace-period"}}"#
            ))
        #expect(!text.contains(#""actor":null"#) && !text.contains(#""by":null"#), "absent, never null")
    }

    @Test("it opens to exactly its expected state, from the snapshot and from the journal alone, actors and all")
    func opensToItsExpectedState() async throws {
        let whole = try Self.scratchCopy()
        defer { whole.remove() }
        let (state, json) = try await StoreFormatFixtureTests.openedState(whole)
        let differences = StoreFormatFixtureTests.differences(try Self.expectedState(), json)
        #expect(differences.isEmpty, "\(differences.prefix(20))")
        #expect(state.checkInvariants() == [])
        #expect(try whole.bytes("FORMAT") == StoreFormatFile.encode(.current), "unchanged")
        let acme = StoreFixtureEvents.acme
        #expect(
            state.transactions[acme]?.map(\.actor) == [
                Self.admin, nil, Self.service, Self.service, .billing, Self.admin, Self.service, Self.admin,
            ])
        #expect(state.transactions[StoreFixtureEvents.beta]?.map(\.actor) == [Self.admin])
        #expect(state.intents["PIN_FXINTENT005"]?.actor == Self.service)
        #expect(state.numbers["NUM_FXNUMBER001"]?.releaseRequestedBy == nil, "its request was withdrawn")
        #expect(state.numbers["NUM_FXNUMBER002"]?.releaseRequestedBy == .gracePeriod)
        #expect(state.numbers["NUM_FXNUMBER003"]?.releaseRequestedBy == Self.service, "kept after the release")
        let journalOnly = try Self.scratchCopy(dropping: { JournalLayout.snapshotSeq($0) != nil })
        defer { journalOnly.remove() }
        #expect(try await StoreFormatFixtureTests.openedState(journalOnly).0 == state)
    }

    @Test("formats 1 and 2 hold the same state but the actors: their records read with none, and nothing else differs")
    func olderFormatsReadWithoutActors() async throws {
        let three = try Self.scratchCopy()
        defer { three.remove() }
        let (withActors, threeJSON) = try await StoreFormatFixtureTests.openedState(three)
        for format in [1, 2] {
            let older = try Self.scratchCopy(of: StoreFixture.folder(format: format).appendingPathComponent("store"))
            defer { older.remove() }
            let (state, json) = try await StoreFormatFixtureTests.openedState(older)
            #expect(state.transactions.values.joined().allSatisfy { $0.actor == nil }, "format \(format)")
            #expect(state.intents.values.allSatisfy { $0.actor == nil })
            #expect(state.numbers.values.allSatisfy { $0.releaseRequestedBy == nil })
            // Everything format \(format) holds, format 3 holds alike; what format 3 holds beyond it is the actors.
            #expect(StoreFormatFixtureTests.differences(json, threeJSON).isEmpty, "format \(format)")
            let extra = StoreFormatFixtureTests.differences(threeJSON, json)
            #expect(extra.count == 11, "\(extra)")  // 8 transactions, 1 intent, 2 numbers
            #expect(
                extra.allSatisfy { $0.hasSuffix(".actor missing") || $0.hasSuffix(".releaseRequestedBy missing") },
                "\(extra)")
            var stripped = withActors
            for (account, transactions) in stripped.transactions {
                stripped.transactions[account] = transactions.map {
                    var transaction = $0
                    transaction.actor = nil
                    return transaction
                }
            }
            #expect(state.transactions == stripped.transactions)
        }
    }

    @Test("a numberd that reads store formats up to 2 refuses it, changing nothing (it would drop every actor)")
    func formatTwoReaderRefused() throws {
        let scratch = try Self.scratchCopy()
        defer { scratch.remove() }
        let before = scratch.files().reduce(into: [String: [UInt8]]()) { $0[$1] = try? scratch.bytes($1) }
        let error = #expect(throws: JournalError.self) {
            _ = try FileJournal<CoreEvent, CoreState>.open(
                directory: scratch.url, options: FileNumberStore.Options.defaults.journal,
                format: StoreFormat(format: 2, readers: 1), initialState: CoreState(),
                apply: { state, event in try state.applyChecked(event) })
        }
        #expect(error?.code == .formatTooNew)
        #expect(
            error?.description.contains(
                "written by store format 3 and needs a numberd that reads format 3 or later; this numberd reads store "
                    + "formats up to 2") == true, "\(String(describing: error))")
        #expect(scratch.files().reduce(into: [String: [UInt8]]()) { $0[$1] = try? scratch.bytes($1) } == before)
    }

    /// The open intent of each fixture, its number now owned at the provider: reconciliation commits it. Format 3's
    /// intent recorded the key that opened it, and its debit names that key; format 1's recorded none (opened before
    /// numberd recorded actors), and its debit names `system:reconcile`.
    @Test("reconciliation commits the open intent naming the key that opened it; format 1's names system:reconcile")
    func reconciliationNamesTheAsker() async throws {
        for (format, expected) in [(3, Self.service), (1, LedgerActor.reconciliation)] {
            let scratch = try Self.scratchCopy(of: StoreFixture.folder(format: format).appendingPathComponent("store"))
            defer { scratch.remove() }
            let store = try FileNumberStore.open(directory: scratch.url)
            let provider = FakeProvider()
            provider.changeOwned("+14155550108") { number in
                number = ProvisionedNumber(
                    sid: "PN" + String(repeating: "8", count: 32), phoneNumber: "+14155550108",
                    friendlyName: "(415) 555-0108", trunkSid: "TK" + String(repeating: "d", count: 32),
                    // No date: the fixture's intent is of its own time, and "now" would be far past any buy of it
                    // (reconciliation leaves such a number alone, `InFlightHorizonTests.laterPurchaseIsNotTheIntents`).
                    capabilities: NumberCapabilities(voice: true, sms: true), dateCreated: nil)
            }
            let service = try await NumberService.open(
                store: store, provider: provider, clock: ManualClock(Date(timeIntervalSinceReferenceDate: 763_400_000)),
                config: .defaults)
            let report = await service.reconcile()
            #expect(report.committed == ["PIN_FXINTENT005"], "format \(format)")
            let page = try service.listTransactions(accountId: StoreFixtureEvents.acme, pageSize: 1)
            let debit = try #require(page.transactions.first)
            #expect(debit.kind == .purchase && debit.amount == -215)
            #expect(debit.actor == expected, "format \(format)")
            #expect(service.durableState().checkInvariants() == [])
            await store.close()
        }
    }

    @Test("numberd verify finds it sound, format 3")
    func verifiesSound() async throws {
        let scratch = try Self.scratchCopy()
        defer { scratch.remove() }
        let report = await verifyDataDirectory(scratch.url)
        #expect(report.isSound && report.journal.isClean, "\(report.journal.problems) \(report.replayError ?? "")")
        #expect(report.journal.format == .recorded(StoreFormat(format: 3, readers: 3)))
        #expect(report.violations.isEmpty)
    }
}
