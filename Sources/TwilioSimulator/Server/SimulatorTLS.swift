import NIOCore

/// The optional TLS step of the simulator's pipeline: a function that adds the TLS handler(s) in front of HTTP.
///
/// Kept as a closure so the server does not depend on how TLS is configured; `NumberTLS` supplies one.
public struct SimulatorTLS: Sendable {
    /// Adds the server-side TLS handler(s) to a new child channel's pipeline (called on its event loop).
    public var addHandlers: @Sendable (Channel) throws -> Void
    /// Path of the PEM file of the CA that issued the server certificate (for clients such as libcurl), if any.
    public var caPEMPath: String?

    /// Creates a TLS step.
    public init(caPEMPath: String?, addHandlers: @escaping @Sendable (Channel) throws -> Void) {
        self.caPEMPath = caPEMPath
        self.addHandlers = addHandlers
    }
}
