import Synchronization

/// What one connection's calls may reuse from each other: the API key its last verified `authorization` header
/// belonged to.
///
/// A connection sends the same key on every call; remembering which key it was spares every later call the SHA-256
/// and the hash comparison. The key itself is still looked up on every call, so a revoked or deleted key stops
/// working at once. Only a header byte-for-byte equal to one this connection already proved is taken.
public final class ConnectionMemo: Sendable {
    private let verified = Mutex<(header: String, keyId: String)?>(nil)

    /// An empty memo.
    public init() {}

    /// The key id `header` was verified for on this connection, if it was.
    public func keyId(forAuthorization header: String) -> String? {
        verified.withLock { entry in
            guard let entry, entry.header == header else { return nil }
            return entry.keyId
        }
    }

    /// Remembers that `header` proved key `keyId`.
    public func remember(authorization header: String, keyId: String) {
        verified.withLock { $0 = (header, keyId) }
    }
}
