import Foundation
import NumberTLS
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `PEMFile.write` replaces a file atomically: the text goes to `<path>.tmp` (created at its final mode), is synced,
/// and is renamed over the file, so a crash or a full disk leaves the old file or the new one, never part of one.
@Suite("PEM files are replaced atomically")
struct PEMFileTests {
    let directory: String
    var path: String { directory + "/server-key.pem" }
    let newText = TestPKI.shared.server.privateKeyPEM

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("pemfile-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    @Test("a write that fails half-way (disk full) leaves the old file whole, and no temporary file")
    func failedWriteKeepsTheOldFile() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try PEMFile.write("old key\n", to: path, mode: 0o600)
        let writes = Shared(0)
        let diskFills = PEMFile.System(
            write: { descriptor, bytes in
                let first = writes.value.withLock { count in
                    count += 1
                    return count == 1
                }
                guard first else {
                    errno = ENOSPC
                    return -1
                }
                return Glibc.write(descriptor, bytes.baseAddress, bytes.count / 2)
            }, rename: PEMFile.System.posix.rename)
        let error = #expect(throws: TLSError.self) {
            try PEMFile.write(newText, to: path, mode: 0o600, system: diskFills)
        }
        #expect(error?.message.contains("No space left on device") == true, "\(String(describing: error))")
        #expect(writes.value.withLock { $0 } == 2, "half of the text went out before the failure")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "old key\n")
        #expect(!FileManager.default.fileExists(atPath: PEMFile.temporaryPath(for: path)))
    }

    @Test("the new text is complete, at its final mode, under the temporary name when it is renamed over the old file")
    func renamedOnlyWhenComplete() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try PEMFile.write("old key\n", to: path, mode: 0o600)
        let seen = Shared<(from: String, to: String, fromText: String, toText: String, mode: Int)?>(nil)
        let watching = PEMFile.System(
            write: PEMFile.System.posix.write,
            rename: { from, to in
                let fromText = (try? String(contentsOfFile: from, encoding: .utf8)) ?? "<unreadable>"
                let toText = (try? String(contentsOfFile: to, encoding: .utf8)) ?? "<unreadable>"
                let mode = (try? FileManager.default.attributesOfItem(atPath: from)[.posixPermissions] as? Int) ?? -1
                seen.value.withLock { $0 = (from, to, fromText, toText, mode) }
                return PEMFile.System.posix.rename(from, to)
            })
        try PEMFile.write(newText, to: path, mode: 0o600, system: watching)
        let rename = try #require(seen.value.withLock { $0 }, "the file was written in place, not renamed")
        #expect(rename.from == PEMFile.temporaryPath(for: path))
        #expect(rename.to == path)
        #expect(rename.fromText == newText, "the temporary file holds all of the text before the rename")
        #expect(rename.toText == "old key\n", "the old file is whole until the rename")
        #expect(rename.mode & 0o777 == 0o600, "a key is never readable by others, not even under its temporary name")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == newText)
        #expect(!FileManager.default.fileExists(atPath: PEMFile.temporaryPath(for: path)))
    }

    @Test("a failed rename leaves the old file and removes the temporary one")
    func failedRenameKeepsTheOldFile() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try PEMFile.write("old key\n", to: path, mode: 0o600)
        let refusing = PEMFile.System(
            write: PEMFile.System.posix.write,
            rename: { _, _ in
                errno = EIO
                return -1
            })
        #expect(throws: TLSError.self) { try PEMFile.write(newText, to: path, mode: 0o600, system: refusing) }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "old key\n")
        #expect(!FileManager.default.fileExists(atPath: PEMFile.temporaryPath(for: path)))
    }

    @Test("files written together: one that cannot be written leaves every one as it was, and no temporary file")
    func filesWrittenTogether() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let certificate = directory + "/server.pem"
        try PEMFile.write("old key\n", to: path, mode: 0o600)
        try PEMFile.write("old certificate\n", to: certificate, mode: 0o644)
        // The certificate's temporary name taken by a folder: its file cannot be created (as on a full disk, the key's
        // is written first and would have been renamed over the old key, leaving a mismatched pair).
        try FileManager.default.createDirectory(
            atPath: PEMFile.temporaryPath(for: certificate), withIntermediateDirectories: false)
        #expect(throws: TLSError.self) {
            try PEMFile.write([
                (text: newText, path: path, mode: 0o600), (text: "new certificate\n", path: certificate, mode: 0o644),
            ])
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "old key\n")
        #expect(try String(contentsOfFile: certificate, encoding: .utf8) == "old certificate\n")
        #expect(!FileManager.default.fileExists(atPath: PEMFile.temporaryPath(for: path)))
        // Once it can be written, both are replaced.
        try FileManager.default.removeItem(atPath: PEMFile.temporaryPath(for: certificate))
        try PEMFile.write([
            (text: newText, path: path, mode: 0o600), (text: "new certificate\n", path: certificate, mode: 0o644),
        ])
        #expect(try String(contentsOfFile: path, encoding: .utf8) == newText)
        #expect(try String(contentsOfFile: certificate, encoding: .utf8) == "new certificate\n")
        #expect(try Self.mode(path) == 0o600)
        #expect(try Self.mode(certificate) == 0o644)
    }

    static func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int ?? -1) & 0o777
    }

    @Test("a temporary file left by a crash is replaced, and a symlink planted there is not followed")
    func leftoverTemporaryFile() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let victim = directory + "/victim"
        try "untouched\n".write(toFile: victim, atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(
            atPath: PEMFile.temporaryPath(for: path), withDestinationPath: victim)
        try PEMFile.write(newText, to: path, mode: 0o600)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == newText)
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "untouched\n")
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect(attributes[.type] as? FileAttributeType == .typeRegular)
        #expect((attributes[.posixPermissions] as? Int ?? -1) & 0o777 == 0o600)
    }
}

/// A value the test and a fault-injecting closure share.
private final class Shared<Value: Sendable>: Sendable {
    let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
}
