import Foundation
import Logging
import NumberCore
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A failed write or fdatasync (EIO, EROFS, a sync's ENOSPC; a write's ENOSPC is `StoreFullTests`) through the store's fault layer: the write is not acknowledged, the
/// journal stops (fail-stop: numberd's default handler ends the process), every later write is refused, and a
/// restart on a healthy disk recovers every acknowledged write and a sound state.
@Suite("disk faults stop the store without acknowledging (core level)")
struct DiskFaultTests {
    struct Fault: Sendable, CustomTestStringConvertible {
        var operation: FaultInjectingFileSystem.Operation
        var errno: Int32
        var testDescription: String { "\(operation.rawValue) fails with errno \(errno)" }
    }

    static let faults = [
        Fault(operation: .fdatasync, errno: EIO), Fault(operation: .fdatasync, errno: ENOSPC),
        Fault(operation: .write, errno: EROFS), Fault(operation: .write, errno: EIO),
    ]

    @Test("the failing write is not acknowledged, later writes are refused, a restart recovers", arguments: faults)
    func failStopThenRecover(fault: Fault) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-disk-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let logger = Logger(label: "disk-fault", factory: { _ in SwiftLogNoOpLogHandler() })
        let failures = Mutex<[JournalFailure]>([])
        let fileSystem = FaultInjectingFileSystem()
        var journal = JournalOptions.defaults
        journal.fileSystem = fileSystem
        journal.logger = logger
        journal.fatal = { failure in failures.withLock { $0.append(failure) } }
        let provider = try unusedProvider(logger)

        let store = try FileNumberStore.open(
            directory: directory, options: FileNumberStore.Options(journal: journal, snapshotEveryRecords: 10_000))
        let service = try await NumberService.open(store: store, provider: provider, logger: logger)
        let account = try await service.createAccount(name: "Disk", currency: "USD")
        var acknowledged: [String] = []
        for index in 0..<5 {
            let credit = try await service.addFunds(accountId: account.id, amount: 100, idempotencyKey: "ok-\(index)")
            acknowledged.append(credit.id)
        }
        // The next journal write fails.
        fileSystem.addRule(.init(fault.operation, pathContains: "journal-", action: .fail(errno: fault.errno)))
        await #expect(throws: NumberError.self) {
            _ = try await service.addFunds(accountId: account.id, amount: 7, idempotencyKey: "failed")
        }
        #expect(failures.withLock { $0.count } == 1, "the fail-stop handler runs once")
        #expect(failures.withLock { $0.first?.errno } == fault.errno)
        #expect(service.storeFailure?.reason == .storeFailed)
        // Stopped: nothing more is accepted, even with the disk healthy again.
        fileSystem.removeAllRules()
        await #expect(throws: NumberError.self) {
            _ = try await service.addFunds(accountId: account.id, amount: 9, idempotencyKey: "after")
        }
        // Readers still see only acknowledged state.
        #expect(service.durableState().accounts[account.id]?.balance == 500)
        await store.close()

        // Restart on a healthy disk: every acknowledged write is there; the failed one may or may not be (it was
        // never acknowledged), the refused one is not; the state is sound and accepts writes again.
        var healthy = JournalOptions.defaults
        healthy.logger = logger
        let reopened = try FileNumberStore.open(
            directory: directory, options: FileNumberStore.Options(journal: healthy, snapshotEveryRecords: 10_000))
        let state = try await reopened.load()
        let ids = Set((state.transactions[account.id] ?? []).map(\.id))
        #expect(Set(acknowledged).isSubset(of: ids))
        let keys = (state.transactions[account.id] ?? []).compactMap(\.idempotencyKey)
        #expect(!keys.contains("after"))
        #expect([500, 507].contains(state.accounts[account.id]?.balance ?? -1))
        #expect(state.checkInvariants().isEmpty)
        let restarted = try await NumberService.open(store: reopened, provider: provider, logger: logger)
        _ = try await restarted.addFunds(accountId: account.id, amount: 1, idempotencyKey: "restarted")
        await reopened.close()
        await provider.shutdown()
        let report = await verifyDataDirectory(directory)
        #expect(report.isSound, "\(report.journal.problems) \(report.violations)")
    }

    /// A provider the ledger-only calls never reach.
    private func unusedProvider(_ logger: Logger) throws -> TwilioProvider {
        let credentials = try TwilioCredentials.authToken(
            accountSid: "AC" + String(repeating: "0", count: 32), authToken: String(repeating: "1", count: 32))
        return try TwilioProvider(
            configuration: TwilioConfiguration(credentials: credentials, endpoints: .all(at: "https://127.0.0.1:9")),
            logger: logger)
    }
}
