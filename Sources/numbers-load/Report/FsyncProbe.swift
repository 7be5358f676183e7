import Foundation

/// The serial durable-write rate of a file system: `write` of one journal-sized record then `fdatasync`, one after
/// the other, for a fixed time. Group commit is measured against it.
struct FsyncProbe {
    var directory: String
    var seconds: Double
    /// Bytes per write (about one purchase record of the journal).
    static let recordBytes = 512
    /// Writes at most, whatever the time (1 000 000: 512 MB of file, far past what any disk syncs in a probe's
    /// seconds; the rate is the writes made over the time they took either way).
    static let writesMax = 1_000_000

    /// Writes per second. Stops early once `stop` says so (the run interrupted: Ctrl-C during the probe left its file
    /// behind), its file removed all the same.
    func run(stop: () -> Bool = { false }) throws -> Double {
        let path = directory + "/numbers-load-fsync-probe-\(getpid())"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0o600)
        guard fd >= 0 else { throw ChildServerError(message: "cannot create \(path): errno \(errno)") }
        defer {
            close(fd)
            unlink(path)
        }
        let record = [UInt8](repeating: 0x7B, count: Self.recordBytes)
        let start = Date()
        var writes = 0
        while writes < Self.writesMax, Date().timeIntervalSince(start) < seconds, !stop() {
            let written = record.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard written == record.count, fdatasync(fd) == 0 else {
                throw ChildServerError(message: "write+fdatasync failed in \(directory): errno \(errno)")
            }
            writes += 1
        }
        return Double(writes) / Date().timeIntervalSince(start)
    }
}
