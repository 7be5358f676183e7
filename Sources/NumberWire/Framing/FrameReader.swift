import NIOCore

/// Decodes a connection's inbound bytes into frames inside the handler that uses them, instead of a
/// `ByteToMessageHandler` in front of it: each frame reaches the handler as a value, not boxed in `NIOAny` and sent
/// along the pipeline. After a framing error it reads nothing more (nothing after bad framing can be trusted).
///
/// A class, used from its connection's event loop only: a read may re-enter it (NIO reads what is left on a socket
/// whose write failed, inside that write), which a mutating method of a stored struct would turn into an
/// overlapping access.
public final class FrameReader {
    /// Nil after a framing error or ``discard()``: nothing more is read.
    private var processor: NIOSingleStepByteToMessageProcessor<FrameDecoder>?

    /// Frames decoded so far (wrapping): a partial frame seen before and after a read is the same frame only if
    /// this did not change in between.
    public private(set) var framesRead = 0

    /// Whether part of a frame (or of the preface) has arrived and the rest has not: its bytes wait here.
    public var holdsPartialFrame: Bool { partialFrameBytes > 0 }

    /// The bytes of a frame (or of the preface) that has started arriving and not finished, which wait here. (The
    /// storage holding them may be up to twice as large: a buffer grows to the next power of two.)
    public var partialFrameBytes: Int { processor?.unprocessedBytes ?? 0 }

    /// Reads with `decoder` (its limits and whether a preface is due).
    public init(_ decoder: FrameDecoder) {
        processor = NIOSingleStepByteToMessageProcessor(decoder)
    }

    /// Hands every whole frame in what has arrived so far to `receive`, in order; returns the framing error that
    /// stopped it, once (later calls do nothing).
    ///
    /// When nothing is left over, the reader lets go of what it read: NIO's processor keeps its last buffer until the
    /// next read, which for a connection that then idles meant keeping its last socket read, or the whole storage a
    /// large frame was gathered in (a 1 MiB request: 1 MiB held per idle connection).
    public func read(_ buffer: ByteBuffer, _ receive: (Frame) -> Void) -> (any Error)? {
        guard let processor else { return nil }
        do {
            try processor.process(buffer: buffer) { frame in
                framesRead &+= 1
                receive(frame)
            }
            if processor.unprocessedBytes == 0 {
                // An empty buffer (no allocation: NIO shares one) takes the place of the spent one; nothing decodes.
                try processor.process(buffer: ByteBuffer()) { _ in }
            }
            return nil
        } catch {
            self.processor = nil  // nothing after bad framing is read: what is left of it goes too
            return error
        }
    }

    /// Lets go of everything read and not yet decoded (a partial frame) and reads nothing more: for a connection that
    /// is closing, whose further bytes nobody will process. Not from inside `read`'s `receive`.
    public func discard() {
        processor = nil
    }
}
