import Synchronization

/// Holds the tasks that wait at it until it opens, for good; a waiting task's cancellation does not let it through
/// (as work carried through to its end ignores its caller's).
public final class Gate: Sendable {
    private let state = Mutex<(isOpen: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))

    public init() {}

    /// Whether a task waits at the gate.
    public var isWaitedAt: Bool { state.withLock { !$0.waiting.isEmpty } }

    /// Returns once the gate is open.
    public func wait() async {
        await withCheckedContinuation { continuation in
            let isOpen = state.withLock { state in
                if !state.isOpen { state.waiting.append(continuation) }
                return state.isOpen
            }
            if isOpen { continuation.resume() }
        }
    }

    /// Opens the gate: the tasks waiting go on, and later ones pass.
    public func open() {
        let waiting = state.withLock { state in
            state.isOpen = true
            defer { state.waiting = [] }
            return state.waiting
        }
        for continuation in waiting { continuation.resume() }
    }
}
