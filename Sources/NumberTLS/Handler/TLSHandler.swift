import COpenSSL
import NIOCore

/// A NIO channel handler that runs TLS over the system OpenSSL, as server or client.
///
/// Below it flows ciphertext, above it plaintext. Writes made before the handshake completes are buffered (up to
/// ``TLSConfiguration/pendingWriteBytesMax``) and sent once it does. When the handshake finishes the handler fires
/// ``TLSHandshakeCompleted`` as a user inbound event; every failure is fired as a ``TLSError`` and closes the
/// channel. One flush becomes one socket write: small writes are coalesced into few TLS records. Closing sends
/// `close_notify` and closes the socket once it is written (or after ``TLSConfiguration/closeNotifyTimeout``);
/// closing again meanwhile closes the socket at once, for a peer that does not read. A peer's `close_notify` is
/// answered and the channel closed; a connection that ends without one is reported as
/// ``TLSError/Code/uncleanShutdown``. A server fails a connection whose peer sends handshake messages after the
/// handshake (KeyUpdates, each of which OpenSSL answers) past 32 at once and one a second (`TLSPostHandshakeMessages`)
/// with ``TLSError/Code/protocolError``.
///
/// Add it with `addTLSServerHandler(context:)` / `addTLSClientHandler(context:serverHostname:...)` on
/// `ChannelPipeline.SynchronousOperations`. When to do what is decided by ``TLSStateMachine``; this class carries
/// the actions out.
public final class TLSHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private let tlsContext: TLSContext
    private let connection: TLSConnection
    private var stateMachine: TLSStateMachine
    private var pendingWrites: [(buffer: ByteBuffer, promise: EventLoopPromise<Void>?)] = []
    private var handshakeTimer: Scheduled<Void>?
    /// Ciphertext received and not yet fed to OpenSSL, oldest first: the rest of a socket read beyond the slice being
    /// processed, and any read that arrived re-entrantly meanwhile.
    private var unfedCiphertext = CircularBuffer<ByteBuffer>(initialCapacity: 2)  // small: idle connections keep it
    /// Whether a `channelRead` is feeding `unfedCiphertext`; one re-entering it only queues its bytes.
    private var isFeeding = false

    /// A server-side handler for `context` (whose role must be `.server`).
    public init(serverContext context: TLSContext) throws {
        precondition(context.configuration.role == .server, "TLSHandler(serverContext:) needs a server context")
        self.tlsContext = context
        self.connection = try TLSConnection(context: context, serverHostname: nil, sessionSink: nil)
        self.stateMachine = TLSStateMachine(pendingWriteBytesMax: context.configuration.pendingWriteBytesMax)
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
            ? sessionCache.map {
                TLSSessionSink(
                    cache: $0, key: sessionKey ?? serverHostname, context: context.identity, hostname: serverHostname)
            } : nil
        self.connection = try TLSConnection(context: context, serverHostname: serverHostname, sessionSink: sink)
        self.stateMachine = TLSStateMachine(pendingWriteBytesMax: context.configuration.pendingWriteBytesMax)
    }

    // MARK: Lifecycle

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive {
            start(context: context)
        }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        handshakeTimer?.cancel()
        unfedCiphertext.removeAll()
        failPendingWrites(TLSError(code: .connectionClosed, message: "TLS handler removed"))
    }

    public func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        handshakeTimer?.cancel()
        if let error = stateMachine.channelInactive() {
            failPendingWrites(error)
            context.fireErrorCaught(error)
        } else {
            failPendingWrites(TLSError(code: .connectionClosed, message: "the connection closed"))
        }
        context.fireChannelInactive()
    }

    private func start(context: ChannelHandlerContext) {
        guard stateMachine.channelActive() == .startHandshake else {
            return
        }
        let timeout = tlsContext.configuration.handshakeTimeout
        handshakeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(timeout)) { [self] in
            guard stateMachine.isHandshaking else {
                return
            }
            fail(context: context, TLSError(code: .handshakeTimeout, message: "handshake not finished in \(timeout)"))
        }
        driveHandshake(context: context)
    }

    // MARK: Inbound

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Ciphertext must reach OpenSSL in the order it arrived. Handing plaintext up can re-enter this method (a
        // flush above whose socket write fails makes NIO read what is left on the socket), so the bytes not yet fed
        // wait in the handler, not in this call: a re-entrant read queues behind them and the outermost call feeds it.
        unfedCiphertext.append(unwrapInboundIn(data))
        guard !isFeeding else {
            return
        }
        isFeeding = true
        defer { isFeeding = false }
        // A slice at a time, each taken out of the input BIO before the next goes in: its buffer, which OpenSSL never
        // shrinks, stays one slice however large the socket read.
        while var ciphertext = unfedCiphertext.popFirst() {
            guard let slice = ciphertext.readSlice(length: min(ciphertext.readableBytes, TLSConnection.bioSliceBytes)),
                slice.readableBytes > 0
            else {
                continue
            }
            if ciphertext.readableBytes > 0 {
                unfedCiphertext.prepend(ciphertext)
            }
            switch stateMachine.bytesReceived() {
            case .driveHandshake:
                connection.feed(slice)
                driveHandshake(context: context)
                if stateMachine.isActive {
                    readApplicationData(context: context)
                }
            case .readApplicationData:
                connection.feed(slice)
                readApplicationData(context: context)
            case .drop:
                unfedCiphertext.removeAll()
                return
            }
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        context.fireChannelReadComplete()
    }

    private func driveHandshake(context: ChannelHandlerContext) {
        switch connection.handshake() {
        case .complete:
            if let refusal = applicationProtocolRefusal() {
                fail(context: context, refusal)
                return
            }
            handshakeTimer?.cancel()
            handshakeTimer = nil
            let encryptPending = stateMachine.handshakeCompleted()
            flushNetworkOutput(context: context)
            context.fireUserInboundEventTriggered(handshakeCompleted())
            if encryptPending {
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

    /// Decrypts what the input BIO holds and hands it up in buffers of `readChunkBytes` (the last one less). Records'
    /// plaintext goes into the same buffer (sized from the ciphertext waiting, which is more than its plaintext):
    /// a buffer per record made a slice of tiny records — 34 bytes of ciphertext each, one
    /// 12-byte frame — into hundreds of buffers of up to 16 KiB, each kept alive by the frame sliced from it (300
    /// times the bytes received, held while the connection's frames wait for it to become writable).
    private func readApplicationData(context: ChannelHandlerContext) {
        let chunkBytes = tlsContext.configuration.readChunkBytes
        // Each turn consumes a record or stops; the bound only guards against an OpenSSL that misreports progress.
        var turnsLeft = Int(BIO_ctrl_pending(SSL_get_rbio(connection.ssl))) + 64
        var buffer = context.channel.allocator.buffer(capacity: 0)
        /// Hands up what was decrypted so far (before a close or a failure, as it came before them).
        func deliver() {
            guard buffer.readableBytes > 0 else { return }
            context.fireChannelRead(wrapInboundOut(buffer))
            buffer = context.channel.allocator.buffer(capacity: 0)
        }
        defer { deliver() }
        while stateMachine.isActive, turnsLeft > 0 {
            turnsLeft -= 1
            let step = connection.read(into: &buffer, chunkBytes: chunkBytes)
            // OpenSSL takes a peer's KeyUpdates in (and answers each) inside a read: past the limit, fail.
            if let flood = connection.postHandshakeMessages.limitExceeded {
                deliver()
                fail(context: context, flood)
                return
            }
            switch step {
            case .complete:
                if buffer.readableBytes >= chunkBytes { deliver() }
            case .wantInput:
                deliver()
                flushNetworkOutput(context: context)  // Post-handshake messages may need an answer.
                return
            case .closed:
                deliver()
                if stateMachine.closeNotifyReceived() == .sendCloseNotify {
                    failPendingWrites(TLSError(code: .connectionClosed, message: "the peer sent close_notify"))
                    sendCloseNotifyThenClose(context: context, mode: .all, promise: nil)
                }
                return
            case .failed(let error):
                deliver()
                fail(context: context, error)
                return
            }
        }
    }

    /// Bytes allocated for this connection's input and output memory BIOs, for tests of their bound.
    package var memoryBIOCapacities: (input: Int, output: Int) {
        connection.memoryBIOCapacities
    }

    /// Sends a TLS 1.3 KeyUpdate asking the peer for one back, for tests of a server's limit on handshake messages
    /// after the handshake (`TLSPostHandshakeMessages`). `context` is this handler's. Whether OpenSSL sent it.
    package func requestKeyUpdate(context: ChannelHandlerContext) -> Bool {
        guard stateMachine.isActive, connection.requestKeyUpdate() else { return false }
        flushNetworkOutput(context: context)
        return true
    }

    /// A client that offered ALPN names talks only to a server that chose one of them: a server ignoring ALPN (RFC
    /// 7301 lets it) is some other TLS service with a certificate for the name, e.g. a web server on the wrong port,
    /// and our first bytes would be garbage to it. (A server with a list refuses clients with no name in common.)
    private func applicationProtocolRefusal() -> TLSError? {
        let offered = tlsContext.configuration.applicationProtocols
        guard tlsContext.configuration.role == .client, !offered.isEmpty, connection.applicationProtocol == nil
        else { return nil }
        return TLSError(
            code: .handshakeFailed,
            message: "the server chose no application protocol (offered: \(offered.joined(separator: ", "))): "
                + "not the service expected at this address")
    }

    private func handshakeCompleted() -> TLSHandshakeCompleted {
        TLSHandshakeCompleted(
            applicationProtocol: connection.applicationProtocol, protocolVersion: connection.protocolVersion,
            cipherSuite: connection.cipherSuite, peer: connection.peerIdentity, sessionReused: connection.sessionReused,
            serverName: connection.serverName)
    }

    // MARK: Outbound

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let buffer = unwrapOutboundIn(data)
        switch stateMachine.write(bytes: buffer.readableBytes) {
        case .enqueue:
            pendingWrites.append((buffer, promise))
        case .refuse(let error):
            promise?.fail(error)
        case .failConnection(let error):
            promise?.fail(error)
            fail(context: context, error)
        }
    }

    public func flush(context: ChannelHandlerContext) {
        switch stateMachine.flush() {
        case .encryptPendingWrites:
            encryptPendingWrites(context: context)
        case .deferred:
            return
        case .passThrough:
            context.flush()
        }
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        // Encrypt what was written before the close, while the state machine still allows it.
        if stateMachine.isActive, mode != .input {
            encryptPendingWrites(context: context)
        }
        switch stateMachine.closeRequested(mode: mode) {
        case .sendCloseNotify:
            sendCloseNotifyThenClose(context: context, mode: mode, promise: promise)
        case .closeNow:
            handshakeTimer?.cancel()
            failPendingWrites(TLSError(code: .connectionClosed, message: "the connection was closed"))
            context.close(mode: mode, promise: promise)
        case .passThrough:
            context.close(mode: mode, promise: promise)
        }
    }

    /// Encrypts every pending write, coalescing small ones, and sends the ciphertext as one socket write.
    private func encryptPendingWrites(context: ChannelHandlerContext) {
        guard !pendingWrites.isEmpty else {
            return
        }
        let writes = pendingWrites
        let plaintextBytes = stateMachine.pendingWriteBytes
        pendingWrites.removeAll(keepingCapacity: true)
        stateMachine.pendingWritesDrained()
        var ciphertext = context.channel.allocator.buffer(
            capacity: Self.ciphertextCapacity(plaintextBytes: plaintextBytes, writes: writes.count))
        if let failure = encrypt(writes, into: &ciphertext, allocator: context.channel.allocator) {
            writes.forEach { $0.promise?.fail(failure) }
            fail(context: context, failure)
            return
        }
        connection.drainOutput(appendingTo: &ciphertext)
        send(ciphertext, context: context, promises: writes.compactMap(\.promise))
    }

    /// Room for the ciphertext of `writes` buffers of `plaintextBytes` in all: each makes at most one record more
    /// than its full 16 KiB records, and a record adds at most 29 bytes with our ciphers (TLS 1.2 AES-GCM; 22 in
    /// TLS 1.3). A cipher list with larger overheads only makes the buffer grow.
    static func ciphertextCapacity(plaintextBytes: Int, writes: Int) -> Int {
        let records = plaintextBytes / TLSConnection.bioSliceBytes + writes
        return plaintextBytes + records * 32
    }

    /// Feeds `writes` to OpenSSL, appending their ciphertext to `ciphertext`: buffers under `writeCoalesceBytesMax`
    /// are gathered into one `SSL_write`.
    ///
    /// The gathering buffer lives only for this call, sized to what it gathers: one kept per connection cost every
    /// idle connection `writeCoalesceBytesMax` (16 KiB) of memory for nothing.
    private func encrypt(
        _ writes: [(buffer: ByteBuffer, promise: EventLoopPromise<Void>?)], into ciphertext: inout ByteBuffer,
        allocator: ByteBufferAllocator
    ) -> TLSError? {
        if writes.count == 1 { return encrypt(writes[0].buffer, into: &ciphertext) }
        let coalesceMax = tlsContext.configuration.writeCoalesceBytesMax
        let small = writes.reduce(0) { $0 + ($1.buffer.readableBytes < coalesceMax ? $1.buffer.readableBytes : 0) }
        var scratch = allocator.buffer(capacity: min(small, coalesceMax))
        for write in writes {
            if write.buffer.readableBytes >= coalesceMax {
                if let error = encrypt(scratch, into: &ciphertext) ?? encrypt(write.buffer, into: &ciphertext) {
                    return error
                }
                scratch.clear()
                continue
            }
            if scratch.readableBytes + write.buffer.readableBytes > coalesceMax {
                if let error = encrypt(scratch, into: &ciphertext) { return error }
                scratch.clear()
            }
            var buffer = write.buffer
            scratch.writeBuffer(&buffer)
        }
        return encrypt(scratch, into: &ciphertext)
    }

    private func encrypt(_ buffer: ByteBuffer, into ciphertext: inout ByteBuffer) -> TLSError? {
        buffer.withUnsafeReadableBytes { connection.write($0, appendingTo: &ciphertext) }
    }

    /// Writes whatever ciphertext OpenSSL produced and flushes; the promises complete with that write.
    private func flushNetworkOutput(context: ChannelHandlerContext, promises: [EventLoopPromise<Void>] = []) {
        send(connection.drainOutput(allocator: context.channel.allocator), context: context, promises: promises)
    }

    /// Writes `ciphertext` (nothing when it is nil or empty) and flushes; the promises complete with that write.
    private func send(_ ciphertext: ByteBuffer?, context: ChannelHandlerContext, promises: [EventLoopPromise<Void>]) {
        guard let ciphertext, ciphertext.readableBytes > 0 else {
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
        context.writeAndFlush(wrapOutboundOut(ciphertext), promise: aggregate)
    }

    // MARK: Shutdown and failure

    /// Sends our `close_notify`, then closes the socket (or its output side, for `mode` `.output`) once it is
    /// written, or after `closeNotifyTimeout` if the peer does not read.
    private func sendCloseNotifyThenClose(
        context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?
    ) {
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
        guard stateMachine.failed() else {
            return
        }
        handshakeTimer?.cancel()
        failPendingWrites(error)
        flushNetworkOutput(context: context)
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }

    private func failPendingWrites(_ error: TLSError) {
        let writes = pendingWrites
        pendingWrites = []
        stateMachine.pendingWritesDrained()
        writes.forEach { $0.promise?.fail(error) }
    }
}

@available(*, unavailable)
extension TLSHandler: Sendable {}
