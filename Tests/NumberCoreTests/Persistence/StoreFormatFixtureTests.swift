import Foundation
import Testing

@testable import NumberCore

/// The never-regenerated fixture of store format 1 (`Fixtures/store-format-1`, written once by
/// ``StoreFixtureGenerator``): today's files must open, through a scratch copy, to exactly the state they held when
/// written. A change that stops reading them — a renamed or retyped key, a new required field, a changed encoding, an
/// event kind read differently — fails here; files of a format this build writes must stay readable by it.
@Suite("Store format 1 fixture")
struct StoreFormatFixtureTests {
    static let folder = StoreFixture.folder(format: 1)
    static let store = folder.appendingPathComponent("store")

    /// The kinds of event format 1 has: the fixture's journal lines hold every one.
    static let formatOneKinds: Set<String> = [
        "accountCreated", "accountStatusChanged", "apiKeyCreated", "apiKeyRevoked", "apiKeysPurged", "trunkCreated",
        "trunkDeleted", "transactionPosted", "idempotencyRecorded", "idempotencyExpired", "purchaseIntentOpened",
        "purchaseIntentCompensating", "purchaseCommitted", "purchaseIntentVoided", "numberTrunkChanged",
        "numberReleaseRequested", "numberReleaseCancelled", "numberReleased", "numberRenewed", "numberPastDue",
        "orphanWatchStarted", "orphanWatchEnded",
    ]

    /// An event's kind. Exhaustive on purpose: a new kind does not compile until it is named here — and a new kind is a
    /// new store format whose `readers` moves on (``StoreFormat/current``); it goes into the next format's fixture,
    /// not into `formatOneKinds`.
    static func kind(_ event: CoreEvent) -> String {
        switch event {
        case .accountCreated: "accountCreated"
        case .accountStatusChanged: "accountStatusChanged"
        case .apiKeyCreated: "apiKeyCreated"
        case .apiKeyRevoked: "apiKeyRevoked"
        case .apiKeysPurged: "apiKeysPurged"
        case .trunkCreated: "trunkCreated"
        case .trunkDeleted: "trunkDeleted"
        case .transactionPosted: "transactionPosted"
        case .idempotencyRecorded: "idempotencyRecorded"
        case .idempotencyExpired: "idempotencyExpired"
        case .purchaseIntentOpened: "purchaseIntentOpened"
        case .purchaseIntentCompensating: "purchaseIntentCompensating"
        case .purchaseCommitted: "purchaseCommitted"
        case .purchaseIntentVoided: "purchaseIntentVoided"
        case .numberRouteRequested: "numberRouteRequested"
        case .numberTrunkChanged: "numberTrunkChanged"
        case .numberReleaseRequested: "numberReleaseRequested"
        case .numberReleaseCancelled: "numberReleaseCancelled"
        case .numberReleased: "numberReleased"
        case .numberRenewed: "numberRenewed"
        case .numberPastDue: "numberPastDue"
        case .orphanWatchStarted: "orphanWatchStarted"
        case .orphanWatchEnded: "orphanWatchEnded"
        case .adoptionRouteRequested: "adoptionRouteRequested"
        case .adoptionRouteEnded: "adoptionRouteEnded"
        }
    }

    /// A scratch copy of the fixture's store (the fixture itself is never opened: open would add a lock file).
    static func scratchCopy(dropping dropped: (String) -> Bool = { _ in false }) throws -> TempDirectory {
        let scratch = TempDirectory("fixture")
        for name in try FileManager.default.contentsOfDirectory(atPath: store.path) where !dropped(name) {
            try FileManager.default.copyItem(at: store.appendingPathComponent(name), to: scratch.file(name))
        }
        return scratch
    }

    /// The state a store opens to, and that state as today's code encodes it.
    static func openedState(_ directory: TempDirectory) async throws -> (CoreState, JSONValue) {
        let opened = try FileNumberStore.open(directory: directory.url)
        let state = try await opened.load()
        await opened.close()
        return (state, try JSONDecoder().decode(JSONValue.self, from: Data(JournalCodec.encodeJSON(state))))
    }

    static func expectedState() throws -> JSONValue { try StoreFixtureChecks.expectedState(in: folder) }

    /// Where `actual` does not hold `expected`: every member of an expected object is in the actual one with a value
    /// that holds it, arrays match element by element, other values are equal. Members `actual` has beyond them (a
    /// field a later format added, read from these files as its default) are allowed.
    static func differences(_ expected: JSONValue, _ actual: JSONValue, at path: String = "state") -> [String] {
        switch (expected, actual) {
        case (.object(let expected), .object(let actual)):
            return expected.keys.sorted().flatMap { key in
                actual[key].map { differences(expected[key]!, $0, at: "\(path).\(key)") } ?? ["\(path).\(key) missing"]
            }
        case (.array(let expected), .array(let actual)):
            guard expected.count == actual.count else {
                return ["\(path) has \(actual.count) elements, expected \(expected.count)"]
            }
            return zip(expected, actual).enumerated().flatMap { differences($1.0, $1.1, at: "\(path)[\($0)]") }
        default:
            return expected == actual ? [] : ["\(path) is \(actual), expected \(expected)"]
        }
    }

    @Test("the fixture opens to exactly its expected state, and its FORMAT moves on to this build's")
    func opensToItsExpectedState() async throws {
        let scratch = try Self.scratchCopy()
        defer { scratch.remove() }
        let (state, json) = try await Self.openedState(scratch)
        let differences = Self.differences(try Self.expectedState(), json)
        #expect(differences.isEmpty, "\(differences.prefix(20))")
        #expect(state.checkInvariants() == [])
        // Key figures, readable without the JSON.
        #expect(state.eventCount == 54)
        #expect(state.accounts.count == 2)
        let acme = try #require(state.accounts[StoreFixtureEvents.acme])
        #expect((acme.balance, acme.held, acme.status) == (11_272, 215, .active))
        #expect(state.accounts[StoreFixtureEvents.beta]?.status == .suspended)
        #expect(
            state.transactions[StoreFixtureEvents.acme]?.map(\.kind) == [
                .fundsAdded, .adjustment, .purchase, .purchase, .renewal, .purchase, .refund, .fundsAdded,
            ])
        #expect(
            state.numbers.values.map(\.status).sorted { $0.rawValue < $1.rawValue } == [.active, .pastDue, .released])
        #expect(state.numbers["NUM_FXNUMBER003"]?.refundTransactionId == "TXN_FXREFUND001")
        #expect(state.numbers["NUM_FXNUMBER002"]?.releaseRequestedAt != nil)
        #expect(state.apiKeys.count == 4 && state.activeApiKeyCount == 3)
        #expect(state.intents.keys.sorted() == ["PIN_FXINTENT005"])
        #expect(Set(state.orphanWatch.keys) == ["+14155550106", "+14155550109"])
        #expect(state.idempotency.count == 5)
        #expect(
            [UInt8](try Data(contentsOf: Self.store.appendingPathComponent("FORMAT")))
                == Array(#"{"format":1,"readers":1}"#.utf8) + [10])
        // Opened by a build writing a later format: the files may now hold its records — from format 3 on, ledger
        // actors an older numberd would drop — so FORMAT asks for this build's readers.
        #expect(try scratch.bytes("FORMAT") == StoreFormatFile.encode(StoreFormat.current))
    }

    @Test("every journal line decodes: the journal alone (snapshot dropped) replays to the same state")
    func journalAloneReplaysToTheSameState() async throws {
        let whole = try Self.scratchCopy()
        defer { whole.remove() }
        let journalOnly = try Self.scratchCopy(dropping: { JournalLayout.snapshotSeq($0) != nil })
        defer { journalOnly.remove() }
        let (fromSnapshot, snapshotJSON) = try await Self.openedState(whole)
        let (fromJournal, journalJSON) = try await Self.openedState(journalOnly)
        #expect(fromJournal == fromSnapshot)
        #expect(Self.differences(snapshotJSON, journalJSON).isEmpty)
        #expect(Self.differences(try Self.expectedState(), journalJSON).isEmpty)
    }

    @Test("the fixture holds every event kind of format 1, a snapshot with every table non-empty, and records after it")
    func coversEveryKindAndTable() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.store.path).sorted()
        let segments = names.filter { JournalLayout.segmentSeq($0) != nil }
        let snapshots = names.filter { JournalLayout.snapshotSeq($0) != nil }
        #expect(names.count == segments.count + snapshots.count + 1, "only segments, snapshots and FORMAT: \(names)")
        #expect(segments.count == 2 && snapshots.count == 1)
        let records = try StoreFixtureChecks.journalRecords(Self.store)
        let kinds = Set(records.flatMap(\.record.events).map(Self.kind))
        let lastSeq = records.last?.record.seq ?? 0
        #expect(kinds == Self.formatOneKinds, "missing: \(Self.formatOneKinds.subtracting(kinds))")
        let snapshotSeq = try #require(snapshots.first.flatMap(JournalLayout.snapshotSeq))
        #expect(snapshotSeq < lastSeq, "records after the snapshot")
        let file = try Data(contentsOf: Self.store.appendingPathComponent(snapshots[0]))
        let snapshot = try #require(try JSONSerialization.jsonObject(with: file) as? [String: Any])
        let state = try #require(snapshot["state"] as? [String: Any])
        for (table, value) in state {
            if let members = value as? [String: Any] { #expect(!members.isEmpty, "snapshot table \(table) is empty") }
        }
        #expect(Set(state.keys).count == 14, "\(state.keys.sorted())")
        #expect(try Data(contentsOf: Self.folder.appendingPathComponent(StoreFixture.expectedStateName)).count < 16_384)
    }

    @Test(
        "without FORMAT (a store from before the file) it opens to the same state and gets FORMAT, nothing else changed"
    )
    func legacyCopyGetsFormat() async throws {
        let scratch = try Self.scratchCopy(dropping: { $0 == "FORMAT" })
        defer { scratch.remove() }
        let before = scratch.files().reduce(into: [String: [UInt8]]()) { $0[$1] = try? scratch.bytes($1) }
        let (state, json) = try await Self.openedState(scratch)
        #expect(Self.differences(try Self.expectedState(), json).isEmpty)
        // Exactly the state the fixture with FORMAT opens to: `differences` allows members beyond the expected ones
        // (fields a later format adds), which in id-keyed tables would let a stale row pass.
        let withFormat = try Self.scratchCopy()
        defer { withFormat.remove() }
        #expect(state == (try await Self.openedState(withFormat)).0)
        var after = scratch.files().reduce(into: [String: [UInt8]]()) { $0[$1] = try? scratch.bytes($1) }
        #expect(after.removeValue(forKey: "FORMAT") == StoreFormatFile.encode(.current))
        after.removeValue(forKey: "LOCK")
        #expect(after == before, "the journal and the snapshot are untouched")
    }

    @Test("a FileNumberStore refuses the fixture once its FORMAT asks for newer readers, changing nothing")
    func newerReaderRefused() throws {
        let scratch = try Self.scratchCopy()
        defer { scratch.remove() }
        let newer = StoreFormat.current.format + 1
        try scratch.write("FORMAT", Array(#"{"format":\#(newer),"readers":\#(newer)}"#.utf8) + [10])
        let before = scratch.files().reduce(into: [String: [UInt8]]()) { $0[$1] = try? scratch.bytes($1) }
        let error = #expect(throws: JournalError.self) { _ = try FileNumberStore.open(directory: scratch.url) }
        #expect(error?.code == .formatTooNew)
        #expect(
            error?.description.contains(
                "written by store format \(newer) and needs a numberd that reads format \(newer) or later; this numberd "
                    + "reads store formats up to \(newer - 1)") == true, "\(String(describing: error))")
        #expect(scratch.files().reduce(into: [String: [UInt8]]()) { $0[$1] = try? scratch.bytes($1) } == before)
    }

    @Test("numberd verify finds the fixture sound, format 1")
    func verifiesSound() async throws {
        let scratch = try Self.scratchCopy()
        defer { scratch.remove() }
        let report = await verifyDataDirectory(scratch.url)
        #expect(report.isSound && report.journal.isClean, "\(report.journal.problems) \(report.replayError ?? "")")
        #expect(report.journal.format == .recorded(.legacy), "format 1, as its FORMAT says")
        #expect(report.violations.isEmpty)
    }

    /// `releasing` is derived from what format 1 already stores (a release requested, not recorded), so stores written
    /// before it list their releases in doubt as such, with nothing on disk changed.
    @Test("the fixture's release left requested lists as releasing: not past due, not billed, outside the limit")
    func requestedReleaseListsAsReleasing() async throws {
        let scratch = try Self.scratchCopy()
        defer { scratch.remove() }
        let store = try FileNumberStore.open(directory: scratch.url)
        let service = try await NumberService.open(
            store: store, provider: FakeProvider(),
            clock: ManualClock(Date(timeIntervalSinceReferenceDate: 763_400_000)),
            config: .defaults)
        let account = "ACC_FX7Q2M4RTBA"
        let stored = try #require(service.durableState().numbers["NUM_FXNUMBER002"])
        #expect(stored.status == .pastDue && stored.releaseRequestedAt != nil, "the fixture's number as written")
        let page = try service.listNumbers(ListNumbersRequest(accountId: account))
        #expect(page.numbers.map(\.number.id) == ["NUM_FXNUMBER001", "NUM_FXNUMBER002"])
        #expect(page.numbers.map(\.number.listingStatus) == [.active, .releasing])
        #expect(page.total == 2 && page.monthlyCost == 115)
        #expect(try service.listNumbers(ListNumbersRequest(accountId: account, status: .pastDue)).total == 0)
        let releasing = try service.listNumbers(ListNumbersRequest(accountId: account, status: .releasing))
        #expect(releasing.numbers.map(\.number.id) == ["NUM_FXNUMBER002"] && releasing.monthlyCost == 0)
        #expect(try service.number(accountId: account, numberId: "NUM_FXNUMBER002").number.listingStatus == .releasing)
        #expect(service.durableState().countedForLimit(account, withdrawableReleases: []) == 1)
        #expect(service.durableState().checkInvariants() == [])
        await store.close()
    }
}

/// Any JSON value, to compare states member by member.
indirect enum JSONValue: Decodable, Equatable {
    case object([String: JSONValue])
    case array([JSONValue])
    case string(String)
    case number(Double)
    case bool(Bool)
    case null

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let number = try? container.decode(Double.self) {
            self = .number(number)
        } else if let bool = try? container.decode(Bool.self) {
            self = .bool(bool)
        } else if let string = try? container.decode(String.self) {
            self = .string(string)
        } else if let array = try? container.decode([JSONValue].self) {
            self = .array(array)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }
}
