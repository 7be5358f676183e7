import NIOCore
import Synchronization

/// The open client connections, so shutdown can close them (a stalled connection would otherwise linger), and the
/// connection limit (`SimulatorConfiguration.Limits.connectionsMax`).
///
/// At the limit a newcomer takes the place of the oldest connection that never sent a request with the account's
/// credentials, which is closed: otherwise anyone who can reach the port could hold every place with connections that
/// say nothing, and every connection numberd opens would be closed at once. Only when every open connection has
/// authenticated is the newcomer refused.
final class ConnectionSet: Sendable {
    /// Whether a connection may join.
    enum Admission {
        /// Tracked until it closes (in the place of an unauthenticated one, closed, when `max` were open).
        case admitted
        /// `max` connections are open and all have authenticated: refused (counted).
        case full
        /// The set was drained (shutdown): refused, so a connection accepted just before the listener closed and
        /// handed to its event loop after the drain is closed too, instead of serving until its idle timeout.
        case closed
    }

    private struct Entry {
        var channel: any Channel
        /// Order of admission (unique): the oldest unauthenticated connection is the one evicted, and a close
        /// removes only its own entry.
        var serial: Int
        /// It sent a request with the account's credentials (``ConnectionSet/markAuthenticated(_:)``).
        var authenticated = false
    }

    private struct State {
        var channels: [ObjectIdentifier: Entry] = [:]
        var lastSerial = 0
        var drained = false
    }

    private let state = Mutex(State())
    private let refused = Atomic<Int>(0)
    private let evicted = Atomic<Int>(0)

    /// Tracks `channel` until it closes, unless the set was drained or `max` connections are open and all have
    /// authenticated; at `max` with one that has not, the oldest such is closed and `channel` takes its place.
    /// A refused `channel` is not tracked (and is counted when `max` are open).
    func admit(_ channel: any Channel, max: Int) -> Admission {
        let key = ObjectIdentifier(channel)
        let (admission, serial, displaced) = state.withLock { state -> (Admission, Int, (any Channel)?) in
            if state.drained { return (.closed, 0, nil) }
            var oldestSilent: (any Channel)?
            if state.channels.count >= max {
                let unauthenticated = state.channels.filter { !$0.value.authenticated }
                guard let oldest = unauthenticated.min(by: { $0.value.serial < $1.value.serial }) else {
                    return (.full, 0, nil)
                }
                oldestSilent = state.channels.removeValue(forKey: oldest.key)?.channel
            }
            state.lastSerial += 1
            state.channels[key] = Entry(channel: channel, serial: state.lastSerial)
            return (.admitted, state.lastSerial, oldestSilent)
        }
        switch admission {
        case .admitted:
            channel.closeFuture.whenComplete { [weak self] _ in
                self?.state.withLock { state -> Void in
                    if state.channels[key]?.serial == serial { state.channels[key] = nil }
                }
            }
            if let displaced {
                evicted.add(1, ordering: .relaxed)
                displaced.close(promise: nil)
            }
        case .full:
            refused.add(1, ordering: .relaxed)
        case .closed:
            break
        }
        return admission
    }

    /// Records that `channel` sent a request with the account's credentials: from now on it keeps its place when the
    /// set is full.
    func markAuthenticated(_ channel: any Channel) {
        let key = ObjectIdentifier(channel)
        state.withLock { state -> Void in
            state.channels[key]?.authenticated = true
        }
    }

    /// Removes and returns every tracked connection; from now on every connection is refused (`closed`).
    func drain() -> [any Channel] {
        state.withLock { state in
            state.drained = true
            defer { state.channels.removeAll() }
            return state.channels.values.map(\.channel)
        }
    }

    /// How many connections are open.
    var count: Int { state.withLock { $0.channels.count } }

    /// How many connections were closed at once because `max` were open, all authenticated.
    var refusedCount: Int { refused.load(ordering: .relaxed) }

    /// How many unauthenticated connections were closed to make room for a newcomer.
    var evictedCount: Int { evicted.load(ordering: .relaxed) }
}
