import NIOCore
import NumberWire

/// Whether a connection still carries bytes from the server, as a pure state machine (events in, what to do out).
///
/// A connection whose path dies (a partition, a NAT entry dropped, a server frozen or wedged) closes only when TCP
/// gives up, about 15 minutes later; until then the pool would keep sending calls to it, each failing at its deadline.
/// So when a call's deadline passes on a connection that received nothing since that call started (or, for a call
/// queued behind calls open on it, since it was queued), the client sends a PING (FRAMING.md §4: 8 opaque bytes,
/// echoed in an `ACK`). Anything that arrives afterwards — the ACK, or any other frame — proves the connection
/// alive; nothing within `pingTimeout` means it is dead, and the handler retires it: its open calls fail with their
/// outcome unknown, the pool connects anew.
///
/// The server's PING budget (100 between completed calls, one back per second) is never spent down by this: at most
/// one PING is unanswered at a time, and one goes out at most every `pingIntervalMin`.
struct ClientConnectionLiveness {
    /// The shortest time between two PINGs (1 s: the server's PING budget earns one back per second).
    static let pingIntervalMin = TimeAmount.seconds(1)

    /// How long a PING may go unanswered before the connection counts as dead.
    let pingTimeout: TimeAmount
    /// When something last arrived from the server (nil: nothing yet).
    private(set) var lastReceived: NIODeadline?
    /// When the PING waiting for an answer went out; nil when none waits.
    private(set) var pingSent: NIODeadline?
    /// When the last PING went out, answered or not.
    private var lastPing: NIODeadline?
    /// PINGs sent so far: the next one's payload.
    private var pingsSent: UInt64 = 0

    /// A connection that takes `pingTimeout` (positive) without an answer to a PING for dead.
    init(pingTimeout: TimeAmount) {
        precondition(pingTimeout > .zero, "a PING needs time to be answered")
        self.pingTimeout = pingTimeout
    }

    /// Bytes arrived from the server at `now`: the connection carries them, a PING waiting is answered.
    mutating func received(now: NIODeadline) {
        lastReceived = now
        pingSent = nil
    }

    /// A call's deadline passed at `now`; it (the earliest of those expiring) started at `callStart` (one that expired
    /// in the client's queue behind open calls: was queued then). The PING to send when nothing arrived since that
    /// start, no PING waits for its answer and none went out within `pingIntervalMin`; else nil.
    mutating func deadlinePassed(callStart: NIODeadline, now: NIODeadline) -> Frame? {
        guard pingSent == nil else { return nil }
        if let lastReceived, lastReceived > callStart { return nil }
        if let lastPing, now - lastPing < Self.pingIntervalMin { return nil }
        pingSent = now
        lastPing = now
        pingsSent &+= 1
        var payload = ByteBuffer()
        payload.writeInteger(pingsSent)
        assert(payload.readableBytes == 8, "a PING carries exactly 8 bytes")
        return Frame(type: .ping, streamID: 0, payload: payload)
    }

    /// Whether, at `now`, the PING waiting for its answer went out `pingTimeout` ago or more with nothing received
    /// since: the connection is dead.
    func isDead(now: NIODeadline) -> Bool {
        guard let pingSent else { return false }
        return now - pingSent >= pingTimeout
    }
}
