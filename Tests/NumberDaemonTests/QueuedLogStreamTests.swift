import Foundation
import Logging
import Prometheus
import Synchronization
import Testing

@testable import NumberDaemon

#if canImport(Glibc)
import Glibc
#endif

/// numberd's standard error through a bounded queue and a writer thread of its own: a reader that stops reading costs
/// log lines (counted, and said where), never a blocked caller.
@Suite("numberd's log queue")
struct QueuedLogStreamTests {
    /// A pipe: the stream writes its write end, the test reads (or does not read) the other.
    struct LogPipe {
        let read: Int32
        let write: Int32

        init() throws {
            var ends: [Int32] = [0, 0]
            guard pipe(&ends) == 0 else { throw POSIXError(.EMFILE) }
            read = ends[0]
            write = ends[1]
        }

        /// Everything in the pipe now (its read end made non-blocking).
        func drain() -> String {
            _ = fcntl(read, F_SETFL, fcntl(read, F_GETFL) | O_NONBLOCK)
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = Glibc.read(read, &buffer, buffer.count)
                guard count > 0 else { break }
                bytes += buffer[..<count]
            }
            return String(decoding: bytes, as: UTF8.self)
        }

        /// Fills the pipe to the brim (as a reader that stopped long ago left it).
        func fill() {
            let flags = fcntl(write, F_GETFL)
            _ = fcntl(write, F_SETFL, flags | O_NONBLOCK)
            let filler = [UInt8](repeating: UInt8(ascii: "f"), count: 4095) + [UInt8(ascii: "\n")]
            while Glibc.write(write, filler, filler.count) > 0 {}
            var one: [UInt8] = [UInt8(ascii: "\n")]
            while Glibc.write(write, &one, 1) > 0 {}
            _ = fcntl(write, F_SETFL, flags)
        }

        func close() {
            _ = Glibc.close(read)
            _ = Glibc.close(write)
        }
    }

    /// Runs `body` on a thread of its own and waits for it at most `seconds`: whether it returned.
    static func returns(within seconds: Double, _ body: @escaping @Sendable () -> Void) -> Bool {
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            body()
            done.signal()
        }
        return done.wait(timeout: .now() + seconds) == .success
    }

    static func droppedTotal(_ registry: PrometheusCollectorRegistry) -> Double? {
        OperationalMetricsTests.value(
            "numberd_log_lines_dropped_total", in: String(decoding: registry.emitToBuffer(), as: UTF8.self))
    }

    @Test("a reader that stops reading: every log call returns, lines past the queue are dropped, counted and said")
    func stalledReader() throws {
        let pipe = try LogPipe()
        defer { pipe.close() }
        let registry = PrometheusCollectorRegistry()
        let stream = QueuedLogStream(
            descriptor: pipe.write, limits: .init(queuedBytesMax: 8192, lineBytesMax: 1024),
            metrics: PrometheusMetricsFactory(registry: registry))
        pipe.fill()
        // 4,000 lines of 100 bytes: 400 kB, 50 times the queue.
        let lines = (0..<4000).map { String(format: "line %05d ", $0) + String(repeating: "x", count: 88) + "\n" }
        // Written straight to a pipe nobody reads (what `StreamLogHandler.standardError` did), the 700th or so blocks.
        #expect(Self.returns(within: 60) { for line in lines { stream.write(line) } }, "a log call blocked")
        // Nothing read, so the writer is stuck in the pipe: a flush gives up at its timeout.
        #expect(!stream.flush(timeout: .milliseconds(100)))
        let dropped = Self.droppedTotal(registry) ?? 0
        #expect(dropped > 0)

        // The reader comes back: what was queued arrives in order, then how many lines went missing there.
        let output = Self.linesRead(pipe, stream)
        let written = output.filter { $0.hasPrefix("line ") }
        let notices = output.filter { $0.contains("log lines dropped here") }
        #expect(!notices.isEmpty)
        let said = notices.compactMap { notice in
            notice.split(separator: " ").first { $0.hasPrefix("dropped=") }.flatMap { Int($0.dropFirst(8)) }
        }
        #expect(said.count == notices.count)
        #expect(Double(said.reduce(0, +)) == dropped)
        #expect(written.count + said.reduce(0, +) == lines.count)
        // In order, none twice: the first lines all made it.
        let numbers = written.map { Int($0.dropFirst(5).prefix(5))! }
        #expect(numbers == numbers.sorted() && Set(numbers).count == numbers.count)
        #expect(numbers.first == 0)
    }

    @Test("a critical line is written before the call that logs it returns")
    func criticalWaits() throws {
        let pipe = try LogPipe()
        defer { pipe.close() }
        // The wait ends when the line is written: its bound (1 s by default) must outlast a starved writer thread.
        let stream = QueuedLogStream(
            descriptor: pipe.write, limits: .init(criticalWait: .seconds(300)), metrics: PrometheusMetricsFactory())
        let logger = Logger(label: "numberd") { QueuedLogHandler(label: $0, stream: stream, level: .info) }
        for round in 0..<20 {
            logger.critical("stopping", metadata: ["round": "\(round)"])
            #expect(pipe.drain().contains("critical numberd: round=\(round) [NumberDaemonTests] stopping"))
        }
    }

    @Test("a critical line waits for a reader at most its bound")
    func criticalWaitIsBounded() throws {
        let pipe = try LogPipe()
        defer { pipe.close() }
        let stream = QueuedLogStream(
            descriptor: pipe.write, limits: .init(criticalWait: .milliseconds(200)), metrics: PrometheusMetricsFactory()
        )
        let logger = Logger(label: "numberd") { QueuedLogHandler(label: $0, stream: stream, level: .info) }
        // Fill the pipe (nobody reads it), then a critical line: it must not wait for ever.
        let filler = String(repeating: "y", count: 1023) + "\n"
        for _ in 0..<100 { stream.write(filler) }
        #expect(Self.returns(within: 60) { logger.critical("stopping") }, "a critical line waited for ever")
        _ = pipe.drain()
        #expect(stream.flush(timeout: .seconds(60)))
    }

    @Test("levels and metadata are the handler's: a line below the level is not written")
    func levels() throws {
        let pipe = try LogPipe()
        defer { pipe.close() }
        let stream = QueuedLogStream(descriptor: pipe.write, metrics: PrometheusMetricsFactory())
        var logger = Logger(label: "numberd") { QueuedLogHandler(label: $0, stream: stream, level: .notice) }
        logger[metadataKey: "request"] = "R1"
        logger.info("not written")
        logger.notice("written")
        #expect(stream.flush(timeout: .seconds(60)))
        let output = pipe.drain()
        #expect(!output.contains("not written"))
        #expect(output.contains("notice numberd: request=R1 [NumberDaemonTests] written\n"), "\(output)")
    }

    /// A `Logger` holds its handler, and so its level, by value: with the level handed to each handler at start, a
    /// copy kept by a long-lived object (the server, a connection, the store) never saw a change. The level is the
    /// shared one's, read at each line; a copy given a level of its own keeps it (swift-log's handler contract).
    @Test("every copy of a logger follows the shared level when it changes; a copy with a level of its own keeps it")
    func sharedLevel() throws {
        let pipe = try LogPipe()
        defer { pipe.close() }
        let stream = QueuedLogStream(descriptor: pipe.write, metrics: PrometheusMetricsFactory())
        let level = SharedLogLevel(.info)
        let logger = Logger(label: "numberd") { QueuedLogHandler(label: $0, stream: stream, level: level) }
        struct Holder { let logger: Logger }
        let held = Holder(logger: logger)  // copied at start
        var own = logger
        own.logLevel = .error
        held.logger.debug("debug before")
        level.level = .debug
        held.logger.debug("debug after")
        logger.trace("trace after")
        own.warning("own warning")
        level.level = .warning
        logger.info("info at warning")
        #expect(held.logger.logLevel == .warning && own.logLevel == .error)
        #expect(stream.flush(timeout: .seconds(60)))
        let output = pipe.drain()
        #expect(!output.contains("debug before") && output.contains("debug after"), "\(output)")
        #expect(!output.contains("trace after") && !output.contains("own warning") && !output.contains("info at"))
        for each in Logger.Level.allCases {
            level.level = each
            #expect(level.level == each)
        }
    }

    @Test("a line longer than the limit is cut at a character's start and says how long it was")
    func longLines() {
        let line = String(repeating: "€", count: 10_000) + "\n"  // 3 bytes each: 30,001 bytes
        let cut = QueuedLogStream.cut(line, toBytes: 1000)
        #expect(cut.utf8.count <= 1000)
        #expect(cut.hasSuffix(" … (30001 bytes, cut)\n"))
        #expect(cut.hasPrefix("€€€"))
        #expect(!cut.contains("\u{FFFD}"))
        #expect(QueuedLogStream.cut("short\n", toBytes: 1000) == "short\n")
        let exact = String(repeating: "a", count: 999) + "\n"
        #expect(QueuedLogStream.cut(exact, toBytes: 1000) == exact)
    }

    /// A line of exactly `bytes` bytes starting with `name` and a space.
    static func line(_ name: String, _ bytes: Int) -> String {
        name + " " + String(repeating: "x", count: bytes - name.utf8.count - 2) + "\n"
    }

    /// Waits until the writer has taken what is queued (and, the pipe being full, is stuck writing it).
    static func waitUntilTaken(_ stream: QueuedLogStream) throws {
        let end = ContinuousClock.now + .seconds(30)
        while stream.queuedLines > 0, ContinuousClock.now < end { usleep(1000) }
        try #require(stream.queuedLines == 0, "the writer did not take the queue")
        usleep(20_000)  // into its `write`
    }

    /// The lines that reach a reader who comes back, once everything queued is written (the pipe's filler left
    /// out).
    static func linesRead(_ pipe: LogPipe, _ stream: QueuedLogStream) -> [Substring] {
        let reader = Mutex("")
        let reading = Atomic(true)
        let drained = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            while reading.load(ordering: .relaxed) {
                let text = pipe.drain()
                reader.withLock { $0 += text }
                usleep(1000)
            }
            drained.signal()
        }
        #expect(stream.flush(timeout: .seconds(60)))
        reading.store(false, ordering: .relaxed)
        drained.wait()
        let output = reader.withLock { $0 } + pipe.drain()
        return output.split(separator: "\n").filter { !$0.hasPrefix("f") }
    }

    /// The first word of each line, and a notice's `dropped=N`.
    static func shape(_ lines: [Substring]) -> [String] {
        lines.map { line in
            guard line.contains("log lines dropped here") else { return String(line.prefix { $0 != " " }) }
            return line.split(separator: " ").first { $0.hasPrefix("dropped=") }.map(String.init) ?? "notice?"
        }
    }

    @Test("once a line is dropped, the later ones are too until the writer takes the queue: the notice is at the gap")
    func noticeAtTheGap() throws {
        let pipe = try LogPipe()
        defer { pipe.close() }
        let registry = PrometheusCollectorRegistry()
        let stream = QueuedLogStream(
            descriptor: pipe.write, limits: .init(queuedBytesMax: 4096, lineBytesMax: 1024),
            metrics: PrometheusMetricsFactory(registry: registry))
        pipe.fill()
        stream.write(Self.line("L0", 100))
        try Self.waitUntilTaken(stream)
        for index in 1...9 { stream.write(Self.line("L\(index)", 400)) }  // 3,600 of 4,096 bytes
        stream.write(Self.line("D", 1000))  // does not fit
        stream.write(Self.line("S", 50))  // would fit, but comes after the gap
        let lines = Self.linesRead(pipe, stream)
        #expect(Self.shape(lines) == (0...9).map { "L\($0)" } + ["dropped=2"], "\(Self.shape(lines))")
        #expect(Self.droppedTotal(registry) == 2)
    }

    /// A review of the session's fixes: after a drop every line was dropped until the writer took the queue — the
    /// `critical` one that says why numberd stops itself too, in just the moment it matters.
    @Test("a critical line right after a drop is still queued, and the notice follows it")
    func criticalAfterADrop() throws {
        let pipe = try LogPipe()
        defer { pipe.close() }
        let stream = QueuedLogStream(
            descriptor: pipe.write,
            limits: .init(queuedBytesMax: 4096, lineBytesMax: 1024, criticalWait: .milliseconds(100)),
            metrics: PrometheusMetricsFactory())
        let logger = Logger(label: "numberd") { QueuedLogHandler(label: $0, stream: stream, level: .info) }
        pipe.fill()
        stream.write(Self.line("L0", 100))
        try Self.waitUntilTaken(stream)
        for index in 1...9 { stream.write(Self.line("L\(index)", 400)) }
        stream.write(Self.line("D", 1000))  // does not fit
        logger.critical("STOP")
        stream.write(Self.line("S", 50))  // after the gap: dropped
        let lines = Self.linesRead(pipe, stream)
        let stop = lines.firstIndex { $0.hasSuffix("critical numberd: [NumberDaemonTests] STOP") }
        let notice = lines.firstIndex { $0.contains("log lines dropped here") }
        #expect(stop == 10 && notice == 11, "\(Self.shape(lines))")
        #expect(lines.count == 12 && lines[notice ?? 0].contains("dropped=2"), "\(Self.shape(lines))")
    }

    @Test("a line that fills the queue exactly is queued; the next is dropped")
    func exactFit() throws {
        let pipe = try LogPipe()
        defer { pipe.close() }
        let stream = QueuedLogStream(
            descriptor: pipe.write, limits: .init(queuedBytesMax: 4096, lineBytesMax: 1024),
            metrics: PrometheusMetricsFactory())
        pipe.fill()
        stream.write(Self.line("L0", 100))
        try Self.waitUntilTaken(stream)
        for index in 1...4 { stream.write(Self.line("L\(index)", 1024)) }  // 4,096 bytes: exactly the queue
        stream.write(Self.line("X", 64))
        let lines = Self.linesRead(pipe, stream)
        #expect(Self.shape(lines) == (0...4).map { "L\($0)" } + ["dropped=1"], "\(Self.shape(lines))")
        // Lines of exactly lineBytesMax are whole.
        #expect(lines.dropFirst().prefix(4).allSatisfy { $0.utf8.count == 1023 })
    }

    @Test("a line of lineBytesMax bytes is written whole, one of lineBytesMax + 1 is cut")
    func cutAtTheLimit() throws {
        let pipe = try LogPipe()
        defer { pipe.close() }
        let stream = QueuedLogStream(
            descriptor: pipe.write, limits: .init(lineBytesMax: 1024), metrics: PrometheusMetricsFactory())
        let whole = Self.line("whole", 1024)
        stream.write(whole)
        stream.write(Self.line("cut", 1025))
        #expect(stream.flush(timeout: .seconds(60)))
        let output = pipe.drain()
        #expect(output.hasPrefix(whole))
        let cut = output.dropFirst(whole.count)
        #expect(cut.hasPrefix("cut xxx") && cut.hasSuffix(" … (1025 bytes, cut)\n"), "\(cut)")
        #expect(cut.utf8.count <= 1024)
    }

    @Test("a queue smaller than a line is refused: a line dropped into an empty queue would wake no writer")
    func queueHoldsALine() {
        typealias Limits = QueuedLogStream.Limits
        #expect(Limits.defaults.problem == nil)
        #expect(Limits(queuedBytesMax: 1024, lineBytesMax: 1024).problem == nil)
        #expect(Limits(queuedBytesMax: 1023, lineBytesMax: 1024).problem != nil)
        #expect(Limits(queuedBytesMax: 8192, lineBytesMax: 63).problem != nil)
    }

    @Test("a flush behind a reader that never reads returns at its timeout, neither before nor long after")
    func flushTimeoutIsBounded() throws {
        let pipe = try LogPipe()
        defer { pipe.close() }
        let stream = QueuedLogStream(descriptor: pipe.write, metrics: PrometheusMetricsFactory())
        pipe.fill()
        stream.write("stuck\n")
        for timeout in [Duration.milliseconds(300), .zero, .milliseconds(-5)] {
            let started = ContinuousClock.now
            #expect(!stream.flush(timeout: timeout))
            let elapsed = ContinuousClock.now - started
            #expect(elapsed >= max(timeout, .zero), "\(elapsed)")
            // Not long after: a flush that waited for the stuck line would never return (slack for a loaded machine).
            #expect(elapsed < max(timeout, .zero) + .seconds(60), "\(elapsed)")
        }
        _ = Self.linesRead(pipe, stream)
    }
}
