import Logging
import Metrics
import NIOCore
import NumberAPI
import NumberCore
import NumberTLS
import NumberWire

/// Carries out the server connection state machine on the channel's event loop: frames in, frames out, calls handed
/// to the connection's call queue (served by structured tasks in `NumberServer`), responses written as they finish.
///
/// Backpressure: while the channel is not writable (more than the write buffer's high-water mark queued because the
/// client does not read), frames already decoded wait here unprocessed and no further read is issued, until the
/// queue drains below the low mark. No request can arrive meanwhile: the request arrival clock stands still and goes
/// on, with the time each request had left, when processing resumes; the idle timeout ends a client that never reads
/// again.
final class ServerConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Timeouts the handler enforces.
    struct Timeouts {
        /// From channel active until the client's SETTINGS (the TLS handshake has its own timeout).
        var settings: TimeAmount
        /// From a call's HEADERS until its whole request MESSAGE has arrived.
        var requestArrival: TimeAmount
        /// From the first bytes of a frame until its last (``settleFrameArrival()``).
        var frameArrival: TimeAmount
        /// Without a running call before the connection is closed (`ServerConnectionStateMachine.idleTimeoutFired`).
        var idle: TimeAmount
        /// How long a closing GOAWAY may take to be written before the connection is closed without it.
        var goAwayFlush: TimeAmount
    }

    private var state: ServerConnectionStateMachine
    private let router: RPCRouter
    /// Responses written before a flush even inside one read burst (16): batching saves TLS records and syscalls,
    /// a bound on it lets the client work on the first answers of a long burst while the server makes the rest.
    static let unflushedWritesMax = 16

    private let timeouts: Timeouts
    private let calls: AsyncStream<ServerCall>.Continuation
    private let logger: Logger
    private let metrics: ServerMetrics
    private var context: ChannelHandlerContext?
    private var peer = PeerInfo(address: "unknown")
    /// The drain timeout fired: its GOAWAY (`NO_ERROR`) closes the connection abortively all the same.
    private var drainTimedOut = false
    /// Whether the TLS handshake completed (true from the start without TLS): a TLS or socket error before it is a
    /// failed handshake.
    private var handshakeCompleted = false
    /// Whether the handshake's failure was counted: a reset reads as a socket error, then maybe as the TLS layer's
    /// "closed during the handshake" as well, and it is one failure.
    private var handshakeFailureCounted = false
    private let memo = ConnectionMemo()
    /// Whether the synchronous call running now proved its caller's key (reset before each one).
    private let synchronousAuthentication = CallAuthentication()
    private var flushPending = false
    private var flushScheduled = false
    /// Writes since the last flush.
    private var unflushedWrites = 0
    /// Frames are written into one buffer, handed to the TLS handler at each flush and then reused: a response
    /// costs no buffer or frame array of its own, and many responses share one TLS record and one socket write.
    private var output = ByteBuffer()
    /// The most capacity `output` keeps from one flush to the next while calls are open (a bigger one, after a
    /// burst of large responses, is let go; an idle connection keeps none).
    static let outputCapacityKept = 16 * 1024
    /// A burst flushes once its unflushed bytes pass this (the channel's high-water mark): until flushed they are
    /// unseen by the channel's writability.
    private let unflushedBytesMax: Int
    /// Frames that arrived while the channel was not writable, processed when it is again (what the read burst
    /// brought after it became unwritable: no read is issued meanwhile, but one burst is up to four reads of up to
    /// 64 KiB). Each payload is in storage not far bigger than itself (`withoutExcessStorage()`): not a slice keeping
    /// the reader's grown buffer alive. Counted with the partial frames (``framesHeldBytes``), and let go of once
    /// processed: a wire review found a burst of 12-byte frames from a client that reads nothing held uncounted, in a
    /// table grown to 32,768 slots (~1 MiB) that the connection kept for its life.
    private var framesHeld = CircularBuffer<Frame>()
    /// What ``framesHeld`` holds: each frame's payload and ``heldFrameOverhead``.
    private var framesHeldBytes = 0
    /// What a held frame costs besides its payload: its slot in the table and its payload's storage.
    static let heldFrameOverhead = 64
    /// The slots ``framesHeld`` keeps (tests).
    var framesHeldCapacity: Int { framesHeld.capacity }
    /// A read was asked for while the channel was not writable; issued once it is.
    private var readHeld = false
    private var inReadBurst = false
    /// Frames are decoded here (``FrameReader``), not by a handler in front: a few percent of a call's CPU.
    private let frameReader: FrameReader
    private var settingsTimer: Scheduled<Void>?
    private var idleTimer: Scheduled<Void>?
    /// When each call still waiting for its request MESSAGE opened (at most MAX_CONCURRENT_STREAMS entries).
    private var requestsAwaited: [UInt32: NIODeadline] = [:]
    /// Streams that got a frame in the current read burst (``settleRequestArrivals()``).
    private var touchedStreams: [UInt32] = []
    /// One timer for every awaited request, armed for the oldest.
    private var requestTimer: Scheduled<Void>?
    /// The frame whose bytes have started arriving and not all come: since when, and which (the count of frames
    /// decoded before it). Nil while the reader holds no partial frame.
    private var partialFrame: (since: NIODeadline, framesBefore: Int)?
    /// Fires when the partial frame is due (re-armed for a later one).
    private var frameTimer: Scheduled<Void>?
    /// The server's budget of bytes in partially received frames (nil: none, for tests of other things).
    private let partialFrames: ServerByteBudget?
    /// What this connection has taken from `partialFrames`: the partial frame its reader held at the end of the last
    /// read burst, and the HEADERS of its calls then waiting for their MESSAGE (``settlePartialFrameBytes()``).
    private var partialFrameShare = ServerByteBudget.Share()
    /// The server's budget of reply bytes written to connections and not yet taken by their clients (nil: none).
    private let unsentReplies: ServerByteBudget?
    /// What this connection has taken from `unsentReplies`: what its channel held unsent beyond the allowance when it
    /// last looked (``settleUnsentReplies(context:)``).
    private var unsentReplyShare = ServerByteBudget.Share()
    /// The connection was refused for the unsent reply budget and is closing: it keeps its share until it is closed
    /// (its bytes are still held until then) and settles no more.
    private var unsentReplyRefused = false
    /// Since when the server holds the connection's reads (the channel became unwritable), until processing resumes:
    /// the request arrival clocks stand still meanwhile (``resumeRequestArrivals()``).
    private var pausedSince: NIODeadline?
    /// When the connection last became idle (no running call); nil while calls run.
    private var idleSince: NIODeadline?
    /// The deadline of each running asynchronous call that has one, and the timer that ends the call at it.
    private var deadlineTimers: [UInt32: CallDeadline] = [:]
    /// How to stop the task of each running asynchronous call (at most MAX_CONCURRENT_STREAMS entries).
    private var cancellations: [UInt32: CallCancellation] = [:]
    /// What each call's completion is recorded and logged with (at most MAX_CONCURRENT_STREAMS entries).
    private var callStarts: [UInt32: CallStart] = [:]

    /// When a running call's deadline is (by the event loop's clock) and its timer.
    private struct CallDeadline {
        var at: NIODeadline
        var timer: Scheduled<Void>
        /// When it was armed: when the call started.
        var armedAt: NIODeadline
    }

    /// A started call's method (its metrics label: "unknown" for a path no handler has), start and request id.
    private struct CallStart {
        var method: String
        var start: NIODeadline
        /// The client's `request-id`, or the one the server made when it sent none: every log line about the call
        /// carries it, as its handler's logger (``CallContext/logger``) does.
        var requestID: String
    }
    /// This connection's metric series (bounded: registered methods and "unknown", times the status codes).
    private var callMetrics: [ServerMetrics.Key: ServerMetrics.CallHandles] = [:]
    /// This connection's `numberd_calls_in_flight` series, by registered method (as `callMetrics`: the server's lock
    /// once per method and connection).
    private var inFlightMeters: [String: Meter] = [:]
    /// Refused calls logged so far (``refusalLogLevel()``).
    private var refusedCallsLogged = 0
    /// Calls refused before their handler ran (too many streams, no request, malformed headers or request, bad
    /// metadata, unknown method) or for their caller (UNAUTHENTICATED, PERMISSION_DENIED) logged at info per
    /// connection (3); later ones at debug: any client can make them without a key, and a line each let anonymous
    /// traffic flood the log. `numberd_calls_total` still counts every one.
    static let refusedCallsLoggedMax = 3
    /// Failed calls of callers with a key logged at info per connection in one window (``failedCallsWindow``); the
    /// rest at debug, and counted in one line when the next window starts (at info within the server-wide budget):
    /// a client retrying into `RATE_LIMITED` at thousands of calls a second wrote a line each, on the event loop. 20.
    static let failedCallsLoggedMax = 20
    /// The window of ``failedCallsLoggedMax``. 10 s.
    static let failedCallsWindow = Duration.seconds(10)
    /// Failed calls logged at info in the current window, when it started, and those logged at debug in it.
    private var failedCalls = ThrottledCount()
    /// The server's budgets of the lines above (and of the notices of closed connections), shared with its other
    /// connections: each connection's own limits start afresh with it, so a client that reconnects got them anew.
    private let logBudgets: ServerLogBudgets

    init(
        limits: ServerConnectionStateMachine.Limits, timeouts: Timeouts, router: RPCRouter,
        calls: AsyncStream<ServerCall>.Continuation, logger: Logger, metrics: ServerMetrics,
        unflushedBytesMax: Int = 64 * 1024, partialFrames: ServerByteBudget? = nil,
        unsentReplies: ServerByteBudget? = nil, logBudgets: ServerLogBudgets = ServerLogBudgets()
    ) {
        self.logBudgets = logBudgets
        self.partialFrames = partialFrames
        self.unsentReplies = unsentReplies
        self.frameReader = FrameReader(FrameDecoder(limits: FrameLimits(limits.settings), expectsPreface: true))
        self.unflushedBytesMax = unflushedBytesMax
        self.state = ServerConnectionStateMachine(limits: limits)
        self.timeouts = timeouts
        self.router = router
        self.calls = calls
        self.logger = logger
        self.metrics = metrics
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        handshakeCompleted = (try? context.pipeline.syncOperations.handler(type: TLSHandler.self)) == nil
        if context.channel.isActive { start(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    private func start(context: ChannelHandlerContext) {
        guard settingsTimer == nil else { return }
        peer.address = context.channel.remoteAddress?.description ?? "unknown"
        write(state.greeting(), context: context)
        flushNow(context: context)
        settingsTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeouts.settings) { [self] in
            perform(state.settingsTimeoutFired())
        }
        armIdleTimer()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        inReadBurst = true
        let failure = frameReader.read(unwrapInboundIn(data)) { frame in
            guard framesHeld.isEmpty, context.channel.isWritable else {
                // Held until the client reads, maybe long: in storage of its own when the buffer it was read into is
                // far bigger (after a large frame), which a slice would keep whole after the reader let go of it.
                var held = frame
                held.payload = frame.payload.withoutExcessStorage()
                framesHeld.append(held)
                framesHeldBytes += held.payload.readableBytes + Self.heldFrameOverhead
                return
            }
            process(frame)
        }
        if let failure { errorCaught(context: context, error: failure) }
    }

    private func process(_ frame: Frame) {
        perform(
            state.received(
                frame, now: now,
                times: { deadlineTimers[$0].map { .init(started: $0.armedAt, deadline: $0.at) } }))
        if frame.streamID != 0 { touchedStreams.append(frame.streamID) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        inReadBurst = false
        settleRequestArrivals()
        settleFrameArrival()
        if flushPending { flushNow(context: context) }
        context.fireChannelReadComplete()
    }

    /// Reads only while the client takes what it is sent: otherwise the read waits for writability.
    func read(context: ChannelHandlerContext) {
        guard framesHeld.isEmpty, context.channel.isWritable else {
            readHeld = true
            return
        }
        context.read()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            settleUnsentReplies(context: context)
            resumeAfterBackpressure(context: context)
        } else if pausedSince == nil {
            pausedSince = now
        }
        context.fireChannelWritabilityChanged()
    }

    /// The client read enough: process the frames held meanwhile (stopping again if it falls behind), then read.
    /// Writability can come back inside a read burst (a flush while a frame is processed can make the channel
    /// unwritable and writable again): then the burst's own end settles and flushes.
    private func resumeAfterBackpressure(context: ChannelHandlerContext) {
        resumeRequestArrivals()
        let inBurst = inReadBurst
        inReadBurst = true
        while context.channel.isWritable, let frame = framesHeld.popFirst() {
            framesHeldBytes -= frame.payload.readableBytes + Self.heldFrameOverhead
            process(frame)
        }
        // The table keeps the capacity it grew to: a new one once it is empty.
        if framesHeld.isEmpty, framesHeld.capacity > 16 { framesHeld = CircularBuffer() }
        guard !inBurst else { return }
        inReadBurst = false
        settleRequestArrivals()
        // HEADERS processed just now may wait for their MESSAGE, which no further read may bring for a while.
        _ = settlePartialFrameBytes()
        if flushPending { flushNow(context: context) }
        if framesHeld.isEmpty, readHeld, context.channel.isWritable {
            readHeld = false
            context.read()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let handshake = event as? TLSHandshakeCompleted {
            handshakeCompleted = true
            if let identity = handshake.peer {
                peer.certificateIdentities =
                    ([identity.commonName].compactMap { $0 } + identity.dnsNames + identity.ipAddresses)
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let framing = error as? FramingError {
            // The rest of a read after the connection closed (a flood's) is not processed: not a second closing.
            guard state.phase != .closed else { return }
            metrics.protocolErrors.increment()
            let level = budgeted(
                .notice, logBudgets.connectionClosings, key: "framing",
                held: "connections closed for a framing error logged at debug (server-wide limit)")
            logger.log(
                level: level, "closing connection: framing error",
                metadata: ["peer": "\(peer.address)", "error": "\(framing)"])
            perform(state.framingError(framing))
        } else if let tls = error as? TLSError, !handshakeCompleted {
            handshakeFailed(tls, context: context)
        } else if error is IOError, !handshakeCompleted {
            // A reset (ECONNRESET) while the handshake ran: the client went away, as surely as by closing.
            handshakeFailed(
                TLSError(
                    code: .handshakeFailed, message: "the peer reset the connection during the handshake: \(error)"),
                context: context)
        } else {
            // A KeyUpdate flood or a bad record after the handshake is abuse or breakage worth a line; a client that
            // closes without close_notify (most do) is not.
            let level =
                (error as? TLSError)?.code == .protocolError
                ? budgeted(
                    .notice, logBudgets.connectionClosings, key: "tls",
                    held: "connections closed for a TLS protocol error logged at debug (server-wide limit)")
                : .debug
            logger.log(
                level: level, "closing connection", metadata: ["peer": "\(peer.address)", "error": "\(error)"])
            context.close(promise: nil)
        }
    }

    /// A TLS handshake failed (the TLS handler closes the connection): counted by reason, and a notice within the
    /// server-wide budget of connection-closing lines, so that a wrong `--client-ca` or an expired certificate, which
    /// fail every connection, are seen. A client that closed during the handshake (a TCP health check) only at debug.
    private func handshakeFailed(_ error: TLSError, context: ChannelHandlerContext) {
        context.close(promise: nil)
        guard !handshakeFailureCounted else { return }
        handshakeFailureCounted = true
        let reason = ServerMetrics.HandshakeFailure(error)
        metrics.recordHandshakeFailure(reason)
        let level =
            reason == .closed
            ? Logger.Level.debug
            : budgeted(
                .notice, logBudgets.connectionClosings, key: "handshake-\(reason.rawValue)",
                held: "failed TLS handshakes logged at debug (server-wide limit)")
        logger.log(
            level: level, "TLS handshake failed",
            metadata: ["peer": "\(peer.address)", "reason": "\(reason.rawValue)", "error": "\(error)"])
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        givePartialFrameBytesBack()
        giveUnsentReplyBytesBack()
        // The context holds this handler and this handler held the context: kept, the pair outlived the connection,
        // and with it all the handler holds (its calls' waiting HEADERS, up to 1.6 MiB; frames held; the API keys its
        // memo saw) — every connection closed leaked it, with the budgets given back above already reading zero.
        self.context = nil
        dropFramesHeld()
        frameReader.discard()
    }

    func channelInactive(context: ChannelHandlerContext) {
        reportQuietedFailedCalls(failedCalls.takeHeld())
        givePartialFrameBytesBack()
        giveUnsentReplyBytesBack()
        settingsTimer?.cancel()
        idleTimer?.cancel()
        requestTimer?.cancel()
        frameTimer?.cancel()
        for deadline in deadlineTimers.values { deadline.timer.cancel() }
        deadlineTimers.removeAll()
        // Nobody can receive these calls' results any more: stop their work.
        for cancellation in cancellations.values { cancellation.cancel() }
        cancellations.removeAll()
        calls.finish()
        context.fireChannelInactive()
    }

    // MARK: Called from outside (on the event loop)

    /// A call finished: write its response unless the stream was cancelled or timed out meanwhile. `completed` is
    /// false when the server ends the call itself (its deadline passed): that renews no flood budget, and neither
    /// does a call whose caller was refused (UNAUTHENTICATED, PERMISSION_DENIED) or did not prove a key
    /// (`authenticated`, ``CallContext/markAuthenticated()``: HealthCheck, a malformed request); UNAUTHENTICATED ones
    /// also spend the connection's budget of failed authentications, which a proved key resets. `unheard` marks a
    /// call the server refused before any handler ran (``finishNow(_:_:)``).
    func complete(
        streamID: UInt32, result: Result<ByteBuffer, RPCError>, completed: Bool = true, authenticated: Bool = false,
        unheard: Bool = false
    ) {
        guard let context else { return }
        cancellations.removeValue(forKey: streamID)
        var failure: RPCError?
        if case .failure(let error) = result { failure = error }
        let unauthenticated = failure?.code == .unauthenticated
        let callerRefused = unauthenticated || failure?.code == .permissionDenied
        let (send, then) = state.callFinished(
            streamID: streamID, completed: completed && !callerRefused, authenticated: authenticated,
            authenticationFailed: unauthenticated)
        guard send else { return }
        if unauthenticated, state.failedAuthentications == state.limits.failedAuthenticationsMax + 1 {
            let level = budgeted(
                .notice, logBudgets.connectionClosings, key: "authentication",
                held: "connections drained for failed authentications logged at debug (server-wide limit)")
            logger.log(
                level: level, "draining connection: too many failed authentications",
                metadata: ["peer": "\(peer.address)", "failed": "\(state.failedAuthentications)"])
        }
        deadlineTimers.removeValue(forKey: streamID)?.timer.cancel()
        let status: StatusCode
        switch result {
        case .success(let payload) where payload.readableBytes > Int(state.peerSettings.maxMessagePayload):
            status = .resourceExhausted
            writeTrailers(
                streamID,
                RPCError(
                    code: .resourceExhausted, message: "the response exceeds the client's message size limit",
                    reason: "RESPONSE_TOO_LARGE"
                ).status, context: context)
        case .success(var payload):
            status = .ok
            // MESSAGE and an empty TRAILERS (OK) go straight into the connection's output: no frame values between.
            output.reserveCapacity(minimumWritableBytes: 2 * Frame.headerLength + payload.readableBytes)
            output.writeFrameHeader(payloadLength: payload.readableBytes, type: .message, streamID: streamID)
            output.writeBuffer(&payload)
            output.writeFrameHeader(payloadLength: 0, type: .trailers, streamID: streamID)
            wrote(context: context)
        case .failure(let error):
            status = error.code
            writeTrailers(streamID, error.status, context: context)
        }
        let anyoneCould = unheard || callerRefused || failure?.reason == "MALFORMED_REQUEST"
        recordCompletion(streamID: streamID, status: status, anyoneCould: anyoneCould)
        scheduleFlush(context: context)
        perform(then)
        if state.runningCallCount == 0 { armIdleTimer() }
    }

    /// Starts a graceful shutdown: GOAWAY, finish open calls, close.
    func drain() {
        perform(state.beginDraining())
    }

    /// Ends the connection now (the drain timeout passed): abortively, as for a limit, so that a client that does not
    /// read is let go of within `goAwayFlush`, not that plus the close_notify wait (5 s) past the documented drain.
    func forceClose() {
        drainTimedOut = true
        perform(state.drainTimeoutFired())
    }

    // MARK: Carrying out actions

    private func perform(_ action: ServerConnectionStateMachine.Action) {
        guard let context else { return }
        switch action {
        case .none:
            break
        case .write(let frames):
            if state.phase == .active { settingsTimer?.cancel() }
            write(frames, context: context)
            scheduleFlush(context: context)
        case .startCall(let streamID, let headers, let message):
            markBusy()
            startCall(streamID: streamID, headersPayload: headers, message: message, context: context)
        case .rejectCall(let streamID, let code, let message, let thenClose):
            let reason = code == 8 ? "TOO_MANY_STREAMS" : "BAD_CALL"
            reject(streamID, RpcStatus(code: code, message: message, reason: reason), context: context)
            if thenClose { perform(.close) } else { scheduleFlush(context: context) }
        case .forgetCall(let streamID, let thenClose):
            deadlineTimers.removeValue(forKey: streamID)?.timer.cancel()
            cancellations.removeValue(forKey: streamID)?.cancel()
            recordCompletion(streamID: streamID, status: .cancelled)
            if thenClose {
                perform(.close)
            } else if state.runningCallCount == 0 {
                armIdleTimer()
            }
        case .closeRefusingTooLarge(let streamID, let message, let awaiting, let away):
            let status = RpcStatus(
                code: StatusCode.resourceExhausted.rawValue,
                message: "the request is larger than the server takes (\(message)): the call was not started; send "
                    + "a smaller one",
                reason: "REQUEST_TOO_LARGE")
            reject(streamID, status, context: context)
            perform(awaiting.isEmpty ? .closeWithGoAway(away) : .closeWithGoAwayRefusing(awaiting, away))
        case .closeWithGoAwayRefusing(let streamIDs, let away):
            // Calls whose request had not arrived: never started, though the GOAWAY names them. Answered before it,
            // so their client knows (RESOURCE_EXHAUSTED, as for the partial frame budget) and may send them again.
            let status = RpcStatus(
                code: StatusCode.resourceExhausted.rawValue,
                message:
                    "the connection was closed before the request arrived (\(away.message)): the call was not started",
                reason: "REQUEST_NOT_ARRIVED")
            for streamID in streamIDs { reject(streamID, status, context: context) }
            perform(.closeWithGoAway(away))
        case .closeWithGoAway(let away):
            // After whatever is still unflushed, so the client sees those answers first.
            var buffer = output
            output = ByteBuffer()
            buffer.writeFrame(Frame(type: .goAway, streamID: 0, payload: away.payload()))
            flushPending = false
            unflushedWrites = 0
            // The write may never complete: a peer still in the TLS handshake (the GOAWAY waits behind it) or one
            // that does not read. Close anyway once the flush timeout passes, so every limit really ends it. For a
            // limit, twice: the first close sends TLS close_notify, which would wait behind the same unread bytes for
            // a timeout of its own (5 s); a close while that waits closes the socket at once (TLSHandler). A graceful
            // close (a drain, idle) keeps the close_notify wait, so a slow reader still gets the answers before it;
            // not the drain timeout's: the drain has had its time.
            let loop = context.eventLoop.assumeIsolated()
            let abortive = away.code != .noError || drainTimedOut
            let giveUp = loop.scheduleTask(in: timeouts.goAwayFlush) {
                context.close(promise: nil)
                if abortive { context.close(promise: nil) }
            }
            context.writeAndFlush(wrapOutboundOut(buffer)).assumeIsolated().whenComplete { _ in
                giveUp.cancel()
                context.close(promise: nil)
            }
        case .close:
            flushNow(context: context)
            context.close(promise: nil)
        }
    }

    /// Answers a call refused before its HEADERS were read: no method or request-id to name, the reason says why.
    private func reject(_ streamID: UInt32, _ status: RpcStatus, context: ChannelHandlerContext) {
        let code = StatusCode(rawValue: status.code)
        // The method its HEADERS named, if they were kept and decode and it is registered (unknown paths must not grow
        // the label set): a client's refused GetBalance calls were counted under "unknown".
        let method =
            state.takeRefusedHeaders(of: streamID)
            .flatMap { try? ProtoDecoder().decode(RequestHeaders.self, from: $0).method }
            .flatMap { router.entry(for: $0) == nil ? nil : $0 } ?? "unknown"
        metrics.recordCall(method: method, status: code, duration: .zero)
        logger.log(
            level: refusalLogLevel(), "call failed",
            metadata: [
                "method": "\(method)", "status": "\(code)", "reason": "\(status.reason)", "peer": "\(peer.address)",
            ])
        writeTrailers(streamID, status, context: context)
    }

    private func startCall(
        streamID: UInt32, headersPayload: ByteBuffer, message: ByteBuffer, context: ChannelHandlerContext
    ) {
        let headers: RequestHeaders
        do {
            headers = try ProtoDecoder().decode(RequestHeaders.self, from: headersPayload)
        } catch {
            // Counted and logged like any refused call: under "unknown", with an id made here (none could be read).
            callStarts[streamID] = CallStart(method: "unknown", start: .now(), requestID: RequestID.make())
            finishNow(
                streamID,
                RPCError(
                    code: .invalidArgument, message: "HEADERS is not a valid RequestHeaders: \(error)",
                    reason: "MALFORMED_HEADERS"))
            return
        }
        let entry = router.entry(for: headers.method)
        // The client's request id, unless it breaks the rules (then the metadata check refuses the call and its log
        // line carries one made here, not the value sent).
        let sentID = headers.metadata["request-id"].flatMap { MetadataRules.isValidRequestID($0) ? $0 : nil }
        let requestID = sentID ?? RequestID.make()
        // Only registered methods name a metrics series: unknown paths from clients must not grow the label set.
        callStarts[streamID] = CallStart(
            method: entry == nil ? "unknown" : headers.method, start: .now(), requestID: requestID)
        if let problem = MetadataRules.check(headers.metadata) {
            finishNow(streamID, problem)
            return
        }
        guard let entry else {
            finishNow(
                streamID,
                RPCError(code: .unimplemented, message: "unknown method \(headers.method)", reason: "UNKNOWN_METHOD"))
            return
        }
        var deadline: NIODeadline?
        if headers.timeoutMicros != 0 {
            guard headers.timeoutMicros > 0 else {
                finishNow(
                    streamID,
                    RPCError(
                        code: .deadlineExceeded, message: "the deadline had passed before the call arrived",
                        reason: "DEADLINE_PASSED"))
                return
            }
            // On the event loop's clock, which the CANCEL rule compares it with (`NIODeadline.now()` on a real loop).
            deadline = now + .microseconds(min(headers.timeoutMicros, Int64.max / 1000))
        }
        switch entry {
        case .synchronous(let handler):
            // An in-memory read: run it here, in the read burst that brought it. It finishes before any timer
            // could fire, so it needs no deadline timer; its response is flushed with the burst's other responses.
            // Such calls run one at a time, so they share one authentication flag: no allocation per call.
            synchronousAuthentication.reset()
            let callContext = CallContext(
                method: headers.method, metadata: headers.metadata, deadline: deadline, requestID: requestID,
                peer: peer, connectionLogger: logger, connection: memo, authentication: synchronousAuthentication,
                logBudgets: logBudgets)
            let result = handler(message, callContext)
            complete(streamID: streamID, result: result, authenticated: synchronousAuthentication.isProved)
        case .asynchronous(let decode):
            // Decoded here, in the read burst that brought it: the call's task gets the request, not its bytes, which
            // are let go with this burst however long the call then waits in the core. One that does not decode
            // still goes through the task, which answers its MALFORMED_REQUEST as before (after SHUTTING_DOWN).
            let handler: RPCRouter.DecodedCall
            switch decode(message) {
            case .success(let decoded): handler = decoded
            case .failure(let error): handler = { _ in .failure(error) }
            }
            let callContext = CallContext(
                method: headers.method, metadata: headers.metadata, deadline: deadline, requestID: requestID,
                peer: peer, connectionLogger: logger, connection: memo, authentication: CallAuthentication(),
                logBudgets: logBudgets)
            if let deadline { armDeadline(streamID: streamID, deadline: deadline, context: context) }
            let cancellation = CallCancellation()
            cancellations[streamID] = cancellation
            let call = ServerCall(
                streamID: streamID, context: callContext, handler: handler,
                connection: NIOLoopBound(self, eventLoop: context.eventLoop), cancellation: cancellation,
                inFlight: inFlightMeter(headers.method))
            // The stream is unbounded, so a call is refused only once nothing takes calls from it any more (the
            // server's task was cancelled): never started, which the client retries elsewhere.
            switch calls.yield(call) {
            case .enqueued:
                break
            case .dropped, .terminated:
                finishNow(
                    streamID,
                    RPCError(code: .unavailable, message: "the server is shutting down", reason: "SHUTTING_DOWN"))
            @unknown default:
                break
            }
        }
    }

    /// Answers DEADLINE_EXCEEDED when the call's deadline passes first and cancels its task (a late result is
    /// dropped).
    private func armDeadline(streamID: UInt32, deadline: NIODeadline, context: ChannelHandlerContext) {
        let timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            deadlineTimers[streamID] = nil
            cancellations.removeValue(forKey: streamID)?.cancel()
            complete(
                streamID: streamID,
                result: .failure(
                    RPCError(
                        code: .deadlineExceeded, message: "the call's deadline passed", reason: "DEADLINE_EXCEEDED")
                ), completed: false)
        }
        deadlineTimers[streamID] = CallDeadline(at: deadline, timer: timer, armedAt: now)
    }

    /// Ends a call the server refuses before any work (unknown method, bad headers, a deadline already passed,
    /// shutting down): like a deadline, that renews no flood budget, or a client could renew its PING, SETTINGS and
    /// CANCEL budgets for free with a bogus call.
    private func finishNow(_ streamID: UInt32, _ error: RPCError) {
        complete(streamID: streamID, result: .failure(error), completed: false, unheard: true)
    }

    /// The `numberd_calls_in_flight` series of `method`, a registered one.
    private func inFlightMeter(_ method: String) -> Meter {
        if let meter = inFlightMeters[method] { return meter }
        let meter = metrics.callsInFlight(method)
        inFlightMeters[method] = meter
        return meter
    }

    /// Records a finished call in the metrics and the log. `anyoneCould`: a call any client can make fail without a
    /// key (refused before its handler, or for its caller), logged at info only for the first few on the connection.
    private func recordCompletion(streamID: UInt32, status: StatusCode, anyoneCould: Bool = false) {
        guard let start = callStarts.removeValue(forKey: streamID) else { return }
        let duration = NIODeadline.now() - start.start
        let key = ServerMetrics.Key(method: start.method, status: status.rawValue)
        if let handles = callMetrics[key] {
            handles.record(duration)
        } else {
            let handles = metrics.handles(for: key)
            callMetrics[key] = handles
            handles.record(duration)
        }
        if status == .ok {
            logger.debug(
                "call finished",
                metadata: [
                    "method": "\(start.method)", "request-id": "\(start.requestID)", "status": "\(status)",
                    "micros": "\(duration.nanoseconds / 1000)",
                ])
        } else {
            logger.log(
                level: anyoneCould ? refusalLogLevel() : failedCallLogLevel(status), "call failed",
                metadata: [
                    "method": "\(start.method)", "request-id": "\(start.requestID)", "status": "\(status)",
                    "micros": "\(duration.nanoseconds / 1000)", "peer": "\(peer.address)",
                ])
        }
    }

    /// The level of the next failed call's line: info for the first ``failedCallsLoggedMax`` of each window on the
    /// connection, then debug (``ThrottledCount``); the first line of a later window first says how many were. The server's own
    /// failures (`INTERNAL`, `UNKNOWN`, `UNAVAILABLE`, `DATA_LOSS`: a store or provider problem, an outcome left
    /// unknown) are not limited per connection: a flood of refusals must not hide them. Either is at info only while
    /// the server-wide budget (``ServerLogBudgets/failedCallsLinesMax``, the server's own failures apart per status)
    /// has room.
    private func failedCallLogLevel(_ status: StatusCode) -> Logger.Level {
        let held: Logger.Message = "failed calls logged at debug (server-wide limit)"
        switch status {
        case .internal, .unknown, .unavailable, .dataLoss:
            return budgeted(.info, logBudgets.failedCalls, key: "\(status)", held: held)
        default: break
        }
        switch failedCalls.take(now: .now, interval: Self.failedCallsWindow, linesMax: Self.failedCallsLoggedMax) {
        case .held:
            return .debug
        case .log(let heldBefore):
            reportQuietedFailedCalls(heldBefore)
            return budgeted(.info, logBudgets.failedCalls, key: "request", held: held)
        }
    }

    /// One line with how many failed calls of the connection were logged at debug (none if none): with the first line
    /// a later window lets through, or at the connection's end. At info only while the server-wide budget of failed
    /// calls' lines (``ServerLogBudgets/failedCallsLinesMax``, shared with the calls' own lines) has room, else debug:
    /// written at info outside it, a client that reconnected after each 21 failed calls got one more info line per
    /// connection, however many connections.
    private func reportQuietedFailedCalls(_ calls: Int) {
        guard calls > 0 else { return }
        let level = budgeted(
            .info, logBudgets.failedCalls, key: "request", held: "failed calls logged at debug (server-wide limit)")
        logger.log(
            level: level, "failed calls logged at debug", metadata: ["calls": "\(calls)", "peer": "\(peer.address)"])
    }

    /// The level of the next refused call's line: info for the first few on the connection while the server-wide
    /// budget (``ServerLogBudgets/refusedCallsLinesMax``) has room, else debug.
    private func refusalLogLevel() -> Logger.Level {
        refusedCallsLogged += 1
        guard refusedCallsLogged <= Self.refusedCallsLoggedMax else { return .debug }
        return budgeted(.info, logBudgets.refusedCalls, held: "refused calls logged at debug (server-wide limit)")
    }

    /// `level` while the server-wide `budget` has room for one more line of `key`, else debug
    /// (``LogBudget/level(_:key:logger:held:)``).
    private func budgeted(
        _ level: Logger.Level, _ budget: LogBudget, key: String = "", held: @autoclosure () -> Logger.Message
    ) -> Logger.Level {
        budget.level(level, key: key, logger: logger, held: held())
    }

    /// Writes TRAILERS within the client's MAX_HEADERS_PAYLOAD (the message shortened if need be).
    private func writeTrailers(_ streamID: UInt32, _ status: RpcStatus, context: ChannelHandlerContext) {
        let payload = status.encoded(bytesMax: Int(state.peerSettings.maxHeadersPayload))
        write([Frame(type: .trailers, streamID: streamID, payload: payload)], context: context)
    }

    // MARK: Writing

    private func write(_ frames: [Frame], context: ChannelHandlerContext) {
        guard !frames.isEmpty else { return }
        for frame in frames { output.writeFrame(frame) }
        wrote(context: context)
    }

    /// Counts a response or control frame just put into `output`: a long burst flushes as it goes, so the client
    /// starts on the first answers while later ones are made, and the channel's writability sees what it queued.
    private func wrote(context: ChannelHandlerContext) {
        flushPending = true
        unflushedWrites += 1
        if unflushedWrites >= Self.unflushedWritesMax || output.readableBytes >= unflushedBytesMax {
            flushNow(context: context)
        }
    }

    /// Flushes at the end of the current read burst, or in one event-loop task for responses finished elsewhere,
    /// so that many responses share one TLS record and one socket write.
    private func scheduleFlush(context: ChannelHandlerContext) {
        guard !inReadBurst, !flushScheduled else { return }
        flushScheduled = true
        context.eventLoop.assumeIsolated().execute { [self] in
            flushScheduled = false
            if flushPending, let context = self.context { flushNow(context: context) }
        }
    }

    private func flushNow(context: ChannelHandlerContext) {
        flushPending = false
        unflushedWrites = 0
        if output.readableBytes > 0 {
            // A slice: frames written while the flush runs (a failed socket write makes NIO read, and a read can
            // answer a call) land after it and stay in `output`, neither lost nor sent twice.
            let chunk = output.readSlice(length: output.readableBytes)!
            context.write(wrapOutboundOut(chunk), promise: nil)
            context.flush()
            settleUnsentReplies(context: context)
            // The TLS handler encrypted what it was given during the flush and let go of it: the buffer is ours alone
            // again and `clear` keeps its storage while calls are open. A bigger one than needed is dropped, and so is
            // any once the connection has no open call: an idle connection holds no output memory.
            if output.readableBytes == 0 {
                if output.capacity > Self.outputCapacityKept || state.openStreamCount == 0 {
                    output = ByteBuffer()
                } else {
                    output.clear()
                }
            }
        } else {
            context.flush()
        }
    }

    /// Notes that the connection has no running call from now on. One timer serves many idle periods: when it fires
    /// early (calls came and went meanwhile) it re-arms for the rest of the current period, so a connection with
    /// short gaps between calls does not schedule and cancel a timer per call.
    private func armIdleTimer() {
        guard timeouts.idle > .zero else { return }
        let now = self.now
        idleSince = now
        if idleTimer == nil { scheduleIdleCheck(at: now + timeouts.idle) }
    }

    private func scheduleIdleCheck(at deadline: NIODeadline) {
        guard let context else { return }
        idleTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            idleTimer = nil
            guard let since = idleSince else { return }
            let due = since + timeouts.idle
            if now >= due {
                perform(state.idleTimeoutFired(framesHeld: holdsFrames))
                // Streams still open without a running call (their requests not arrived): check again later.
                if state.phase != .closed { scheduleIdleCheck(at: now + timeouts.idle) }
            } else {
                scheduleIdleCheck(at: due)
            }
        }
    }

    /// After a read burst, starts the request arrival clock of each stream that got a frame and still waits for its
    /// request (its HEADERS moved to storage of its own), and stops it for the others. Once per burst, not per frame:
    /// a request whose HEADERS and MESSAGE arrive together (nearly all) costs no clock read, table entry or copy.
    private func settleRequestArrivals() {
        guard !touchedStreams.isEmpty else { return }
        defer { touchedStreams.removeAll(keepingCapacity: true) }
        var now: NIODeadline?
        for streamID in touchedStreams {
            guard state.isAwaitingRequest(streamID) else {
                if !requestsAwaited.isEmpty { requestsAwaited.removeValue(forKey: streamID) }
                continue
            }
            guard requestsAwaited[streamID] == nil else { continue }
            state.requestAwaited(streamID: streamID)
            guard timeouts.requestArrival > .zero else { continue }
            let at = now ?? self.now
            now = at
            requestsAwaited[streamID] = at
            if requestTimer == nil { scheduleRequestCheck(at: at + timeouts.requestArrival) }
        }
    }

    /// Closes the connection if the oldest awaited request is overdue, else re-arms for it. One timer serves every
    /// call: a request that arrives in time costs no timer of its own. While the server holds the connection's
    /// frames no request can arrive, so the timer lapses and ``resumeRequestArrivals()`` arms it again.
    private func scheduleRequestCheck(at deadline: NIODeadline) {
        guard let context else { return }
        requestTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            requestTimer = nil
            guard !holdsFrames else { return }
            requestsAwaited = requestsAwaited.filter { state.isAwaitingRequest($0.key) }
            guard let oldest = requestsAwaited.min(by: { $0.value < $1.value }) else { return }
            let due = oldest.value + timeouts.requestArrival
            if now >= due {
                perform(state.requestArrivalTimeoutFired(streamID: oldest.key))
            } else {
                scheduleRequestCheck(at: due)
            }
        }
    }

    /// Processing resumes after the server held the connection's frames, which no request could pass: the arrival
    /// clock of every awaited request goes on with the time it had left when the pause began (a request whose clock
    /// started after that, in the burst that paused reading, has used none). Each start moves later by the part of
    /// the pause it waited through, so the request timeout still counts only time in which the request could arrive.
    private func resumeRequestArrivals() {
        guard let since = pausedSince else { return }
        pausedSince = nil
        let now = self.now
        if let partial = partialFrame {
            // The same holds for a frame stopped halfway: its rest cannot arrive while nothing is read.
            partialFrame?.since = partial.since + (now - max(partial.since, since))
            if frameTimer == nil { scheduleFrameCheck(at: partialFrame!.since + timeouts.frameArrival) }
        }
        guard !requestsAwaited.isEmpty else { return }
        requestsAwaited = requestsAwaited.mapValues { started in started + (now - max(started, since)) }
        if requestTimer == nil, let oldest = requestsAwaited.values.min() {
            scheduleRequestCheck(at: oldest + timeouts.requestArrival)
        }
    }

    /// After a read burst, starts the frame arrival clock when the reader holds part of a frame it did not hold
    /// before (a new frame started), and stops it when it holds none. A request's clock starts only at its HEADERS,
    /// and the idle timeout only looks at calls: without this, a frame header announcing MAX_MESSAGE_PAYLOAD followed
    /// by most of it, then silence, held those bytes for the idle timeout (300 s), on any stream, opened or not. Once
    /// per burst: a large frame that takes many reads starts one clock, not one per read. The partial frame's bytes
    /// are settled with the server's budget here too.
    private func settleFrameArrival() {
        let held = frameReader.partialFrameBytes
        guard settlePartialFrameBytes(), held > 0, timeouts.frameArrival > .zero else {
            partialFrame = nil
            return
        }
        let framesRead = frameReader.framesRead
        if let partial = partialFrame, partial.framesBefore == framesRead { return }
        let now = self.now
        partialFrame = (now, framesRead)
        if frameTimer == nil { scheduleFrameCheck(at: now + timeouts.frameArrival) }
    }

    /// Takes from the server's budget of partially received frames, or gives back to it, the difference between what
    /// the connection holds now of requests not whole yet and what it took before: the partial frame in its reader,
    /// and the HEADERS of its calls waiting for their MESSAGE (up to 16 KiB each, for up to the request arrival
    /// timeout: 100 of them on each connection, from clients that need not have proved a key, would otherwise be
    /// held outside the budget made for this), and the frames held while its client reads nothing (``framesHeld``).
    /// Once per read burst that ends with either waiting, or the one after it
    /// (a call whose frames arrive within one burst costs nothing). False when the connection will not keep them:
    /// it is closing (nothing more of it is processed), or the budget cannot take its growth and it is refused
    /// (``refuseForPartialFrameBudget(_:)``). Either way its reader lets go of what it held and the connection gives
    /// its share back.
    private func settlePartialFrameBytes() -> Bool {
        let held = frameReader.partialFrameBytes + state.pendingHeadersBytes + framesHeldBytes
        guard let budget = partialFrames, budget.counted(held) != partialFrameShare.taken else { return true }
        if state.phase == .closed {
            frameReader.discard()
            dropFramesHeld()
            givePartialFrameBytesBack()
            return false
        }
        guard partialFrameShare.settle(held, in: budget) else {
            refuseForPartialFrameBudget(budget)
            return false
        }
        return true
    }

    /// Lets go of the frames held: the connection is closing, nothing more of it is processed.
    private func dropFramesHeld() {
        framesHeld = CircularBuffer()
        framesHeldBytes = 0
    }

    /// Gives back to the server's budget what this connection took (its partial frame completed, or it closes).
    private func givePartialFrameBytesBack() {
        partialFrameShare.giveBack(to: partialFrames)
    }

    /// Takes from the server's budget of unsent replies, or gives back to it, the difference between what the channel
    /// holds unsent now beyond the allowance and what the connection took before: after each flush of answers, and
    /// when the client has read enough for the channel to be writable again. A connection whose growth the budget
    /// cannot take is closed at once (its client is not reading: a GOAWAY would wait behind the rest), its running
    /// calls cancelled; the other connections go on. It keeps its share until it is closed, since its bytes are held
    /// until then.
    private func settleUnsentReplies(context: ChannelHandlerContext) {
        guard let budget = unsentReplies, !unsentReplyRefused, state.phase != .closed else { return }
        let buffered = (try? context.channel.syncOptions?.getOption(ChannelOptions.bufferedWritableBytes)) ?? 0
        if !unsentReplyShare.settle(buffered, in: budget) {
            unsentReplyRefused = true
            metrics.unsentReplyRefusals.increment()
            if let refused = budget.noteRefusal() {
                logger.warning(
                    "connections closed: the budget of replies their clients do not read is spent",
                    metadata: ["unsent_reply_bytes_max": "\(budget.limit)", "closed": "\(refused)"])
            }
            // Out of the flush that found it, and twice: the first close sends TLS close_notify, which would wait
            // behind the unread bytes for its own timeout; the second closes the socket at once (as for a limit's
            // GOAWAY).
            context.eventLoop.assumeIsolated().execute {
                context.close(promise: nil)
                context.close(promise: nil)
            }
        }
    }

    /// Gives back to the server's budget of unsent replies what this connection took.
    private func giveUnsentReplyBytesBack() {
        unsentReplyShare.giveBack(to: unsentReplies)
    }

    /// The budget of partially received frames cannot take this connection's (its partial frame and waiting
    /// HEADERS): its calls still waiting for their request (never started) are answered RESOURCE_EXHAUSTED /
    /// PARTIAL_FRAME_BUDGET, then GOAWAY ENHANCE_YOUR_CALM closes it. The other connections go on, and so may its
    /// client, on a new connection once the budget has room.
    private func refuseForPartialFrameBudget(_ budget: ServerByteBudget) {
        frameReader.discard()
        dropFramesHeld()
        givePartialFrameBytesBack()
        metrics.partialFrameRefusals.increment()
        if let refused = budget.noteRefusal() {
            logger.warning(
                "connections refused: the budget of partially received frames is spent",
                metadata: ["partial_frame_bytes_max": "\(budget.limit)", "refused": "\(refused)"])
        }
        let (awaiting, then) = state.partialFrameRefused(budgetBytes: budget.limit)
        if let context {
            let status = RpcStatus(
                code: StatusCode.resourceExhausted.rawValue,
                message:
                    "the server's budget of partially received frames (\(budget.limit) bytes, all connections) is "
                    + "spent: the call was not started",
                reason: "PARTIAL_FRAME_BUDGET")
            for streamID in awaiting { reject(streamID, status, context: context) }
        }
        perform(then)
    }

    /// Closes the connection if the partial frame is overdue, else re-arms for it (one timer for the connection: a
    /// frame that completes in time costs none of its own). It lapses while the server holds the connection's
    /// frames; ``resumeRequestArrivals()`` arms it again.
    private func scheduleFrameCheck(at deadline: NIODeadline) {
        guard let context else { return }
        frameTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            frameTimer = nil
            guard !holdsFrames, let partial = partialFrame else { return }
            let due = partial.since + timeouts.frameArrival
            if now >= due {
                perform(state.frameArrivalTimeoutFired())
            } else {
                scheduleFrameCheck(at: due)
            }
        }
    }

    /// The event loop's clock, which the idle and request arrival timers run on (a test's embedded loop moves it by
    /// hand; on a real loop it is `NIODeadline.now()`).
    private var now: NIODeadline { context?.eventLoop.now ?? .now() }

    /// Whether the server holds the connection's frames: it neither processes nor reads them while its client does
    /// not take what it is sent (the channel is not writable, or was not when they came).
    private var holdsFrames: Bool {
        readHeld || !framesHeld.isEmpty || context?.channel.isWritable == false
    }

    /// A call opened: the connection is not idle (the timer, if any, finds that out when it fires).
    private func markBusy() {
        idleSince = nil
    }
}
