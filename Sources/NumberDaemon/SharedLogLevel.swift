import Logging
import Synchronization

/// The level numberd logs at, one for every logger of the process: SIGHUP changes it (``SettingsReload``) and each
/// logger sees the change at its next line, loggers made at start and copied into long-lived objects (the server, the
/// store, the periodic services) included.
///
/// A swift-log `Logger` holds its handler by value, and so its level: setting `logLevel` on one copy changes that copy
/// alone, and a level handed to the handler at start would stay in every copy for the life of the process. The
/// handler (``QueuedLogHandler``) reads its level from this shared object instead, on every line — one relaxed atomic
/// load — unless its own copy was given a level (`logger.logLevel = …`), which that copy then keeps, as swift-log's
/// handler contract asks.
public final class SharedLogLevel: Sendable {
    private let index: Atomic<Int>

    /// A level shared from now on, starting at `level`.
    public init(_ level: Logger.Level) {
        index = Atomic(Self.index(of: level))
    }

    /// The level in force.
    public var level: Logger.Level {
        get { Logger.Level.allCases[index.load(ordering: .relaxed)] }
        set { index.store(Self.index(of: newValue), ordering: .relaxed) }
    }

    private static func index(of level: Logger.Level) -> Int {
        Logger.Level.allCases.firstIndex(of: level) ?? 0
    }
}
