import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// An open file of the journal's file layer: the descriptor and the path it was opened with.
public struct JournalFileHandle: Sendable, Hashable {
    /// The POSIX file descriptor.
    public let descriptor: Int32
    /// The path the file was opened with (for errors and fault rules).
    public let path: String

    /// Wraps a descriptor.
    public init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
    }
}

/// How `JournalFileSystem.open` opens a file.
public enum JournalOpenMode: Sendable, Hashable {
    /// Write-only, appending, created if missing (the last journal segment, reopened).
    case append
    /// Write-only, appending, created; a file of that name already there is an error (a new journal segment: one the
    /// directory listing missed must not be appended to).
    case createNew
    /// Write-only, created or truncated to zero (snapshot temp files, torn-tail files).
    case createTruncate
    /// Read-only, from the start (a snapshot read back in chunks).
    case read
}

/// The file layer under the journal: every call the engine makes to the disk goes through it, so tests can count
/// syncs and inject faults (`FaultInjectingFileSystem`); production uses `POSIXJournalFileSystem`.
///
/// Failures throw `JournalFailure` (operation, path, errno).
public protocol JournalFileSystem: Sendable {
    /// Creates the directory (and parents) if missing.
    func createDirectory(_ path: String) throws
    /// The names (not paths) of the entries of a directory, without `.` and `..`.
    func listDirectory(_ path: String) throws -> [String]
    /// The whole content of a file; throws `JournalError.fileTooLarge` past `limitBytes`.
    func readFile(_ path: String, limitBytes: Int) throws -> [UInt8]
    /// Opens a file for writing.
    func open(_ path: String, mode: JournalOpenMode) throws -> JournalFileHandle
    /// Reads up to `count` bytes at the file's position (opened `.read`); empty at the end of the file.
    func read(_ handle: JournalFileHandle, count: Int) throws -> [UInt8]
    /// Writes all of `bytes` (retrying short writes).
    func write(_ handle: JournalFileHandle, _ bytes: [UInt8]) throws
    /// Flushes the file's data (and the metadata needed to read it) to stable storage.
    func fdatasync(_ handle: JournalFileHandle) throws
    /// Drops the file's pages from the page cache (`POSIX_FADV_DONTNEED`), so that later reads see what the disk
    /// holds: after a failed `fdatasync`, Linux keeps the pages whose writeback failed in its cache, clean, and a
    /// later open would read (and a later sync would "succeed" on) bytes the disk may not have. Best effort.
    func dropCachedPages(_ handle: JournalFileHandle)
    /// Cuts the file to `length` bytes.
    func truncate(_ handle: JournalFileHandle, length: Int) throws
    /// Closes the file.
    func close(_ handle: JournalFileHandle)
    /// Renames a file atomically (same directory).
    func rename(_ from: String, to: String) throws
    /// Deletes a file.
    func remove(_ path: String) throws
    /// Makes `new` another name of the file `existing` (a hard link); `EXDEV` when they are on different file
    /// systems, `EPERM`/`ENOTSUP` where the file system has no hard links.
    func link(_ existing: String, to new: String) throws
    /// Makes `new` another name of the open file `handle` — the file itself, whatever became of the name it was
    /// opened by (a backup links the snapshot it opened, which the store may have deleted since); `ENOENT` when that
    /// file has no name left (a deleted file cannot be given one back), else the errors of ``link(_:to:)``.
    func linkOpen(_ handle: JournalFileHandle, to new: String) throws
    /// Creates one directory (not its parents) with mode 0700; an existing one is an error (`EEXIST`).
    func makeDirectory(_ path: String) throws
    /// Deletes an empty directory.
    func removeDirectory(_ path: String) throws
    /// Flushes a directory's entries (creations, renames, deletions) to stable storage.
    func fsyncDirectory(_ path: String) throws
    /// Bytes an unprivileged writer may still put on the file system holding `path` (`statvfs`'s `f_bavail`).
    func availableBytes(_ path: String) throws -> Int64
    /// Takes an exclusive lock on the directory (`<directory>/LOCK`), against other processes and this one;
    /// throws `JournalError.locked` if it is held.
    func lockDirectory(_ path: String) throws -> JournalFileHandle
    /// Releases a lock taken by `lockDirectory`.
    func unlockDirectory(_ handle: JournalFileHandle)
}

extension JournalFileSystem {
    /// Creates `path` and each missing folder above it (mode 0700), syncing the folder each new one is in, so a
    /// backup reported written, or a store restored into a new data directory, cannot lose its folder's entry to a
    /// power cut.
    package func makeDirectories(_ path: String) throws {
        var missing: [String] = []
        var current = path
        while !current.isEmpty, current != "/", !FileManager.default.fileExists(atPath: current) {
            missing.append(current)
            current = (current as NSString).deletingLastPathComponent
        }
        for folder in missing.reversed() {
            do {
                try makeDirectory(folder)
            } catch let failure as JournalFailure where failure.errno == EEXIST {}
            let parent = (folder as NSString).deletingLastPathComponent
            try fsyncDirectory(parent.isEmpty ? "." : parent)
        }
    }

    /// Copies the open file `source`, from its position to its end, into the new file `destination` (it must not
    /// exist), `chunkBytes` at a time, each chunk synced as a snapshot is written: no single sync has gigabytes to
    /// flush, and the copy is durable when this returns. What a backup copies its snapshot with, and a restore its store.
    package func copy(_ source: JournalFileHandle, to destination: String, chunkBytes: Int) throws {
        let output = try open(destination, mode: .createNew)
        defer { close(output) }
        while true {
            let chunk = try read(source, count: chunkBytes)
            if chunk.isEmpty { break }
            try write(output, chunk)
            try fdatasync(output)
        }
    }
}
