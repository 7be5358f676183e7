import Foundation
import Testing

@testable import numbers_load

/// `--journal-dir`'s reading of the newest committed seq: the last line of the newest segment, which can be as long as
/// a record numberd takes (1 MiB of events and the line's framing): the tail read was 1 MiB, so such a line was not
/// read whole and the run reported no records.
@Suite("JournalProbe: the newest seq of a journal directory")
struct JournalProbeTests {
    @Test(
        "read from the newest segment's last line, also one longer than 1 MiB; an empty segment is its first seq less 1"
    )
    func lastLine() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("probe-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(JournalProbe.lastSeq(directory: directory) == nil)
        let long = String(repeating: "x", count: (1 << 20) + 136)
        let lines = [#"{"seq":5,"events":[]}"#, #"{"seq":6,"pad":"\#(long)"}"#]
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(
            to: URL(fileURLWithPath: directory + "/journal-00000000000000000005.jsonl"))
        #expect(JournalProbe.lastSeq(directory: directory) == 6)
        try Data().write(to: URL(fileURLWithPath: directory + "/journal-00000000000000000007.jsonl"))
        #expect(JournalProbe.lastSeq(directory: directory) == 6)
    }
}
