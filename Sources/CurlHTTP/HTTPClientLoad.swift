/// How busy a client is.
public struct HTTPClientLoad: Sendable, Hashable {
    /// Transfers running now.
    public var running: Int
    /// Requests waiting for a transfer slot.
    public var queued: Int

    /// Creates a load figure.
    public init(running: Int, queued: Int) {
        self.running = running
        self.queued = queued
    }
}
