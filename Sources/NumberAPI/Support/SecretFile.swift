#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a secret (an API key, a Twilio auth token) from a file rather than from the command line or the
/// environment, where other users and tools see it (`ps`, `/proc/<pid>/cmdline`, shell history, `systemctl show`,
/// `docker inspect`).
///
/// The file must be a regular file (a symlink to one is followed, as Kubernetes mounts secrets) or a pipe (a
/// shell's `--key-file <(pass show numberd)`, which keeps the key off the disk), holding at most ``bytesMax`` bytes
/// besides its trailing line end, that group and others have no permission on (mode 0600 or 0400: a secret others can read is
/// no longer one, and one others can write can be swapped), unless `requirePrivate` is false (a file systemd put in
/// `$CREDENTIALS_DIRECTORY`, which only the unit's user can reach whatever its mode shows). Trailing line ends are
/// dropped (`echo "$TOKEN" > file` writes one); anything else is the secret, checked by its user.
///
/// With `regularOnly` (numberd's SIGHUP reading a Twilio secret again) only a regular file is read, and the open does
/// not wait: a named FIFO put in the file's place after the caller checked it is refused at once, where a blocking open
/// would wait for a writer for ever (the reload, then the stop, stuck behind it).
public enum SecretFile {
    /// The largest secret file read: 4 KiB.
    public static let bytesMax = 4096

    /// The secret in `path`, named `name` in errors (the variable or flag that gave the path); with `regularOnly`,
    /// only from a regular file, opened without waiting.
    public static func read(
        _ path: String, name: String, requirePrivate: Bool = true, regularOnly: Bool = false
    ) throws(SecretFileError) -> String {
        // O_NONBLOCK only there: at start a named FIFO is waited on until its writer opens it, as before.
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | (regularOnly ? O_NONBLOCK : 0))
        guard descriptor >= 0 else {
            throw SecretFileError("\(name): cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        // The opened file's own status, so what is checked is what is read.
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw SecretFileError("\(name): cannot read \(path): \(String(cString: strerror(errno)))")
        }
        let type = status.st_mode & S_IFMT
        guard type == S_IFREG || (type == S_IFIFO && !regularOnly) else {
            throw SecretFileError("\(name): \(path) is not a regular file" + (regularOnly ? "" : " or a pipe"))
        }
        let permissions = Int(status.st_mode & 0o777)
        if requirePrivate, permissions & 0o077 != 0 {
            throw SecretFileError(
                "\(name): \(path) is accessible by group or others (mode \(String(permissions, radix: 8))): a secret "
                    + "must be readable by its owner only; `chmod 600 \(path)` (or 0400)")
        }
        // Read to one byte past the limit and a CR LF, whatever the size says (it may grow meanwhile; a pipe has none).
        guard let bytes = readBounded(descriptor, limit: bytesMax + 3) else {
            throw SecretFileError("\(name): cannot read \(path): \(String(cString: strerror(errno)))")
        }
        var count = bytes.count
        while count > 0, bytes[count - 1] == UInt8(ascii: "\n") || bytes[count - 1] == UInt8(ascii: "\r") {
            count -= 1
        }
        guard count <= bytesMax else {
            throw SecretFileError("\(name): \(path) holds more than \(bytesMax) bytes, not a secret")
        }
        guard count > 0 else { throw SecretFileError("\(name): \(path) is empty") }
        guard let secret = String(validating: bytes[..<count], as: UTF8.self) else {
            throw SecretFileError("\(name): \(path) is not UTF-8 text")
        }
        return secret
    }
}

/// What `descriptor` gives, read until `limit` bytes or its end (`EINTR` retried): a bounded read, whatever size the
/// file says it has (it may grow meanwhile; a pipe says none). Nil on a read error, `errno` telling which.
package func readBounded(_ descriptor: Int32, limit: Int) -> [UInt8]? {
    var bytes = [UInt8](repeating: 0, count: limit)
    var count = 0
    while count < limit {
        let got = bytes.withUnsafeMutableBytes { buffer in read(descriptor, buffer.baseAddress! + count, limit - count)
        }
        if got < 0, errno == EINTR { continue }
        guard got >= 0 else { return nil }
        if got == 0 { break }
        count += got
    }
    return Array(bytes[..<count])
}

/// A secret file that cannot be used, said in one line (naming the setting and the path, never the contents).
public struct SecretFileError: Error, CustomStringConvertible, Sendable {
    /// What is wrong.
    public var description: String

    init(_ description: String) { self.description = description }
}
