import Foundation
import Testing

@testable import NumberCore

/// A store review: nothing checked that `FORMAT` covers what the files hold. One restored alone from an older backup
/// (as the damaged-`FORMAT` advice said), or none after a hand copy of the files, let `numberd verify` and restore pass
/// the store as sound, and an older numberd open it and lose what it did not know at its next snapshot.
@Suite("numberd verify: a FORMAT behind what the files hold")
struct FormatBehindContentTests {
    /// Each fixture whose format moved `readers`, and the format before it.
    static let fixtures: [(format: Int, before: StoreFormat?)] = [
        (3, StoreFormat(format: 2, readers: 1)), (4, StoreFormat(format: 3, readers: 3)),
        (5, StoreFormat(format: 4, readers: 4)), (6, StoreFormat(format: 5, readers: 5)),
        (8, StoreFormat(format: 7, readers: 6)), (9, StoreFormat(format: 8, readers: 8)), (9, nil),
    ]

    @Test(
        "a FORMAT naming the format before the files' (or none) is a warning naming a key of the files' readers",
        arguments: fixtures.indices)
    func behindIsAWarning(index: Int) async throws {
        let (format, before) = Self.fixtures[index]
        let scratch = try StoreFormatThreeFixtureTests.scratchCopy(
            of: StoreFixture.folder(format: format).appendingPathComponent("store"))
        defer { scratch.remove() }
        if let before {
            try Data(StoreFormatFile.encode(before)).write(to: scratch.file("FORMAT"))
        } else {
            try FileManager.default.removeItem(at: scratch.file("FORMAT"))
        }
        let report = await verifyDataDirectory(scratch.url)
        let behind = report.journal.problems.filter { $0.code == "formatBehindContent" }
        #expect(behind.count == 1, "\(report.journal.problems)")
        #expect(behind.first?.severity == .warning)
        let named = StoreFormat.markers.filter { behind.first?.message.contains("\"\($0.key)\"") == true }
        #expect(named.map(\.readers) == [format], "names a key of readers \(format): \(behind)")
        #expect(report.isSound, "this numberd reads it: \(report.journal.problems)")
        // Opened by this numberd, which records the files' format: clean again.
        _ = try await StoreFormatFixtureTests.openedState(scratch)
        let after = await verifyDataDirectory(scratch.url)
        #expect(after.journal.isClean && after.isSound, "\(after.journal.problems)")
    }

    /// A review: format 6's `"key"` on `numberReleaseRequested` is also every idempotency record's key, so only the
    /// snapshot's `"releaseRequestKey"` showed format 6 — a journal without such a snapshot passed under a FORMAT of 5.
    /// The decoded event says it.
    @Test("a keyed release request in a journal alone needs readers 6: a FORMAT of 5 is a warning")
    func keyedReleaseInTheJournalAlone() async throws {
        let scratch = try StoreFormatThreeFixtureTests.scratchCopy(
            of: StoreFixture.folder(format: 6).appendingPathComponent("store"))
        defer { scratch.remove() }
        try Data(StoreFormatFile.encode(StoreFormat(format: 5, readers: 5))).write(to: scratch.file("FORMAT"))
        for name in try FileManager.default.contentsOfDirectory(atPath: scratch.url.path)
        where name.hasPrefix("snapshot-") {
            try FileManager.default.removeItem(at: scratch.file(name))
        }
        let report = await verifyDataDirectory(scratch.url)
        let behind = report.journal.problems.filter { $0.code == "formatBehindContent" }
        #expect(behind.count == 1, "\(report.journal.problems)")
        #expect(behind.first?.message.contains("\"numberReleaseRequested.key\", which needs readers 6") == true)
        #expect(report.isSound, "\(report.journal.problems)")
    }

    @Test("a key's text inside a string is not the key; a key after { or , is")
    func keysNotText() {
        let markers = [StoreFormat.Marker(key: "routeRequest", readers: 8), StoreFormat.Marker(key: "by", readers: 3)]
        let text = Array(#"{"name":"\"routeRequest\":1","x":{"by":"a"}}"#.utf8)
        #expect(StoreFormat.Marker.highest(in: text, of: markers, above: 1) == markers[1])
        #expect(StoreFormat.Marker.highest(in: text, of: markers, above: 3) == nil)
        let key = Array(#"{"a":1,"routeRequest":{"at":1}}"#.utf8)
        #expect(StoreFormat.Marker.highest(in: key, of: markers, above: 1) == markers[0])
        #expect(StoreFormat.Marker.highest(in: Array(#"{"routeRequestX":1}"#.utf8), of: markers, above: 1) == nil)
    }
}
