import CAllocationCounter
import Foundation
import Logging
import NumberCore
import Synchronization

/// Durable purchases through `NumberService.purchase` on a `FileNumberStore` (real `fdatasync`) with the
/// ``InstantProvider``: rate, latency, commits and syncs per purchase.
struct PurchaseRun {
    struct Result {
        var purchasers: Int
        var purchases: Int
        var seconds: Double
        var cpuSeconds: Double
        /// The part of `cpuSeconds` spent in the kernel.
        var kernelCPUSeconds: Double
        var p50: Double
        var p99: Double
        var commits: Int
        var events: Int
        var syncs: Int
        /// malloc-family calls in the process during the run (every thread, the purchasers' own included); nil where
        /// they are not counted.
        var allocations: Int?

        var rate: Double { Double(purchases) / seconds }
    }

    /// A service over a fresh store in `directory`, with `purchasers` funded accounts.
    struct Setup {
        var service: NumberService
        var store: CountingStore
        var fileSystem: FaultInjectingFileSystem
        var accounts: [String]
    }

    static let logger: Logger = {
        var logger = Logger(label: "core-benchmark")
        logger.logLevel = .warning
        return logger
    }()

    /// Opens a store and service in `directory` and creates one funded account per purchaser.
    static func setUp(directory: URL, purchasers: Int, snapshotEveryRecords: Int) async throws -> Setup {
        let fileSystem = FaultInjectingFileSystem()  // no rules: it only counts the syncs
        var options = FileNumberStore.Options.defaults
        options.journal.fileSystem = fileSystem
        options.journal.logger = logger
        options.snapshotEveryRecords = snapshotEveryRecords
        let store = CountingStore(try FileNumberStore.open(directory: directory, options: options))
        var config = NumberServiceConfig.defaults
        // One account per purchaser buys for the whole run: lift the per-account cap above what a run can buy.
        config.limits.numbersPerAccountMax = 1_000_000
        let service = try await NumberService.open(
            store: store, provider: InstantProvider(), config: config, logger: logger)
        var accounts: [String] = []
        for index in 0..<purchasers {
            let account = try await service.createAccount(name: "bench \(index)", currency: "USD")
            _ = try await service.addFunds(accountId: account.id, amount: 100_000_000)
            accounts.append(account.id)
        }
        return Setup(service: service, store: store, fileSystem: fileSystem, accounts: accounts)
    }

    /// A distinct E.164 number per purchaser and index: area code 200 + purchaser, then 7 digits.
    static func phoneNumber(purchaser: Int, index: Int) -> String {
        "+1\(200 + purchaser)" + MemoryRun.padded(String(index), width: 7)
    }

    /// One purchase of one number with an idempotency key, as an RPC client sends it.
    static func buy(_ setup: Setup, purchaser: Int, index: Int) async throws {
        let result = try await setup.service.purchase(
            PurchaseRequest(
                accountId: setup.accounts[purchaser], phoneNumbers: [phoneNumber(purchaser: purchaser, index: index)],
                country: "US", idempotencyKey: randomKey()))
        precondition(result.numbers.count == 1 && !result.replayed, "a purchase did not buy its number")
    }

    /// A random key in a UUID's text form, as a client sends one. Not `UUID()`: Foundation opens, reads and closes
    /// `/dev/urandom` for each, which cost 3 % of the benchmark's CPU — the client's, not numberd's.
    static func randomKey() -> String {
        var generator = SystemRandomNumberGenerator()
        let bits = (generator.next() as UInt64, generator.next() as UInt64)
        return UUID(uuid: unsafeBitCast(bits, to: uuid_t.self)).uuidString
    }

    /// `purchasers` tasks buy one number after another until `seconds` have passed (or `total` purchases when
    /// given), on a fresh store in `directory`.
    static func run(
        directory: URL, purchasers: Int, seconds: Double, total: Int? = nil,
        snapshotEveryRecords: Int = FileNumberStore.Options.defaults.snapshotEveryRecords
    ) async throws -> Result {
        let setup = try await setUp(
            directory: directory, purchasers: purchasers, snapshotEveryRecords: snapshotEveryRecords)
        // Warm the price cache so every timed purchase is the same work.
        _ = try await setup.service.quote(country: "US", type: .local)
        let countsBefore = setup.store.current
        let syncsBefore = setup.fileSystem.count(.fdatasync)
        let remaining = Budget(total ?? Int.max)
        let cpuBefore = Measure.cpuSeconds()
        let kernelBefore = Measure.kernelCPUSeconds()
        let counting = allocation_counter_available() != 0
        if counting { allocation_counter_start() }
        let start = Measure.now()
        let deadline = total == nil ? start + seconds : Double.infinity
        let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
            for purchaser in 0..<purchasers {
                group.addTask {
                    var mine: [Double] = []
                    var index = 0
                    while Measure.now() < deadline, remaining.take() {
                        let began = Measure.now()
                        try await buy(setup, purchaser: purchaser, index: index)
                        mine.append(Measure.now() - began)
                        index += 1
                    }
                    return mine
                }
            }
            return try await group.reduce(into: [Double]()) { $0 += $1 }.sorted()
        }
        let elapsed = Measure.now() - start
        let allocations = counting ? Int(allocation_counter_stop()) : nil
        let cpu = Measure.cpuSeconds() - cpuBefore
        let kernel = Measure.kernelCPUSeconds() - kernelBefore
        let counts = setup.store.current
        let syncs = setup.fileSystem.count(.fdatasync) - syncsBefore
        await setup.store.base.close()
        return Result(
            purchasers: purchasers, purchases: latencies.count, seconds: elapsed, cpuSeconds: cpu,
            kernelCPUSeconds: kernel,
            p50: Measure.percentile(latencies, 0.5), p99: Measure.percentile(latencies, 0.99),
            commits: counts.commits - countsBefore.commits, events: counts.events - countsBefore.events, syncs: syncs,
            allocations: allocations)
    }
}

/// Purchases left to make, shared by the purchasers.
final class Budget: Sendable {
    private let left: Atomic<Int>

    init(_ count: Int) {
        left = Atomic(count)
    }

    /// Takes one purchase from the budget; false when it is spent.
    func take() -> Bool {
        left.subtract(1, ordering: .relaxed).oldValue > 0
    }
}
