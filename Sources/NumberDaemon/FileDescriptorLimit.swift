import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The open-files limit (`RLIMIT_NOFILE`) numberd needs: one descriptor per connection, plus a reserve for everything
/// else. Out of descriptors, the journal cannot start its next segment (which stops the process: fail-stop), a
/// snapshot or a provider call fails, and accepting refuses clients — so numberd refuses to start with a limit that a
/// connection flood up to `connectionsMax` could exhaust, rather than fail under that load.
enum FileDescriptorLimit {
    /// Descriptors kept beyond `connectionsMax` for the rest: the store (lock, open segment, the next one during
    /// rotation, a snapshot's temp file and read-back, directory syncs), the metrics endpoint (64 connections), the
    /// provider (16 libcurl transfers and the in-process simulator's sockets), two listeners, the event loops'
    /// epoll/event/timer descriptors (three per core), TLS and data-directory files, standard streams. About 200 on
    /// a small machine; 1024 leaves room for a 128-core one.
    static let reserve = 1024

    /// Raises the soft limit to the hard limit (the soft default, often 1024, would refuse connections long before
    /// `connectionsMax`); returns the soft limit now in force.
    static func raiseToHard() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(min(limit.rlim_cur, rlim_t(Int.max)))
    }

    /// Throws unless `limit` holds `connectionsMax` connections plus the reserve, naming both ways out.
    static func check(connectionsMax: Int, limit: Int) throws {
        let needed = connectionsMax + reserve
        guard needed > limit else { return }
        let fits = limit - reserve
        throw ConfigurationError(
            "connections-max \(connectionsMax) needs \(needed) open files (\(reserve) more for the store, metrics, "
                + "provider and TLS files), but the open-files limit (RLIMIT_NOFILE, raised to its hard limit) is "
                + "\(limit): "
                + (fits > 0 ? "lower --connections-max to at most \(fits), or " : "")
                + "raise the hard limit (`ulimit -Hn`, systemd `LimitNOFILE=`)")
    }

    /// Raises the soft limit and checks it against `connectionsMax`; logs the limit in force.
    static func prepare(connectionsMax: Int, logger: Logger) throws {
        let limit = raiseToHard()
        logger.info(
            "open-files limit", metadata: ["limit": "\(limit)", "connections_max": "\(connectionsMax)"])
        try check(connectionsMax: connectionsMax, limit: limit)
    }
}
