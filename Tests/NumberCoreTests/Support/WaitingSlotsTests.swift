import Synchronization
import Testing

@testable import NumberCore

/// ``WaitingSlots``: per-key and total limits, waiters served fewest-held key first and in arrival order within a key —
/// a key at its limit lets other keys' waiters by, never later ones of its own —, the waiting limits, and cancellation.
@Suite("WaitingSlots")
struct WaitingSlotsTests {
    /// The names of the takers that got a slot, in that order.
    final class Order: Sendable {
        let names = Mutex<[String]>([])
        var all: [String] { names.withLock { $0 } }
    }

    /// Starts a `take` for `key` that records `name` in `order` once it holds a slot.
    static func taker(
        _ slots: WaitingSlots, _ key: String, _ name: String, _ order: Order
    ) -> Task<WaitingSlots.Outcome, Never> {
        Task {
            let outcome = await slots.take(key)
            if outcome == .taken { order.names.withLock { $0.append(name) } }
            return outcome
        }
    }

    /// Waits until `condition` holds (``waitUntil(_:)``, which records an issue when it never does: this wait ended
    /// silently after 10 s).
    static func settle(_ condition: () -> Bool) async {
        try? await waitUntil(condition)
    }

    @Test("a key at its limit waits in order; another key goes by it; the total limit holds everyone")
    func ordering() async {
        let slots = WaitingSlots(perKeyMax: 1, totalMax: 2, waitingPerKeyMax: 10, waitingMax: 10)
        let order = Order()
        #expect(await slots.take("a") == .taken)
        let a2 = Self.taker(slots, "a", "a2", order)
        await Self.settle { slots.counts("a").waiting == 1 }
        let a3 = Self.taker(slots, "a", "a3", order)
        await Self.settle { slots.counts("a").waiting == 2 }
        // "a" is at its own limit: "b" takes the second slot past both of its waiters.
        #expect(await slots.take("b") == .taken)
        // The total is reached: "c" waits although it holds nothing.
        let c1 = Self.taker(slots, "c", "c1", order)
        await Self.settle { slots.counts("c").waiting == 1 }
        slots.give("b")  // c1 (first allowed: a2 is still held back by "a"'s own limit)
        #expect(await c1.value == .taken)
        slots.give("a")  // a2, then a3 after it
        #expect(await a2.value == .taken)
        slots.give("a")
        #expect(await a3.value == .taken)
        #expect(order.all == ["c1", "a2", "a3"])
        slots.give("a")
        slots.give("c")
        #expect(slots.counts("a") == (0, 0) && slots.counts("c") == (0, 0))
    }

    /// With the total what holds callers back, a slot given back goes to the key that holds fewest: a few busy keys
    /// would otherwise keep every slot among themselves, their own next waiters always ahead of a newcomer.
    @Test("at the total limit a freed slot goes to the waiting key that holds fewest, within a key in order")
    func fewestFirst() async {
        let slots = WaitingSlots(perKeyMax: 3, totalMax: 4, waitingPerKeyMax: 10, waitingMax: 10)
        let order = Order()
        for _ in 0..<3 { #expect(await slots.take("busy") == .taken) }
        #expect(await slots.take("other") == .taken)
        var busy: [Task<WaitingSlots.Outcome, Never>] = []
        for index in 0..<3 {
            busy.append(Self.taker(slots, "busy", "busy\(index)", order))
            await Self.settle { slots.counts("busy").waiting == index + 1 }
        }
        let newcomer = Self.taker(slots, "new", "new", order)
        await Self.settle { slots.counts("new").waiting == 1 }
        slots.give("busy")  // "busy" holds 2, "new" none: "new" first, though it came last
        await Self.settle { order.all.count == 1 }
        #expect(order.all == ["new"])
        slots.give("other")  // "busy" holds 2, under its limit: its first waiter
        await Self.settle { order.all.count == 2 }
        #expect(order.all == ["new", "busy0"])
        #expect(await newcomer.value == .taken)
        for _ in 0..<3 { slots.give("busy") }
        #expect(await busy[1].value == .taken)
        #expect(await busy[2].value == .taken)
        #expect(order.all == ["new", "busy0", "busy1", "busy2"])
        for _ in 0..<2 { slots.give("busy") }
        slots.give("new")
        #expect(slots.counts("busy") == (0, 0) && slots.counts("new") == (0, 0))
    }

    @Test("past the waiting limits a take is refused at once; a cancelled waiter leaves the queue")
    func limitsAndCancellation() async {
        let slots = WaitingSlots(perKeyMax: 1, totalMax: 10, waitingPerKeyMax: 1, waitingMax: 2)
        let order = Order()
        #expect(await slots.take("a") == .taken)
        #expect(await slots.take("b") == .taken)
        let a2 = Self.taker(slots, "a", "a2", order)
        await Self.settle { slots.counts("a").waiting == 1 }
        #expect(await slots.take("a") == .queueFull(perKey: true), "one waiter per key")
        let b2 = Self.taker(slots, "b", "b2", order)
        await Self.settle { slots.counts("b").waiting == 1 }
        #expect(await slots.take("c") == .taken, "a free key takes at once, whatever waits")
        #expect(await slots.take("c") == .queueFull(perKey: false), "two waiters in all")
        a2.cancel()
        #expect(await a2.value == .cancelled)
        #expect(slots.counts("a") == (1, 0))
        slots.give("b")
        #expect(await b2.value == .taken)
        #expect(order.all == ["b2"])
    }

    /// A slot given back after a waiter was counted and before it was queued found no one to hand it to: the waiter then
    /// slept beside a free slot, and so did every later one of its key (they queue behind it).
    @Test("a slot given back while a waiter is between its count and the queue goes to that waiter")
    func slotFreedBeforeTheWaiterQueued() async {
        final class Box: Sendable {
            let slots = Mutex<WaitingSlots?>(nil)
        }
        let box = Box()
        let slots = WaitingSlots(
            perKeyMax: 1, totalMax: 10, waitingPerKeyMax: 10, waitingMax: 10,
            beforeQueueing: { box.slots.withLock { $0 }?.give("a") })
        box.slots.withLock { $0 = slots }
        #expect(await slots.take("a") == .taken)
        let waiter = Task { await slots.take("a") }
        await Self.settle { slots.counts("a") == (1, 0) }
        guard slots.counts("a") == (1, 0) else {
            Issue.record("the waiter sleeps beside a free slot: \(slots.counts("a"))")
            waiter.cancel()
            return
        }
        #expect(await waiter.value == .taken)
    }
}
