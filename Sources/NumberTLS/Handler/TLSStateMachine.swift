import NIOCore

/// The connection life cycle of a ``TLSHandler`` as a pure value: events in, actions out.
///
/// The handler performs the actions (OpenSSL calls, writes, closes); everything about *when* is decided here and
/// tested with plain values. Pending write buffers stay in the handler; this machine tracks their byte count.
struct TLSStateMachine {
    enum State: Equatable {
        /// Created; the handshake starts when the channel is active.
        case idle
        /// Handshake messages are being exchanged.
        case handshaking
        /// Application data flows both ways.
        case active
        /// A `close_notify` was sent or received; no more application data.
        case closing
        /// Failed or closed; everything is refused.
        case closed
    }

    private(set) var state: State = .idle
    /// Bytes written but not yet encrypted.
    private(set) var pendingWriteBytes = 0
    /// A flush arrived during the handshake: encrypt the buffered writes once it completes.
    private var flushRequested = false
    /// Limit on bytes buffered before the handshake completes.
    let pendingWriteBytesMax: Int

    init(pendingWriteBytesMax: Int) {
        precondition(pendingWriteBytesMax > 0, "pendingWriteBytesMax must be positive")
        self.pendingWriteBytesMax = pendingWriteBytesMax
    }

    /// What to do when the channel becomes active (or the handler is added to an active one).
    enum StartAction: Equatable {
        /// Schedule the handshake timeout and start the handshake.
        case startHandshake
        /// Already started or finished.
        case none
    }

    mutating func channelActive() -> StartAction {
        guard state == .idle else {
            return .none
        }
        state = .handshaking
        return .startHandshake
    }

    /// What to do with ciphertext that arrived.
    enum ReceiveAction: Equatable {
        /// Feed it to OpenSSL and advance the handshake (then read application data if it completed).
        case driveHandshake
        /// Feed it to OpenSSL and read application data.
        case readApplicationData
        /// Drop it: not started, or past `close_notify` (a chatty peer must not grow our buffers).
        case drop
    }

    func bytesReceived() -> ReceiveAction {
        switch state {
        case .handshaking: .driveHandshake
        case .active: .readApplicationData
        case .idle, .closing, .closed: .drop
        }
    }

    /// Whether the handshake timer should still fire.
    var isHandshaking: Bool {
        state == .handshaking
    }

    /// Whether application data may be read.
    var isActive: Bool {
        state == .active
    }

    /// The handshake completed: returns whether buffered writes must be encrypted now (a flush was requested).
    mutating func handshakeCompleted() -> Bool {
        precondition(state == .handshaking, "handshake completed in state \(state)")
        state = .active
        defer { flushRequested = false }
        return flushRequested
    }

    /// What to do with a write from above.
    enum WriteAction: Equatable {
        /// Queue it until the next flush (or the handshake).
        case enqueue
        /// Refuse this write only: the connection is closing or closed.
        case refuse(TLSError)
        /// Refuse it and fail the connection: dropping only this write would leave a gap in the stream.
        case failConnection(TLSError)
    }

    mutating func write(bytes: Int) -> WriteAction {
        switch state {
        case .idle, .handshaking:
            guard pendingWriteBytes + bytes <= pendingWriteBytesMax else {
                return .failConnection(
                    TLSError(
                        code: .pendingWriteLimitExceeded,
                        message: "more than \(pendingWriteBytesMax) bytes written before the handshake completed"))
            }
        case .active:
            break
        case .closing, .closed:
            return .refuse(TLSError(code: .connectionClosed, message: "write after the TLS connection closed"))
        }
        pendingWriteBytes += bytes
        return .enqueue
    }

    /// What to do on flush.
    enum FlushAction: Equatable {
        /// Encrypt the pending writes and send the ciphertext.
        case encryptPendingWrites
        /// Remember it; the handshake completion encrypts.
        case deferred
        /// Nothing of ours to send; pass the flush down.
        case passThrough
    }

    mutating func flush() -> FlushAction {
        switch state {
        case .idle, .handshaking:
            flushRequested = true
            return .deferred
        case .active:
            return .encryptPendingWrites
        case .closing, .closed:
            return .passThrough
        }
    }

    /// The pending writes were encrypted (or failed): nothing is pending any more.
    mutating func pendingWritesDrained() {
        pendingWriteBytes = 0
    }

    /// What to do when the layer above closes.
    enum CloseAction: Equatable {
        /// Encrypt pending writes, send `close_notify`, then close once it is written.
        case sendCloseNotify
        /// Close the socket now (no TLS session to end cleanly), failing pending writes.
        case closeNow
        /// Not ours to handle (e.g. closing the input side); pass it down.
        case passThrough
    }

    mutating func closeRequested(mode: CloseMode) -> CloseAction {
        guard mode != .input else {
            return .passThrough
        }
        switch state {
        case .active:
            state = .closing
            return .sendCloseNotify
        case .idle, .handshaking, .closed:
            state = .closed
            pendingWriteBytes = 0
            return .closeNow
        case .closing:
            return .closeNow
        }
    }

    /// The peer sent `close_notify`: answer with ours and close.
    mutating func closeNotifyReceived() -> CloseAction {
        guard state == .active else {
            return .passThrough
        }
        state = .closing
        pendingWriteBytes = 0
        return .sendCloseNotify
    }

    /// A failure happened: report it once (`true`), or ignore a failure after the connection already ended.
    mutating func failed() -> Bool {
        guard state != .closed else {
            return false
        }
        state = .closed
        pendingWriteBytes = 0
        return true
    }

    /// The socket closed: an error to report when that ended a live session without `close_notify`.
    mutating func channelInactive() -> TLSError? {
        let previous = state
        state = .closed
        pendingWriteBytes = 0
        switch previous {
        case .handshaking:
            return TLSError(code: .handshakeFailed, message: "the peer closed the connection during the handshake")
        case .active:
            return TLSError(code: .uncleanShutdown, message: "the peer closed the connection without close_notify")
        case .idle, .closing, .closed:
            return nil
        }
    }
}
