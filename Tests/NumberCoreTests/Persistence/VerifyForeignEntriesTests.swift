import Foundation
import Testing

@testable import NumberCore

#if canImport(Glibc)
import Glibc
#endif

/// A store on a volume of its own holds the volume's `lost+found` (root's, mode 0700), and other entries numberd
/// never wrote may be found in it (a socket, a FIFO). `numberd verify` copied every name in the store for its replay:
/// the copy failed (a folder it may not read; a socket, which cannot be opened, root or not) or blocked (a FIFO), and
/// a sound store was reported as damaged. Only the store's own regular files are copied now.
@Suite("Verify's copy of a store holding entries not its own")
struct VerifyForeignEntriesTests {
    /// Makes a Unix socket at `path`: bound at a short name in `folder` (a socket's path is at most 107 bytes, and
    /// the temporary folder's may be long), then renamed (on the same file system) to `path`.
    static func makeSocket(_ path: String, boundIn folder: URL) throws {
        let short = folder.appendingPathComponent("s").path
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(short.utf8)
        try #require(bytes.count < MemoryLayout.size(ofValue: address.sun_path), "\(short) is too long for a socket")
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
            }
        }
        try #require(bound, "cannot bind \(short)")
        try #require(rename(short, path) == 0, "cannot rename \(short) to \(path)")
    }

    /// A socket cannot be opened, by root either, so copying one fails whoever runs the test (a folder without
    /// permissions alone fails only a user other than root); a FIFO would block the copy instead of failing it.
    @Test("a lost+found no one may read, and sockets in the store: verify leaves them out and finds the store sound")
    func foreignEntriesLeftOut() async throws {
        let directory = FileNumberStoreTests.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (store, service, account) = try await FileNumberStoreTests.open(directory, .defaults)
        _ = try await service.addFunds(accountId: account.id, amount: 100)
        await store.close()
        // The volume's lost+found, holding what a file system check found (a socket), closed to everyone.
        let lostFound = directory.appendingPathComponent("lost+found").path
        try #require(mkdir(lostFound, 0o700) == 0)
        try Self.makeSocket(lostFound + "/#1234", boundIn: directory)
        try #require(chmod(lostFound, 0) == 0)
        defer { _ = chmod(lostFound, 0o700) }
        // A socket at the store's top level, and one named as a torn tail kept (a store file's name, not its kind).
        try Self.makeSocket(directory.appendingPathComponent("numberd.sock").path, boundIn: directory)
        let torn = JournalLayout.tornName(segment: JournalLayout.segmentName(firstSeq: 1), millis: 1)
        try Self.makeSocket(directory.appendingPathComponent(torn).path, boundIn: directory)
        let listing = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()

        let report = await verifyDataDirectory(directory)
        #expect(report.replayError == nil, "\(report.replayError ?? "")")
        #expect(report.notFinished == nil, "\(String(describing: report.notFinished))")
        #expect(report.isSound, "\(report.journal.problems)")
        #expect(report.state?.accounts[account.id]?.balance == 100)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == listing)
    }
}
