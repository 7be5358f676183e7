import Testing

@testable import NumberClient

/// The line of calls waiting in the connection pool: first in, first out, with calls leaving from anywhere in it in
/// O(1) (marked, passed over by the pops, swept once they outnumber those in line).
@Suite("The pool's line of calls waiting for room")
struct RoomWaitersTests {
    typealias Line = RoomWaiters<Int>

    /// Before, a call that stopped waiting was looked for from the front (O(n)), which made 100 000 leaving newest
    /// first cost 5·10⁹ comparisons under the pool's lock.
    @Test("100 000 in line, every other one leaving newest first: the others come out in the order they came in")
    func everyOtherLeavesNewestFirst() {
        var line = Line()
        let entries = (0..<100_000).map { Line.Entry($0) }
        for entry in entries { line.add(entry) }
        #expect(line.count == 100_000)
        var removed = 0
        for entry in entries.reversed() where entry.value % 2 == 1 {
            if line.remove(entry) { removed += 1 }
        }
        #expect(removed == 50_000, "each was in line")
        #expect(line.count == 50_000)
        var popped: [Int] = []
        while let entry = line.popFirst() { popped.append(entry.value) }
        #expect(popped == Array(stride(from: 0, to: 100_000, by: 2)), "in order, those that left passed over")
        #expect(line.count == 0 && line.isEmpty)
        #expect(line.heldCount == 0)
        #expect(!entries.contains { $0.isWaiting })
    }

    @Test("an entry leaves once: removed again, or removed after it was popped, it is not counted twice")
    func leavesOnce() {
        var line = Line()
        let first = Line.Entry(1)
        let second = Line.Entry(2)
        line.add(first)
        line.add(second)
        let removedOnce = line.remove(second)
        let removedTwice = line.remove(second)
        #expect(removedOnce && !removedTwice)
        let popped = line.popFirst()
        #expect(popped === first)
        let removedPopped = line.remove(first)
        #expect(!removedPopped)
        #expect(line.count == 0)
        let none = line.popFirst()
        #expect(none == nil, "the entry that left is passed over")
    }

    @Test("a call that waits again takes back its place if it was not passed over yet, else goes last, or first")
    func waitingAgain() {
        var line = Line()
        let entries = (0..<4).map { Line.Entry($0) }
        for entry in entries { line.add(entry) }
        // Entry 1 leaves (its attempt ended) and waits again: its place is kept.
        line.remove(entries[1])
        line.add(entries[1])
        let firstOut = line.popFirst()?.value
        let secondOut = line.popFirst()?.value
        #expect(firstOut == 0 && secondOut == 1)
        // Popped (woken for room) and waiting again: last, unless it goes back first.
        line.add(entries[0])
        line.add(entries[1], first: true)
        var order: [Int] = []
        while let entry = line.popFirst() { order.append(entry.value) }
        #expect(order == [1, 2, 3, 0])
    }

    @Test("entries that left are swept once they outnumber those in line, keeping the order of the others")
    func sweep() {
        var line = Line()
        let entries = (0..<1000).map { Line.Entry($0) }
        for entry in entries { line.add(entry) }
        for entry in entries.dropFirst(10) { line.remove(entry) }
        #expect(line.count == 10)
        #expect(line.heldCount <= 2 * line.count + 64, "\(line.heldCount) held for \(line.count) in line")
        // One swept out waits again: last now.
        line.add(entries[500])
        var order: [Int] = []
        while let entry = line.popFirst() { order.append(entry.value) }
        #expect(order == Array(0..<10) + [500])
    }
}
