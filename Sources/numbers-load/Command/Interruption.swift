import Dispatch
import Foundation
import ProcessSignals
import Synchronization

/// What `numbers-load run` does on SIGINT (Ctrl-C), SIGTERM and SIGHUP, as a value: each signal in, what to do out.
/// The first cancels the run's set-up and measurement; the run then settles what it made as after any failure
/// (``Leftovers``), and exits 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP). A second
/// signal exits at once with 128 + its number, leaving whatever the clean-up had not settled yet.
///
/// A small copy of the `numbers` CLI's `InterruptionState` and `Interruption` (Sources/numbers/Interruption.swift):
/// the two executables share no module, and this one needs neither the CLI's questions nor its rerun advice.
struct InterruptionState: Sendable {
    /// What to do about a signal.
    enum Action: Equatable, Sendable {
        /// Cancel the run and let it clean up.
        case cancel
        /// Exit with `code` now.
        case exit(code: Int32)
    }

    /// The first signal received; nil until then.
    private(set) var signal: Int32?

    /// The exit status of a run that a signal interrupted: 128 + the first signal's number.
    var exitCode: Int32? { signal.map { 128 + $0 } }

    /// A signal arrived.
    mutating func received(_ signal: Int32) -> Action {
        guard self.signal == nil else { return .exit(code: 128 + signal) }
        self.signal = signal
        return .cancel
    }
}

/// Carries out `InterruptionState` for this process: installs the SIGINT, SIGTERM and SIGHUP handling and keeps the
/// state, and what the first signal cancels.
final class Interruption: Sendable {
    /// The process's one instance.
    static let shared = Interruption()

    private let state = Mutex<(rules: InterruptionState, cancel: (@Sendable () -> Void)?)>((InterruptionState(), nil))
    /// The signal sources, kept alive once installed; written once, by `install` before the run starts.
    private nonisolated(unsafe) var sources: SignalSources?

    /// The first signal received, nil if none came.
    var firstSignal: Int32? { state.withLock { $0.rules.signal } }

    /// The exit status of a run that a signal interrupted (128 + its number), nil if none came.
    var exitCode: Int32? { state.withLock { $0.rules.exitCode } }

    /// From now on SIGINT, SIGTERM and SIGHUP no longer kill the process: the first cancels what
    /// ``onFirstSignal(_:)`` names, a second exits. Called once, before the run makes anything. A signal the process
    /// was started ignoring stays ignored (`nohup`).
    func install() {
        let numbers = [SIGINT, SIGTERM, SIGHUP].filter { !SignalSources.ignoredAtStart($0) }
        let (installed, warning) = SignalSources.install(numbers) { [self] number in
            let (action, cancel) = state.withLock { state -> (InterruptionState.Action, (@Sendable () -> Void)?) in
                (state.rules.received(number), state.cancel)
            }
            switch action {
            case .cancel:
                cancel?()
            case .exit(let code):
                // `try?`: after SIGHUP stderr may be a closed terminal, whose write fails; exit all the same.
                try? FileHandle.standardError.write(
                    contentsOf: Data("numbers-load: interrupted again: exiting before the clean-up ended\n".utf8))
                Foundation.exit(code)
            }
        }
        if let warning { try? FileHandle.standardError.write(contentsOf: Data("numbers-load: \(warning)\n".utf8)) }
        sources = installed
    }

    /// The first signal calls `cancel` — at once, if it came already.
    func onFirstSignal(_ cancel: @escaping @Sendable () -> Void) {
        let signalled = state.withLock { state -> Bool in
            state.cancel = cancel
            return state.rules.signal != nil
        }
        if signalled { cancel() }
    }
}
