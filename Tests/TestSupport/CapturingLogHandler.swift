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
public struct CapturingLogHandler: LogHandler {
    /// One logged line: its level, message and metadata (the logger's and the line's), values as text.
    public struct Line: Sendable, Hashable {
        public var level: Logger.Level
        public var message: String
        public var metadata: [String: String]
    }

    /// The lines logged so far, shared by every copy of the handler (loggers copy their handler).
    public final class Lines: Sendable {
        private let lines = Mutex<[Line]>([])

        /// Every line so far, in order.
        public var all: [Line] { lines.withLock { $0 } }

        /// An empty log.
        public init() {}

        func append(_ line: Line) { lines.withLock { $0.append(line) } }

        /// Waits (up to 60 s: a loaded machine can be slow, and a line that is there returns at once) for a line with
        /// `message` whose metadata has `key` = `value`: a server logs a call as it ends, which for a deadline or a
        /// cancel may be just after the client gave up.
        public func line(_ message: String, _ key: String, _ value: String) async throws -> Line? {
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                if let found = all.first(where: { $0.message == message && $0.metadata[key] == value }) {
                    return found
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            return nil
        }
    }

    private let lines: Lines
    public var logLevel: Logger.Level = .trace
    public var metadata: Logger.Metadata = [:]

    /// A handler adding to `lines`.
    public init(lines: Lines) { self.lines = lines }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, line in line }
        lines.append(
            Line(level: event.level, message: "\(event.message)", metadata: merged.mapValues { "\($0)" }))
    }
}
