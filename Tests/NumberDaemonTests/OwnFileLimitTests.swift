import Foundation
import NumberAPI
import NumberCore
import Testing

@testable import NumberDaemon

#if canImport(Glibc)
import Glibc
#endif

/// numberd's own small files in its data directory (`clock`, `downtimes`, `admin.key`, `provider.json`, the generated
/// TLS files) are read at most a limit each, and never waited on: each was read whole, so one grown huge was taken
/// into memory at every start, and a FIFO put at its path held the start for ever. Past its limit a file reads as
/// damaged, as one that is not a regular file does; what numberd then does is what it does for a damaged one.
@Suite("numberd's own files are read bounded")
struct OwnFileLimitTests {
    static func scratch() throws -> DataDirectory {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-own-files-\(UUID())").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return DataDirectory(root: path)
    }

    /// `text` after enough spaces (or blank lines) to make the file `bytes` long: what numberd reads of it is the same
    /// value, only the size differs.
    static func padded(_ text: String, to bytes: Int, with pad: Character = " ") -> String {
        String(repeating: pad, count: bytes - text.utf8.count) + text
    }

    @Test("clock, downtimes and admin.key: read at their limit, damaged one byte past it")
    func smallFilesAtTheirLimits() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory.root) }
        let mark = "1740000000\n"
        try Self.padded(mark, to: DataDirectory.clockMarkBytesMax).write(
            toFile: directory.clockMark, atomically: true, encoding: .utf8)
        #expect(directory.readClockMark() == Date(timeIntervalSince1970: 1_740_000_000))
        try Self.padded(mark, to: DataDirectory.clockMarkBytesMax + 1).write(
            toFile: directory.clockMark, atomically: true, encoding: .utf8)
        #expect(directory.readClockMark() == nil)

        let lines = "1 5\n5 9\n"
        try Self.padded(lines, to: DataDirectory.downtimesBytesMax, with: "\n").write(
            toFile: directory.downtimes, atomically: true, encoding: .utf8)
        #expect(directory.readDowntimes()?.intervals.count == 2)
        try Self.padded(lines, to: DataDirectory.downtimesBytesMax + 1, with: "\n").write(
            toFile: directory.downtimes, atomically: true, encoding: .utf8)
        #expect(directory.readDowntimes() == nil)

        let key = "nk_" + String(repeating: "k", count: 40)
        try Self.padded(key, to: DataDirectory.adminKeyBytesMax).write(
            toFile: directory.adminKeyFile, atomically: true, encoding: .utf8)
        #expect(directory.readAdminKey() == key)
        try Self.padded(key, to: DataDirectory.adminKeyBytesMax + 1).write(
            toFile: directory.adminKeyFile, atomically: true, encoding: .utf8)
        #expect(directory.readAdminKey() == nil)
    }

    @Test("a FIFO at clock, downtimes, admin.key or a TLS file is not waited on: it reads as damaged")
    func fifosAreNotWaitedOn() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory.root) }
        try FileManager.default.createDirectory(atPath: directory.root + "/tls", withIntermediateDirectories: true)
        for path in [directory.clockMark, directory.downtimes, directory.adminKeyFile, directory.caCertificate] {
            try #require(mkfifo(path, 0o600) == 0)
        }
        #expect(directory.readClockMark() == nil)
        #expect(directory.readDowntimes() == nil)
        #expect(directory.readAdminKey() == nil)
        let error = #expect(throws: BoundedFileError.self) { try directory.authority() }
        #expect(error?.description == "\(directory.caCertificate) is not a regular file")
        // The start's downtime record goes on from this start, as with any damaged file.
        let recorded = Numberd.recordDowntime(
            directory, since: Date(timeIntervalSince1970: 1_000), now: Date(timeIntervalSince1970: 2_000),
            graceSeconds: 86_400, logger: quietLogger)
        #expect(recorded.intervals.count == 1)
    }

    @Test("provider.json past its limit, or a FIFO, is unreadable: a directory that holds numbers refuses to start")
    func providerBindingBounded() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory.root) }
        let binding = ProviderBinding(.simulator(seed: 1))
        let json = String(decoding: try JSONEncoder().encode(binding), as: UTF8.self)
        func check() throws {
            try binding.check(
                directory, holdsProviderResources: true, legacy: false, rebind: false, logger: quietLogger)
        }
        try Self.padded(json, to: DataDirectory.providerBindingBytesMax).write(
            toFile: directory.providerBinding, atomically: true, encoding: .utf8)
        try check()
        try Self.padded(json, to: DataDirectory.providerBindingBytesMax + 1).write(
            toFile: directory.providerBinding, atomically: true, encoding: .utf8)
        let tooLarge = #expect(throws: ConfigurationError.self) { try check() }
        #expect(tooLarge?.description.contains("\(directory.providerBinding) is unreadable") == true)
        try FileManager.default.removeItem(atPath: directory.providerBinding)
        try #require(mkfifo(directory.providerBinding, 0o600) == 0)
        let fifo = #expect(throws: ConfigurationError.self) { try check() }
        #expect(fifo?.description.contains("\(directory.providerBinding) is unreadable") == true)
    }
}
