import Foundation

/// The file names of a data directory.
///
/// - `journal-<first seq, 20 digits>.jsonl`: a journal segment; its first record has that sequence number.
/// - `snapshot-<seq, 20 digits>.json`: a snapshot holding the state through that sequence number.
/// - `snapshot-<seq>.json.tmp`: a snapshot being written (removed at open: a crash left it).
/// - `journal-<first>.jsonl.torn-<unix ms>`: bytes of a torn tail (a torn last record, or damage inside the last
///   batch) cut off at open, kept for inspection (the newest `JournalOptions.tornFilesKept` of them).
/// - `snapshot-<seq>.json.damaged-<unix ms>`: a snapshot that failed its checksum at open, set aside.
/// - `LOCK`: held with an `fcntl` write lock while a journal is open (a process-wide lock: see `copyStore`).
/// - `FORMAT`: the ``StoreFormat`` that wrote the store (``StoreFormatFile``); `FORMAT.tmp` while it is being replaced
///   (removed at open: a crash left it).
package struct JournalLayout: Sendable {
    /// The directory path.
    package let directory: String

    package init(directory: String) {
        self.directory = directory
    }

    package func path(_ name: String) -> String { directory + "/" + name }

    package static let formatName = "FORMAT"
    package static let formatTempName = "FORMAT.tmp"

    package static func segmentName(firstSeq: UInt64) -> String { "journal-\(padded(firstSeq)).jsonl" }
    package static func snapshotName(seq: UInt64) -> String { "snapshot-\(padded(seq)).json" }
    package static func snapshotTempName(seq: UInt64) -> String { snapshotName(seq: seq) + ".tmp" }
    package static func tornName(segment: String, millis: Int64) -> String { segment + ".torn-\(millis)" }
    package static func damagedName(snapshot: String, millis: Int64) -> String { snapshot + ".damaged-\(millis)" }

    /// The first seq of a segment file name, nil if the name is not a segment.
    package static func segmentSeq(_ name: String) -> UInt64? { number(name, prefix: "journal-", suffix: ".jsonl") }
    /// The seq of a snapshot file name, nil if the name is not a snapshot.
    package static func snapshotSeq(_ name: String) -> UInt64? { number(name, prefix: "snapshot-", suffix: ".json") }
    /// The seq of a snapshot set aside as damaged (`snapshot-<seq>.json.damaged-<ms>`), nil for any other name.
    package static func damagedSnapshotSeq(_ name: String) -> UInt64? {
        guard let range = name.range(of: ".damaged-") else { return nil }
        return snapshotSeq(String(name[..<range.lowerBound]))
    }
    /// The time in a torn-tail file's name (`journal-<first>.jsonl.torn-<ms>`), nil for any other name.
    package static func tornMillis(_ name: String) -> Int64? {
        guard let range = name.range(of: ".torn-"), segmentSeq(String(name[..<range.lowerBound])) != nil else {
            return nil
        }
        let digits = name[range.upperBound...]
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int64(digits)
    }
    /// Whether `name` is one of the store's own files, which its replay reads or open's checks count — what a copy of
    /// the store takes (verify's, restore's): `FORMAT`, a journal segment, a snapshot, a snapshot set aside as damaged
    /// (open's reach check counts its seq: a copy without it opened, and verified, without the records it alone held)
    /// or a torn tail kept. Not `LOCK`, temp files, or anything else in the folder.
    package static func isStoreFileName(_ name: String) -> Bool {
        name == formatName || segmentSeq(name) != nil || snapshotSeq(name) != nil || damagedSnapshotSeq(name) != nil
            || tornMillis(name) != nil
    }
    /// Whether the name is a snapshot temp file.
    package static func isSnapshotTemp(_ name: String) -> Bool {
        name.hasPrefix("snapshot-") && name.hasSuffix(".json.tmp")
    }

    private static func padded(_ value: UInt64) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits
    }

    private static func number(_ name: String, prefix: String, suffix: String) -> UInt64? {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix) else { return nil }
        let digits = name.dropFirst(prefix.count).dropLast(suffix.count)
        guard digits.count == 20, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return UInt64(digits)
    }

    /// Now, in Unix milliseconds.
    package static func nowMillis() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }
}
