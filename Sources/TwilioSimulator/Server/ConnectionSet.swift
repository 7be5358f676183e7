import NIOCore
import Synchronization

/// The open client connections, so shutdown can close them (a stalled connection would otherwise linger), and the
/// connection limit (`SimulatorConfiguration.Limits.connectionsMax`).
final class ConnectionSet: Sendable {
    private let channels = Mutex<[ObjectIdentifier: any Channel]>([:])
    private let refused = Atomic<Int>(0)

    /// Tracks `channel` until it closes, if fewer than `max` connections are open; false (and `channel` not
    /// tracked, counted as refused) otherwise.
    func admit(_ channel: any Channel, max: Int) -> Bool {
        let key = ObjectIdentifier(channel)
        let admitted = channels.withLock { all in
            guard all.count < max else { return false }
            all[key] = channel
            return true
        }
        guard admitted else {
            refused.add(1, ordering: .relaxed)
            return false
        }
        channel.closeFuture.whenComplete { [weak self] _ in
            _ = self?.channels.withLock { $0.removeValue(forKey: key) }
        }
        return true
    }

    /// Removes and returns every tracked connection.
    func drain() -> [any Channel] {
        channels.withLock { all in
            defer { all.removeAll() }
            return Array(all.values)
        }
    }

    /// How many connections are open.
    var count: Int { channels.withLock { $0.count } }

    /// How many connections were closed at once because `max` were open.
    var refusedCount: Int { refused.load(ordering: .relaxed) }
}
