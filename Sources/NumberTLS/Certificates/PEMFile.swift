#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes PEM text to a file with an exact mode, so private keys are never readable by others even for an instant.
enum PEMFile {
    static func write(_ text: String, to path: String, mode: mode_t) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard descriptor >= 0 else {
            throw fileError("cannot open \(path) for writing")
        }
        defer { close(descriptor) }
        // open() applies the umask and keeps an existing file's mode; fchmod makes the mode exact.
        guard fchmod(descriptor, mode) == 0 else {
            throw fileError("cannot set the mode of \(path)")
        }
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes {
                systemWrite(descriptor, $0.baseAddress! + offset, bytes.count - offset)
            }
            if written < 0, errno == EINTR {
                continue
            }
            guard written > 0 else {
                throw fileError("cannot write \(path)")
            }
            offset += written
        }
        guard fsync(descriptor) == 0 else {
            throw fileError("cannot sync \(path)")
        }
    }

    /// `write(2)`, named so it does not clash with this type's `write`.
    private static func systemWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
        #if canImport(Glibc)
        return Glibc.write(descriptor, bytes, count)
        #else
        return Darwin.write(descriptor, bytes, count)
        #endif
    }

    private static func fileError(_ message: String) -> TLSError {
        TLSError(code: .certificateTooling, message: "\(message): \(String(cString: strerror(errno)))")
    }
}
