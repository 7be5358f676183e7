import CMallocInfo
import Foundation
import NumberCore

#if canImport(Glibc)
import Glibc
#endif

/// Process measurements: CPU time, resident memory, the plain-file sync baseline, percentiles.
enum Measure {
    /// CPU time of this process (the machine may be shared: wall-clock rates understate the code).
    static func cpuSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    /// CPU time of this process spent in the kernel (system calls: `write`, `fdatasync`, futexes, ...).
    static func kernelCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    }

    /// Monotonic seconds.
    static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    /// Bytes the allocator has handed out and not had back (glibc's `malloc_info`): live heap, unlike RSS not
    /// blurred by freed memory the allocator keeps; -1 where it cannot tell.
    static func heapInUse() -> Int {
        Int(malloc_info_heap_in_use())
    }

    /// `VmRSS` from /proc/self/status, in bytes (0 where /proc is missing).
    static func residentBytes() -> Int { statusBytes("VmRSS:") }

    /// `VmHWM` (the peak resident size since the start or `resetPeakResident`), in bytes (0 where /proc is missing).
    static func peakResidentBytes() -> Int { statusBytes("VmHWM:") }

    /// Resets the peak resident size to the current one (`5` written to /proc/self/clear_refs); false if it cannot.
    static func resetPeakResident() -> Bool {
        (try? Data("5".utf8).write(to: URL(fileURLWithPath: "/proc/self/clear_refs"))) != nil
    }

    /// A `kB` field of /proc/self/status, in bytes.
    private static func statusBytes(_ field: String) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix(field) {
            let digits = line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
            return digits * 1024
        }
        return 0
    }

    /// The baseline: one writer appending a `bytes`-long record then `fdatasync`, one at a time, for `seconds`.
    /// Returns the rate and the kernel CPU seconds one append + sync costs.
    static func serialSyncRate(_ path: String, bytes: Int, seconds: Double) throws -> (rate: Double, kernelCPU: Double)
    {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0o644)
        guard fd >= 0 else { throw JournalFailure(operation: "open", path: path, errno: errno) }
        defer { close(fd) }
        let buffer = [UInt8](repeating: UInt8(ascii: "x"), count: bytes - 1) + [UInt8(ascii: "\n")]
        let start = now()
        let kernelBefore = kernelCPUSeconds()
        var count = 0
        while now() - start < seconds {
            let written = buffer.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard written == buffer.count, fdatasync(fd) == 0 else {
                throw JournalFailure(operation: "write/fdatasync", path: path, errno: errno)
            }
            count += 1
        }
        return (Double(count) / (now() - start), (kernelCPUSeconds() - kernelBefore) / Double(max(1, count)))
    }

    /// The `fraction` percentile of sorted `values` (0 when empty).
    static func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
    }

    /// Total size of the regular files under `directory`, and the size of those whose name contains `marker`.
    static func fileBytes(in directory: URL, containing marker: String) -> (total: Int, matching: Int) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        var total = 0
        var matching = 0
        for name in names {
            let attributes = try? FileManager.default.attributesOfItem(
                atPath: directory.appendingPathComponent(name).path)
            let size = (attributes?[.size] as? NSNumber)?.intValue ?? 0
            total += size
            if name.contains(marker) { matching += size }
        }
        return (total, matching)
    }
}
