import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Signals that no longer kill the process but call a handler, with none lost from the moment ``install(_:queue:handler:)``
/// returns — nor during it.
///
/// A dispatch signal source alone loses signals on Linux. libdispatch takes a signal from a `signalfd`, and registers
/// the source on its manager thread some time after `resume()`; only then does it replace the signal's action with its
/// own handler (which blocks the signal in the thread that caught it and sends it on to the manager thread). Until then
/// the action is the one the program set: the default kills the process, and `SIG_IGN` — what `numbers` and
/// `numbers-load` set — threw the signal away. A loaded CI run's SIGINT, sent as soon as `numbers-load`'s fsync probe
/// started, was lost so, and the run went on for the rest of its 600 s probe.
///
/// So until libdispatch's handler is in place, a handler of our own records the signal (a bit in an atomic word: the one
/// thing a signal handler can safely do here), and ``install(_:queue:handler:)`` waits for libdispatch to take every
/// signal over (well under a millisecond unloaded; up to ``takeoverTimeout``) and then hands what was recorded to the
/// handler. Where libdispatch never installs a handler (Darwin: kqueue sees signals beside `SIG_IGN`), the wait is
/// skipped and `SIG_IGN` set, as before.
public final class SignalSources {
    /// How long ``install(_:queue:handler:)`` waits for libdispatch to take its signals over, at most: 5 s. Past it,
    /// a signal not yet taken over is set to `SIG_IGN` (what the callers did before) and a warning returned.
    public static let takeoverTimeout = Duration.seconds(5)

    private let sources: [any DispatchSourceSignal]

    private init(sources: [any DispatchSourceSignal]) { self.sources = sources }

    /// From now on `signals` no longer kill the process: each calls `handler` with its number, on `queue`. Call it once
    /// per process for a given signal (libdispatch installs its handler at a signal's first source only). `warning` is
    /// nil unless some signal was not taken over within ``takeoverTimeout``.
    public static func install(
        _ signals: [Int32], queue: DispatchQueue = .global(), handler: @escaping @Sendable (Int32) -> Void
    ) -> (sources: SignalSources, warning: String?) {
        install(signals, queue: queue, handler: handler, beforeSources: {})
    }

    /// ``install(_:queue:handler:)``, calling `beforeSources` once the early handlers are set and before any dispatch
    /// source is made: a test's signal sent there is surely caught early.
    static func install(
        _ signals: [Int32], queue: DispatchQueue, handler: @escaping @Sendable (Int32) -> Void,
        beforeSources: () -> Void
    ) -> (sources: SignalSources, warning: String?) {
        // Initialize the recording word here, not lazily inside a signal handler.
        _ = caughtEarly.load(ordering: .relaxed)
        for number in signals {
            #if os(Linux)
            signal(number, recordEarly)
            #else
            signal(number, SIG_IGN)
            #endif
        }
        beforeSources()
        let sources = signals.map { number in
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { handler(number) }
            source.resume()
            return source as any DispatchSourceSignal
        }
        var warning: String?
        #if os(Linux)
        let deadline = ContinuousClock.now + takeoverTimeout
        while signals.contains(where: isRecordedEarly), ContinuousClock.now < deadline {
            usleep(200)
        }
        let late = signals.filter(isRecordedEarly)
        for number in late { signal(number, SIG_IGN) }
        if !late.isEmpty {
            warning = "signals \(late) were not taken over by libdispatch within \(takeoverTimeout): set to SIG_IGN"
        }
        // Only this call's signals' bits: another install may be waiting for its own.
        let mine = signals.reduce(UInt64(0)) { $0 | 1 << UInt64($1) }
        let caught = caughtEarly.bitwiseAnd(~mine, ordering: .acquiring).oldValue & mine
        for number in signals where caught & (1 << UInt64(number)) != 0 {
            queue.async { handler(number) }
        }
        #endif
        return (SignalSources(sources: sources), warning)
    }

    /// Whether the process was started with `number` ignored (`SIG_IGN`, inherited across `exec`): `nohup`, `trap ''`,
    /// a background job's SIGINT. Such a signal is best left ignored: the caller asked for the process to outlive it.
    public static func ignoredAtStart(_ number: Int32) -> Bool {
        handler(of: number) == unsafeBitCast(SIG_IGN, to: Int.self)
    }

    /// The address of `number`'s current handler (function pointers do not compare in Swift; `SIG_DFL` is 0), nil if
    /// unreadable.
    static func handler(of number: Int32) -> Int? {
        var current = sigaction()
        guard sigaction(number, nil, &current) == 0 else { return nil }
        #if os(Linux)
        return unsafeBitCast(current.__sigaction_handler.sa_handler, to: Int.self)
        #else
        return unsafeBitCast(current.__sigaction_u.__sa_handler, to: Int.self)
        #endif
    }

    #if os(Linux)
    /// Whether `number`'s action is still ``recordEarly`` (libdispatch has not replaced it yet).
    private static func isRecordedEarly(_ number: Int32) -> Bool {
        handler(of: number) == unsafeBitCast(recordEarly, to: Int.self)
    }
    #endif
}

/// The signals caught before libdispatch took them over, one bit per signal number (all of them are below 64).
private let caughtEarly = Atomic<UInt64>(0)

/// The signal handler until libdispatch's: records the signal. An atomic OR is async-signal-safe.
private let recordEarly: @convention(c) (Int32) -> Void = { number in
    caughtEarly.bitwiseOr(1 << UInt64(number), ordering: .releasing)
}
