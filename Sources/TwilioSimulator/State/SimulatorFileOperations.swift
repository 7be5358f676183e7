import Foundation

/// The system calls that write the simulator's state file and journal and make them durable, as values so a test
/// can make one fail (a full disk, a failed sync) without a faulty disk. Each returns 0 or the errno of its failure;
/// `write` returns the bytes written or minus the errno.
struct SimulatorFileOperations: Sendable {
    /// `write(2)` of some bytes at the descriptor's position.
    var write: @Sendable (_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) -> Int
    /// `fsync(2)` of a file or a folder.
    var fsync: @Sendable (_ descriptor: Int32) -> Int32
    /// `fdatasync(2)`: the journal's records.
    var fdatasync: @Sendable (_ descriptor: Int32) -> Int32
    /// `ftruncate(2)`.
    var truncate: @Sendable (_ descriptor: Int32, _ length: Int) -> Int32

    /// The real calls.
    static let system = SimulatorFileOperations(
        write: { descriptor, bytes in
            let count = systemWrite(descriptor, bytes.baseAddress, bytes.count)
            return count < 0 ? -Int(errno) : count
        },
        fsync: { systemFsync($0) == 0 ? 0 : errno },
        fdatasync: { systemFdatasync($0) == 0 ? 0 : errno },
        truncate: { systemTruncate($0, off_t($1)) == 0 ? 0 : errno })

    /// Writes all of `bytes` (retrying short writes and EINTR); 0 or the errno of the failure (`EIO` for a write of
    /// nothing).
    func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) -> Int32 {
        bytes.withUnsafeBytes { buffer -> Int32 in
            var offset = 0
            while offset < buffer.count {
                let count = write(descriptor, UnsafeRawBufferPointer(rebasing: buffer[offset...]))
                if count == -Int(EINTR) { continue }
                guard count > 0 else { return count == 0 ? EIO : Int32(-count) }
                offset += count
            }
            return 0
        }
    }

    /// `fsync` of the folder holding `path` (its entries: a created, renamed or removed file); 0 or the errno.
    func syncFolder(of path: String) -> Int32 {
        let folder = (path as NSString).deletingLastPathComponent
        let directory = open(folder.isEmpty ? "." : folder, O_RDONLY | O_CLOEXEC)
        guard directory >= 0 else { return errno }
        defer { close(directory) }
        return fsync(directory)
    }
}

private func systemWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int {
    write(descriptor, bytes, count)
}

private func systemFsync(_ descriptor: Int32) -> Int32 { fsync(descriptor) }

private func systemFdatasync(_ descriptor: Int32) -> Int32 { fdatasync(descriptor) }

private func systemTruncate(_ descriptor: Int32, _ length: off_t) -> Int32 { ftruncate(descriptor, length) }
