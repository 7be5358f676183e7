import Dispatch
import Foundation

/// The stall watchdog: a journal write + sync that hangs past `ioStallMaxMilliseconds` stops the journal; a snapshot
/// step that does is abandoned with its snapshot.
extension FileJournal {
    /// Starts the periodic check (a dispatch timer; it holds the journal weakly).
    func startWatchdog() {
        let stallNanos = UInt64(options.limits.ioStallMaxMilliseconds) * 1_000_000
        let intervalMilliseconds = max(10, min(1000, options.limits.ioStallMaxMilliseconds / 4))
        let timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "numberd.journal.watchdog"))
        timer.schedule(
            deadline: .now() + .milliseconds(intervalMilliseconds), repeating: .milliseconds(intervalMilliseconds))
        timer.setEventHandler { [weak self] in self?.checkStall(stallNanos: stallNanos) }
        watchdog.withLock { $0 = WatchdogTimer(timer) }
        timer.resume()
    }

    /// Cancels the check (idempotent).
    func stopWatchdog() {
        let box = watchdog.withLock { box -> WatchdogTimer? in
            defer { box = nil }
            return box
        }
        box?.timer.cancel()
    }

    /// What the watchdog found stalled.
    enum Stall {
        case writer, snapshot
    }

    /// Fails the journal if the writer's write + sync has been running too long; marks the snapshot stalled (it is
    /// abandoned when its step returns) if one snapshot step has. A snapshot is measured step by step (each chunk
    /// written, synced or read back, the rename, the directory sync), so a large snapshot on a slow disk that keeps
    /// progressing is never stopped, and a stuck one costs that snapshot only: the journal holds every record.
    func checkStall(stallNanos: UInt64) {
        let stalled = shared.withLock { state -> Stall? in
            guard state.failure == nil else { return nil }
            // Read under the lock, after any start the writer recorded: a clock read before taking it can be older
            // than a start recorded meanwhile (that unsigned difference trapped and took the process down).
            let now = DispatchTime.now().uptimeNanoseconds
            if ioStalled(since: state.writerIOSince, now: now, limit: stallNanos) { return .writer }
            if ioStalled(since: state.snapshotIOSince, now: now, limit: stallNanos) {
                state.snapshotStalled = true
                state.snapshotIOSince = nil
                return .snapshot
            }
            return nil
        }
        let milliseconds = options.limits.ioStallMaxMilliseconds
        switch stalled {
        case .none:
            return
        case .writer:
            failStop(
                JournalFailure(
                    operation: "journal write, sync or segment change stalled over \(milliseconds) ms",
                    path: layout.directory,
                    errno: ETIMEDOUT),
                waiting: [])
        case .snapshot:
            options.logger.error(
                "journal snapshot step stalled; the snapshot is abandoned when it returns",
                metadata: ["stallMaxMilliseconds": "\(milliseconds)"])
        }
    }
}

/// Whether file work started at `since` (nil: none running) has run longer than `limit` nanoseconds by `now`; work
/// that started after `now` (read on another thread) has not.
func ioStalled(since: UInt64?, now: UInt64, limit: UInt64) -> Bool {
    guard let since, now > since else { return false }
    return now - since > limit
}

/// Holds the watchdog's dispatch timer. `DispatchSource` is thread-safe (`cancel` may be called from any thread)
/// but not annotated `Sendable`; only `cancel` is called through this box.
final class WatchdogTimer: @unchecked Sendable {
    let timer: any DispatchSourceTimer
    init(_ timer: any DispatchSourceTimer) { self.timer = timer }
}
