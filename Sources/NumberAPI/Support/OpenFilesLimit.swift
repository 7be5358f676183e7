#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's open-files limit (`RLIMIT_NOFILE`), for the programs that hold many connections: numberd and
/// `numbers-load connections`. The soft default (often 1024) refuses sockets long before the hard limit would.
public enum OpenFilesLimit {
    /// Raises the soft limit to the hard limit; returns the soft limit now in force (0 if it cannot be read).
    public static func raiseToHard() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(min(limit.rlim_cur, rlim_t(Int.max)))
    }
}
