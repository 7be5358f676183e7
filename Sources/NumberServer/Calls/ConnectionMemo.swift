import Synchronization

/// What one connection's calls may reuse from each other: which API key each `authorization` header it already
/// proved belongs to.
///
/// A connection sends the same few keys on every call (one per account a service acts for); remembering which key a
/// header proved spares every later call the SHA-256 and the hash comparison. The key itself is still looked up on
/// every call, so a revoked or deleted key stops working at once. Only a header byte-for-byte equal to one this
/// connection already proved is taken. At most ``entriesMax`` headers are kept per connection.
public final class ConnectionMemo: Sendable {
    /// Headers remembered per connection (16): enough for a service multiplexing a few accounts on one connection;
    /// beyond it an arbitrary entry is forgotten (its next call hashes again).
    public static let entriesMax = 16

    private let verified = Mutex<[String: String]>([:])

    /// An empty memo.
    public init() {}

    /// The key id `header` was verified for on this connection, if it was.
    public func keyId(forAuthorization header: String) -> String? {
        verified.withLock { $0[header] }
    }

    /// Remembers that `header` proved key `keyId`.
    public func remember(authorization header: String, keyId: String) {
        verified.withLock { entries in
            if entries[header] == nil && entries.count >= Self.entriesMax, let any = entries.keys.first {
                entries.removeValue(forKey: any)
            }
            entries[header] = keyId
        }
    }

    /// How many headers are remembered.
    public var count: Int { verified.withLock { $0.count } }
}
