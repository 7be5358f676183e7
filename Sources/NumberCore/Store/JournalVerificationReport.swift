/// What the offline verifier found in a data directory.
public struct JournalVerificationReport: Sendable, Hashable {
    /// How bad a problem is.
    public enum Severity: String, Sendable, Hashable {
        /// `open` repairs it on its own (torn last record, leftover temp file, damaged snapshot with a fallback).
        case warning
        /// `open` refuses to start, or data is missing.
        case error
    }

    /// One problem, with where it is.
    public struct Problem: Sendable, Hashable, CustomStringConvertible {
        /// How bad it is.
        public var severity: Severity
        /// What kind of problem, as a `JournalError.Code` (`corruptRecord`, `sequenceGap`, ...) or `tornTail`,
        /// `damagedSnapshot`, `leftoverFile`.
        public var code: String
        /// The file name, relative to the directory.
        public var file: String
        /// The byte offset in the file, if it applies.
        public var offset: Int?
        /// A human-readable explanation.
        public var message: String

        /// `severity code file@offset: message`.
        public var description: String {
            "\(severity.rawValue) \(code) \(file)\(offset.map { "@\($0)" } ?? ""): \(message)"
        }
    }

    /// A journal segment as found.
    public struct Segment: Sendable, Hashable {
        /// The file name.
        public var file: String
        /// The first seq (from the name).
        public var firstSeq: UInt64
        /// The last good record's seq (`firstSeq - 1` if none).
        public var lastSeq: UInt64
        /// How many good records it holds.
        public var records: Int
        /// Its size in bytes.
        public var bytes: Int
    }

    /// A snapshot as found.
    public struct Snapshot: Sendable, Hashable {
        /// The file name.
        public var file: String
        /// The seq it holds (from the name).
        public var seq: UInt64
        /// Whether it passed its checks.
        public var valid: Bool
    }

    /// What the store's `FORMAT` file says.
    public enum FormatFinding: Sendable, Hashable, CustomStringConvertible {
        /// No `FORMAT`: a store from before the file (format 1), or one not opened yet; open writes it.
        case absent
        /// `FORMAT` names this format.
        case recorded(StoreFormat)
        /// `FORMAT` exists but cannot be read or holds no valid format (a `formatDamaged` problem says why).
        case damaged

        /// `format 1 (readers 1)`, or what is wrong.
        public var description: String {
            switch self {
            case .absent: "no FORMAT file (a store from before it: format 1; open adds it)"
            case .recorded(let format): "\(format)"
            case .damaged: "FORMAT damaged"
            }
        }
    }

    /// The directory verified.
    public var directory: String
    /// What the store's `FORMAT` file says.
    public var format: FormatFinding = .absent
    /// Every problem found, in file order.
    public var problems: [Problem] = []
    /// The segments, ascending.
    public var segments: [Segment] = []
    /// The snapshots, ascending.
    public var snapshots: [Snapshot] = []
    /// Files set aside by earlier recoveries (`*.torn-<ms>`, `*.damaged-<ms>`): not problems, kept for inspection.
    public var keptAside: [String] = []
    /// The last good record's seq over all segments, 0 if none.
    public var lastSeq: UInt64 = 0
    /// Whether the check did not finish: a running numberd removed files between their listing and their read (a
    /// snapshot prunes the segments and snapshot it replaces) each time the check started again. Nothing was found
    /// wrong, and nothing is reported: the store was not checked.
    public var changedTooFast = false

    /// No problem at all (and the check finished).
    public var isClean: Bool { problems.isEmpty && !changedTooFast }
    /// No error: `open` would start (possibly after repairing warnings).
    public var opensWithoutError: Bool { !problems.contains { $0.severity == .error } }

    /// A few lines for people: what was checked, then one line per problem.
    public var summary: String {
        let records = segments.reduce(0) { $0 + $1.records }
        let validSnapshots = snapshots.filter(\.valid).map { String($0.seq) }
        var lines = [
            "\(directory): \(segments.count) segments, \(records) records, last seq \(lastSeq); "
                + "snapshots \(validSnapshots.isEmpty ? "none" : validSnapshots.joined(separator: ", ")); \(format)",
            changedTooFast
                ? "not checked: the store changed too fast (stop numberd, or verify a backup)"
                : isClean ? "no problem found" : "\(problems.count) problem(s):",
        ]
        lines += problems.map { "  \($0)" }
        if !keptAside.isEmpty { lines.append("kept aside by earlier recoveries: \(keptAside.joined(separator: ", "))") }
        return lines.joined(separator: "\n")
    }
}
