import NIOCore
import Synchronization

/// The open client connections, so shutdown can close them (a stalled connection would otherwise linger).
final class ConnectionSet: Sendable {
    private let channels = Mutex<[ObjectIdentifier: any Channel]>([:])

    /// Tracks `channel` until it closes.
    func insert(_ channel: any Channel) {
        let key = ObjectIdentifier(channel)
        channels.withLock { $0[key] = channel }
        channel.closeFuture.whenComplete { [weak self] _ in
            _ = self?.channels.withLock { $0.removeValue(forKey: key) }
        }
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
}
