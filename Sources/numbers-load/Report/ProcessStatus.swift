import Foundation

/// Figures of a process read from /proc (Linux).
enum ProcessStatus {
    /// Resident set size in MiB (`VmRSS` of /proc/PID/status), nil if unreadable.
    static func residentMiB(pid: Int32) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        return residentMiB(status: text)
    }

    /// `VmRSS` in MiB from the text of /proc/PID/status. The kernel writes `VmRSS:\t%8lu kB`: from 10,000,000 kB on
    /// there is no space between the tab and the figure, so the line is split on any whitespace.
    static func residentMiB(status text: String) -> Double? {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return nil }
        let kilobytes = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { Double($0) }.first
        return kilobytes.map { $0 / 1024 }
    }

    /// CPU time (user + system) the process has used so far, in seconds; nil if unreadable.
    static func cpuSeconds(pid: Int32) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        // Fields after the command name: state is field 3, utime 14 and stime 15 (1-based, whole line).
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return (user + system) / ticks
    }
}
