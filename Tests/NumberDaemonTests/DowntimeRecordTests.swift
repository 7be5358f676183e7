import Foundation
import Testing

@testable import NumberCore
@testable import NumberDaemon

/// Each start records how long numberd was down (the data directory's `downtimes` file) and hands every downtime kept
/// to the core, whose grace periods count only numberd's uptime (`Downtimes`). Before, a grace period ran through a
/// downtime, and the first billing run back released numbers whose customers could not pay while numberd was down.
@Suite("numberd records its downtimes at start")
struct DowntimeRecordTests {
    static let grace: Int64 = 7 * 86_400
    static let t0 = Date(timeIntervalSince1970: 1_740_000_000)

    static func at(days: Double, seconds: Double = 0) -> Date { t0.addingTimeInterval(days * 86_400 + seconds) }

    static func scratch() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-downtimes-\(UUID())").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test("each start adds the time since the data's latest to the file, kept across starts; a damaged one starts over")
    func recordedAtEachStart() throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let directory = DataDirectory(root: root)
        func record(since latest: Date?, now: Date) -> Downtimes {
            Numberd.recordDowntime(directory, since: latest, now: now, graceSeconds: Self.grace, logger: quietLogger)
        }
        // A first start (nothing recorded yet): no downtime, no file.
        #expect(record(since: nil, now: Self.t0) == Downtimes())
        #expect(!FileManager.default.fileExists(atPath: directory.downtimes))
        // An eight-day outage, then a restart a day later: both kept, in the file and for the core.
        let outage = record(since: Self.at(days: 2), now: Self.at(days: 10))
        #expect(outage.intervals == [DateInterval(start: Self.at(days: 2), end: Self.at(days: 10))])
        #expect(directory.readDowntimes() == outage)
        let deploy = record(since: Self.at(days: 11), now: Self.at(days: 11, seconds: 60))
        #expect(
            deploy.intervals == outage.intervals + [DateInterval(start: Self.at(days: 11), duration: 60)])
        #expect(directory.readDowntimes() == deploy)
        // Damaged: not a reason to refuse the start (a crash loop would not mend it); this downtime is kept anew.
        try "garbage\n".write(toFile: directory.downtimes, atomically: true, encoding: .utf8)
        #expect(directory.readDowntimes() == nil)
        let fresh = record(since: Self.at(days: 12), now: Self.at(days: 12, seconds: 60))
        #expect(fresh.intervals == [DateInterval(start: Self.at(days: 12), duration: 60)])
        #expect(directory.readDowntimes() == fresh)
        // Reversed, out of the years 1970...9999, overlapping or malformed lines are damage too.
        for text in ["2 1\n", "0 253402300800\n", "-1 5\n", "1 2 3\n", "1 5\n3 9\n", "1 x\n"] {
            try text.write(toFile: directory.downtimes, atomically: true, encoding: .utf8)
            #expect(directory.readDowntimes() == nil, "\(text)")
        }
        try "1 5\n5 9\n\n".write(toFile: directory.downtimes, atomically: true, encoding: .utf8)
        #expect(directory.readDowntimes()?.intervals.count == 2)
    }

    /// A downtime whose write failed at the start (a full disk), or found while running, is written by the clock's
    /// next minute before the mark moves past it; a write that fails leaves the mark where it was (a time review: the
    /// next start dated its downtime from a mark past the outage, and forgot it).
    @Test("the clock's minute writes the downtimes the file lacks before the mark moves; one it cannot write stops it")
    func downtimesKeptBeforeTheMark() throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let directory = DataDirectory(root: root)
        let outage = DateInterval(start: Self.at(days: 2), end: Self.at(days: 10, seconds: 0.75))
        let counted = Downtimes().including([outage])
        // The file cannot be written (its temp name taken by a folder): the mark does not move.
        try directory.advanceClockMark(to: Self.at(days: 10))
        try FileManager.default.createDirectory(
            atPath: directory.downtimes + ".tmp", withIntermediateDirectories: false)
        #expect(throws: (any Error).self) {
            try Numberd.keepDowntimes(counted, directory, thenMarkAt: Self.at(days: 10, seconds: 60))
        }
        #expect(directory.readClockMark() == Self.at(days: 10))
        // Room again: written (in whole seconds), then the mark moves.
        try FileManager.default.removeItem(atPath: directory.downtimes + ".tmp")
        try Numberd.keepDowntimes(counted, directory, thenMarkAt: Self.at(days: 10, seconds: 120))
        #expect(directory.readDowntimes()?.intervals == [DateInterval(start: Self.at(days: 2), end: Self.at(days: 10))])
        #expect(directory.readClockMark() == Self.at(days: 10, seconds: 120))
        // Already there: not written again (the file's time unchanged).
        let written = try FileManager.default.attributesOfItem(atPath: directory.downtimes)[.modificationDate] as? Date
        Thread.sleep(forTimeInterval: 0.05)
        try Numberd.keepDowntimes(counted, directory, thenMarkAt: Self.at(days: 10, seconds: 180))
        #expect(
            try FileManager.default.attributesOfItem(atPath: directory.downtimes)[.modificationDate] as? Date == written
        )
    }

    @Test("a start records the downtime since the previous run's latest time and gives it to the core")
    func wiredIntoTheStart() async throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        var configuration = NumberdConfiguration(dataDirectory: root)
        configuration.listen.port = 0
        configuration.metricsListen = nil
        let first = try await Numberd.prepare(configuration, logger: quietLogger)
        #expect(first.service.config.billing.downtimes == Downtimes())
        await first.close()
        // The clean stop's final mark is written by the clock service, which `prepare` alone does not run: the mark of
        // the first start (and its admin key's record) is the latest time the data knows.
        try await Task.sleep(for: .milliseconds(2_100))
        let second = try await Numberd.prepare(configuration, logger: quietLogger)
        let downtimes = second.service.config.billing.downtimes
        await second.close()
        #expect(downtimes.intervals.count == 1)
        #expect((downtimes.intervals.first?.duration ?? 0) >= 1, "\(downtimes)")
        // The file keeps whole seconds.
        #expect(DataDirectory(root: root).readDowntimes()?.intervals.count == 1)
    }
}
