import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Signals that no longer kill the process but call a handler — on Linux with none lost, whenever they come after
/// ``install(_:queue:handler:)`` began.
///
/// A dispatch signal source alone loses signals on Linux. libdispatch takes a signal from a `signalfd`, and registers
/// the source on its manager thread some time after `resume()`; only then does it replace the signal's action with its
/// own handler (which blocks the signal in the thread that caught it and sends it on to the manager thread). Until then
/// the action is the one the program set: the default kills the process, and `SIG_IGN` — what `numbers` and
/// `numbers-load` set — threw the signal away. A loaded CI run's SIGINT, sent as soon as `numbers-load`'s fsync probe
/// started, was lost so, and the run went on for the rest of its 600 s probe.
///
/// So until libdispatch's handler is in place, a handler of our own records the signal (a bit in an atomic word: the
/// one thing a signal handler can safely do here). ``install(_:queue:handler:)`` waits for libdispatch to take every
/// signal over (well under a millisecond unloaded; up to ``takeoverWait``) and hands what was recorded to the handler,
/// once. Should the wait end first, the recording stays (the signals are not ignored) and a check every 10 ms hands
/// them over once libdispatch has taken over. A recording handler the kernel entered just before the takeover may
/// finish after the hand-over: a second hand-over 100 ms later takes its signal.
///
/// Darwin: libdispatch's kqueue sees signals beside `SIG_IGN`, which is set, once the source is registered, which
/// ``install(_:queue:handler:)`` waits for — a signal during the call is lost there (numberd and its tools run on
/// Linux).
public final class SignalSources {
    /// How long ``install(_:queue:handler:)`` waits for libdispatch to take its signals over before it returns: 5 s.
    public static let takeoverWait = Duration.seconds(5)

    private let sources: [any DispatchSourceSignal]

    private init(sources: [any DispatchSourceSignal]) { self.sources = sources }

    /// From now on `signals` no longer kill the process: each calls `handler` with its number, on `queue`; returns
    /// once every source is registered (the registration is told on `queue`: not to be called from a serial `queue`). `warning` is nil unless some source was not registered, or some signal not
    /// taken over by libdispatch, within ``takeoverWait`` (its signals are handed over once it is). A signal installed
    /// before in this process gets another source and no early recording: libdispatch's handler, installed at its
    /// first source, stays.
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
        let first = installed.withLock { installed in
            let first = signals.filter { !installed.contains($0) }
            installed.formUnion(first)
            return first
        }
        for number in first {
            #if os(Linux)
            signal(number, recordEarly)
            #else
            signal(number, SIG_IGN)
            #endif
        }
        beforeSources()
        // Each source registers on libdispatch's manager thread some time after `resume()`; a signal before that
        // reaches only the sources registered already (a second install's) or the early recording (a first one's).
        let registered = DispatchGroup()
        let sources = signals.map { number in
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { handler(number) }
            registered.enter()
            source.setRegistrationHandler { registered.leave() }
            source.resume()
            return source as any DispatchSourceSignal
        }
        let deadline = ContinuousClock.now + takeoverWait
        let waited = registered.wait(timeout: .now() + .seconds(Int(takeoverWait.components.seconds)))
        #if os(Linux)
        let handOver = HandOver(signals: first, queue: queue, handler: handler)
        while !handOver.takenOver, ContinuousClock.now < deadline { usleep(200) }
        let warning: String?
        if handOver.takenOver {
            warning = nil
            handOver.run()
        } else {
            warning =
                "libdispatch did not take signals \(first.filter(isRecordedEarly)) over within \(takeoverWait): "
                + "those caught meanwhile are handed on once it does"
            handOver.runOnceTakenOver()
        }
        #else
        let warning: String? = nil
        #endif
        guard waited == .timedOut else { return (SignalSources(sources: sources), warning) }
        let late = "libdispatch did not register every signal source within \(takeoverWait)"
        return (SignalSources(sources: sources), warning.map { "\(late); \($0)" } ?? late)
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
    fileprivate static func isRecordedEarly(_ number: Int32) -> Bool {
        handler(of: number) == unsafeBitCast(recordEarly, to: Int.self)
    }
    #endif
}

#if os(Linux)
/// Hands the signals ``recordEarly`` caught to the handler, once libdispatch has taken them over.
struct HandOver: Sendable {
    let signals: [Int32]
    let queue: DispatchQueue
    let handler: @Sendable (Int32) -> Void

    /// Whether libdispatch's handler has replaced ``recordEarly`` for every signal.
    var takenOver: Bool { !signals.contains(where: SignalSources.isRecordedEarly) }

    /// Hands over what was recorded, now and again 100 ms later (for a recording handler still running).
    func run() {
        takeRecorded()
        queue.asyncAfter(deadline: .now() + .milliseconds(100)) { takeRecorded() }
    }

    /// Checks every 10 ms until libdispatch has taken over, then ``run()``.
    func runOnceTakenOver() {
        queue.asyncAfter(deadline: .now() + .milliseconds(10)) {
            if takenOver { run() } else { runOnceTakenOver() }
        }
    }

    /// Clears this install's signals' bits and calls the handler for each that was set. Only these bits: another
    /// install may be waiting for its own.
    private func takeRecorded() {
        let mine = signals.reduce(UInt64(0)) { $0 | 1 << UInt64($1) }
        let caught = caughtEarly.bitwiseAnd(~mine, ordering: .acquiring).oldValue & mine
        for number in signals where caught & (1 << UInt64(number)) != 0 {
            queue.async { handler(number) }
        }
    }
}
#endif

/// The signals installed in this process: libdispatch installs its handler at a signal's first source only, so a
/// second install must not put ``recordEarly`` back over it.
private let installed = Mutex<Set<Int32>>([])

/// The signals caught before libdispatch took them over, one bit per signal number (all of them are below 64).
private let caughtEarly = Atomic<UInt64>(0)

/// The signal handler until libdispatch's: records the signal. An atomic OR is async-signal-safe.
let recordEarly: @convention(c) (Int32) -> Void = { number in
    caughtEarly.bitwiseOr(1 << UInt64(number), ordering: .releasing)
}
