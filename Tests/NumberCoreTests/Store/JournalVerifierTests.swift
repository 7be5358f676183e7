import Foundation
import NumberCore
import Testing

/// The offline verifier: every problem reported, nothing modified.
@Suite("JournalVerifier")
struct JournalVerifierTests {
    let segment = "journal-00000000000000000001.jsonl"

    /// A journal with `count` records and, if asked, a snapshot through `snapshotAt`.
    func makeJournal(_ directory: TempDirectory, count: Int, snapshotAt: UInt64? = nil) async throws {
        let opened = try ToyFileJournal.open(
            directory: directory.url, options: quietOptions(), initialState: ToyState(), apply: toyApply)
        var state = opened.state
        for index in 1...count {
            let event = ToyEvent.deposit(account: "a", cents: Int64(index))
            let seq = try await opened.journal.append([event])
            try toyApply(&state, event)
            if seq == snapshotAt { try await opened.journal.writeSnapshot(state, throughSeq: seq) }
        }
        await opened.journal.close()
    }

    /// Every file's bytes, to prove the verifier changed nothing.
    func contents(_ directory: TempDirectory) throws -> [String: [UInt8]] {
        var all: [String: [UInt8]] = [:]
        for name in directory.files() { all[name] = try directory.bytes(name) }
        return all
    }

    func lineStarts(_ bytes: [UInt8]) -> [Int] {
        [0] + bytes.indices.filter { bytes[$0] == UInt8(ascii: "\n") }.map { $0 + 1 }
    }

    @Test("a healthy directory has no problem and reports its files")
    func clean() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        try await makeJournal(directory, count: 5, snapshotAt: 3)
        let report = JournalVerifier.verify(directory: directory.url)
        #expect(report.isClean, "\(report.problems)")
        #expect(report.lastSeq == 5)
        #expect(report.snapshots.map(\.seq) == [3])
        #expect(report.segments.map(\.records) == [3, 2])
        let typed = JournalVerifier.verify(directory: directory.url, event: ToyEvent.self, state: ToyState.self)
        #expect(typed.isClean, "\(typed.problems)")
        #expect(report.summary.contains("2 segments, 5 records, last seq 5; snapshots 3"))
        #expect(report.summary.contains("no problem found"))
    }

    @Test("every problem is reported with file and offset, and nothing is modified")
    func problemsReported() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        try await makeJournal(directory, count: 4)
        var bytes = try directory.bytes(segment)
        let starts = lineStarts(bytes)
        bytes[starts[1] + 3] ^= 0x02  // record 2 damaged
        bytes.removeLast(4)  // record 4 torn
        try directory.write(segment, bytes)
        try directory.write("snapshot-00000000000000000003.json.tmp", Array("partial".utf8))
        try directory.write("snapshot-00000000000000000002.json", Array("{\"seq\":2}\n".utf8))
        let before = try contents(directory)

        let report = JournalVerifier.verify(directory: directory.url)
        let summary = report.problems.map { "\($0.code)@\($0.file):\($0.offset ?? -1)" }
        #expect(summary.contains("corruptRecord@\(segment):\(starts[1])"))
        #expect(summary.contains("tornTail@\(segment):\(starts[3])"))
        #expect(summary.contains("leftoverFile@snapshot-00000000000000000003.json.tmp:-1"))
        #expect(summary.contains("damagedSnapshot@snapshot-00000000000000000002.json:-1"))
        #expect(!report.opensWithoutError)
        #expect(try contents(directory) == before)
    }

    @Test("seq gaps, inside and across segments, and a journal starting late are errors")
    func gaps() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        try await makeJournal(directory, count: 3)
        let bytes = try directory.bytes(segment)
        let starts = lineStarts(bytes)
        try directory.write(segment, Array(bytes[..<starts[1]] + bytes[starts[2]...]))
        try directory.write("journal-00000000000000000009.jsonl", [])
        let report = JournalVerifier.verify(directory: directory.url)
        let codes = report.problems.map(\.code)
        #expect(codes.filter { $0 == "sequenceGap" }.count == 2, "\(report.problems)")

        try FileManager.default.removeItem(at: directory.file(segment))
        let late = JournalVerifier.verify(directory: directory.url)
        #expect(late.problems.map(\.code).contains("missingJournal"), "\(late.problems)")
    }

    @Test("the typed verifier reports lines whose events do not decode as the event type")
    func typedDecoding() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        try await makeJournal(directory, count: 2)
        struct OtherEvent: Decodable { var unrelated: Int }
        let report = JournalVerifier.verify(directory: directory.url, event: OtherEvent.self, state: ToyState.self)
        // Intact lines that do not decode are corruption even at the end: a crash cannot produce them.
        #expect(report.problems.map(\.code) == ["corruptRecord", "corruptRecord"])
        #expect(JournalVerifier.verify(directory: directory.url).isClean)
    }

    /// A running numberd's snapshot prunes the segments and the snapshot it replaces, maybe between the verifier's
    /// listing and its read of them (minutes, on a large store): that read failed `io`, coverage could add a gap, and
    /// `numberd verify` said PROBLEMS FOUND of a healthy store.
    @Test("a segment a running numberd removes between the listing and its read is no damage: the check starts again")
    func segmentRemovedWhileInUse() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        try await makeJournal(directory, count: 5, snapshotAt: 3)
        let fileSystem = FaultInjectingFileSystem()
        fileSystem.pause(.readFile)
        let url = directory.url
        let verifying = Task.detached {
            JournalVerifier.verify(
                directory: url, event: ToyEvent.self, state: ToyState.self, fileSystem: fileSystem, inUse: true)
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while fileSystem.count(.readFile) == 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        // Listed, not read yet: the snapshot through seq 3 is what let numberd prune the first segment.
        try FileManager.default.removeItem(at: directory.file(segment))
        fileSystem.resume(.readFile)
        let report = await verifying.value
        #expect(report.isClean, "\(report.problems)")
        #expect(report.segments.map(\.firstSeq) == [4] && report.lastSeq == 5, "\(report.segments)")
    }

    @Test("files that keep vanishing end the check as not checked; with no numberd running a vanished file is an error")
    func filesVanishingTooFast() async throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        try await makeJournal(directory, count: 5, snapshotAt: 3)
        let gone = FaultInjectingFileSystem.Rule(
            .readFile, pathContains: "journal-", repeats: true, action: .fail(errno: ENOENT))
        let live = JournalVerifier.verify(
            directory: directory.url, event: ToyEvent.self, state: ToyState.self,
            fileSystem: FaultInjectingFileSystem(rules: [gone]), inUse: true)
        #expect(live.changedTooFast && live.problems.isEmpty && !live.isClean, "\(live.problems)")
        #expect(live.summary.contains("not checked"), "\(live.summary)")
        let idle = JournalVerifier.verify(
            directory: directory.url, event: ToyEvent.self, state: ToyState.self,
            fileSystem: FaultInjectingFileSystem(rules: [gone]))
        #expect(!idle.changedTooFast && idle.problems.map(\.code).contains("io"), "\(idle.problems)")
    }

    @Test("a directory that cannot be listed is an error, not a crash")
    func unreadable() {
        let report = JournalVerifier.verify(directory: URL(fileURLWithPath: "/nonexistent/numberd-\(UUID())"))
        #expect(report.problems.map(\.code) == ["io"])
    }
}
