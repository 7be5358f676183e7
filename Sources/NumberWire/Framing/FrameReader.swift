import NIOCore

/// Decodes a connection's inbound bytes into frames inside the handler that uses them, instead of a
/// `ByteToMessageHandler` in front of it: each frame reaches the handler as a value, not boxed in `NIOAny` and sent
/// along the pipeline. After a framing error it reads nothing more (nothing after bad framing can be trusted).
///
/// It keeps the bytes not yet decoded itself, not in NIO's `NIOSingleStepByteToMessageProcessor`: a frame gathered
/// from many reads grows that buffer (to the next power of two) and NIO never shrinks it, so a read that ended one
/// byte into the next frame kept the whole storage of a 4 MiB frame for that byte, for as long as every later read
/// also ended part-way into a frame, unseen by the server's budget of partially received frames (which counts
/// bytes). Here the storage kept after a read is at most twice its bytes plus `ByteBuffer.excessStorageBytesMax`.
///
/// A class, used from its connection's event loop only: a read may re-enter it (NIO reads what is left on a socket
/// whose write failed, inside that write), which a mutating method of a stored struct would turn into an
/// overlapping access.
public final class FrameReader {
    private var decoder: FrameDecoder
    /// What has arrived and is not decoded yet; frames are handed out as slices of it. Nil between reads unless part
    /// of a frame waits — nil, not an empty `ByteBuffer`, whose shared storage every event loop's readers would retain
    /// and release (an atomic count on one cache line) at each frame, as `decodeNext` moves the buffer out and back.
    private var buffer: ByteBuffer?
    /// False after a framing error or ``discard()``: nothing more is read.
    private var reading = true

    /// Frames decoded so far (wrapping): a partial frame seen before and after a read is the same frame only if
    /// this did not change in between.
    public private(set) var framesRead = 0

    /// Whether part of a frame (or of the preface) has arrived and the rest has not: its bytes wait here.
    public var holdsPartialFrame: Bool { partialFrameBytes > 0 }

    /// The bytes of a frame (or of the preface) that has started arriving and not finished, which wait here. (The
    /// storage holding them after a read is at most twice as large plus `ByteBuffer.excessStorageBytesMax`.)
    public var partialFrameBytes: Int { buffer?.readableBytes ?? 0 }

    /// The size of the storage this reader keeps (what the frames it handed out may share of it aside): for tests.
    var storageCapacity: Int { buffer?.storageCapacity ?? 0 }

    /// Reads with `decoder` (its limits and whether a preface is due).
    public init(_ decoder: FrameDecoder) {
        self.decoder = decoder
    }

    /// Hands every whole frame in what has arrived so far to `receive`, in order; returns the framing error that
    /// stopped it, once (later calls do nothing).
    ///
    /// When nothing is left over, the reader lets go of what it read: for a connection that then idles, its last
    /// socket read, or the whole storage a large frame was gathered in (a 1 MiB request: 1 MiB held per idle
    /// connection). When part of a frame is left in storage far bigger than it, that part is copied out.
    public func read(_ bytes: ByteBuffer, _ receive: (Frame) -> Void) -> (any Error)? {
        guard reading else { return nil }
        if var held = buffer, held.readableBytes > 0 {
            buffer = nil  // uniquely referenced while appended to
            var bytes = bytes
            held.writeBuffer(&bytes)
            buffer = held
        } else {
            buffer = bytes
        }
        do {
            // `buffer` is in place while `receive` runs: a read it re-enters appends to it and decodes what is there
            // first, so frames keep their order.
            while reading, let frame = try decodeNext() {
                framesRead &+= 1
                receive(frame)
            }
        } catch {
            discard()  // nothing after bad framing is read: what is left of it goes too
            return error
        }
        guard reading, var left = buffer else { return nil }
        buffer = nil  // uniquely referenced while changed
        guard left.readableBytes > 0 else { return nil }  // the spent buffer goes
        // Left in storage far bigger than it (after a large frame), it is copied out (its reader index then 0).
        left = left.withoutExcessStorage()
        if left.readerIndex > 0, decoder.shouldReclaimBytes(buffer: left) {
            // What NIO's processor does after each read: the bytes already decoded make room for the rest.
            left.discardReadBytes()
        }
        buffer = left
        return nil
    }

    /// The next whole frame in `buffer`, if one is there. The buffer is moved out while the decoder reads it, so that
    /// it is not copied (it is uniquely referenced).
    private func decodeNext() throws -> Frame? {
        guard var bytes = buffer, bytes.readableBytes > 0 else { return nil }
        buffer = nil
        defer { buffer = bytes }
        return try decoder.decode(buffer: &bytes)
    }

    /// Lets go of everything read and not yet decoded (a partial frame) and reads nothing more: for a connection that
    /// is closing, whose further bytes nobody will process.
    public func discard() {
        reading = false
        buffer = nil
    }
}
