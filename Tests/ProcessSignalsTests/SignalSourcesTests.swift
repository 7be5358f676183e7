import Dispatch
import Foundation
import Synchronization
import Testing

@testable import ProcessSignals

/// In the test process, on signals nothing else here uses (SIGUSR1, SIGUSR2, SIGWINCH, SIGURG), one per test: the
/// early recording and libdispatch's handler are per signal and per process. Linux only: there libdispatch replaces
/// the signal's action when a source registers, which is what `SignalSources` waits for.
@Suite("Signal sources", .enabled(if: isLinux))
struct SignalSourcesTests {
    /// Waits up to 2 minutes for `seen` to hold `count` signals.
    private static func wait(for count: Int, in seen: borrowing Mutex<[Int32]>) async throws {
        let deadline = ContinuousClock.now + .seconds(120)
        while seen.withLock({ $0.count }) < count, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// A signal sent the instant `install` returns reaches the handler. With `SIG_IGN` set and the source resumed (what
    /// `numbers` and `numbers-load` did), libdispatch had not registered the source yet and the signal was thrown away.
    @Test("a signal right after install is handled, not lost")
    func signalRightAfterInstall() async throws {
        let seen = Mutex<[Int32]>([])
        let (sources, warning) = SignalSources.install([SIGUSR1]) { number in seen.withLock { $0.append(number) } }
        #expect(warning == nil)
        kill(getpid(), SIGUSR1)
        try await Self.wait(for: 1, in: seen)
        #expect(seen.withLock { $0 } == [SIGUSR1])
        // The action is libdispatch's now: neither the default (0) nor SIG_IGN (1).
        let action = try #require(SignalSources.handler(of: SIGUSR1))
        #expect(![0, 1].contains(action))
        withExtendedLifetime(sources) {}
    }

    /// A signal that came before libdispatch took over (recorded by the early handler) is handed to the handler once,
    /// and one coming later is handled through the source: two signals, two calls.
    @Test("a signal caught before libdispatch took over is handed to the handler once; later ones through the source")
    func signalDuringInstall() async throws {
        let seen = Mutex<[Int32]>([])
        let (sources, warning) = SignalSources.install(
            [SIGUSR2], queue: .global(), handler: { number in seen.withLock { $0.append(number) } },
            beforeSources: { kill(getpid(), SIGUSR2) })
        #expect(warning == nil)
        try await Self.wait(for: 1, in: seen)
        // Nothing more arrives for the first one (the second hand-over, 100 ms later, finds nothing).
        try await Task.sleep(for: .milliseconds(300))
        #expect(seen.withLock { $0 } == [SIGUSR2])
        kill(getpid(), SIGUSR2)
        try await Self.wait(for: 2, in: seen)
        #expect(seen.withLock { $0 } == [SIGUSR2, SIGUSR2])
        withExtendedLifetime(sources) {}
    }

    /// A second install of a signal does not put the early recording back over libdispatch's handler (which
    /// libdispatch installs at a signal's first source only: the recording would have swallowed every signal).
    @Test("a second install of a signal keeps libdispatch's handler; both handlers hear the signal")
    func secondInstall() async throws {
        let first = Mutex<[Int32]>([])
        let second = Mutex<[Int32]>([])
        let (one, firstWarning) = SignalSources.install([SIGWINCH]) { number in first.withLock { $0.append(number) } }
        let action = SignalSources.handler(of: SIGWINCH)
        let (two, secondWarning) = SignalSources.install([SIGWINCH]) { number in second.withLock { $0.append(number) } }
        // A wait for a takeover that never comes would end in a warning (not timed here: a loaded machine can stall
        // a thread for seconds).
        #expect(firstWarning == nil && secondWarning == nil)
        #expect(SignalSources.handler(of: SIGWINCH) == action, "libdispatch's handler stays")
        kill(getpid(), SIGWINCH)
        try await Self.wait(for: 1, in: first)
        try await Self.wait(for: 1, in: second)
        #expect(first.withLock { $0 } == [SIGWINCH])
        #expect(second.withLock { $0 } == [SIGWINCH])
        withExtendedLifetime((one, two)) {}
    }

    /// When libdispatch has not taken over by the end of the wait, signals stay recorded (not ignored) and are handed
    /// over once it does.
    @Test("signals recorded past the wait are handed over once the early handler is replaced")
    func handOverAfterTheWait() async throws {
        let seen = Mutex<[Int32]>([])
        // SIGURG's default action is to ignore it: harmless whatever this test leaves.
        signal(SIGURG, recordEarly)
        let handOver = HandOver(signals: [SIGURG], queue: .global()) { number in seen.withLock { $0.append(number) } }
        kill(getpid(), SIGURG)
        #expect(!handOver.takenOver)
        handOver.runOnceTakenOver()
        try await Task.sleep(for: .milliseconds(200))
        #expect(seen.withLock { $0 }.isEmpty, "not handed over while the early handler is in place")
        signal(SIGURG, SIG_DFL)
        try await Self.wait(for: 1, in: seen)
        try await Task.sleep(for: .milliseconds(300))
        #expect(seen.withLock { $0 } == [SIGURG], "handed over once")
    }
}

#if os(Linux)
private let isLinux = true
#else
private let isLinux = false
#endif
