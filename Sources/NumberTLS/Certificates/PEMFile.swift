#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes PEM text (or any small text file numberd keeps: its admin key, provider binding, clock mark) to a file
/// atomically and with an exact mode, so a private key is never readable by others even for an instant, and a crash
/// or a full disk leaves the old file or the new one, never a partial one.
///
/// The text goes to `<path>.tmp` in the same folder, created with the final mode, written, synced, renamed over `path`,
/// and then the folder is synced so the rename itself survives a power cut. Writing in place (`O_TRUNC`) left a
/// truncated `server-key.pem` after a crash mid-write, and numberd refused to start on it.
package enum PEMFile {
    /// The system calls a write goes through that can fail half-way: tests replace one to inject a fault.
    package struct System: Sendable {
        /// `write(2)`: bytes written, or -1 with `errno` set.
        package var write: @Sendable (_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) -> Int
        /// `rename(2)`: 0, or -1 with `errno` set.
        package var rename: @Sendable (_ from: String, _ to: String) -> Int32

        /// Creates a set of calls.
        package init(
            write: @escaping @Sendable (Int32, UnsafeRawBufferPointer) -> Int,
            rename: @escaping @Sendable (String, String) -> Int32
        ) {
            self.write = write
            self.rename = rename
        }

        /// The real calls.
        package static let posix = System(
            write: { descriptor, bytes in systemWrite(descriptor, bytes.baseAddress!, bytes.count) },
            rename: { from, to in systemRename(from, to) })
    }

    /// Replaces `path` with `text` (mode exactly `mode`), atomically; throws ``TLSError/Code/certificateTooling``.
    package static func write(_ text: String, to path: String, mode: mode_t, system: System = .posix) throws {
        try write([(text: text, path: path, mode: mode)], system: system)
    }

    /// Replaces each file of `files` with its text, in order, all written and synced under their temporary names
    /// before the first is renamed into place: a write that fails for any of them (a full disk) leaves every file as
    /// it was, so a certificate and its key are never left a mismatched pair by one. Only a failed rename (or a crash)
    /// between two renames leaves the files before it replaced and the others not. Throws
    /// ``TLSError/Code/certificateTooling``; no temporary file is left either way.
    package static func write(
        _ files: [(text: String, path: String, mode: mode_t)], system: System = .posix
    ) throws {
        var staged: [String] = []
        do {
            for file in files {
                try stage(file.text, to: file.path, mode: file.mode, system: system)
                staged.append(temporaryPath(for: file.path))
            }
        } catch {
            for temporary in staged { unlink(temporary) }
            throw error
        }
        for (index, file) in files.enumerated() {
            let temporary = temporaryPath(for: file.path)
            guard system.rename(temporary, file.path) == 0 else {
                let error = fileError("cannot rename \(temporary) to \(file.path)")
                for left in staged[index...] { unlink(left) }
                throw error
            }
        }
        var synced: Set<String> = []
        for file in files {
            guard synced.insert(directory(of: file.path)).inserted else { continue }
            try syncDirectory(of: file.path)
        }
    }

    /// A private key and its certificate as files for ``write(_:system:)``: the key first (mode 0600, readable by
    /// numberd's user alone), then the certificate (0644).
    package static func pair(
        certificatePEM: String, to certificatePath: String, privateKeyPEM: String, to privateKeyPath: String
    ) -> [(text: String, path: String, mode: mode_t)] {
        [
            (text: privateKeyPEM, path: privateKeyPath, mode: 0o600),
            (text: certificatePEM, path: certificatePath, mode: 0o644),
        ]
    }

    /// Writes `text` to `<path>.tmp` (mode exactly `mode`) and syncs it; removes it again when a step fails.
    private static func stage(_ text: String, to path: String, mode: mode_t, system: System) throws {
        let temporary = temporaryPath(for: path)
        // A leftover of a crash mid-write: O_EXCL below refuses to follow or reuse anything already there.
        unlink(temporary)
        // Created with the final mode (the umask can only narrow it; fchmod makes it exact before any byte is written).
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard descriptor >= 0 else {
            throw fileError("cannot create \(temporary)")
        }
        do {
            guard fchmod(descriptor, mode) == 0 else {
                throw fileError("cannot set the mode of \(temporary)")
            }
            try writeAll(Array(text.utf8), to: descriptor, path: temporary, system: system)
            guard fsync(descriptor) == 0 else {
                throw fileError("cannot sync \(temporary)")
            }
        } catch {
            close(descriptor)
            unlink(temporary)
            throw error
        }
        close(descriptor)
    }

    /// `<path>.tmp`: in the same folder as `path`, so the rename never crosses a file system.
    package static func temporaryPath(for path: String) -> String {
        path + ".tmp"
    }

    private static func writeAll(_ bytes: [UInt8], to descriptor: Int32, path: String, system: System) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes {
                system.write(descriptor, UnsafeRawBufferPointer(rebasing: $0[offset...]))
            }
            if written < 0, errno == EINTR {
                continue
            }
            guard written > 0 else {
                throw fileError("cannot write \(path)")
            }
            offset += written
        }
    }

    /// Syncs the folder holding `path`, so its new entry is durable.
    private static func syncDirectory(of path: String) throws {
        let folder = directory(of: path)
        let descriptor = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw fileError("cannot open \(folder) to sync it")
        }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else {
            throw fileError("cannot sync \(folder)")
        }
    }

    /// The folder part of `path` (`.` for a bare name, `/` for a file at the root).
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else {
            return "."
        }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// `write(2)`, named so it does not clash with this type's `write`.
    private static func systemWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
        #if canImport(Glibc)
        return Glibc.write(descriptor, bytes, count)
        #else
        return Darwin.write(descriptor, bytes, count)
        #endif
    }

    /// `rename(2)`, named so it does not clash with ``System/rename``.
    private static func systemRename(_ from: String, _ to: String) -> Int32 {
        #if canImport(Glibc)
        return Glibc.rename(from, to)
        #else
        return Darwin.rename(from, to)
        #endif
    }

    private static func fileError(_ message: String) -> TLSError {
        TLSError(code: .certificateTooling, message: "\(message): \(String(cString: strerror(errno)))")
    }
}
