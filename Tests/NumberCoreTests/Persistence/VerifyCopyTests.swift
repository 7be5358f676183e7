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

    static func place() throws -> URL {
        let place = FileManager.default.temporaryDirectory.appendingPathComponent("verify-copies-\(UUID())")
        try FileManager.default.createDirectory(at: place, withIntermediateDirectories: false)
        return place
    }

    static func age(_ path: String) throws {
        try FileManager.default.setAttributes(
            [.modificationDate: Date(timeIntervalSinceNow: -7200)], ofItemAtPath: path)
    }

    @Test("an owner file is never seen unlocked under its name while its verify lives")
    func ownerNeverSeenUnlocked() throws {
        let place = try Self.place()
        defer { try? FileManager.default.removeItem(at: place) }
        let copy = place.appendingPathComponent(VerifyCopy.prefix + "0123456789abcdef", isDirectory: true)
        // `own` between creating its owner file and locking it, while another verify (or numberd's start) cleans up.
        let descriptor = try #require(VerifyCopy.createOwner(copy))
        defer { close(descriptor) }
        #expect(VerifyCopy.removeLeftovers(in: place).isEmpty)
        #expect(VerifyCopy.nameOwner(copy, descriptor))
        #expect(
            FileManager.default.fileExists(atPath: copy.path + VerifyCopy.ownerSuffix), "its owner file was removed")
        #expect(!FileManager.default.fileExists(atPath: copy.path + VerifyCopy.pendingSuffix))
        // The copy is made; its replay runs for hours: the copy stays, owner file and all.
        try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: false)
        try Self.age(copy.path)
        #expect(VerifyCopy.removeLeftovers(in: place).isEmpty)
        #expect(FileManager.default.fileExists(atPath: copy.path))
        #expect(FileManager.default.fileExists(atPath: copy.path + VerifyCopy.ownerSuffix))

        // A verify killed before it locked its owner file: the pending file goes once an hour old, not before.
        let killed = place.appendingPathComponent(VerifyCopy.prefix + "fedcba9876543210", isDirectory: true)
        close(try #require(VerifyCopy.createOwner(killed)))
        VerifyCopy.removeLeftovers(in: place)
        #expect(FileManager.default.fileExists(atPath: killed.path + VerifyCopy.pendingSuffix))
        try Self.age(killed.path + VerifyCopy.pendingSuffix)
        VerifyCopy.removeLeftovers(in: place)
        #expect(!FileManager.default.fileExists(atPath: killed.path + VerifyCopy.pendingSuffix))
        VerifyCopy.remove(copy, owner: dup(descriptor))
    }

    @Test("a copy that could not be removed is not reported, and its owner file stays for the next try")
    func unremovableNotReported() throws {
        let place = try Self.place()
        defer { try? FileManager.default.removeItem(at: place) }
        let copy = place.appendingPathComponent(VerifyCopy.prefix + "dead", isDirectory: true)
        close(try #require(VerifyCopy.own(copy)))
        try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: false)
        struct Refused: Error {}
        for _ in 0..<2 {
            #expect(VerifyCopy.removeLeftovers(in: place, removeItem: { _ in throw Refused() }).isEmpty)
            #expect(FileManager.default.fileExists(atPath: copy.path))
            #expect(FileManager.default.fileExists(atPath: copy.path + VerifyCopy.ownerSuffix))
        }
        #expect(VerifyCopy.removeLeftovers(in: place) == [copy.lastPathComponent])
        #expect(try FileManager.default.contentsOfDirectory(atPath: place.path).isEmpty)
    }

    @Test("what is not a directory or regular file of this user is left alone: symbolic links, others' copies")
    func notOursLeftAlone() throws {
        let place = try Self.place()
        defer { try? FileManager.default.removeItem(at: place) }
        let target = place.appendingPathComponent("target", isDirectory: true)
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: false)
        try Data("ledger".utf8).write(to: target.appendingPathComponent("segment"))
        // A symbolic link named like a copy, with an owner file nobody holds.
        let link = place.appendingPathComponent(VerifyCopy.prefix + "link")
        try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: target.path)
        close(try #require(VerifyCopy.own(link)))
        // An owner file that is a symbolic link (to a file of ours), and its old copy.
        let linkedOwner = place.appendingPathComponent(VerifyCopy.prefix + "linked", isDirectory: true)
        try FileManager.default.createDirectory(at: linkedOwner, withIntermediateDirectories: false)
        try Self.age(linkedOwner.path)
        try FileManager.default.createSymbolicLink(
            atPath: linkedOwner.path + VerifyCopy.ownerSuffix,
            withDestinationPath: target.appendingPathComponent("segment").path)
        var expected: Set<String> = [
            "target", link.lastPathComponent, link.lastPathComponent + VerifyCopy.ownerSuffix,
            linkedOwner.lastPathComponent, linkedOwner.lastPathComponent + VerifyCopy.ownerSuffix,
        ]
        // Another user's copy, owner files and pending file, all abandoned and old (only root can make them).
        if geteuid() == 0 {
            let other = place.appendingPathComponent(VerifyCopy.prefix + "other", isDirectory: true)
            close(try #require(VerifyCopy.own(other)))
            try FileManager.default.createDirectory(at: other, withIntermediateDirectories: false)
            let alone = place.appendingPathComponent(VerifyCopy.prefix + "alone")
            close(try #require(VerifyCopy.own(alone)))
            let pending = place.appendingPathComponent(VerifyCopy.prefix + "pending")
            close(try #require(VerifyCopy.createOwner(pending)))
            let paths = [
                other.path, other.path + VerifyCopy.ownerSuffix, alone.path + VerifyCopy.ownerSuffix,
                pending.path + VerifyCopy.pendingSuffix,
            ]
            for path in paths {
                #expect(chown(path, 65534, 65534) == 0)
                try Self.age(path)
            }
            expected.formUnion(paths.map { URL(fileURLWithPath: $0).lastPathComponent })
        }

        #expect(VerifyCopy.removeLeftovers(in: place).isEmpty)
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: place.path)) == expected)
        #expect(try Data(contentsOf: target.appendingPathComponent("segment")) == Data("ledger".utf8))
    }

    /// A review of the session's fixes: with only this user's entries touched everywhere, `sudo numberd verify` killed
    /// beside a store left a whole copy the service's next snapshot must find room beside. Beside the store (a data
    /// directory is its service user's alone) any user's abandoned copy goes; in the shared temporary folder only ours.
    @Test(
        "beside the store another user's abandoned copy is removed (root only)",
        .enabled(if: geteuid() == 0, "chown to another user needs root"))
    func anyUserBesideTheStore() throws {
        let place = try Self.place()
        defer { try? FileManager.default.removeItem(at: place) }
        let copy = place.appendingPathComponent(VerifyCopy.prefix + "service", isDirectory: true)
        close(try #require(VerifyCopy.own(copy)))
        try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: false)
        for path in [copy.path, copy.path + VerifyCopy.ownerSuffix] { #expect(chown(path, 65534, 65534) == 0) }
        #expect(VerifyCopy.removeLeftovers(in: place).isEmpty, "not ours: left alone by default")
        #expect(VerifyCopy.removeLeftovers(in: place, anyUser: true) == [copy.lastPathComponent])
        #expect(try FileManager.default.contentsOfDirectory(atPath: place.path).isEmpty)
    }
}
