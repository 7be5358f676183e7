import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Bounded waits for a ``SpawnedProcess``: a child that does not end in time fails its test instead of hanging the run.
/// (The child reaps itself when asked, by its pid: these waits poll it.)
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
    public static func wait(_ process: SpawnedProcess, timeout: Duration) async -> Ending? {
        let end = ContinuousClock.now + timeout
        while ContinuousClock.now < end {
            if let ending = process.ending { return ending }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return process.ending
    }

    /// `wait` without suspending (for a `defer`): sleeps the thread between looks.
    @discardableResult
    public static func waitBlocking(_ process: SpawnedProcess, timeout: Duration) -> Ending? {
        let end = ContinuousClock.now + timeout
        while ContinuousClock.now < end {
            if let ending = process.ending { return ending }
            usleep(10_000)
        }
        return process.ending
    }
}
