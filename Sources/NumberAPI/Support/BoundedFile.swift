#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file numberd reads that it cannot use: not a regular file, larger than the most it takes, or failing to read.
/// Its description names the path, never the contents.
package struct BoundedFileError: Error, CustomStringConvertible {
    package enum Kind: Equatable, Sendable {
        case notRegularFile
        case tooLarge(bytesMax: Int)
        case unreadable(errno: Int32)
        case notText
    }

    package var path: String
    package var kind: Kind

    package init(path: String, kind: Kind) {
        self.path = path
        self.kind = kind
    }

    package var description: String {
        switch kind {
        case .notRegularFile: "\(path) is not a regular file"
        case .tooLarge(let bytesMax): "\(path) is larger than \(BoundedFileError.size(bytesMax))"
        case .unreadable(let code): "\(path) cannot be read: \(String(cString: strerror(code)))"
        case .notText: "\(path) is not UTF-8 text"
        }
    }

    /// `bytes` as people say it: 8 MiB, 64 KiB, 64 bytes.
    package static func size(_ bytes: Int) -> String {
        if bytes >= 1 << 20, bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
        if bytes >= 1 << 10, bytes % (1 << 10) == 0 { return "\(bytes >> 10) KiB" }
        return "\(bytes) bytes"
    }
}

/// The bytes of the file at `path`, at most `bytesMax`; nil when there is no such file. Opened with `O_NONBLOCK` and
/// read only when a regular file: a FIFO or a device at the path held the reader (a start, an hourly check) for ever,
/// and a file grown huge was read whole. Throws for such a file, one larger than `bytesMax`, and one that cannot be
/// opened or read for another reason (`EACCES`, `EIO`).
package func readBoundedFile(_ path: String, bytesMax: Int) throws(BoundedFileError) -> [UInt8]? {
    let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
    guard descriptor >= 0 else {
        let code = errno
        if code == ENOENT { return nil }
        throw BoundedFileError(path: path, kind: .unreadable(errno: code))
    }
    defer { close(descriptor) }
    var status = stat()
    guard fstat(descriptor, &status) == 0 else {
        throw BoundedFileError(path: path, kind: .unreadable(errno: errno))
    }
    guard status.st_mode & S_IFMT == S_IFREG else { throw BoundedFileError(path: path, kind: .notRegularFile) }
    guard status.st_size <= bytesMax else { throw BoundedFileError(path: path, kind: .tooLarge(bytesMax: bytesMax)) }
    guard let bytes = readBounded(descriptor, limit: bytesMax + 1) else {
        throw BoundedFileError(path: path, kind: .unreadable(errno: errno))
    }
    // Grown since the fstat.
    guard bytes.count <= bytesMax else { throw BoundedFileError(path: path, kind: .tooLarge(bytesMax: bytesMax)) }
    return bytes
}

/// The UTF-8 text of the file at `path`, at most `bytesMax` bytes (``readBoundedFile(_:bytesMax:)``); nil when there
/// is no such file.
package func readBoundedText(_ path: String, bytesMax: Int) throws(BoundedFileError) -> String? {
    guard let bytes = try readBoundedFile(path, bytesMax: bytesMax) else { return nil }
    guard let text = String(validating: bytes, as: UTF8.self) else {
        throw BoundedFileError(path: path, kind: .notText)
    }
    return text
}
