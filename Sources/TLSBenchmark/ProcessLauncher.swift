import Foundation

/// Starts child processes with no signals blocked.
///
/// Threads of the Swift runtime and NIO block signals; a child inherits its parent thread's mask, and
/// `openssl speed` (which times itself with SIGALRM) then never stops, nor does SIGTERM reach it. Launching from a
/// fresh thread whose mask is cleared gives the child the default mask.
enum ProcessLauncher {
    static func run(_ process: Process) throws {
        let outcome = LaunchOutcome()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            var empty = sigset_t()
            sigemptyset(&empty)
            pthread_sigmask(SIG_SETMASK, &empty, nil)
            do {
                try process.run()
            } catch {
                outcome.error = error
            }
            done.signal()
        }
        thread.start()
        done.wait()
        if let error = outcome.error {
            throw error
        }
    }
}

/// The launch thread's result, read after the semaphore.
private final class LaunchOutcome: @unchecked Sendable {
    var error: (any Error)?
}
