import Foundation
import Logging

/// Configuration of a `FileJournal` (and the limits `InMemoryJournal` shares).
///
/// ```swift
/// var options = JournalOptions.defaults
/// options.limits.recordBytesMax = 256 * 1024
/// let opened = try FileJournal<Event, State>.open(directory: url, options: options, initialState: State(), apply: apply)
/// ```
public struct JournalOptions: Sendable {
    /// Size and count limits; every one is checked and has a test at its edge.
    public struct Limits: Sendable, Hashable {
        /// Largest encoded events array of one record (the JSON of `[Event]`). Default 1 MiB.
        public var recordBytesMax: Int
        /// Most bytes of encoded records waiting for the writer; past it `append` throws `queueFull`.
        /// Default 64 MiB.
        public var queueBytesMax: Int
        /// Most records waiting for the writer; past it `append` throws `queueFull`. Default 65 536.
        public var queueRecordsMax: Int
        /// Most records the writer puts in one write + `fdatasync`. Default 4096.
        public var batchRecordsMax: Int
        /// Most bytes of encoded events the writer puts in one write + `fdatasync` (plus at most 136 bytes of line
        /// framing per record, `lineOverheadBytesMax`; one record is always taken, even a larger one). Default 4 MiB.
        public var batchBytesMax: Int
        /// A segment past this size is closed and a new one started, even without a snapshot. Default 64 MiB.
        public var segmentBytesMax: Int
        /// Largest segment file read at open; must hold `segmentBytesMax` plus one batch with its line overhead
        /// (checked by `open`). Default 256 MiB.
        public var segmentReadBytesMax: Int
        /// Largest snapshot file written or read: at most ``snapshotBytesLimit`` (4 GiB − 2), which a snapshot of about
        /// 4.8 million owned numbers reaches (885 bytes each). Default: that maximum. Reading one takes about three
        /// times its size in memory (the file, the decoder's tokens, the state). 1 GiB before, which about 1.2 million
        /// numbers filled: past it every snapshot failed, and so did the start after a crash.
        public var snapshotBytesMax: Int
        /// A journal write + sync still running after this long stops the journal (fail-stop, errno `ETIMEDOUT`): a
        /// hung disk must not hold appenders forever. A snapshot step (one chunk written, synced or read back, the
        /// rename, the directory sync) running this long abandons that snapshot only. Default 60 000 ms.
        public var ioStallMaxMilliseconds: Int
        /// A snapshot is written, `fdatasync`ed and read back this many bytes at a time: the stall watchdog times
        /// each chunk (a multi-gigabyte snapshot on a slow disk is progress, not a stall), no one sync has the whole
        /// file to flush, and the read-back holds one chunk, not a second copy. Default 16 MiB.
        public var snapshotChunkBytes: Int
        /// A snapshot is not written unless the file system has room for it and this many bytes more: the journal
        /// shares the disk, and a snapshot that took its last free bytes made the next journal write fail, which stops
        /// the process (a crash at every periodic snapshot once the disk was that full). The snapshot fails alone
        /// instead (logged; the journal grows until space is freed). Default 64 MiB (one segment).
        public var snapshotFreeBytesReserve: Int

        /// Creates limits.
        public init(
            recordBytesMax: Int = 1 << 20,
            queueBytesMax: Int = 64 << 20,
            queueRecordsMax: Int = 65_536,
            batchRecordsMax: Int = 4096,
            batchBytesMax: Int = 4 << 20,
            segmentBytesMax: Int = 64 << 20,
            segmentReadBytesMax: Int = 256 << 20,
            snapshotBytesMax: Int = Limits.snapshotBytesLimit,
            ioStallMaxMilliseconds: Int = 60_000,
            snapshotChunkBytes: Int = 16 << 20,
            snapshotFreeBytesReserve: Int = 64 << 20
        ) {
            self.recordBytesMax = recordBytesMax
            self.queueBytesMax = queueBytesMax
            self.queueRecordsMax = queueRecordsMax
            self.batchRecordsMax = batchRecordsMax
            self.batchBytesMax = batchBytesMax
            self.segmentBytesMax = segmentBytesMax
            self.segmentReadBytesMax = segmentReadBytesMax
            self.snapshotBytesMax = snapshotBytesMax
            self.ioStallMaxMilliseconds = ioStallMaxMilliseconds
            self.snapshotChunkBytes = snapshotChunkBytes
            self.snapshotFreeBytesReserve = snapshotFreeBytesReserve
        }

        /// The documented defaults.
        public static let defaults = Limits()

        /// The largest `snapshotBytesMax` allowed: `JSONLineDecoder` addresses its input with 32-bit offsets.
        public static let snapshotBytesLimit = JSONLineDecoder.inputBytesMax

        /// The most bytes a line adds around its events: `{"seq":` + 20 digits + `,"time":` + 20 characters +
        /// `,"batch":[` + 20 digits + `,` + 20 digits + `]` (store format 2) + `,"events":` + the 18-byte trailer +
        /// the newline.
        static let lineOverheadBytesMax = 7 + 20 + 8 + 20 + (10 + 20 + 1 + 20 + 1) + 10 + 18 + 1

        /// The largest a segment can get: just under `segmentBytesMax`, plus one batch (which always takes at
        /// least one record, even one larger than `batchBytesMax`).
        var segmentBytesGrowthMax: Int {
            segmentBytesMax + max(batchBytesMax, recordBytesMax) + batchRecordsMax * Self.lineOverheadBytesMax
        }
    }

    /// Size and count limits.
    public var limits: Limits
    /// How many snapshots are kept (at least 2, so the previous one can stand in for a damaged newest one).
    /// Default 2.
    public var snapshotsKept: Int
    /// How many torn-tail files (`journal-….jsonl.torn-<ms>`, the bytes a start cut off the journal) are kept: when
    /// a start keeps one more, the oldest beyond this many are removed (logged), never the one it just kept. A start
    /// that finds the same torn tail again (one that failed after keeping it) keeps no second copy. At least 1.
    /// Default 16.
    public var tornFilesKept: Int
    /// The file layer. Default `POSIXJournalFileSystem()`.
    public var fileSystem: any JournalFileSystem
    /// Called once when a journal write or sync fails (or a segment cannot be started or deleted, or a write + sync
    /// stalls): the journal stops (fail-stop), acknowledges nothing more and never retries. A failed snapshot, and a
    /// write or a new segment that finds no room (`JournalError.noRoom`: refused, cut off, the journal goes on), do not
    /// call it. The default logs at critical level and terminates the process; tests observe it.
    public var fatal: @Sendable (JournalFailure) -> Void
    /// Where the journal logs (recovery actions, snapshots).
    public var logger: Logger

    /// Creates options.
    public init(
        limits: Limits = .defaults,
        snapshotsKept: Int = 2,
        tornFilesKept: Int = 16,
        fileSystem: any JournalFileSystem = POSIXJournalFileSystem(),
        fatal: (@Sendable (JournalFailure) -> Void)? = nil,
        logger: Logger = Logger(label: "numberd.journal")
    ) {
        self.limits = limits
        self.snapshotsKept = snapshotsKept
        self.tornFilesKept = tornFilesKept
        self.fileSystem = fileSystem
        self.logger = logger
        self.fatal =
            fatal ?? { [logger] failure in
                logger.critical("journal write failed, stopping", metadata: ["failure": "\(failure)"])
                fatalError("journal write failed (fail-stop): \(failure)")
            }
    }

    /// The documented defaults.
    public static let defaults = JournalOptions()

    /// Throws `invalidOptions` if a value is out of range.
    func validate() throws {
        let checks: [(Bool, String)] = [
            (limits.recordBytesMax > 0, "recordBytesMax must be positive"),
            (limits.queueBytesMax >= limits.recordBytesMax, "queueBytesMax must be at least recordBytesMax"),
            (limits.queueRecordsMax > 0, "queueRecordsMax must be positive"),
            (limits.batchRecordsMax > 0, "batchRecordsMax must be positive"),
            (limits.batchBytesMax > 0, "batchBytesMax must be positive"),
            (limits.segmentBytesMax > 0, "segmentBytesMax must be positive"),
            (
                limits.segmentReadBytesMax >= limits.segmentBytesGrowthMax,
                "segmentReadBytesMax must hold a full segment plus one batch (\(limits.segmentBytesGrowthMax) bytes)"
            ),
            (
                (1...Limits.snapshotBytesLimit).contains(limits.snapshotBytesMax),
                "snapshotBytesMax must be 1...\(Limits.snapshotBytesLimit)"
            ),
            (limits.ioStallMaxMilliseconds > 0, "ioStallMaxMilliseconds must be positive"),
            (limits.snapshotChunkBytes > 0, "snapshotChunkBytes must be positive"),
            (limits.snapshotFreeBytesReserve >= 0, "snapshotFreeBytesReserve must not be negative"),
            (snapshotsKept >= 2, "snapshotsKept must be at least 2"),
            (tornFilesKept >= 1, "tornFilesKept must be at least 1"),
        ]
        for (ok, message) in checks where !ok {
            throw JournalError(.invalidOptions, message)
        }
    }
}
