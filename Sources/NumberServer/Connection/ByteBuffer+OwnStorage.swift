import NIOCore
import NumberWire

extension ByteBuffer {
    /// The readable bytes in storage of their own size. A frame's payload is a slice of the buffer it was received
    /// in, and a slice keeps that whole buffer alive, up to MAX_MESSAGE_PAYLOAD after a large frame.
    func copiedToOwnStorage() -> ByteBuffer {
        var copy = ByteBufferAllocator().buffer(capacity: readableBytes)
        copy.writeImmutableBuffer(self)
        return copy
    }

    /// This buffer, or a copy in storage of its own when the storage it shares is far bigger than it (more than twice
    /// its readable bytes plus `FrameReader.excessCapacityMax`, the reader's own rule): a frame held while the client
    /// does not read, which costs no copy unless it was read into a buffer that grew for a large frame.
    func withoutExcessStorage() -> ByteBuffer {
        storageCapacity > 2 * readableBytes + FrameReader.excessCapacityMax ? copiedToOwnStorage() : self
    }
}
