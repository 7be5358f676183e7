import Foundation

/// Figures of a process read from /proc (Linux).
enum ProcessStatus {
    /// Resident set size in MiB (`VmRSS` of /proc/PID/status), nil if unreadable.
    static func residentMiB(pid: Int32) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return nil }
        let kilobytes = line.split(separator: " ").compactMap { Double($0) }.first
        return kilobytes.map { $0 / 1024 }
    }
}
