import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Waiting for a child `Process` without trusting Foundation alone: on Linux its `Process` can miss a child's exit
/// (seen once in a full run: the child a zombie, `isRunning` true for ever, the suite hung in `waitUntilExit`). The
/// waits here are bounded, and reap a child that has been a zombie for a second without Foundation noticing.
public enum ChildExit {
    /// How a child ended.
    public enum Ending: Sendable, Equatable {
        /// It exited with this status.
        case exited(Int32)
        /// A signal ended it.
        case signalled(Int32)

        /// The exit status, or the signal's number: what Foundation's `terminationStatus` reports.
        public var status: Int32 {
            switch self {
            case .exited(let status), .signalled(let status): status
            }
        }
    }

    /// Waits until `process` ends, at most `timeout`; nil if it is still running then.
    public static func wait(_ process: Process, timeout: Duration) async -> Ending? {
        var watch = Watch(process)
        let end = ContinuousClock.now + timeout
        while ContinuousClock.now < end {
            if let ending = watch.ending() { return ending }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return watch.ending()
    }

    /// `wait` without suspending (for a `defer`): sleeps the thread between looks.
    @discardableResult
    public static func waitBlocking(_ process: Process, timeout: Duration) -> Ending? {
        var watch = Watch(process)
        let end = ContinuousClock.now + timeout
        while ContinuousClock.now < end {
            if let ending = watch.ending() { return ending }
            usleep(10_000)
        }
        return watch.ending()
    }

    /// One child's state between looks: when it was first seen a zombie, and what reaping it found.
    private struct Watch {
        let process: Process
        var zombieSince: ContinuousClock.Instant?
        var reaped: Ending?

        init(_ process: Process) { self.process = process }

        /// How the child ended, or nil while it runs.
        mutating func ending() -> Ending? {
            if let reaped { return reaped }
            if !process.isRunning {
                let status = process.terminationStatus
                return process.terminationReason == .uncaughtSignal ? .signalled(status) : .exited(status)
            }
            let pid = process.processIdentifier
            guard ChildExit.isZombie(pid) else { return nil }
            guard let since = zombieSince else {
                zombieSince = .now
                return nil
            }
            guard ContinuousClock.now - since > .seconds(1) else { return nil }
            // Foundation missed it: reap it here (WIFSIGNALED and friends are macros: decode the status by hand).
            var status: Int32 = 0
            guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
            let signal = status & 0x7F
            reaped = signal == 0 ? .exited((status >> 8) & 0xFF) : .signalled(signal)
            return reaped
        }
    }

    /// Whether `pid` has exited and not been reaped (state Z in /proc/<pid>/stat).
    static func isZombie(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        return stat[stat.index(after: close)...].drop(while: { $0 == " " }).first == "Z"
    }
}
