import NIOCore
import Synchronization

/// The open client connections, so shutdown can close them (a stalled connection would otherwise linger), and the
/// connection limit (`SimulatorConfiguration.Limits.connectionsMax`).
final class ConnectionSet: Sendable {
    /// Whether a connection may join.
    enum Admission {
        /// Tracked until it closes.
        case admitted
        /// `max` connections are open: refused (counted).
        case full
        /// The set was drained (shutdown): refused, so a connection accepted just before the listener closed and
        /// handed to its event loop after the drain is closed too, instead of serving until its idle timeout.
        case closed
    }

    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var drained = false
    }

    private let state = Mutex(State())
    private let refused = Atomic<Int>(0)

    /// Tracks `channel` until it closes, if fewer than `max` connections are open and the set was not drained;
    /// otherwise `channel` is not tracked (and counted as refused when `max` are open).
    func admit(_ channel: any Channel, max: Int) -> Admission {
        let key = ObjectIdentifier(channel)
        let admission = state.withLock { state -> Admission in
            if state.drained { return .closed }
            guard state.channels.count < max else { return .full }
            state.channels[key] = channel
            return .admitted
        }
        switch admission {
        case .admitted:
            channel.closeFuture.whenComplete { [weak self] _ in
                _ = self?.state.withLock { $0.channels.removeValue(forKey: key) }
            }
        case .full:
            refused.add(1, ordering: .relaxed)
        case .closed:
            break
        }
        return admission
    }

    /// Removes and returns every tracked connection; from now on every connection is refused (`closed`).
    func drain() -> [any Channel] {
        state.withLock { state in
            state.drained = true
            defer { state.channels.removeAll() }
            return Array(state.channels.values)
        }
    }

    /// How many connections are open.
    var count: Int { state.withLock { $0.channels.count } }

    /// How many connections were closed at once because `max` were open.
    var refusedCount: Int { refused.load(ordering: .relaxed) }
}
