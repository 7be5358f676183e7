import Foundation

/// An error of the file journal: a code to branch on, a message for people, and where it happened.
public struct JournalError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, as a stable code.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        /// The code's name.
        public var description: String { name }

        /// A record's encoded events exceed `Limits.recordBytesMax`.
        public static let recordTooLarge = Code("recordTooLarge")
        /// `append` was called with no events.
        public static let emptyRecord = Code("emptyRecord")
        /// The events or the state could not be encoded to JSON.
        public static let encodingFailed = Code("encodingFailed")
        /// The append queue is full (`Limits.queueBytesMax` / `queueRecordsMax`): shed load and retry later.
        public static let queueFull = Code("queueFull")
        /// The journal was closed.
        public static let closed = Code("closed")
        /// A write or sync failed earlier: the journal stopped (fail-stop) and acknowledges nothing more.
        public static let failed = Code("failed")
        /// The file system had no room for a record (`ENOSPC`, `EDQUOT`, or the file size limit's `EFBIG` on its
        /// `write`; or no room to create the next segment when the current one is full): what was written was cut off
        /// again and synced, so nothing of it — nor of any record queued behind it — is on disk, and the journal goes
        /// on (a later record may find room). Never a sync's failure: that one stops the journal (`failed`).
        public static let noRoom = Code("noRoom")
        /// A line before the last one of the journal is damaged (bad checksum or not parsable).
        public static let corruptRecord = Code("corruptRecord")
        /// Sequence numbers are not contiguous (inside a segment, across segments, or after the snapshot).
        public static let sequenceGap = Code("sequenceGap")
        /// No usable snapshot, yet the journal does not start at sequence 1.
        public static let missingJournal = Code("missingJournal")
        /// The snapshot is larger than `Limits.snapshotBytesMax` or a segment larger than `segmentReadBytesMax`.
        public static let fileTooLarge = Code("fileTooLarge")
        /// `apply` threw while replaying a record at open.
        public static let replayFailed = Code("replayFailed")
        /// A snapshot was asked for a sequence not durable yet or older than the newest snapshot.
        public static let invalidSnapshotSeq = Code("invalidSnapshotSeq")
        /// The data directory is locked by another open journal (this or another process).
        public static let locked = Code("locked")
        /// A file system call failed (open, read, rename...).
        public static let io = Code("io")
        /// A configuration value is out of range.
        public static let invalidOptions = Code("invalidOptions")
        /// The store's `FORMAT` names a reader format above the one this build reads (``StoreFormat``): written by a
        /// newer numberd. Nothing was changed.
        public static let formatTooNew = Code("formatTooNew")
        /// The store's `FORMAT` exists but cannot be read or holds no valid format. Nothing was changed.
        public static let formatDamaged = Code("formatDamaged")
        /// A backup was asked for while another one is being written (one at a time). Nothing was changed.
        public static let backupInProgress = Code("backupInProgress")
    }

    /// What went wrong.
    public var code: Code
    /// A human-readable explanation.
    public var message: String
    /// The file concerned, if any.
    public var file: String?
    /// The byte offset in `file`, if any.
    public var offset: Int?

    /// Creates an error.
    public init(_ code: Code, _ message: String, file: String? = nil, offset: Int? = nil) {
        self.code = code
        self.message = message
        self.file = file
        self.offset = offset
    }

    /// `code: message (file at offset)`.
    public var description: String {
        var text = "\(code): \(message)"
        if let file { text += " [file \(file)" + (offset.map { " at byte offset \($0)" } ?? "") + "]" }
        return text
    }
}

/// A failed file system call: thrown by `JournalFileSystem`, and handed to the `fatal` handler when a write or
/// sync fails (the journal then stops).
public struct JournalFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// The operation that failed (`write`, `fdatasync`, `rename`...).
    public var operation: String
    /// The file concerned.
    public var path: String
    /// The `errno` reported, 0 if none.
    public var errno: Int32
    /// What numberd adds to the system's words (nil: nothing), such as the room a snapshot needed.
    public var detail: String?

    /// Whether the call found no room: the disk or the owner's quota full (`ENOSPC`, `EDQUOT`), or the file size limit
    /// (`EFBIG`: `RLIMIT_FSIZE`, whose `SIGXFSZ` numberd ignores).
    public var isNoRoom: Bool { Self.isNoRoom(errno: errno) }

    /// Whether `errno` says there is no room: ``isNoRoom``'s rule for any file operation.
    public static func isNoRoom(errno: Int32) -> Bool { errno == ENOSPC || errno == EDQUOT || errno == EFBIG }

    /// Creates a failure report.
    public init(operation: String, path: String, errno: Int32, detail: String? = nil) {
        self.operation = operation
        self.path = path
        self.errno = errno
        self.detail = detail
    }

    /// `operation path: strerror (errno N)`, then `: detail` when there is one.
    public var description: String {
        "\(operation) \(path): \(String(cString: strerror(errno))) (errno \(errno))" + (detail.map { ": \($0)" } ?? "")
    }
}
