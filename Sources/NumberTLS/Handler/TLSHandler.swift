import COpenSSL
import NIOCore

/// A NIO channel handler that runs TLS over the system OpenSSL, as server or client.
///
/// Below it flows ciphertext, above it plaintext. Writes made before the handshake completes are buffered (up to
/// ``TLSConfiguration/pendingWriteBytesMax``) and sent once it does. When the handshake finishes the handler fires
/// ``TLSHandshakeCompleted`` as a user inbound event; every failure is fired as a ``TLSError`` and closes the
/// channel. One flush becomes one socket write: small writes are coalesced into few TLS records.
///
/// Add it with ``NIOCore/ChannelPipeline/SynchronousOperations/addTLSServerHandler(context:)`` or
/// ``NIOCore/ChannelPipeline/SynchronousOperations/addTLSClientHandler(context:serverHostname:sessionCache:sessionKey:)``.
public final class TLSHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    enum State {
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

    private let tlsContext: TLSContext
    private let connection: TLSConnection
    private var state: State = .idle
    private var pendingWrites: [(buffer: ByteBuffer, promise: EventLoopPromise<Void>?)] = []
    private var pendingWriteBytes = 0
    private var flushRequested = false
    private var handshakeTimer: Scheduled<Void>?
    private var receivedCloseNotify = false
    private var scratch: ByteBuffer

    /// A server-side handler for `context` (whose role must be `.server`).
    public init(serverContext context: TLSContext) throws {
        precondition(context.configuration.role == .server, "TLSHandler(serverContext:) needs a server context")
        self.tlsContext = context
        self.connection = try TLSConnection(context: context, serverHostname: nil, sessionSink: nil)
        self.scratch = ByteBufferAllocator().buffer(capacity: 0)
    }

    /// A client-side handler that verifies the server certificate against `serverHostname` (a DNS name or an IP
    /// address; empty is an error) and, with a `sessionCache`, resumes sessions stored under `sessionKey`
    /// (default: the hostname).
    public init(
        clientContext context: TLSContext, serverHostname: String, sessionCache: TLSSessionCache? = nil,
        sessionKey: String? = nil
    ) throws {
        precondition(context.configuration.role == .client, "TLSHandler(clientContext:) needs a client context")
        self.tlsContext = context
        let sink =
            context.configuration.sessionResumption
            ? sessionCache.map { TLSSessionSink(cache: $0, key: sessionKey ?? serverHostname) } : nil
        self.connection = try TLSConnection(context: context, serverHostname: serverHostname, sessionSink: sink)
        self.scratch = ByteBufferAllocator().buffer(capacity: 0)
    }

    // MARK: Lifecycle

    public func handlerAdded(context: ChannelHandlerContext) {
        scratch = context.channel.allocator.buffer(capacity: tlsContext.configuration.writeCoalesceBytesMax)
        if context.channel.isActive {
            startHandshake(context: context)
        }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        handshakeTimer?.cancel()
        failPendingWrites(TLSError(code: .connectionClosed, message: "TLS handler removed"))
    }

    public func channelActive(context: ChannelHandlerContext) {
        startHandshake(context: context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        handshakeTimer?.cancel()
        let previous = state
        state = .closed
        switch previous {
        case .handshaking:
            let error = TLSError(code: .handshakeFailed, message: "the peer closed the connection during the handshake")
            failPendingWrites(error)
            context.fireErrorCaught(error)
        case .active:
            let error = TLSError(
                code: .uncleanShutdown, message: "the peer closed the connection without close_notify")
            failPendingWrites(error)
            context.fireErrorCaught(error)
        case .idle, .closing, .closed:
            failPendingWrites(TLSError(code: .connectionClosed, message: "the connection closed"))
        }
        context.fireChannelInactive()
    }

    private func startHandshake(context: ChannelHandlerContext) {
        guard case .idle = state else {
            return
        }
        state = .handshaking
        let timeout = TimeAmount(tlsContext.configuration.handshakeTimeout)
        handshakeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            guard case .handshaking = state else {
                return
            }
            fail(
                context: context,
                TLSError(
                    code: .handshakeTimeout,
                    message: "handshake not finished within \(tlsContext.configuration.handshakeTimeout)"))
        }
        driveHandshake(context: context)
    }

    // MARK: Inbound

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        switch state {
        case .handshaking, .active:
            connection.feed(buffer)
        case .idle, .closing, .closed:
            // After close_notify nothing more is read: dropping keeps a chatty peer from growing our buffers.
            return
        }
        if case .handshaking = state {
            driveHandshake(context: context)
        }
        if case .active = state {
            readApplicationData(context: context)
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        context.fireChannelReadComplete()
    }

    private func driveHandshake(context: ChannelHandlerContext) {
        switch connection.handshake() {
        case .complete:
            handshakeTimer?.cancel()
            handshakeTimer = nil
            state = .active
            flushNetworkOutput(context: context)
            context.fireUserInboundEventTriggered(handshakeCompleted())
            if flushRequested {
                flushRequested = false
                encryptPendingWrites(context: context)
            }
        case .wantInput:
            flushNetworkOutput(context: context)
        case .closed:
            fail(context: context, TLSError(code: .handshakeFailed, message: "the peer closed during the handshake"))
        case .failed(let error):
            fail(context: context, error)
        }
    }

    private func readApplicationData(context: ChannelHandlerContext) {
        let chunkBytes = tlsContext.configuration.readChunkBytes
        // Each turn consumes input or stops; the bound only guards against an OpenSSL that misreports progress.
        var turnsLeft = Int(BIO_ctrl_pending(SSL_get_rbio(connection.ssl))) + 64
        while case .active = state, turnsLeft > 0 {
            turnsLeft -= 1
            var buffer = context.channel.allocator.buffer(capacity: 0)
            switch connection.read(into: &buffer, chunkBytes: chunkBytes) {
            case .complete:
                if buffer.readableBytes > 0 {
                    context.fireChannelRead(wrapInboundOut(buffer))
                }
            case .wantInput:
                flushNetworkOutput(context: context)  // Post-handshake messages may need an answer.
                return
            case .closed:
                receivedCloseNotify = true
                closeAfterCloseNotify(context: context, mode: .all, promise: nil)
                return
            case .failed(let error):
                fail(context: context, error)
                return
            }
        }
    }

    private func handshakeCompleted() -> TLSHandshakeCompleted {
        TLSHandshakeCompleted(
            applicationProtocol: connection.applicationProtocol, protocolVersion: connection.protocolVersion,
            cipherSuite: connection.cipherSuite, peer: connection.peerIdentity, sessionReused: connection.sessionReused)
    }

    // MARK: Outbound

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let buffer = unwrapOutboundIn(data)
        switch state {
        case .idle, .handshaking:
            guard pendingWriteBytes + buffer.readableBytes <= tlsContext.configuration.pendingWriteBytesMax else {
                // Dropping only this write would leave a gap in the stream: fail the whole connection instead.
                let error = TLSError(
                    code: .pendingWriteLimitExceeded,
                    message: "more than \(tlsContext.configuration.pendingWriteBytesMax) bytes before handshake")
                promise?.fail(error)
                fail(context: context, error)
                return
            }
        case .active:
            break
        case .closing, .closed:
            promise?.fail(TLSError(code: .connectionClosed, message: "write after the TLS connection closed"))
            return
        }
        pendingWriteBytes += buffer.readableBytes
        pendingWrites.append((buffer, promise))
    }

    public func flush(context: ChannelHandlerContext) {
        switch state {
        case .idle, .handshaking:
            flushRequested = true
        case .active:
            encryptPendingWrites(context: context)
        case .closing, .closed:
            context.flush()
        }
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .all || mode == .output else {
            context.close(mode: mode, promise: promise)
            return
        }
        switch state {
        case .active:
            encryptPendingWrites(context: context)
            closeAfterCloseNotify(context: context, mode: mode, promise: promise)
        case .idle, .handshaking, .closing, .closed:
            state = .closed
            handshakeTimer?.cancel()
            failPendingWrites(TLSError(code: .connectionClosed, message: "the connection was closed"))
            context.close(mode: mode, promise: promise)
        }
    }

    /// Encrypts every pending write, coalescing small ones, and sends the ciphertext as one socket write.
    private func encryptPendingWrites(context: ChannelHandlerContext) {
        guard !pendingWrites.isEmpty else {
            return
        }
        let writes = pendingWrites
        pendingWrites.removeAll(keepingCapacity: true)
        pendingWriteBytes = 0
        let coalesceMax = tlsContext.configuration.writeCoalesceBytesMax
        var failure: TLSError?
        scratch.clear()
        for write in writes where failure == nil {
            if write.buffer.readableBytes >= coalesceMax {
                failure = encryptScratch() ?? encrypt(write.buffer)
            } else {
                if scratch.readableBytes + write.buffer.readableBytes > coalesceMax {
                    failure = encryptScratch()
                }
                var buffer = write.buffer
                scratch.writeBuffer(&buffer)
            }
        }
        failure = failure ?? encryptScratch()
        if let failure {
            writes.forEach { $0.promise?.fail(failure) }
            fail(context: context, failure)
            return
        }
        flushNetworkOutput(context: context, promises: writes.compactMap(\.promise))
    }

    private func encryptScratch() -> TLSError? {
        defer { scratch.clear() }
        return encrypt(scratch)
    }

    private func encrypt(_ buffer: ByteBuffer) -> TLSError? {
        buffer.withUnsafeReadableBytes { connection.write($0) }
    }

    /// Writes whatever ciphertext OpenSSL produced and flushes; the promises complete with that write.
    private func flushNetworkOutput(context: ChannelHandlerContext, promises: [EventLoopPromise<Void>] = []) {
        guard let output = connection.drainOutput(allocator: context.channel.allocator) else {
            promises.forEach { $0.succeed() }
            return
        }
        var aggregate: EventLoopPromise<Void>?
        if promises.count == 1 {
            aggregate = promises[0]
        } else if !promises.isEmpty {
            let combined = context.eventLoop.makePromise(of: Void.self)
            for promise in promises {
                combined.futureResult.cascade(to: promise)
            }
            aggregate = combined
        }
        context.writeAndFlush(wrapOutboundOut(output), promise: aggregate)
    }

    // MARK: Shutdown and failure

    /// Sends our `close_notify`, then closes the socket (or its output side, for `mode` `.output`) once it is
    /// written, or after `closeNotifyTimeout` if the peer does not read.
    private func closeAfterCloseNotify(
        context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?
    ) {
        state = .closing
        failPendingWrites(TLSError(code: .connectionClosed, message: "the TLS connection is closing"))
        connection.shutdown()
        let written = context.eventLoop.makePromise(of: Void.self)
        flushNetworkOutput(context: context, promises: [written])
        var closeStarted = false
        let closeOnce = {
            guard !closeStarted else {
                return
            }
            closeStarted = true
            context.close(mode: mode, promise: promise)
        }
        let timeout = context.eventLoop.assumeIsolated().scheduleTask(
            in: TimeAmount(tlsContext.configuration.closeNotifyTimeout)
        ) {
            closeOnce()
        }
        written.futureResult.assumeIsolated().whenComplete { _ in
            timeout.cancel()
            closeOnce()
        }
    }

    /// Sends any alert OpenSSL queued, reports `error` up the pipeline and closes.
    private func fail(context: ChannelHandlerContext, _ error: TLSError) {
        guard state != .closed else {
            return
        }
        state = .closed
        handshakeTimer?.cancel()
        failPendingWrites(error)
        flushNetworkOutput(context: context)
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }

    private func failPendingWrites(_ error: TLSError) {
        let writes = pendingWrites
        pendingWrites = []
        pendingWriteBytes = 0
        writes.forEach { $0.promise?.fail(error) }
    }
}

@available(*, unavailable)
extension TLSHandler: Sendable {}
