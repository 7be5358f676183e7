import Foundation
import Logging
import NumberAPI

/// The open-files limit (`RLIMIT_NOFILE`) numberd needs: one descriptor per connection, plus a reserve for everything
/// else. Out of descriptors, the journal cannot start its next segment (which stops the process: fail-stop), a
/// snapshot or a provider call fails, and accepting refuses clients — so `connectionsMax` is held to what the limit
/// leaves after the reserve: lowered, with a warning, when the limit is smaller (a start on a machine with a low hard
/// limit, such as the README's first command in a container, still serves), refused only when fewer than
/// ``connectionsMin`` connections would be left.
enum FileDescriptorLimit {
    /// Descriptors kept beyond `connectionsMax` for the rest: the store (lock, open segment, the next one during
    /// rotation, a snapshot's temp file and read-back, directory syncs), the metrics endpoint (64 connections), the
    /// provider (16 libcurl transfers and the in-process simulator's sockets), two listeners, the event loops'
    /// epoll/event/timer descriptors (three per core), TLS and data-directory files, standard streams. About 200 on
    /// a small machine; 1024 leaves room for a 128-core one, and a quarter of a small limit (at least 256) is kept on
    /// a machine that has no more (`docker run --ulimit nofile=1024`: 768 connections rather than none).
    static func reserve(limit: Int) -> Int { min(1024, max(256, limit / 4)) }

    /// Fewer connections than this and the start is refused instead of lowered.
    static let connectionsMin = 64

    /// The `connectionsMax` that `limit` holds with the reserve: `connectionsMax` itself, or what fits (then
    /// `lowered`). Throws when fewer than ``connectionsMin`` fit, naming the way out.
    static func check(connectionsMax: Int, limit: Int) throws -> (connectionsMax: Int, lowered: Bool) {
        let reserve = reserve(limit: limit)
        let fits = limit - reserve
        guard connectionsMax > fits else { return (connectionsMax, false) }
        guard fits >= connectionsMin else {
            throw ConfigurationError(
                "the open-files limit (RLIMIT_NOFILE, raised to its hard limit) is \(limit): it leaves fewer than "
                    + "\(connectionsMin) connections once \(reserve) files are kept for the store, metrics, provider "
                    + "and TLS; raise the hard limit (`ulimit -Hn`, systemd `LimitNOFILE=`)")
        }
        return (fits, true)
    }

    /// Raises the soft limit and returns the `connectionsMax` it holds, logging the limit in force and a warning when
    /// `connectionsMax` had to be lowered.
    static func prepare(connectionsMax: Int, logger: Logger) throws -> Int {
        let limit = OpenFilesLimit.raiseToHard()
        let (held, lowered) = try check(connectionsMax: connectionsMax, limit: limit)
        if lowered {
            logger.warning(
                """
                connections-max lowered to what the open-files limit holds; raise the hard limit (`ulimit -Hn`, \
                systemd `LimitNOFILE=`) to serve more
                """,
                metadata: [
                    "limit": "\(limit)", "reserve": "\(reserve(limit: limit))", "connections_max": "\(held)",
                    "configured": "\(connectionsMax)",
                ])
        } else {
            logger.info("open-files limit", metadata: ["limit": "\(limit)", "connections_max": "\(held)"])
        }
        return held
    }
}
