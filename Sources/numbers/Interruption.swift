import Dispatch
import Foundation
import ProcessSignals
import Synchronization

/// What `numbers` does on SIGINT (Ctrl-C), SIGTERM and SIGHUP (its terminal closed, its SSH session dropped), as a
/// value: each signal in, what to do out.
///
/// The first signal cancels the running command. Its call ends `CANCELLED` through the client's cancellation path —
/// with `outcome=unknown` and the idempotency key once the request was sent, so the command prints how to rerun it
/// safely — and the process exits 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP), unless
/// the command's own status says what became of its call: 10, its outcome unknown (sent, and perhaps carried out), or
/// 11, carried out but its result unwritten. A script keyed on exit 10 reruns with the key printed, whatever ended
/// the call — a `timeout 30 numbers buy …` used to see 143 and could not tell a purchase perhaps made from one never
/// sent. A second signal exits at once: 10 with the rerun advice if a keyed call was in flight (or, for a change made
/// without a key, what a rerun of it would do), else 128 + its number.
/// While the command waits for the operator's answer to a question (nothing in flight), the first signal exits at once
/// with the question's refusal message.
struct InterruptionState: Sendable {
    /// What to do about a signal.
    enum Action: Equatable, Sendable {
        /// Cancel the running command and let it end (it prints its error, then the process exits).
        case cancel
        /// Print `message` (if any) on stderr and exit with `code` now.
        case exit(code: Int32, message: String?)
    }

    /// The first signal received; nil until then.
    private(set) var signal: Int32?
    /// While a question waits for its answer: what to print when a signal ends it.
    private var question: String?
    /// What to print when a second signal ends the run while a call that changes something is in flight (or failed
    /// with its outcome open): how to rerun a keyed call under its key, or what a rerun of an unkeyed one would do.
    private var inFlightAdvice: String?

    /// The exit status of a run that a signal interrupted (nil: none did), whose command ended with `status` (nil: an
    /// error that carries none): `status` when it says what became of the call (10 outcome unknown, 11 result
    /// unwritten), else 128 + the signal's number.
    func exitCode(commandStatus status: Int32?) -> Int32? {
        guard let signal else { return nil }
        if let status, status == CLIError.outcomeUnknown || status == CLIError.resultUnwritten { return status }
        return 128 + signal
    }

    /// A signal arrived.
    mutating func received(_ signal: Int32) -> Action {
        if let question { return .exit(code: 128 + signal, message: "\n" + question) }
        guard self.signal == nil else {
            guard let inFlightAdvice else { return .exit(code: 128 + signal, message: nil) }
            return .exit(code: CLIError.outcomeUnknown, message: inFlightAdvice)
        }
        self.signal = signal
        return .cancel
    }

    /// A question starts waiting for its answer; false (do not ask) if a signal already came.
    mutating func asking(refusal: String) -> Bool {
        guard signal == nil else { return false }
        question = refusal
        return true
    }

    /// The question was answered.
    mutating func answered() { question = nil }

    /// A keyed call made under its idempotency key for its account starts (or, with nil, ended).
    mutating func keyedCall(_ call: (idempotencyKey: String, account: String)?) {
        inFlightAdvice = call.map { UnknownOutcome.advice(idempotencyKey: $0.idempotencyKey, account: $0.account) }
    }

    /// A call that changes something without a key starts: `advice` says what a rerun of it would do
    /// (``UnknownOutcome/Unkeyed``).
    mutating func unkeyedChange(advice: String) { inFlightAdvice = advice }

    /// The call ended: no longer in flight, unless it left its outcome open — then its advice stays for a second
    /// signal until the process exits (the command prints it only after its client has closed).
    mutating func keyedCallEnded(leavingOutcomeOpen open: Bool) {
        if !open { inFlightAdvice = nil }
    }
}

/// Carries out `InterruptionState` for this process: installs the SIGINT, SIGTERM and SIGHUP handling and keeps the
/// state.
final class Interruption: Sendable {
    /// The process's one instance.
    static let shared = Interruption()

    private let state = Mutex(InterruptionState())
    /// The signal sources, kept alive once installed; written once, by `install` at the start of `main`.
    private nonisolated(unsafe) var sources: SignalSources?

    /// The exit status of a run that a signal interrupted, nil if none came: see
    /// ``InterruptionState/exitCode(commandStatus:)``.
    func exitCode(commandStatus: Int32?) -> Int32? { state.withLock { $0.exitCode(commandStatus: commandStatus) } }

    /// From now on SIGINT, SIGTERM and SIGHUP no longer kill the process: the first calls `cancel`, see
    /// `InterruptionState`. SIGHUP used to end a run whose terminal closed mid-call at once, its key unsaid.
    /// Called once, at the start. A signal the process was started ignoring stays ignored: `nohup numbers buy …` (or
    /// `trap '' HUP`, a background job's SIGINT) asked for the call to outlive a closed terminal, not to be cancelled.
    func install(cancel: @escaping @Sendable () -> Void) {
        let numbers = [SIGINT, SIGTERM, SIGHUP].filter { !SignalSources.ignoredAtStart($0) }
        let (installed, warning) = SignalSources.install(numbers) { [self] number in
            switch state.withLock({ $0.received(number) }) {
            case .cancel:
                cancel()
            case .exit(let code, let message):
                // `try?`: after SIGHUP stderr may be a closed terminal, whose write fails; exit all the same.
                if let message { try? FileHandle.standardError.write(contentsOf: Data((message + "\n").utf8)) }
                Foundation.exit(code)
            }
        }
        if let warning { try? FileHandle.standardError.write(contentsOf: Data("numbers: \(warning)\n".utf8)) }
        sources = installed
    }

    /// Reads the answer to a question (printed already) from standard input; nil when there is none, or when a
    /// signal came before. A signal while it waits prints `refusal` and exits (nothing is in flight then).
    func answer(refusal: String) -> String? {
        guard state.withLock({ $0.asking(refusal: refusal) }) else { return nil }
        defer { state.withLock { $0.answered() } }
        return readLine()
    }

    /// Runs `call`, a keyed call made under `key` for `account`: a second signal while it runs prints how to rerun
    /// it, and so does one after it failed with its outcome open, until the process exits. That failure's advice is
    /// printed only once the client has closed, which waits up to its close_notify timeout (5 s) for a server not
    /// reading: a second Ctrl-C meanwhile exited 130, "nothing sent", with no advice (a client review), and a wrapper
    /// rerunning on 130 could buy again under a new key.
    func keyedCall<T: Sendable>(_ key: String, account: String, _ call: () async throws -> T) async throws -> T {
        try await changing({ $0.keyedCall((idempotencyKey: key, account: account)) }, call)
    }

    /// Runs `call`, a call that changes something without an idempotency key (a trunk, an account, an API key): a
    /// second signal while it runs, or after it failed with its outcome open, prints `advice` — what a rerun would do
    /// — and exits 10. It exited 130, which says nothing was sent, with a trunk or key perhaps made.
    func unkeyedChange<T: Sendable>(advice: String, _ call: () async throws -> T) async throws -> T {
        try await changing({ $0.unkeyedChange(advice: advice) }, call)
    }

    private func changing<T: Sendable>(
        _ start: (inout InterruptionState) -> Void, _ call: () async throws -> T
    ) async throws -> T {
        state.withLock { start(&$0) }
        do {
            let result = try await call()
            state.withLock { $0.keyedCallEnded(leavingOutcomeOpen: false) }
            return result
        } catch {
            state.withLock { $0.keyedCallEnded(leavingOutcomeOpen: UnknownOutcome.leavesOutcomeOpen(error)) }
            throw error
        }
    }
}
