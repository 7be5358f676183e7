import Foundation
import NumberCore

/// Journal replay: `purchases` purchases into a store that never snapshots, then the time to open it again.
struct ReplayRun {
    struct Result {
        var purchases: Int
        var records: Int
        var events: Int
        var journalBytes: Int
        var seconds: Double
        var cpuSeconds: Double
    }

    static func run(directory: URL, purchases: Int) async throws -> Result {
        let written = try await PurchaseRun.run(
            directory: directory, purchasers: 64, seconds: .infinity, total: purchases,
            snapshotEveryRecords: Int(Int32.max))
        var options = FileNumberStore.Options.defaults
        options.journal.logger = PurchaseRun.logger
        let cpuBefore = Measure.cpuSeconds()
        let start = Measure.now()
        let store = try FileNumberStore.open(directory: directory, options: options)
        let elapsed = Measure.now() - start
        let cpu = Measure.cpuSeconds() - cpuBefore
        let state = try await store.load()
        await store.close()
        guard state.phoneOwners.count == written.purchases, store.recovery.snapshotSeq == nil else {
            throw BenchmarkError(
                "replay rebuilt \(state.phoneOwners.count) numbers of \(written.purchases) "
                    + "(snapshot \(String(describing: store.recovery.snapshotSeq)))")
        }
        return Result(
            purchases: written.purchases, records: store.recovery.replayedRecords,
            events: Int(state.eventCount), journalBytes: Measure.fileBytes(in: directory, containing: "").total,
            seconds: elapsed, cpuSeconds: cpu)
    }
}

/// A benchmark failure: the run exits non-zero with this message.
struct BenchmarkError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
