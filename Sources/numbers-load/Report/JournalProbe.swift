import Foundation

/// The newest committed sequence number of a numberd journal directory (`<data-dir>/store`), read from the last
/// line of the newest segment, so a run can report how many records (group-commit members) it appended.
enum JournalProbe {
    /// Bytes read from the end of a segment to find its last line: 2 MiB, past the longest line a journal holds (a
    /// record's events up to numberd's `recordBytesMax`, 1 MiB, and its framing).
    static let tailBytesMax = 2 << 20

    /// The highest seq in `directory`, nil if it holds no journal.
    static func lastSeq(directory: String) -> UInt64? {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return nil }
        let segments = names.compactMap { name -> (UInt64, String)? in
            guard name.hasPrefix("journal-"), name.hasSuffix(".jsonl"),
                let first = UInt64(name.dropFirst("journal-".count).dropLast(".jsonl".count))
            else { return nil }
            return (first, name)
        }.sorted { $0.0 < $1.0 }
        guard let (first, name) = segments.last else { return nil }
        guard let handle = FileHandle(forReadingAtPath: directory + "/" + name) else { return nil }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        guard size > 0 else { return first == 0 ? 0 : first - 1 }
        try? handle.seek(toOffset: size > UInt64(tailBytesMax) ? size - UInt64(tailBytesMax) : 0)
        guard let tail = try? handle.readToEnd() else { return nil }
        let lines = tail.split(separator: UInt8(ascii: "\n"))
        guard let last = lines.last,
            let object = try? JSONSerialization.jsonObject(with: Data(last)) as? [String: Any],
            let seq = object["seq"] as? NSNumber
        else { return nil }
        return seq.uint64Value
    }
}
