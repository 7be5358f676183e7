import Logging
import Synchronization

/// A `LogHandler` that keeps every line logged through it (every level), for tests of what the server logs.
///
/// ```swift
/// let captured = CapturingLogHandler.Lines()
/// let logger = Logger(label: "test") { _ in CapturingLogHandler(lines: captured) }
/// … // use the logger
/// #expect(captured.all.contains { $0.message == "call failed" })
/// ```
struct CapturingLogHandler: LogHandler {
    /// One logged line: its level, message and metadata (the logger's and the line's), values as text.
    struct Line: Sendable, Hashable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    /// The lines logged so far, shared by every copy of the handler (loggers copy their handler).
    final class Lines: Sendable {
        private let lines = Mutex<[Line]>([])

        /// Every line so far, in order.
        var all: [Line] { lines.withLock { $0 } }

        func append(_ line: Line) { lines.withLock { $0.append(line) } }
    }

    private let lines: Lines
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    /// A handler adding to `lines`.
    init(lines: Lines) { self.lines = lines }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, line in line }
        lines.append(
            Line(level: event.level, message: "\(event.message)", metadata: merged.mapValues { "\($0)" }))
    }
}
