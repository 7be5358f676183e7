import HeapModule
import NIOCore

/// The calls waiting on one connection for room under the server's concurrent-call limit: first in, first out, and
/// each call also found by its key (to cancel it) and by its deadline (to expire it), every operation O(log n)
/// amortized. Up to `queuedCallsMax` (10,000 by default) calls wait here under overload, and every operation runs on
/// the connection's event loop: the scans it replaces cost O(n) per expiry and per cancel — O(n²) for a queue
/// whose calls expire one by one.
///
/// A call that leaves other than first (cancelled, expired) leaves its sequence number behind in the order, and one
/// that leaves other than by expiry its deadline in the heap; such stale entries are passed over when reached, and
/// swept out at once when the order or the heap holds more than twice the calls in line, plus 16.
///
/// Not thread-safe: its owner's event loop is the only one that touches it.
struct CallQueue<Call> {
    private struct Entry {
        var call: Call
        var key: ObjectIdentifier
    }

    /// A deadline and the sequence number of the call it belongs to; the sequence breaks ties in arrival order.
    private struct Due: Comparable {
        var deadline: NIODeadline
        var sequence: UInt64
        static func < (lhs: Due, rhs: Due) -> Bool {
            (lhs.deadline, lhs.sequence) < (rhs.deadline, rhs.sequence)
        }
    }

    /// The calls in line, by sequence number.
    private var entries: [UInt64: Entry] = [:]
    /// Sequence numbers in arrival order, those of calls gone included until passed over or swept.
    private var order = CircularBuffer<UInt64>()
    /// The sequence number of each call in line, by key.
    private var sequences: [ObjectIdentifier: UInt64] = [:]
    /// The deadlines of calls that have one, those of calls gone included until passed over or swept.
    private var dues = Heap<Due>()
    private var nextSequence: UInt64 = 0

    init() {}

    /// The calls in line.
    var count: Int { entries.count }
    var isEmpty: Bool { entries.isEmpty }
    /// Entries the order and the heap hold, stale ones included (for tests of the sweep).
    var heldCount: (order: Int, dues: Int) { (order.count, dues.count) }
    /// How many sweeps ran (for tests of their cost).
    private(set) var sweeps = 0

    /// Puts `call` last in line. `key` must not be in line already.
    mutating func append(_ call: Call, key: ObjectIdentifier, deadline: NIODeadline?) {
        precondition(sequences[key] == nil, "the call is in line already")
        let sequence = nextSequence
        nextSequence += 1
        entries[sequence] = Entry(call: call, key: key)
        sequences[key] = sequence
        order.append(sequence)
        if let deadline { dues.insert(Due(deadline: deadline, sequence: sequence)) }
    }

    /// Takes the first call in line out.
    mutating func popFirst() -> Call? {
        while let sequence = order.popFirst() {
            if let entry = take(sequence) { return entry.call }
        }
        return nil
    }

    /// Takes the call of `key` out, nil if it is not in line.
    mutating func remove(key: ObjectIdentifier) -> Call? {
        guard let sequence = sequences[key] else { return nil }
        return take(sequence)?.call
    }

    /// Takes out the calls whose deadline is `now` or earlier, the earliest deadline first.
    mutating func removeExpired(now: NIODeadline) -> [Call] {
        var expired: [Call] = []
        while let due = dues.min, due.deadline <= now {
            _ = dues.popMin()
            if let entry = take(due.sequence) { expired.append(entry.call) }
        }
        return expired
    }

    /// The earliest deadline of a call in line, nil if none has one.
    mutating func earliestDeadline() -> NIODeadline? {
        while let due = dues.min {
            if entries[due.sequence] != nil { return due.deadline }
            _ = dues.popMin()
        }
        return nil
    }

    /// Takes the call of `sequence` out of the entries and the key index, and sweeps the stale entries once the order
    /// or the heap holds more than twice the live calls, plus 16: a sweep costs O(held), and the held entries
    /// shrink by at least half between sweeps, so O(1) amortized per call.
    private mutating func take(_ sequence: UInt64) -> Entry? {
        guard let entry = entries.removeValue(forKey: sequence) else { return nil }
        sequences[entry.key] = nil
        let live = entries.count
        if order.count > 2 * live + 16 {
            order = CircularBuffer(order.filter { entries[$0] != nil })
            sweeps += 1
        }
        if dues.count > 2 * live + 16 {
            dues = Heap(dues.unordered.filter { entries[$0.sequence] != nil })
            sweeps += 1
        }
        return entry
    }
}
