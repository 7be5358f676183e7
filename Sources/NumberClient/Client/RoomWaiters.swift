import NIOCore

/// The calls waiting in the connection pool, in line, oldest first: a slot freed on a connection, or a connection
/// come up, wakes the first of them (``popFirst()``). Every operation is O(1) (amortized): the pool runs them under the
/// lock every call takes, and as many calls may wait there as callers start (tens of thousands under overload).
///
/// A call that stops waiting (``remove(_:)``) is only marked: its entry stays in the buffer until a pop passes over
/// it, or until such entries outnumber those in line and are swept out at once. An entry serves every wait of one
/// call: one that left and waits again before it was passed over takes its old place back.
///
/// Not thread-safe: its owner (the pool) holds its lock around every use, entries' included.
struct RoomWaiters<Value> {
    /// One call's place in line, kept through its waits. Its state is read and changed only under the lock of the
    /// line's owner, which is what makes it safe to hand between tasks (`@unchecked Sendable`).
    final class Entry: @unchecked Sendable {
        /// What the owner keeps about the call.
        var value: Value
        /// In line: added, and neither popped nor removed since.
        fileprivate(set) var isWaiting = false
        /// Held by the line's buffer: in line, or out of it but not yet passed over by a pop or swept.
        fileprivate var isHeld = false

        init(_ value: Value) { self.value = value }
    }

    private var buffer = CircularBuffer<Entry>()
    /// The entries in line.
    private(set) var count = 0

    /// Whether no entry is in line.
    var isEmpty: Bool { count == 0 }
    /// The entries the buffer holds, those that left included (for tests of the sweep).
    var heldCount: Int { buffer.count }

    init() {}

    /// Puts `entry` (not in line) in line: back at its place if the buffer still holds it, else last, or first when
    /// `first` (a call that was woken first in line and waits again).
    mutating func add(_ entry: Entry, first: Bool = false) {
        precondition(!entry.isWaiting, "the entry is in line already")
        entry.isWaiting = true
        count += 1
        guard !entry.isHeld else { return }
        entry.isHeld = true
        if first { buffer.prepend(entry) } else { buffer.append(entry) }
    }

    /// Takes `entry` out of line, wherever it stands; false if it was not in line (popped, or removed already).
    @discardableResult
    mutating func remove(_ entry: Entry) -> Bool {
        guard entry.isWaiting else { return false }
        entry.isWaiting = false
        count -= 1
        // Swept once they are more than twice the entries in line (and a few): each sweep costs at most about twice
        // the removals since the last one.
        if buffer.count > 2 * count + 64 { sweep() }
        return true
    }

    /// Takes the first entry in line out of it; nil when none is in line. Entries that left are passed over.
    mutating func popFirst() -> Entry? {
        while let entry = buffer.popFirst() {
            entry.isHeld = false
            if entry.isWaiting {
                entry.isWaiting = false
                count -= 1
                return entry
            }
        }
        return nil
    }

    /// Drops the entries that left from the buffer, keeping the order of the others.
    private mutating func sweep() {
        var kept = CircularBuffer<Entry>(initialCapacity: count)
        for entry in buffer {
            if entry.isWaiting { kept.append(entry) } else { entry.isHeld = false }
        }
        buffer = kept
    }
}
