import COpenSSL
import Synchronization

/// Client-side store of resumable TLS sessions, one per server key (e.g. `"host:port"`).
///
/// Share one cache by every client connection to the same servers: a reconnecting client offers the stored
/// session ticket and skips the full handshake (certificate transfer and verification, signatures).
/// A stored session is taken by the one connection that offers it (RFC 8446 §C.4: reusing a TLS 1.3 ticket lets
/// observers link connections, and OpenSSL does not resume a ticket twice); each connection stores the fresh
/// ticket the server sends after its handshake, so a client that reads from its connection always has one. Under
/// TLS 1.2 a connection that resumed puts its session back when its handshake completes (OpenSSL stores only
/// sessions of full handshakes there), so every reconnect resumes, not every other one. A session is resumed only by
/// a connection of the client context that verified it, checking the same server name: a resumption skips the
/// certificate check, so a cache shared by contexts of other trust roots (or a key naming no host) must not let one
/// stand in for another's check.
///
/// ```swift
/// let sessions = TLSSessionCache()
/// try channel.pipeline.syncOperations.addTLSClientHandler(
///     context: context, serverHostname: "numbers.local", sessionCache: sessions)
/// ```
public final class TLSSessionCache: Sendable {
    /// Servers remembered at most; the oldest entry is dropped beyond this. Default 1024.
    public let entriesMax: Int
    private let state: Mutex<State>

    private struct State {
        var sessions: [String: Stored] = [:]
        var order: [String] = []
    }

    /// A session and what verified it: the client context (its trust roots, its policy) and the server name.
    private struct Stored {
        var session: TLSSession
        var context: UInt64
        var hostname: String
    }

    /// Creates an empty cache holding up to `entriesMax` servers.
    public init(entriesMax: Int = 1024) {
        precondition(entriesMax > 0, "entriesMax must be positive")
        self.entriesMax = entriesMax
        self.state = Mutex(State())
    }

    /// The number of servers with a stored session.
    public var count: Int {
        state.withLock { $0.sessions.count }
    }

    /// Whether a session is stored for `key`.
    public func contains(_ key: String) -> Bool {
        state.withLock { $0.sessions[key] != nil }
    }

    /// Forgets the session of `key` (e.g. after the server rejected it).
    public func remove(_ key: String) {
        state.withLock { state in
            state.sessions[key] = nil
            state.order.removeAll { $0 == key }
        }
    }

    /// Removes and returns the session stored for the sink's key, when the sink's context verified it for the same
    /// server name: a session resumes without the certificate being checked again, so one a context trusting another
    /// CA (or checking another name) verified must not stand in for this one's check. Another's is left in place.
    func takeSession(for sink: TLSSessionSink) -> TLSSession? {
        state.withLock { state in
            guard let stored = state.sessions[sink.key], stored.context == sink.context,
                stored.hostname == sink.hostname
            else { return nil }
            state.sessions[sink.key] = nil
            state.order.removeAll { $0 == sink.key }
            return stored.session
        }
    }

    /// Stores `session`, verified by the sink's context for its server name, under the sink's key.
    func store(_ session: TLSSession, from sink: TLSSessionSink) {
        let stored = Stored(session: session, context: sink.context, hostname: sink.hostname)
        let key = sink.key
        state.withLock { state in
            if state.sessions.updateValue(stored, forKey: key) == nil {
                state.order.append(key)
            }
            while state.order.count > entriesMax {
                let oldest = state.order.removeFirst()
                state.sessions[oldest] = nil
            }
        }
    }

    /// OpenSSL's new-session callback for client contexts: the connection's ``TLSSessionSink`` (app data)
    /// says which cache and key. Returning 1 keeps the reference OpenSSL handed us.
    static let newSessionCallback: @convention(c) (OpaquePointer?, OpaquePointer?) -> Int32 = { ssl, session in
        guard let ssl, let session, let raw = numberd_SSL_get_app_data(ssl) else {
            return 0
        }
        let sink = Unmanaged<TLSSessionSink>.fromOpaque(raw).takeUnretainedValue()
        guard SSL_SESSION_is_resumable(session) == 1 else {
            return 0
        }
        sink.cache.store(TLSSession(session), from: sink)
        return 1
    }
}

/// One resumable session (`SSL_SESSION *`), freed when the last reference goes.
///
/// Thread safety: a session is immutable once stored, and OpenSSL reference-counts it atomically, so handing it to
/// connections on several event loops is safe.
final class TLSSession: @unchecked Sendable {
    let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit {
        SSL_SESSION_free(pointer)
    }
}

/// What a client connection's new-session callback needs: the cache and the key of the server, and what verifies
/// the connection's sessions — its context (``TLSContext/identity``) and the server name it checks.
final class TLSSessionSink {
    let cache: TLSSessionCache
    let key: String
    let context: UInt64
    let hostname: String

    init(cache: TLSSessionCache, key: String, context: UInt64, hostname: String) {
        self.cache = cache
        self.key = key
        self.context = context
        self.hostname = hostname
    }
}
