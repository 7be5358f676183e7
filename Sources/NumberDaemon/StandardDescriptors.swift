#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// numberd's standard input, output and error, made safe to write to before anything else is opened.
///
/// A process started with one of them closed (`numberd >&- 2>&-`, a supervisor that closes them) gets that number
/// for the next file it opens, which `open` hands out lowest first: the store's `LOCK` or a journal segment became
/// descriptor 1 or 2, and every log line — written to descriptor 2 — and the banner went into the journal. Each
/// closed one is opened on `/dev/null` instead, so what numberd writes there goes nowhere, as the caller asked.
public enum StandardDescriptors {
    /// Opens `/dev/null` on each of descriptors 0, 1 and 2 that is closed (read-only for 0, write-only for 1 and 2);
    /// call it first, before anything opens a file. Returns the descriptors it opened (none when all were open), and
    /// leaves one it cannot open (no `/dev/null` in a bare chroot) closed.
    @discardableResult
    public static func openClosedOnDevNull() -> [Int32] {
        var opened: [Int32] = []
        for descriptor: Int32 in 0...2 {
            guard fcntl(descriptor, F_GETFD) == -1, errno == EBADF else { continue }
            // Without O_CLOEXEC: a standard descriptor stays one in a child numberd spawns.
            let null = open("/dev/null", descriptor == 0 ? O_RDONLY : O_WRONLY)
            guard null >= 0 else { continue }
            // The lowest free number, so this one when the lower ones are open; moved onto it otherwise.
            if null != descriptor {
                let moved = dup2(null, descriptor)
                close(null)
                guard moved == descriptor else { continue }
            }
            opened.append(descriptor)
        }
        return opened
    }
}
