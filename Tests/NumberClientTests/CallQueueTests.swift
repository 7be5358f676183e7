import NIOCore
import TestSupport
import Testing

@testable import NumberClient

@Suite("The connection's queue of waiting calls")
struct CallQueueTests {
    /// A key per call, as the handler takes its promise's future.
    final class Key {}

    private static func at(_ seconds: Int64) -> NIODeadline { .uptimeNanoseconds(UInt64(seconds) * 1_000_000_000) }

    @Test("first in, first out; a removed call is passed over")
    func order() {
        var queue = CallQueue<Int>()
        let keys = (0..<5).map { _ in Key() }
        for (index, key) in keys.enumerated() { queue.append(index, key: ObjectIdentifier(key), deadline: nil) }
        #expect(queue.remove(key: ObjectIdentifier(keys[1])) == 1)
        #expect(queue.remove(key: ObjectIdentifier(keys[1])) == nil, "removed once")
        #expect(queue.count == 4)
        let popped = (0..<5).map { _ in queue.popFirst() }
        #expect(popped == [0, 2, 3, 4, nil])
        #expect(queue.isEmpty)
    }

    @Test("expiry takes the calls due, earliest first, and only those; the earliest deadline left skips gone calls")
    func expiry() {
        var queue = CallQueue<String>()
        let keys = (0..<5).map { _ in Key() }
        let deadlines: [Int64?] = [30, nil, 10, 20, 10]
        for (index, key) in keys.enumerated() {
            queue.append("c\(index)", key: ObjectIdentifier(key), deadline: deadlines[index].map(Self.at))
        }
        #expect(queue.earliestDeadline() == Self.at(10))
        #expect(queue.removeExpired(now: Self.at(9)) == [])
        #expect(queue.removeExpired(now: Self.at(10)) == ["c2", "c4"], "ties in arrival order")
        #expect(queue.earliestDeadline() == Self.at(20))
        // The call due at 20 leaves by the front and by its key: its deadline no longer counts.
        #expect(queue.popFirst() == "c0")
        #expect(queue.remove(key: ObjectIdentifier(keys[3])) == "c3")
        #expect(queue.earliestDeadline() == nil)
        #expect(queue.removeExpired(now: Self.at(100)) == [])
        #expect(queue.popFirst() == "c1")
        #expect(queue.popFirst() == nil)
    }

    /// 10,000 calls (the default `queuedCallsMax`) cancelled from the back: the order and the heap hold no more than
    /// twice the live calls (plus 16), and the sweeps that keep them so are few.
    @Test("stale entries are swept once they outnumber the calls in line")
    func sweep() {
        var queue = CallQueue<Int>()
        let keys = (0..<10_000).map { _ in Key() }
        for (index, key) in keys.enumerated() {
            queue.append(index, key: ObjectIdentifier(key), deadline: Self.at(Int64(index)))
        }
        for key in keys.reversed() {
            _ = queue.remove(key: ObjectIdentifier(key))
            #expect(queue.heldCount.order <= 2 * queue.count + 17)
            #expect(queue.heldCount.dues <= 2 * queue.count + 17)
        }
        #expect(queue.isEmpty)
        #expect(queue.heldCount.order <= 17 && queue.heldCount.dues <= 17)
        // Each sweep at least halves what is held: about log2(10,000) ≈ 13 each for the order and the heap, not one
        // per removal (which would cost O(n²)).
        #expect(queue.sweeps <= 2 * 16, "\(queue.sweeps) sweeps")
    }

    /// Random appends, pops, removals and expiries against a plain array doing the same by scans (the handler's
    /// old queue).
    @Test("random operations agree with a scanned array", arguments: [1, 2, 3, 4, 5] as [UInt64])
    func agreesWithScans(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        var queue = CallQueue<Int>()
        var model: [(value: Int, key: Key, deadline: NIODeadline?)] = []
        var now: Int64 = 0
        var next = 0
        for _ in 0..<20_000 {
            switch random.next() % 10 {
            case 0..<4:
                let key = Key()
                let deadline = random.next() % 4 == 0 ? nil : Self.at(now + Int64(random.next() % 50))
                queue.append(next, key: ObjectIdentifier(key), deadline: deadline)
                model.append((next, key, deadline))
                next += 1
            case 4..<6:
                let expected = model.isEmpty ? nil : model.removeFirst().value
                #expect(queue.popFirst() == expected)
            case 6..<8:
                guard !model.isEmpty else { continue }
                let index = Int(random.next() % UInt64(model.count))
                let gone = model.remove(at: index)
                #expect(queue.remove(key: ObjectIdentifier(gone.key)) == gone.value)
                #expect(queue.remove(key: ObjectIdentifier(gone.key)) == nil)
            default:
                now += Int64(random.next() % 5)
                let due = model.filter { $0.deadline.map { $0 <= Self.at(now) } ?? false }
                let expected = due.sorted { ($0.deadline!, $0.value) < ($1.deadline!, $1.value) }.map(\.value)
                model.removeAll { $0.deadline.map { $0 <= Self.at(now) } ?? false }
                #expect(queue.removeExpired(now: Self.at(now)) == expected)
            }
            #expect(queue.count == model.count)
            #expect(queue.earliestDeadline() == model.compactMap(\.deadline).min())
        }
    }
}
