import Foundation
import NumberAPI
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `readBoundedFile(_:bytesMax:)`: how numberd and its tools read the small files they keep or are given — at most a
/// limit, never waiting on a FIFO, and a missing file told from one that cannot be used.
@Suite("Bounded file reads")
struct BoundedFileTests {
    static func scratch() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bounded-file-\(UUID())").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test("a file of exactly the limit is read whole; one byte more is refused, naming the path and the limit")
    func limitEdge() throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let path = root + "/file"
        try Data(repeating: UInt8(ascii: "a"), count: 1024).write(to: URL(fileURLWithPath: path))
        #expect(try readBoundedFile(path, bytesMax: 1024)?.count == 1024)
        #expect(try readBoundedText(path, bytesMax: 1024) == String(repeating: "a", count: 1024))
        let error = #expect(throws: BoundedFileError.self) { try readBoundedFile(path, bytesMax: 1023) }
        #expect(error?.kind == .tooLarge(bytesMax: 1023))
        #expect(error?.description == "\(path) is larger than 1023 bytes")
        #expect(
            (#expect(throws: BoundedFileError.self) { try readBoundedFile(path, bytesMax: 512) })?.description
                == "\(path) is larger than 512 bytes")
        #expect(BoundedFileError.size(64 << 10) == "64 KiB" && BoundedFileError.size(8 << 20) == "8 MiB")
    }

    @Test("a missing file is nil; an empty one is read; a folder, a FIFO and bytes that are not UTF-8 text are refused")
    func kinds() throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(try readBoundedFile(root + "/missing", bytesMax: 10) == nil)
        #expect(try readBoundedText(root + "/missing", bytesMax: 10) == nil)
        #expect(FileManager.default.createFile(atPath: root + "/empty", contents: Data()))
        #expect(try readBoundedText(root + "/empty", bytesMax: 10) == "")
        // A FIFO nobody writes: opened without waiting for a writer, and refused, not read (a read would wait for
        // ever).
        let fifo = root + "/fifo"
        try #require(mkfifo(fifo, 0o600) == 0)
        let fromFIFO = #expect(throws: BoundedFileError.self) { try readBoundedFile(fifo, bytesMax: 10) }
        #expect(fromFIFO?.description == "\(fifo) is not a regular file")
        #expect(
            (#expect(throws: BoundedFileError.self) { try readBoundedFile(root, bytesMax: 10) })?.kind
                == .notRegularFile)
        try Data([0xff, 0xfe]).write(to: URL(fileURLWithPath: root + "/binary"))
        #expect(try readBoundedFile(root + "/binary", bytesMax: 10) == [0xff, 0xfe])
        let notText = #expect(throws: BoundedFileError.self) { try readBoundedText(root + "/binary", bytesMax: 10) }
        #expect(notText?.description == "\(root)/binary is not UTF-8 text")
        // Under a path that is not a folder: not missing, unreadable, with the reason.
        let under = #expect(throws: BoundedFileError.self) { try readBoundedFile(root + "/empty/x", bytesMax: 10) }
        #expect(under?.kind == .unreadable(errno: ENOTDIR))
        #expect(under?.description == "\(root)/empty/x cannot be read: Not a directory")
    }
}
