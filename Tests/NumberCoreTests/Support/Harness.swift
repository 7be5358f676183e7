import Foundation
import NumberCore
import Synchronization
import Testing

/// Which store a service test runs against; every service test runs against each.
enum StoreKind: String, CaseIterable, CustomStringConvertible, Sendable {
    case memory
    case file

    var description: String { rawValue }
}

/// A service over a fake provider, a manual clock and a store, with the checks every writing test ends with.
struct Harness {
    static let start = Date(timeIntervalSince1970: 1_736_937_000)  // 2025-01-15T10:30:00Z

    let kind: StoreKind
    let clock: ManualClock
    let provider: FakeProvider
    private(set) var config: NumberServiceConfig
    /// The data directory of a file store (each test has its own; removed when the last copy of the harness is gone).
    var directory: URL { scratch.url }
    /// Shared by the harness's copies: a copy still in use keeps the directory.
    private let scratch = ScratchDirectory(prefix: "numbercore-test")
    private(set) var store: any NumberStore
    private(set) var service: NumberService
    /// What the file store opens with (``fileOptions`` unless the test chose another snapshot interval).
    private let storeOptions: FileNumberStore.Options

    /// `providerDatesByClock`: the fake provider dates each number it sells by the harness's clock (its creation date,
    /// ``FakeProvider/init(clock:)``) rather than one fixed date — for runs across months, whose reconciliation and
    /// orphan sweeps compare a number's creation with the buy numberd sent. `snapshotEveryRecords`: the file store's
    /// snapshot interval, if not ``fileOptions``' (a long run would rewrite its whole state every 7 records).
    init(
        _ kind: StoreKind, config: NumberServiceConfig = .defaults, start: Date = Harness.start,
        providerDatesByClock: Bool = false, snapshotEveryRecords: Int? = nil
    ) async throws {
        self.kind = kind
        let clock = ManualClock(start)
        self.clock = clock
        self.provider = FakeProvider(clock: providerDatesByClock ? clock : nil)
        self.config = config
        var storeOptions = Self.fileOptions
        if let snapshotEveryRecords { storeOptions.snapshotEveryRecords = snapshotEveryRecords }
        self.storeOptions = storeOptions
        switch kind {
        case .memory: store = InMemoryNumberStore()
        case .file: store = try FileNumberStore.open(directory: scratch.url, options: storeOptions)
        }
        self.service = try await NumberService.open(store: store, provider: provider, clock: clock, config: config)
    }

    /// Small snapshot interval so tests cross snapshots too. A fail-stop stops the store (every later write fails,
    /// which the test sees) without ending the test process: a store a finished test left open may still write a
    /// snapshot, and delete segments, after its directory was removed (which crashed the whole suite once).
    /// Every 7 records whatever the state's size (`snapshotJournalFraction` 0), so tests cross snapshots.
    static let fileOptions: FileNumberStore.Options = {
        var options = FileNumberStore.Options(journal: JournalOptions(fatal: { _ in }), snapshotEveryRecords: 7)
        options.snapshotJournalFraction = 0
        return options
    }()

    /// The in-memory store (for tests that inject store faults).
    var memoryStore: InMemoryNumberStore { store as! InMemoryNumberStore }

    /// How many commits reached the store.
    var commitCount: Int {
        switch kind {
        case .memory: memoryStore.commitCount
        case .file: (store as! FileNumberStore).commitCount
        }
    }

    /// Models a crash and restart: a new service over exactly what the store committed (re-read from disk for
    /// the file store); the old service can no longer write. With `config`, the new service runs under it (a start
    /// with other settings, or the downtimes numberd records at start).
    mutating func restart(config newConfig: NumberServiceConfig? = nil) async throws {
        if let newConfig { config = newConfig }
        switch kind {
        case .memory:
            store = memoryStore.restarted()
        case .file:
            await (store as! FileNumberStore).close()
            store = try FileNumberStore.open(directory: directory, options: storeOptions)
        }
        service = try await NumberService.open(store: store, provider: provider, clock: clock, config: config)
    }

    /// An account with `funds` minor units.
    func account(funds: Int64 = 0, currency: String = "USD", name: String = "Acme") async throws -> Account {
        let account = try await service.createAccount(name: name, currency: currency)
        if funds > 0 { _ = try await service.addFunds(accountId: account.id, amount: funds) }
        return try service.account(account.id)
    }

    /// Stocks and buys numbers.
    func buy(_ phones: [String], for accountId: String, trunkId: String? = nil) async throws -> PurchaseResult {
        provider.stock(phones)
        return try await service.purchase(
            PurchaseRequest(accountId: accountId, phoneNumbers: phones, country: "US", trunkId: trunkId))
    }

    /// The invariants, the store agreeing with the service, and the provider agreeing with both: no number
    /// paid at the provider without an owner or an open intent (but `leftForTheAudit`, which the test means to leave
    /// there), and every number held (not released) owned there under the SID numberd recorded — the same number
    /// bought again there, or another's, is not the one numberd holds (the crash harness's `providerProblems` compares
    /// so too).
    func check(leftForTheAudit: Set<String> = [], sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let durable = service.durableState()
        #expect(durable.checkInvariants() == [], sourceLocation: sourceLocation)
        // The decision state keeps the background runs' indexes, which the invariant checker compares with a rebuild.
        let decided = service.decisionState()
        #expect(decided.work.kept && decided.checkInvariants() == [], sourceLocation: sourceLocation)
        let stored = try await store.load()
        #expect(stored.checkInvariants() == [], sourceLocation: sourceLocation)
        #expect(stored == durable, "the store and the service disagree", sourceLocation: sourceLocation)
        if kind == .file, let store = store as? FileNumberStore {
            // What is on disk replays to the same state (once the background snapshot, if any, is written: the
            // verifier copies the directory and must not race a snapshot's rename).
            await store.waitForSnapshot()
            let report = await verifyDataDirectory(directory)
            #expect(
                report.isSound, "\(report.journal.problems) \(report.replayError ?? "")", sourceLocation: sourceLocation
            )
            #expect(
                report.state == durable, "the data directory replays to another state", sourceLocation: sourceLocation)
        }
        let claimed = Set(durable.phoneOwners.keys).union(durable.reservations.keys)
        let atProvider = provider.ownedPhoneNumbers
        #expect(
            atProvider.subtracting(claimed) == leftForTheAudit, "numbers paid at the provider without an owner",
            sourceLocation: sourceLocation)
        #expect(
            Set(durable.phoneOwners.keys).isSubset(of: atProvider), "owned numbers missing at the provider",
            sourceLocation: sourceLocation)
        for number in durable.numbers.values where number.status != .released {
            let sid = provider.owned(number.phoneNumber)?.sid
            #expect(
                sid == number.providerSid,
                "\(number.phoneNumber) held under \(number.providerSid), the provider has \(sid ?? "nothing")",
                sourceLocation: sourceLocation)
        }
    }
}

/// A fresh path under the temp directory, removed with everything in it when the object is released (a test that
/// fails or throws included). Only the path is chosen here; the file store creates the directory.
private final class ScratchDirectory: Sendable {
    let url: URL

    init(prefix: String) {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(prefix)-\(UUID().uuidString)", isDirectory: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// The error a call throws, as a `NumberError`.
func numberError(_ body: () async throws -> Void) async -> NumberError? {
    do {
        try await body()
        return nil
    } catch let error as NumberError {
        return error
    } catch {
        Issue.record("unexpected error type: \(error)")
        return nil
    }
}

extension Date {
    /// A UTC date from an ISO 8601 string like `2025-01-31T10:00:00Z`.
    static func utc(_ text: String) -> Date {
        let formatter = ISO8601DateFormatter()
        guard let date = formatter.date(from: text) else { fatalError("bad date literal \(text)") }
        return date
    }
}

/// A trunk SID of the form numberd registers (`TK` and 32 hex digits): `n` in hex, padded with zeros.
func trunkSid(_ n: Int) -> String {
    let hex = String(n, radix: 16)
    return "TK" + String(repeating: "0", count: 32 - hex.count) + hex
}

/// Polls `condition` every millisecond for up to 5 minutes (a test's wait for work started in other tasks; it ends
/// as soon as the condition holds — a CI run's start once starved the test process for 40 s).
func waitUntil(_ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(300)
    while !condition() {
        guard ContinuousClock.now < deadline else {
            Issue.record("timed out waiting")
            return
        }
        try await Task.sleep(for: .milliseconds(1))
    }
}

/// The error a call that must be refused at once throws, as a `NumberError`; nil, recorded as an issue, when it
/// returned, or when it has not ended within `seconds` (far past any load's slack: "at once" against "waits for a
/// held write for ever") — the call is then left waiting, so that a regression fails the test instead of hanging it.
func refusalAtOnce(
    within seconds: Int = 60, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: @escaping @Sendable () async throws -> Void
) async -> NumberError? {
    let ended = Mutex(false)
    let task = Task {
        defer { ended.withLock { $0 = true } }
        return await numberError(body)
    }
    let deadline = ContinuousClock.now + .seconds(seconds)
    while !ended.withLock({ $0 }) {
        guard ContinuousClock.now < deadline else {
            Issue.record("not answered within \(seconds) s: it waits", sourceLocation: sourceLocation)
            return nil
        }
        try? await Task.sleep(for: .milliseconds(1))
    }
    let error = await task.value
    if error == nil { Issue.record("not refused", sourceLocation: sourceLocation) }
    return error
}
