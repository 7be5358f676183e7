import Foundation
import Logging
import Metrics

/// numberd's standard error, written by a thread of its own. A log line is queued and its caller goes on; the writer
/// thread takes everything queued at once and writes it with `write(2)`.
///
/// Before it, every log line was written by the thread that logged it, under stdio's lock: a reader of standard error
/// that stopped reading (a log collector that stalled, a terminal paused with Ctrl-S, a pipe nobody drains) filled the
/// pipe, and then every thread that logged — event loops, the journal writer, the provider's threads — blocked in
/// `fwrite`, so numberd stopped answering anyone. Now such a reader costs log lines, never service: the queue holds at
/// most ``Limits/queuedBytesMax`` bytes (plus the batch being written), a line that does not fit is dropped and counted
/// (`numberd_log_lines_dropped_total`), and so is every line after it until the writer takes what is queued: a line
/// written then, right after the last one queued before the drops, says how many went missing there.
///
/// A line at `critical` level (numberd logs one before it stops itself) waits up to ``Limits/criticalWait`` for
/// everything queued before it to be written, and so does ``flush(timeout:)`` at the end of a run: the last lines are
/// not lost to the exit, and a reader that never reads cannot hold the exit either.
public final class QueuedLogStream: TextOutputStream, @unchecked Sendable {
    /// The bounds.
    public struct Limits: Sendable {
        /// Bytes of log lines waiting for the writer thread (not counting the batch it is writing). Default 4 MiB; at
        /// least ``lineBytesMax``, so a line always fits an empty queue.
        public var queuedBytesMax: Int
        /// A longer line is cut to this many bytes and says how many were cut. Default 16 KiB.
        public var lineBytesMax: Int
        /// How long a `critical` line waits for the lines before it (and itself) to be written. Default 1 s.
        public var criticalWait: Duration

        /// Creates limits.
        public init(queuedBytesMax: Int = 4 << 20, lineBytesMax: Int = 16 << 10, criticalWait: Duration = .seconds(1)) {
            self.queuedBytesMax = queuedBytesMax
            self.lineBytesMax = lineBytesMax
            self.criticalWait = criticalWait
        }

        /// The documented defaults.
        public static let defaults = Limits()

        /// Why a stream cannot take these limits, or nil: lines of at least 64 bytes (the cut's note fits), and a
        /// queue that holds a whole line (a line dropped into an empty queue would leave the writer asleep, and its
        /// notice unwritten).
        var problem: String? {
            guard lineBytesMax >= 64 else { return "lineBytesMax \(lineBytesMax) is below 64" }
            guard queuedBytesMax >= lineBytesMax else {
                return "queuedBytesMax \(queuedBytesMax) is below lineBytesMax \(lineBytesMax)"
            }
            return nil
        }
    }

    private struct State {
        var lines: [String] = []
        var queuedBytes = 0
        /// Lines dropped since the last batch was taken: while there are any, every line is (so the notice that counts
        /// them, written after the batch, stands where they went missing).
        var dropped = 0
        /// Lines queued or dropped so far, and how many of them the writer has finished with (a dropped line is
        /// finished when the notice that counts it is written).
        var accepted: UInt64 = 0
        var finished: UInt64 = 0
    }

    private let condition = MonotonicCondition()
    private var state = State()
    private let descriptor: Int32
    private let limits: Limits
    private let droppedLines: Counter

    /// Starts the writer thread for `descriptor` (numberd's is 2), which stays open for the process's life.
    public init(descriptor: Int32 = STDERR_FILENO, limits: Limits = .defaults, metrics: any MetricsFactory) {
        if let problem = limits.problem { preconditionFailure("log queue limits: \(problem)") }
        self.descriptor = descriptor
        self.limits = limits
        droppedLines = Counter(label: "numberd_log_lines_dropped_total", factory: metrics)
        let thread = Thread { [self] in writeForever() }
        thread.name = "numberd-log"
        thread.start()
    }

    /// Queues `string` (one whole log line from `StreamLogHandler`); drops it when the queue is full, or when a line
    /// was dropped since the writer last took the queue.
    public func write(_ string: String) {
        write(string, evenAfterDrops: false)
    }

    /// A `critical` line (``Critical``) is queued whenever it fits, drops before it or not: it is the one that says
    /// why numberd stops itself, and the notice of the drops then follows it.
    private func write(_ string: String, evenAfterDrops: Bool) {
        let line = Self.cut(string, toBytes: limits.lineBytesMax)
        let bytes = line.utf8.count
        condition.lock()
        state.accepted += 1
        guard (evenAfterDrops || state.dropped == 0) && state.queuedBytes + bytes <= limits.queuedBytesMax else {
            state.dropped += 1
            // The writer writes the notice (and a flush waits for it).
            condition.broadcast()
            condition.unlock()
            droppedLines.increment()
            return
        }
        state.lines.append(line)
        state.queuedBytes += bytes
        condition.broadcast()
        condition.unlock()
    }

    /// The stream a `critical` line goes through (``QueuedLogHandler``).
    struct Critical: TextOutputStream, Sendable {
        let stream: QueuedLogStream

        func write(_ string: String) { stream.write(string, evenAfterDrops: true) }
    }

    /// Waits until every line queued before this call has been written (or dropped), at most `timeout` (measured on
    /// the monotonic clock: a wall clock stepped back does not lengthen it); returns whether they all were.
    @discardableResult
    public func flush(timeout: Duration) -> Bool {
        let deadline = MonotonicCondition.deadline(after: timeout)
        condition.lock()
        defer { condition.unlock() }
        let target = state.accepted
        while state.finished < target {
            guard condition.wait(until: deadline) else { return state.finished >= target }
        }
        return true
    }

    /// The `critical` wait (``Limits/criticalWait``).
    func flushCritical() { flush(timeout: limits.criticalWait) }

    /// Lines waiting for the writer (not the batch it is writing): tests see when it has taken a batch.
    var queuedLines: Int {
        condition.lock()
        defer { condition.unlock() }
        return state.lines.count
    }

    private func writeForever() {
        while true {
            condition.lock()
            while state.lines.isEmpty && state.dropped == 0 { condition.wait() }
            let batch = state.lines
            let dropped = state.dropped
            let upTo = state.accepted
            state.lines = []
            state.queuedBytes = 0
            state.dropped = 0
            condition.unlock()

            var bytes: [UInt8] = []
            bytes.reserveCapacity(batch.reduce(0) { $0 + $1.utf8.count } + 200)
            for line in batch { bytes.append(contentsOf: line.utf8) }
            // After the batch: the dropped lines came after every one that was queued (none is queued after a drop).
            if dropped > 0 { bytes.append(contentsOf: Self.droppedNotice(dropped).utf8) }
            Self.writeAll(bytes, to: descriptor)

            condition.lock()
            state.finished = upTo
            condition.broadcast()
            condition.unlock()
        }
    }

    /// Writes all of `bytes` to `descriptor`, through short writes, `EINTR` and a non-blocking descriptor's `EAGAIN`;
    /// gives the rest up on any other error (a closed reader: numberd ignores `SIGPIPE`, so `EPIPE`).
    static func writeAll(_ bytes: [UInt8], to descriptor: Int32) {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                    var waiting = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&waiting, 1, -1)
                } else {
                    return
                }
            }
        }
    }

    /// `line` cut to at most `limit` UTF-8 bytes (at a character's start) with a note of what was cut, and its newline
    /// kept.
    static func cut(_ line: String, toBytes limit: Int) -> String {
        let utf8 = line.utf8
        guard utf8.count > limit else { return line }
        let note = " … (\(utf8.count) bytes, cut)\n"
        var end = utf8.index(utf8.startIndex, offsetBy: max(0, limit - note.utf8.count))
        // Back to the start of a scalar: UTF-8 continuation bytes are 0b10xxxxxx.
        while end > utf8.startIndex && utf8[end] & 0xC0 == 0x80 { end = utf8.index(before: end) }
        return String(Substring(utf8[..<end])) + note
    }

    /// The line written after `count` dropped ones, in `StreamLogHandler`'s shape.
    static func droppedNotice(_ count: Int) -> String {
        var now = time(nil)
        var parts = tm()
        var buffer = [CChar](repeating: 0, count: 64)
        localtime_r(&now, &parts)
        strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &parts)
        let timestamp = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return "\(timestamp) warning numberd: dropped=\(count) [NumberDaemon] \(count) log lines dropped here: "
            + "standard error was not read fast enough (numberd_log_lines_dropped_total)\n"
    }
}

/// A mutex and a condition variable whose timed wait runs on `CLOCK_MONOTONIC`: `NSCondition.wait(until:)` takes a
/// wall-clock `Date`, so a clock stepped back during a `critical` line's wait held the thread that logged it (an event
/// loop, maybe) for the length of the step.
private final class MonotonicCondition {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
    func broadcast() { pthread_cond_broadcast(condition) }
    func wait() { pthread_cond_wait(condition, mutex) }

    /// Waits (the lock held) until woken or `deadline` passes; false once it has passed.
    func wait(until deadline: timespec) -> Bool {
        var deadline = deadline
        return pthread_cond_timedwait(condition, mutex, &deadline) == 0
    }

    /// `CLOCK_MONOTONIC` now plus `duration` (taken between zero and a year).
    static func deadline(after duration: Duration) -> timespec {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let (seconds, attoseconds) = min(max(duration, .zero), .seconds(365 * 86_400)).components
        let nanoseconds = Int(now.tv_nsec) + Int(attoseconds / 1_000_000_000)
        return timespec(
            tv_sec: now.tv_sec + Int(seconds) + nanoseconds / 1_000_000_000, tv_nsec: nanoseconds % 1_000_000_000)
    }
}

/// `StreamLogHandler`'s lines through a ``QueuedLogStream``; a `critical` line waits (briefly) until it is written.
/// Its level is a ``SharedLogLevel``'s, read at each line, so a change there (SIGHUP) reaches every copy of every logger.
public struct QueuedLogHandler: LogHandler {
    private var handler: StreamLogHandler
    /// The same lines for `critical` events, queued even right after dropped ones (``QueuedLogStream/Critical``).
    private var criticalHandler: StreamLogHandler
    private let stream: QueuedLogStream
    /// The process's level (numberd's: the one SIGHUP changes).
    private let sharedLevel: SharedLogLevel
    /// A level set on this copy (`logger.logLevel = …`), which it keeps whatever the shared level becomes.
    private var ownLevel: Logger.Level?

    /// A handler for `label` writing to `stream` at `level`'s level and above, following it when it changes.
    public init(label: String, stream: QueuedLogStream, level: SharedLogLevel) {
        handler = StreamLogHandler(label: label, stream: stream)
        criticalHandler = StreamLogHandler(label: label, stream: QueuedLogStream.Critical(stream: stream))
        self.stream = stream
        sharedLevel = level
    }

    /// A handler for `label` writing to `stream` at `level` and above (a level of its own).
    public init(label: String, stream: QueuedLogStream, level: Logger.Level) {
        self.init(label: label, stream: stream, level: SharedLogLevel(level))
    }

    public func log(event: LogEvent) {
        guard event.level == .critical else { return handler.log(event: event) }
        criticalHandler.log(event: event)
        stream.flushCritical()
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { handler[metadataKey: key] }
        set {
            handler[metadataKey: key] = newValue
            criticalHandler[metadataKey: key] = newValue
        }
    }

    public var metadata: Logger.Metadata {
        get { handler.metadata }
        set {
            handler.metadata = newValue
            criticalHandler.metadata = newValue
        }
    }

    public var logLevel: Logger.Level {
        get { ownLevel ?? sharedLevel.level }
        set { ownLevel = newValue }
    }

    public var metadataProvider: Logger.MetadataProvider? {
        get { handler.metadataProvider }
        set {
            handler.metadataProvider = newValue
            criticalHandler.metadataProvider = newValue
        }
    }
}
