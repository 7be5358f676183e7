import NumberCore
import Synchronization

/// A server-wide budget of bytes that connections hold, each beyond an allowance of its own: the bytes of partially
/// received frames (``NumberServerConfiguration/ConnectionLimits/partialFrameBytesMax``) and the replies written to
/// clients that do not read them (``NumberServerConfiguration/ConnectionLimits/unsentReplyBytesMax``). A connection
/// takes from it what it holds beyond ``freePerConnection`` when that grows, gives back when it shrinks or the
/// connection closes, and is refused — its calls answered RESOURCE_EXHAUSTED where they can be, then closed — when
/// the budget cannot take its growth; the others go on.
///
/// Partial frames: each connection may gather one frame of up to MAX_MESSAGE_PAYLOAD (64 KiB by default, up to 16 MiB
/// configured) for up to the frame arrival timeout, and the HEADERS below, so without it 10,000 connections could make
/// the server hold 16 GiB at the defaults. A connection takes from it at the end of a read burst that leaves part of a
/// frame waiting, for what that part has grown to, and gives it back when the frame completes or the connection
/// closes; frames that arrive whole within a read burst (nearly all) never touch it. The HEADERS of calls waiting for
/// their MESSAGE count with the partial frame (each up to 16 KiB, up to 100 per connection, kept until the request
/// arrival timeout): they are held the same way, before any key is proved. What is counted is the bytes that arrived,
/// not the length a frame header announces: a few bytes announcing 64 KiB each must not reserve the budget away from
/// everyone.
///
/// The first ``freePerConnection`` bytes each connection holds (its partial frame and waiting HEADERS together) are not
/// counted: when the budget is spent (a client holding large partial frames on many connections can spend it), the
/// connection refused is the one that asks next, and without the allowance that was any gateway whose ordinary
/// request happened to straddle two reads — its running calls lost with it. Ordinary requests (a purchase of 20
/// numbers is under 4 KiB) stay under the allowance; only frames larger than it compete for the budget. The allowance
/// bounds what goes uncounted to `connectionsMax` × 64 KiB (640 MiB at the defaults).
package final class ServerByteBudget: Sendable {
    /// The default ``freePerConnection``.
    package static let freePerConnectionDefault = 64 * 1024
    /// The most bytes held at once across connections.
    let limit: Int
    /// Bytes of each connection's partial frame that are not counted.
    let freePerConnection: Int
    private let held = Atomic<Int>(0)
    /// Connections refused since the last line about them, and when that was (``NumberServer/refusalLogInterval``).
    private let refusals = Mutex(ThrottledCount())

    init(limit: Int, freePerConnection: Int = ServerByteBudget.freePerConnectionDefault) {
        self.limit = limit
        self.freePerConnection = freePerConnection
    }

    /// What of a connection's partial frame of `held` bytes the budget counts.
    func counted(_ held: Int) -> Int { max(0, held - freePerConnection) }

    /// Bytes held now.
    var heldBytes: Int { held.load(ordering: .relaxed) }

    /// Takes `bytes` more, unless that would pass the limit: then nothing is taken and the answer is false.
    func take(_ bytes: Int) -> Bool {
        var current = held.load(ordering: .relaxed)
        while true {
            guard bytes <= limit - current else { return false }
            let (exchanged, original) = held.compareExchange(
                expected: current, desired: current + bytes, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
    }

    /// Gives back `bytes` taken before.
    func give(_ bytes: Int) {
        held.subtract(bytes, ordering: .relaxed)
    }

    /// Counts a connection refused for the budget; returns how many to report if a line is due now.
    func noteRefusal(now: ContinuousClock.Instant = .now) -> Int? {
        refusals.withLock { $0.note(now: now, interval: NumberServer.refusalLogInterval) }
    }
}

extension ServerByteBudget {
    /// One connection's share of a budget: what it has taken, moved to what it holds now.
    struct Share {
        private(set) var taken = 0

        /// Takes from `budget`, or gives back to it, the difference between what holding `bytes` counts for and what
        /// was taken; false, with nothing changed, when the budget cannot take the growth.
        mutating func settle(_ bytes: Int, in budget: ServerByteBudget) -> Bool {
            let held = budget.counted(bytes)
            if held < taken {
                budget.give(taken - held)
            } else if held > taken, !budget.take(held - taken) {
                return false
            }
            taken = held
            return true
        }

        /// Gives back everything taken (the connection closes, or lets go of what it held).
        mutating func giveBack(to budget: ServerByteBudget?) {
            if taken > 0 { budget?.give(taken) }
            taken = 0
        }
    }
}
