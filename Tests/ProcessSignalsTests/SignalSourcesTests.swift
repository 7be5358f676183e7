import Dispatch
import Foundation
import Synchronization
import Testing

@testable import ProcessSignals

/// In the test process, on signals nothing else here uses: SIGUSR1 and SIGUSR2 (libdispatch installs its handler at a
/// signal's first source in a process only, so each test owns its signal).
@Suite("Signal sources")
struct SignalSourcesTests {
    /// A signal sent the instant `install` returns reaches the handler. With `SIG_IGN` set and the source resumed (what
    /// `numbers` and `numbers-load` did), libdispatch had not registered the source yet and the signal was thrown away.
    @Test("a signal right after install is handled, not lost")
    func signalRightAfterInstall() async throws {
        let seen = Mutex<[Int32]>([])
        let (sources, warning) = SignalSources.install([SIGUSR1]) { number in seen.withLock { $0.append(number) } }
        #expect(warning == nil)
        kill(getpid(), SIGUSR1)
        let deadline = ContinuousClock.now + .seconds(120)
        while seen.withLock({ $0.isEmpty }), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
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
        var deadline = ContinuousClock.now + .seconds(120)
        while seen.withLock({ $0.isEmpty }), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        // Nothing more arrives for the first one.
        try await Task.sleep(for: .milliseconds(200))
        #expect(seen.withLock { $0 } == [SIGUSR2])
        kill(getpid(), SIGUSR2)
        deadline = ContinuousClock.now + .seconds(120)
        while seen.withLock({ $0.count }) < 2, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(seen.withLock { $0 } == [SIGUSR2, SIGUSR2])
        withExtendedLifetime(sources) {}
    }
}
