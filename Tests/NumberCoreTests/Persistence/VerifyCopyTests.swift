import Foundation
import Testing

@testable import NumberCore

/// Which scratch copies of a store `VerifyCopy.removeLeftovers` removes: only those whose owner (a verify, alive while
/// its owner file's `flock` is held) is gone.
@Suite("Store copies left by verifies that did not finish")
struct VerifyCopyTests {
    @Test("a copy whose owner is alive stays; an owner gone, an owner file alone, an old copy without one go")
    func leftovers() throws {
        let place = FileManager.default.temporaryDirectory.appendingPathComponent("verify-copies-\(UUID())")
        try FileManager.default.createDirectory(at: place, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(at: place) }
        func copy(_ name: String) throws -> URL {
            let url = place.appendingPathComponent(VerifyCopy.prefix + name, isDirectory: true)
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
            try Data("journal".utf8).write(to: url.appendingPathComponent("segment"))
            return url
        }
        // Alive: its owner file is locked (another open file description of this process counts as another owner).
        let alive = try copy("alive")
        let owner = try #require(VerifyCopy.own(alive))
        // Killed: the owner file is there, nobody holds its lock.
        let killed = try copy("killed")
        close(try #require(VerifyCopy.own(killed)))
        // Killed between the owner file and the copy.
        close(try #require(VerifyCopy.own(place.appendingPathComponent(VerifyCopy.prefix + "never"))))
        // Made by an older numberd (no owner file): young, and an hour old.
        let young = try copy("young")
        let old = try copy("old")
        try FileManager.default.setAttributes(
            [.modificationDate: Date(timeIntervalSinceNow: -7200)], ofItemAtPath: old.path)
        // Not a copy.
        try Data().write(to: place.appendingPathComponent("store-notes"))

        let removed = VerifyCopy.removeLeftovers(in: place)
        #expect(Set(removed) == [killed.lastPathComponent, old.lastPathComponent])
        let left = Set(try FileManager.default.contentsOfDirectory(atPath: place.path))
        #expect(
            left == [
                alive.lastPathComponent, alive.lastPathComponent + VerifyCopy.ownerSuffix, young.lastPathComponent,
                "store-notes",
            ])
        // Once its verify ends, the live one's copy goes with its owner file.
        VerifyCopy.remove(alive, owner: owner)
        #expect(!FileManager.default.fileExists(atPath: alive.path))
        #expect(!FileManager.default.fileExists(atPath: alive.path + VerifyCopy.ownerSuffix))
    }
}
