import Synchronization

/// A server ``TLSContext`` that can be replaced while serving, e.g. by a renewed certificate.
///
/// A server reads ``current`` once per accepted connection; ``replace(with:)`` makes every connection accepted after it
/// use the new context. A connection already open keeps the context it started with (its ``TLSHandler`` holds it, and
/// OpenSSL's `SSL` holds its `SSL_CTX`), so its session is untouched.
///
/// ```swift
/// let reloadable = ReloadableTLSContext(try TLSContext(configuration: server))
/// // ... serve with `.reloadableTLS(reloadable)`; later, after the certificate files were renewed:
/// reloadable.replace(with: try TLSContext(configuration: server))
/// ```
public final class ReloadableTLSContext: Sendable {
    private let context: Mutex<TLSContext>

    /// Starts with `context` (a server context).
    public init(_ context: TLSContext) {
        precondition(context.configuration.role == .server, "ReloadableTLSContext holds a server context")
        self.context = Mutex(context)
    }

    /// The context new connections use now.
    public var current: TLSContext {
        context.withLock { $0 }
    }

    /// Makes new connections use `newContext` (a server context); open connections keep theirs.
    public func replace(with newContext: TLSContext) {
        precondition(newContext.configuration.role == .server, "ReloadableTLSContext holds a server context")
        context.withLock { $0 = newContext }
    }
}
