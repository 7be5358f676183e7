import Synchronization

/// Slots for work keyed by account, taken by waiting rather than refused: at most `perKeyMax` holders per key and
/// `totalMax` in all; a caller past either waits. A freed slot goes to the first waiter of the key that holds fewest
/// (under its own limit), so a waiter whose key is at its limit lets other keys' waiters by, and a key holding none is
/// served before busy ones; within a key, in arrival order. At most `waitingPerKeyMax` wait per key and
/// `waitingMax` in all; past those a caller is refused at once. A waiter whose task is cancelled leaves the queue.
///
/// ```swift
/// let slots = WaitingSlots(perKeyMax: 8, totalMax: 256, waitingPerKeyMax: 256, waitingMax: 4096)
/// guard case .taken = await slots.take("ACC_1") else { return }
/// defer { slots.give("ACC_1") }
/// ```
final class WaitingSlots: Sendable {
    enum Outcome: Equatable {
        /// The caller holds a slot: it must `give` it back.
        case taken
        /// Too many wait already — `waitingPerKeyMax` for this key when `perKey`, else `waitingMax` in all: nothing taken.
        case queueFull(perKey: Bool)
        /// The caller's task was cancelled while it waited: nothing taken.
        case cancelled
    }

    private struct Waiter {
        var id: UInt64
        var key: String
        var continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var holding: [String: Int] = [:]
        var holdingTotal = 0
        var queue: [Waiter] = []
        var waiting: [String: Int] = [:]
        var waitingTotal = 0
        /// Waiters cancelled before they were queued (their cancellation handler ran first).
        var cancelledEarly: Set<UInt64> = []
        var nextId: UInt64 = 0
    }

    let perKeyMax: Int
    let totalMax: Int
    let waitingPerKeyMax: Int
    let waitingMax: Int
    private let state = Mutex(State())
    /// Runs between a waiter's count and its place in the queue (tests: a slot given back in that gap).
    private let beforeQueueing: (@Sendable () -> Void)?

    init(
        perKeyMax: Int, totalMax: Int, waitingPerKeyMax: Int, waitingMax: Int,
        beforeQueueing: (@Sendable () -> Void)? = nil
    ) {
        precondition(perKeyMax > 0 && totalMax > 0 && waitingPerKeyMax >= 0 && waitingMax >= 0)
        self.perKeyMax = perKeyMax
        self.totalMax = totalMax
        self.waitingPerKeyMax = waitingPerKeyMax
        self.waitingMax = waitingMax
        self.beforeQueueing = beforeQueueing
    }

    /// Takes a slot for `key`, waiting for one if none is free.
    func take(_ key: String) async -> Outcome {
        enum Start {
            case taken
            case queueFull(perKey: Bool)
            case wait(UInt64)
        }
        let start = state.withLock { state -> Start in
            // Behind earlier waiters of the same key, never past them.
            if state.waiting[key] == nil, state.holding[key, default: 0] < perKeyMax, state.holdingTotal < totalMax {
                state.holding[key, default: 0] += 1
                state.holdingTotal += 1
                return .taken
            }
            guard state.waiting[key, default: 0] < waitingPerKeyMax else { return .queueFull(perKey: true) }
            guard state.waitingTotal < waitingMax else { return .queueFull(perKey: false) }
            state.waiting[key, default: 0] += 1
            state.waitingTotal += 1
            defer { state.nextId += 1 }
            return .wait(state.nextId)
        }
        let id: UInt64
        switch start {
        case .taken: return .taken
        case .queueFull(let perKey): return .queueFull(perKey: perKey)
        case .wait(let waiter): id = waiter
        }
        beforeQueueing?()
        let taken = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let (cancelled, ready) = state.withLock { state -> (Bool, [CheckedContinuation<Bool, Never>]) in
                    if state.cancelledEarly.remove(id) != nil {
                        Self.leave(key, &state)
                        return (true, [])
                    }
                    // In arrival (id) order, though another waiter counted later may have got here first.
                    let index = state.queue.lastIndex { $0.id < id }.map { $0 + 1 } ?? 0
                    state.queue.insert(Waiter(id: id, key: key, continuation: continuation), at: index)
                    // Slots given back between the count above and now found no one queued: hand them out now, or
                    // this waiter (and every later one of its key) would sleep beside a free slot.
                    return (false, dispatch(&state))
                }
                if cancelled { continuation.resume(returning: false) }
                for waiter in ready { waiter.resume(returning: true) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard let index = state.queue.firstIndex(where: { $0.id == id }) else {
                    // Not queued yet (or handed a slot already: then this changes nothing, the id is never queued again).
                    state.cancelledEarly.insert(id)
                    return nil
                }
                Self.leave(key, &state)
                return state.queue.remove(at: index)
            }
            waiter?.continuation.resume(returning: false)
        }
        if taken { state.withLock { _ = $0.cancelledEarly.remove(id) } }
        return taken ? .taken : .cancelled
    }

    /// Gives back a slot `take` handed out for `key`, handing it (or another key's) to the first waiter it allows.
    func give(_ key: String) {
        let ready = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            let holding = state.holding[key, default: 1] - 1
            state.holding[key] = holding > 0 ? holding : nil
            state.holdingTotal -= 1
            return dispatch(&state)
        }
        for continuation in ready { continuation.resume(returning: true) }
    }

    /// Hands free slots to queued waiters while any is free in all: each to the first waiter of the key that holds
    /// fewest (under its limit) — so when the total is what holds callers back, a key that holds none is served before
    /// the next waiter of one that holds many (in arrival order, a few busy keys would keep every slot among them);
    /// within a key, in arrival order. The caller resumes what it returns, outside the lock.
    private func dispatch(_ state: inout State) -> [CheckedContinuation<Bool, Never>] {
        var ready: [CheckedContinuation<Bool, Never>] = []
        while state.holdingTotal < totalMax {
            var chosen: Int?
            var fewest = perKeyMax
            for (index, waiter) in state.queue.enumerated() {
                let holding = state.holding[waiter.key, default: 0]
                guard holding < fewest else { continue }
                (chosen, fewest) = (index, holding)
                if holding == 0 { break }
            }
            guard let index = chosen else { break }
            let waiter = state.queue[index]
            state.queue.remove(at: index)
            Self.leave(waiter.key, &state)
            state.holding[waiter.key, default: 0] += 1
            state.holdingTotal += 1
            ready.append(waiter.continuation)
        }
        return ready
    }

    /// One waiter of `key` fewer.
    private static func leave(_ key: String, _ state: inout State) {
        let waiting = state.waiting[key, default: 1] - 1
        state.waiting[key] = waiting > 0 ? waiting : nil
        state.waitingTotal -= 1
    }

    /// How many hold a slot for `key` and wait for one (for tests and metrics).
    func counts(_ key: String) -> (holding: Int, waiting: Int) {
        state.withLock { ($0.holding[key] ?? 0, $0.waiting[key] ?? 0) }
    }
}
