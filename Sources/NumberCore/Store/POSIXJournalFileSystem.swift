import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The real file layer: POSIX calls, `fdatasync`, `flock`.
public struct POSIXJournalFileSystem: JournalFileSystem {
    /// Creates the POSIX file layer.
    public init() {}

    /// Creates the directory (and parents) if missing, then syncs the parent so the new entry survives a crash.
    public func createDirectory(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw JournalFailure(operation: "mkdir", path: path, errno: ENOTDIR) }
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw JournalFailure(operation: "mkdir", path: path, errno: EIO)
        }
        try fsyncDirectory((path as NSString).deletingLastPathComponent)
    }

    /// The entry names of a directory. `readdir` answers NULL both at the end and on an error; an error is thrown, not
    /// taken for the end: a listing cut short by an I/O error would miss the newest snapshot and segments, and the
    /// store would open on an older state and append after it.
    public func listDirectory(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw failure("opendir", path) }
        defer { closedir(dir) }
        var names: [String] = []
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw failure("readdir", path) }
                return names
            }
            if let name = Self.name(of: entry), name != ".", name != ".." { names.append(name) }
        }
    }

    /// `statvfs`: free blocks available to unprivileged users × the fragment size.
    public func availableBytes(_ path: String) throws -> Int64 {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { throw failure("statvfs", path) }
        let (bytes, overflow) = Int64(clamping: info.f_bavail).multipliedReportingOverflow(
            by: Int64(clamping: info.f_frsize))
        return overflow ? .max : bytes
    }

    /// An entry's name, read up to its terminating NUL in place. Not `entry.pointee.d_name`: that copies all 256 bytes
    /// of the field, but glibc sizes each entry to its name (`d_reclen`, 24 bytes for a short one), so an entry at the
    /// end of `readdir`'s buffer before an unmapped page crashed the process (Foundation's `Process.run` has the same
    /// bug, swift-corelibs-foundation #5472).
    static func name(of entry: UnsafeMutablePointer<dirent>) -> String? {
        guard let offset = MemoryLayout<dirent>.offset(of: \dirent.d_name) else { return nil }
        return String(cString: (UnsafeRawPointer(entry) + offset).assumingMemoryBound(to: CChar.self))
    }

    /// Reads a whole file, refusing files larger than `limitBytes`.
    public func readFile(_ path: String, limitBytes: Int) throws -> [UInt8] {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw failure("open", path) }
        defer { _ = Glibc.close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw failure("fstat", path) }
        guard Int(info.st_size) <= limitBytes else {
            throw JournalError(.fileTooLarge, "file has \(info.st_size) bytes, limit \(limitBytes)", file: path)
        }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var filled = 0
        while filled < bytes.count {
            let count = bytes.withUnsafeMutableBytes { raw in
                Glibc.read(fd, raw.baseAddress! + filled, raw.count - filled)
            }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw failure("read", path) }
            if count == 0 { break }
            filled += count
        }
        return Array(bytes.prefix(filled))
    }

    /// Opens a file for writing.
    public func open(_ path: String, mode: JournalOpenMode) throws -> JournalFileHandle {
        let flags: Int32
        switch mode {
        case .append: flags = O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC
        case .createNew: flags = O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC
        case .createTruncate: flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC
        case .read: flags = O_RDONLY | O_CLOEXEC
        }
        // 0600: journal lines and snapshots hold every account's ledger; `store/` is 0700 too, but a copy or a
        // restore that loosens the folder must not expose them.
        let fd = Glibc.open(path, flags, 0o600)
        guard fd >= 0 else { throw failure("open", path) }
        return JournalFileHandle(descriptor: fd, path: path)
    }

    /// `read(2)` of up to `count` bytes, retrying `EINTR`; only the pages read into are touched.
    public func read(_ handle: JournalFileHandle, count: Int) throws -> [UInt8] {
        guard count > 0 else { return [] }
        var code: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            repeat {
                let read = Glibc.read(handle.descriptor, buffer.baseAddress!, count)
                code = read < 0 ? errno : 0
                initialized = max(0, read)
            } while code == EINTR
        }
        guard code == 0 else { throw JournalFailure(operation: "read", path: handle.path, errno: code) }
        return bytes
    }

    /// Writes all bytes, retrying short writes and `EINTR`.
    public func write(_ handle: JournalFileHandle, _ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { raw in
            var written = 0
            while written < raw.count {
                let count = Glibc.write(handle.descriptor, raw.baseAddress! + written, raw.count - written)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { throw failure("write", handle.path) }
                written += count
            }
        }
    }

    /// `fdatasync(2)`.
    public func fdatasync(_ handle: JournalFileHandle) throws {
        guard Glibc.fdatasync(handle.descriptor) == 0 else { throw failure("fdatasync", handle.path) }
    }

    /// `posix_fadvise(2)` with `POSIX_FADV_DONTNEED` over the whole file.
    public func dropCachedPages(_ handle: JournalFileHandle) {
        _ = posix_fadvise(handle.descriptor, 0, 0, POSIX_FADV_DONTNEED)
    }

    /// `ftruncate(2)`.
    public func truncate(_ handle: JournalFileHandle, length: Int) throws {
        guard ftruncate(handle.descriptor, off_t(length)) == 0 else { throw failure("ftruncate", handle.path) }
    }

    /// `close(2)`.
    public func close(_ handle: JournalFileHandle) {
        _ = Glibc.close(handle.descriptor)
    }

    /// `rename(2)`.
    public func rename(_ from: String, to: String) throws {
        guard Glibc.rename(from, to) == 0 else { throw failure("rename", from) }
    }

    /// `unlink(2)`.
    public func remove(_ path: String) throws {
        guard unlink(path) == 0 else { throw failure("unlink", path) }
    }

    /// `link(2)`.
    public func link(_ existing: String, to new: String) throws {
        guard Glibc.link(existing, new) == 0 else { throw failure("link", new) }
    }

    /// `linkat(2)` of `/proc/self/fd/<descriptor>` with `AT_SYMLINK_FOLLOW`: the kernel follows that link to the open
    /// file, not to the name it was opened by (`AT_EMPTY_PATH` would need `CAP_DAC_READ_SEARCH`). `ENOENT` also where
    /// `/proc` is not mounted: the caller copies then, as for a deleted file.
    public func linkOpen(_ handle: JournalFileHandle, to new: String) throws {
        guard linkat(AT_FDCWD, "/proc/self/fd/\(handle.descriptor)", AT_FDCWD, new, AT_SYMLINK_FOLLOW) == 0 else {
            throw failure("linkat", new)
        }
    }

    /// `mkdir(2)`, mode 0700.
    public func makeDirectory(_ path: String) throws {
        guard mkdir(path, 0o700) == 0 else { throw failure("mkdir", path) }
    }

    /// `rmdir(2)`.
    public func removeDirectory(_ path: String) throws {
        guard rmdir(path) == 0 else { throw failure("rmdir", path) }
    }

    /// Opens the directory and `fsync(2)`s it.
    public func fsyncDirectory(_ path: String) throws {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw failure("open", path) }
        defer { _ = Glibc.close(fd) }
        guard fsync(fd) == 0 else { throw failure("fsync", path) }
    }

    /// Directories this process holds locked: POSIX record locks do not exclude the process itself.
    private static let lockedInProcess = Mutex<Set<String>>([])

    /// Takes a POSIX record lock (`fcntl(F_SETLK)`) on `<directory>/LOCK`, plus an in-process registry entry.
    ///
    /// A record lock belongs to the process, so it is not inherited by a child being spawned (a `flock` would
    /// be, and would stay held by that child until it execs); the registry refuses a second open in this process.
    public func lockDirectory(_ path: String) throws -> JournalFileHandle {
        // The real path, so two spellings of one directory (symlinks, `..`) meet in the registry.
        guard let resolved = realpath(path, nil) else { throw failure("realpath", path) }
        let lockPath = String(cString: resolved) + "/LOCK"
        free(resolved)
        let inserted = Self.lockedInProcess.withLock { $0.insert(lockPath).inserted }
        guard inserted else {
            throw JournalError(.locked, "the data directory is in use by another journal", file: lockPath)
        }
        let fd = Glibc.open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let error = failure("open", lockPath)
            Self.lockedInProcess.withLock { _ = $0.remove(lockPath) }
            throw error
        }
        var lock = flock()
        lock.l_type = Int16(F_WRLCK)
        lock.l_whence = Int16(SEEK_SET)
        guard fcntl(fd, F_SETLK, &lock) == 0 else {
            let code = errno
            _ = Glibc.close(fd)
            Self.lockedInProcess.withLock { _ = $0.remove(lockPath) }
            if code == EACCES || code == EAGAIN {
                throw JournalError(.locked, "the data directory is in use by another process", file: lockPath)
            }
            throw JournalFailure(operation: "fcntl(F_SETLK)", path: lockPath, errno: code)
        }
        return JournalFileHandle(descriptor: fd, path: lockPath)
    }

    /// Closes the lock file (releasing the record lock) and the registry entry.
    public func unlockDirectory(_ handle: JournalFileHandle) {
        _ = Glibc.close(handle.descriptor)
        Self.lockedInProcess.withLock { _ = $0.remove(handle.path) }
    }

    private func failure(_ operation: String, _ path: String) -> JournalFailure {
        JournalFailure(operation: operation, path: path, errno: errno)
    }
}
