import Foundation
import Testing

@testable import numbers_load

/// Ctrl-C or SIGTERM killed `numbers-load run` outright: no clean-up, so the run's accounts (funded), keys and numbers
/// stayed, billed every month. Now the first signal cancels the run, which then settles what it made; the process test
/// against a real numberd is NumberDaemonTests' `LoadInterruptionTests`.
@Suite("numbers-load: interrupted")
struct LoadInterruptionRulesTests {
    @Test("the rules: the first signal cancels and decides the status, a second exits at once")
    func rules() {
        var state = InterruptionState()
        #expect(state.exitCode == nil)
        #expect(state.received(SIGINT) == .cancel)
        #expect(state.exitCode == 130)
        #expect(state.received(SIGTERM) == .exit(code: 143))
        #expect(state.exitCode == 130, "the first signal decides the run's status")

        var terminated = InterruptionState()
        #expect(terminated.received(SIGTERM) == .cancel)
        #expect(terminated.exitCode == 143)

        var hungUp = InterruptionState()
        #expect(hungUp.received(SIGHUP) == .cancel)
        #expect(hungUp.exitCode == 129)
    }
}
