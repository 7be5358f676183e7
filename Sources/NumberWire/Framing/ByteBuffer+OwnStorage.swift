import NIOCore

extension ByteBuffer {
    /// How much more storage than twice its readable bytes a buffer kept past its read may have before it is copied
    /// into storage of its own size (``withoutExcessStorage()``): more than a receive buffer of small frames ever grows
    /// to (a TLS read is at most 16 KiB), so only bytes left in a buffer that grew for a large frame are copied.
    package static let excessStorageBytesMax = 64 * 1024

    /// The readable bytes in storage of their own size. A frame's payload is a slice of the buffer it was received
    /// in, and a slice keeps that whole buffer alive, up to MAX_MESSAGE_PAYLOAD after a large frame.
    package func copiedToOwnStorage() -> ByteBuffer {
        var copy = ByteBufferAllocator().buffer(capacity: readableBytes)
        copy.writeImmutableBuffer(self)
        return copy
    }

    /// This buffer, or a copy in storage of its own when the storage it shares is far bigger than it (more than twice
    /// its readable bytes plus ``excessStorageBytesMax``): what the frame reader keeps of a partial frame, and a frame
    /// held while the client does not read, cost no copy unless read into a buffer that grew for a large frame.
    package func withoutExcessStorage() -> ByteBuffer {
        storageCapacity > 2 * readableBytes + Self.excessStorageBytesMax ? copiedToOwnStorage() : self
    }
}
