import NIOCore

extension ByteBuffer {
    /// How much bigger than twice its readable bytes the storage of a payload kept past its read burst may be before
    /// the payload is copied: more than a receive buffer of small frames ever grows to (a TLS read is at most 16 KiB),
    /// so only a payload read after a large frame, into the buffer that grew for it, is copied.
    static let excessStorageBytesMax = 64 * 1024

    /// The readable bytes in storage of their own size. A frame's payload is a slice of the buffer it was received
    /// in, and a slice keeps that whole buffer alive, up to 4 MiB after a large frame.
    func copiedToOwnStorage() -> ByteBuffer {
        var copy = ByteBufferAllocator().buffer(capacity: readableBytes)
        copy.writeImmutableBuffer(self)
        return copy
    }

    /// This buffer, or a copy in storage of its own when the storage it shares is far bigger than it (more than twice
    /// its readable bytes plus ``excessStorageBytesMax``): the usual payload costs no copy.
    func withoutExcessStorage() -> ByteBuffer {
        storageCapacity > 2 * readableBytes + Self.excessStorageBytesMax ? copiedToOwnStorage() : self
    }
}
