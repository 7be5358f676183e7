import NIOCore
import NumberAPI
import NumberTLS
import NumberWire

/// Carries out the client connection state machine on the event loop: starts calls, matches responses to their
/// promises, enforces deadlines, and fails every open call when the connection ends.
final class ClientConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    typealias Outcome = ClientConnectionStateMachine.CallOutcome

    private var state: ClientConnectionStateMachine
    private let settings: ConnectionSettings
    private var context: ChannelHandlerContext?
    private var promises: [UInt32: EventLoopPromise<Outcome>] = [:]
    private var streamsByCall: [ObjectIdentifier: UInt32] = [:]
    /// The deadline of each open call that has one, and when it started (was sent), by the event loop's clock: a
    /// deadline that passes on a connection silent since its call started sends a PING. One table, one insertion and
    /// one removal per call.
    private var deadlines: [UInt32: (deadline: NIODeadline, started: NIODeadline)] = [:]
    /// Whether the connection still carries anything (nil: not checked, only in tests of other things).
    private var liveness: ClientConnectionLiveness?
    /// Ends the wait for the answer to the PING that `liveness` sent.
    private var pingTimer: Scheduled<Void>?
    /// One timer for all deadlines, armed at the earliest: a call that finishes in time costs no timer of its own.
    private var deadlineTimer: (at: NIODeadline, task: Scheduled<Void>)?
    private var flushScheduled = false
    /// Writes since the last flush.
    private var unflushedWrites = 0
    /// Calls written before a flush even within one event-loop tick (16); see `write`.
    static let unflushedWritesMax = 16
    /// How long the GOAWAY of a connection error may take to be written before the connection closes anyway (1 s, as
    /// the server's).
    static let goAwayFlushTimeout = TimeAmount.seconds(1)
    private let usable: ClientConnectionStatus
    /// Frames are decoded here (``FrameReader``), not by a handler in front.
    private let frameReader: FrameReader

    /// Completed once the connection can carry calls (the server's SETTINGS arrived), failed if it ends, fails or
    /// times out before; nil afterwards.
    private var ready: EventLoopPromise<Void>?
    /// Whether the wait for the server's SETTINGS starts when TLS says its handshake completed (else: when TCP
    /// connected).
    private let awaitsHandshake: Bool
    /// How long that wait may take (the client's connect timeout).
    private let settingsTimeout: TimeAmount
    private var settingsTimer: Scheduled<Void>?
    /// Since when the connection has had no call open or queued (nil: one is, or the server's SETTINGS have not come).
    private var idleSince: NIODeadline?
    /// Retires the connection once it has been idle for ``idleRetireAfter(serverIdleTimeout:)``; one timer serves many
    /// idle periods (when it fires early, it is armed again for the current one's end).
    private var idleTimer: Scheduled<Void>?
    /// When TCP connected, by the event loop's clock, until the first idle period begins there, as at the server,
    /// which counts from its accept (the TLS handshake and the SETTINGS take a round trip or more of its timeout); the
    /// later periods begin when the last call ends.
    private var connectedAt: NIODeadline?

    /// A handler advertising `settings`, reporting to `status`; it completes `ready` once the connection can carry
    /// calls: when the server's first SETTINGS has arrived, at most `settingsTimeout` after `TLSHandshakeCompleted`
    /// when `awaitsHandshake`, else after the channel became active. A connection that ends or fails before (a TLS
    /// 1.3 server refusing our certificate sends its alert only then) fails `ready`: nothing was sent on it.
    /// A call's deadline passing on a connection silent since that call started (queued behind open calls: since it
    /// was queued) sends a PING; no answer within `pingTimeout` ends the connection (``ClientConnectionLiveness``;
    /// nil: never, only in tests of other things). At most `queuedCallsMax` calls wait for room
    /// (``NumbersClientConfiguration/queuedCallsMax``).
    /// `firstStreamID` is not 1 only in tests of the last stream ids.
    init(
        settings: ConnectionSettings, status: ClientConnectionStatus, ready: EventLoopPromise<Void>? = nil,
        awaitsHandshake: Bool = false, settingsTimeout: TimeAmount = .seconds(5), pingTimeout: TimeAmount? = nil,
        queuedCallsMax: Int = NumbersClientConfiguration.queuedCallsMaxDefault, firstStreamID: UInt32 = 1
    ) {
        precondition(queuedCallsMax >= 0, "queuedCallsMax must not be negative")
        self.queuedCallsMax = queuedCallsMax
        self.queueFull = ClientStatus.queueFull(max: queuedCallsMax)
        self.state = ClientConnectionStateMachine(firstStreamID: firstStreamID)
        self.settings = settings
        self.frameReader = FrameReader(FrameDecoder(limits: FrameLimits(settings), expectsPreface: false))
        self.usable = status
        self.ready = ready
        self.awaitsHandshake = awaitsHandshake
        self.settingsTimeout = settingsTimeout
        self.liveness = pingTimeout.map(ClientConnectionLiveness.init(pingTimeout:))
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { connected(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        notReady(ConnectionEnded())
        idleTimer?.cancel()
        idleTimer = nil
        // The context holds this handler: kept here, the pair outlived the connection (each reconnect leaked one).
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        connected(context: context)
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is TLSHandshakeCompleted { awaitSettings(context: context) }
        context.fireUserInboundEventTriggered(event)
    }

    /// TCP is up: the preface and SETTINGS go out (behind the TLS handshake, which holds them until it is done).
    private func connected(context: ChannelHandlerContext) {
        // The server's idle clock starts when it accepts the connection: so does this client's first idle period.
        if !greeted { connectedAt = context.eventLoop.now }
        greet(context: context)
        if !awaitsHandshake { awaitSettings(context: context) }
    }

    /// Starts the clock on the server's SETTINGS, when someone waits for the connection to be ready.
    private func awaitSettings(context: ChannelHandlerContext) {
        guard ready != nil, settingsTimer == nil else { return }
        let timeout = settingsTimeout
        settingsTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            guard ready != nil, let context = self.context else { return }
            errorCaught(context: context, error: SettingsTimedOut(timeout: timeout))
        }
    }

    /// After a read: ready once the server's SETTINGS came, unless the same read ended the connection's calls.
    private func checkReady() {
        guard ready != nil, state.serverSettingsReceived else { return }
        if state.phase == .active {
            settingsTimer?.cancel()
            settingsTimer = nil
            ready?.succeed()
            ready = nil
        } else {
            notReady(ConnectionEnded(reason: state.closingReason))
        }
    }

    /// The connection failed or ended before it could carry calls: its connect fails with `error`.
    private func notReady(_ error: any Error) {
        settingsTimer?.cancel()
        settingsTimer = nil
        ready?.fail(error)
        ready = nil
    }

    /// The connection ended before the server's SETTINGS arrived (an error, if any, came through `errorCaught`).
    private struct ConnectionEnded: Error, CustomStringConvertible {
        var reason: String?
        var description: String {
            "the connection closed before the server's SETTINGS arrived" + (reason.map { " (\($0))" } ?? "")
        }
    }

    /// The server's SETTINGS did not come within the connect timeout.
    private struct SettingsTimedOut: Error, CustomStringConvertible {
        var timeout: TimeAmount
        var description: String {
            "no SETTINGS from the server within \(timeout.nanoseconds / 1_000_000) ms of the connection being secured"
        }
    }

    private var greeted = false

    private func greet(context: ChannelHandlerContext) {
        guard !greeted else { return }
        greeted = true
        var buffer = context.channel.allocator.buffer(capacity: 64)
        Preface.write(to: &buffer)
        for frame in state.greeting(settings: settings).frames { buffer.writeFrame(frame) }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let wasProbing = isProbing
        let callsMaxBefore = state.serverSettings.maxConcurrentStreams
        let idleTimeoutBefore = state.serverSettings.idleTimeoutMilliseconds
        liveness?.received(now: context.eventLoop.now)
        let failure = frameReader.read(unwrapInboundIn(data)) { frame in perform(state.received(frame)) }
        if let framing = failure as? FramingError {
            // GOAWAY with the reason, as the server does, before the close.
            notReady(framing)
            perform(state.framingError(framing))
        } else if let failure {
            errorCaught(context: context, error: failure)
        } else {
            // Before `checkReady`: the pool reads the limit as soon as the connection joins it.
            usable.setCallsMax(Int(state.serverSettings.maxConcurrentStreams))
            checkReady()
            // The connection answered its PING (or anything): the calls held meanwhile go out, and calls waiting in
            // the pool for room may take what is left. So too when a later SETTINGS raised MAX_CONCURRENT_STREAMS:
            // the calls queued behind the old limit waited for some call to end, perhaps past their deadlines.
            let raised = state.phase == .active && state.serverSettings.maxConcurrentStreams > callsMaxBefore
            if wasProbing || raised {
                drainQueue()
                if !isProbing { usable.probeAnswered() }
            }
            // A later SETTINGS changed IDLE_TIMEOUT_MS while the idle clock runs: its timer is set again for it (it
            // kept the old deadline: a lowered timeout met the server's close first, one set from 0 armed none).
            if state.serverSettings.idleTimeoutMilliseconds != idleTimeoutBefore, let since = idleSince {
                idleTimer?.cancel()
                idleTimer = nil
                if let after = idleRetireAfter { armIdleTimer(since + after, context: context) }
            }
            // The server's first SETTINGS: idle from now until the first call.
            noteIfIdle(context: context)
        }
    }

    // MARK: Idle connections

    /// How long a connection may stay idle before this client retires it, for a server that closes connections idle
    /// for `serverIdleTimeout` milliseconds (its SETTINGS' `IDLE_TIMEOUT_MS`; 0: never, and nil here): that less a
    /// tenth of it, at most 5 s. Without it, a call sent just as the server's idle timeout closed the connection met
    /// the close: an unkeyed write's outcome was unknown though the server never read it (its GOAWAY, in flight, was
    /// lost with the reset the request's bytes caused). The margin covers the answer's way back (the server counts
    /// from when it sent the last one) and the clocks' drift; the pool takes another connection, or makes one.
    static func idleRetireAfter(serverIdleTimeout milliseconds: UInt32) -> TimeAmount? {
        guard milliseconds > 0 else { return nil }
        let timeout = TimeAmount.milliseconds(Int64(milliseconds))
        return timeout - min(.seconds(5), .nanoseconds(timeout.nanoseconds / 10))
    }

    /// Starts the idle clock when the connection, taking calls, has none open or queued and the clock is not running.
    private func noteIfIdle(context: ChannelHandlerContext) {
        guard idleSince == nil, state.phase == .active, state.serverSettingsReceived, state.openCallCount == 0,
            queue.isEmpty
        else { return }
        let now = context.eventLoop.now
        let since = connectedAt.map { min($0, now) } ?? now
        connectedAt = nil
        idleSince = since
        if idleTimer == nil, let after = idleRetireAfter { armIdleTimer(since + after, context: context) }
    }

    private var idleRetireAfter: TimeAmount? {
        Self.idleRetireAfter(serverIdleTimeout: state.serverSettings.idleTimeoutMilliseconds)
    }

    private func armIdleTimer(_ deadline: NIODeadline, context: ChannelHandlerContext) {
        idleTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            idleTimer = nil
            // A connection no longer taking calls (the server's GOAWAY, a connection error) is not retired for
            // idleness: marked so, its end would not count as the server going away.
            guard state.phase == .active, let since = idleSince, let after = idleRetireAfter,
                let context = self.context
            else { return }
            let due = since + after
            guard context.eventLoop.now >= due else {
                armIdleTimer(due, context: context)
                return
            }
            // The pool gave it a call that has not reached it yet: let it come (its start stops the clock), and look
            // again soon in case it never does (cancelled on its way).
            guard usable.callCount == 0 else {
                armIdleTimer(context.eventLoop.now + min(after, .seconds(1)), context: context)
                return
            }
            usable.markRetiredIdle()
            let idle = after.nanoseconds / 1_000_000
            let timeout = state.serverSettings.idleTimeoutMilliseconds
            retire(reason: "idle for \(idle) ms (the server closes a connection idle for \(timeout) ms)")
        }
    }

    /// Whether a PING sent on a silent connection waits for its answer: calls are held, not written, meanwhile.
    private var isProbing: Bool { liveness?.pingSent != nil }

    func channelInactive(context: ChannelHandlerContext) {
        notReady(ConnectionEnded())
        idleTimer?.cancel()
        idleTimer = nil
        deadlineTimer?.task.cancel()
        deadlineTimer = nil
        pingTimer?.cancel()
        pingTimer = nil
        perform(state.connectionClosed(reason: "the server closed the connection"))
        usable.markUnusable()
        drainQueue()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        notReady(error)
        perform(state.connectionClosed(reason: "\(error)"))
        usable.markUnusable()
        context.close(promise: nil)
    }

    // MARK: Calls (on the event loop)

    /// A call waiting for the server's concurrent-call limit to leave room.
    private struct QueuedCall {
        var headers: ByteBuffer
        var message: ByteBuffer
        var promise: EventLoopPromise<Outcome>
        var deadline: NIODeadline?
        /// When it reached the handler, by the event loop's clock: for a call that expires queued behind open calls,
        /// the start of the silence that sends a PING (see `expireDeadlines`).
        var queuedAt: NIODeadline
        /// The guarded request fields the call sets, checked against the server's API revision.
        var guardedFields: [APIRevision.GuardedField]
        /// What `headers` encode, when the caller gave it: a call that waited in the queue is sent with HEADERS
        /// re-encoded to tell the server the time left then, not the timeout from before the wait.
        var requestHeaders: RequestHeaders?
    }

    private var queue = CallQueue<QueuedCall>()

    /// Starts a call, or queues it while the server's concurrent-call limit is reached; the promise completes with
    /// its outcome. `timeout` nil = no deadline. A call setting `guardedFields` the server is too old for fails
    /// `SERVER_TOO_OLD` unsent.
    func start(
        headers: ByteBuffer, message: ByteBuffer, timeout: TimeAmount?, promise: EventLoopPromise<Outcome>,
        token: CallCancellationToken, guardedFields: [APIRevision.GuardedField] = [],
        requestHeaders: RequestHeaders? = nil
    ) {
        guard token.markStarted() else {
            // The caller was cancelled before the call reached the event loop.
            promise.succeed(.status(ClientStatus.cancelledNotSent))
            return
        }
        if let oversize = state.oversize(headers: headers, message: message) {
            promise.succeed(.status(ClientStatus.requestTooLarge(oversize)))
            return
        }
        if let refusal = serverTooOld(guardedFields) {
            promise.succeed(.status(refusal))
            return
        }
        // The event loop's clock (a test's embedded loop moves it by hand).
        let now = context?.eventLoop.now ?? .now()
        let call = QueuedCall(
            headers: headers, message: message, promise: promise, deadline: timeout.map { now + $0 }, queuedAt: now,
            guardedFields: guardedFields, requestHeaders: requestHeaders)
        guard state.phase == .active else {
            promise.succeed(.connectionFailure(message: closingMessage, retryable: true))
            return
        }
        if state.canStartCall && queue.isEmpty && !isProbing {
            begin(call)
        } else if queue.count < queuedCallsMax {
            queue.append(call, key: ObjectIdentifier(promise.futureResult), deadline: call.deadline)
            idleSince = nil
            usable.setSaturated(true)
            // A queued call waits for a stream slot at most until its deadline, not until one frees.
            if let deadline = call.deadline, let context { armDeadlineTimer(deadline, context: context) }
        } else {
            promise.succeed(.status(queueFull))
        }
    }

    /// The refusal of a call whose guarded fields the server would skip as unknown (its API revision is below
    /// theirs), nil when it understands them all. Checked against this connection's server: another connection of
    /// the pool may reach another numberd (a rolling upgrade or rollback behind one address).
    private func serverTooOld(_ fields: [APIRevision.GuardedField]) -> ByteBuffer? {
        let tooNew = state.fieldsTooNew(fields)
        guard !tooNew.isEmpty else { return nil }
        return ClientStatus.serverTooOld(tooNew, serverRevision: state.serverAPIRevision)
    }

    /// The error text of a call refused because the connection stopped taking calls, with the reason.
    private var closingMessage: String {
        "the connection is closing" + (state.closingReason.map { ": \($0)" } ?? "")
    }

    /// Calls waiting beyond the server's limit (or while a PING probes), per connection.
    private let queuedCallsMax: Int
    /// The status of a call refused because `queuedCallsMax` calls wait, made once.
    private let queueFull: ByteBuffer

    private func begin(_ call: QueuedCall, waited: Bool = false) {
        guard let context else { return }
        if let deadline = call.deadline, deadline <= context.eventLoop.now {
            call.promise.succeed(.status(ClientStatus.deadlineExceededNotSent))
            return
        }
        var call = call
        if waited, let deadline = call.deadline, var request = call.requestHeaders {
            // The wait in the queue came off the call's time: the server must not believe it has more.
            request.timeoutMicros = NumbersClient.timeoutMicros(deadline - context.eventLoop.now)
            var headers = ByteBuffer()
            if (try? ProtoEncoder().encode(request, into: &headers)) != nil { call.headers = headers }
        }
        // Checked again here: new SETTINGS may have lowered a limit (or the API revision) while the call was queued.
        if let oversize = state.oversize(headers: call.headers, message: call.message) {
            call.promise.succeed(.status(ClientStatus.requestTooLarge(oversize)))
            return
        }
        if let refusal = serverTooOld(call.guardedFields) {
            call.promise.succeed(.status(refusal))
            return
        }
        guard let (id, frames) = state.startCall(headers: call.headers, message: call.message) else {
            call.promise.succeed(.connectionFailure(message: "the connection cannot take calls", retryable: true))
            return
        }
        // The last stream id: the pool must stop choosing this connection (it closes after its open calls).
        if state.phase != .active { usable.markUnusable() }
        promises[id] = call.promise
        streamsByCall[ObjectIdentifier(call.promise.futureResult)] = id
        idleSince = nil
        if let deadline = call.deadline {
            deadlines[id] = (deadline, context.eventLoop.now)
            armDeadlineTimer(deadline, context: context)
        }
        write(frames, context: context)
    }

    /// Makes sure the deadline timer fires no later than `deadline`.
    private func armDeadlineTimer(_ deadline: NIODeadline, context: ChannelHandlerContext) {
        if let timer = deadlineTimer {
            guard deadline < timer.at else { return }
            timer.task.cancel()
        }
        let task = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            deadlineTimer = nil
            expireDeadlines()
        }
        deadlineTimer = (deadline, task)
    }

    /// Fails the calls whose deadline passed, started or queued, and re-arms the timer for the earliest one left.
    /// A started call among them, or a queued one while calls are open, checks that the connection still carries
    /// anything (see `checkLiveness`).
    private func expireDeadlines() {
        guard let context else { return }
        let now = context.eventLoop.now
        // The expiring calls' own starts, not the oldest open call's: a long call started before the last answer
        // must not hide a connection that has carried nothing since the expiring ones were sent.
        var expiringStart: NIODeadline?
        var expiring: [UInt32] = []
        for (id, call) in deadlines where call.deadline <= now {
            expiring.append(id)
            expiringStart = min(expiringStart ?? call.started, call.started)
        }
        // The queue is settled before any caller hears back: the expired queued calls leave it first.
        let expiredQueued = queue.removeExpired(now: now)
        // A queued call expiring behind open ones waited on the same connection: nothing received since it was queued,
        // the open calls have had no answer for as long. Without this, open calls with no deadline (or a long one)
        // holding the server's slots hid a dead connection while every queued call behind them expired.
        if state.openCallCount > 0, let queuedAt = expiredQueued.lazy.map(\.queuedAt).min() {
            expiringStart = min(expiringStart ?? queuedAt, queuedAt)
        }
        // The PING first: failing the expired calls frees places that queued calls take at once, and a connection
        // under suspicion must hold them until it answers (sent meanwhile, they would fail with it, their outcome
        // unknown, having waited in this client's queue).
        if let expiringStart { checkLiveness(callStart: expiringStart, context: context) }
        for id in expiring {
            deadlines[id] = nil
            fail(streamID: id, with: .status(ClientStatus.deadlineExceeded))
        }
        if !expiredQueued.isEmpty {
            usable.setSaturated(!queue.isEmpty || !state.canStartCall || isProbing)
            for call in expiredQueued { call.promise.succeed(.status(ClientStatus.deadlineExceededNotSent)) }
        }
        let earliestQueued = queue.earliestDeadline()
        if let earliest = [deadlines.values.lazy.map(\.deadline).min(), earliestQueued].compactMap({ $0 }).min() {
            armDeadlineTimer(earliest, context: context)
        }
        noteIfIdle(context: context)  // the queued calls that expired may have been the last
    }

    /// A call's deadline passed: when nothing arrived since `callStart` (the earliest expiring call's start, or when a
    /// queued one was queued behind open calls), PING the server; no answer within the PING timeout means the path or
    /// the server is gone (a partition, a dropped NAT entry, a frozen process), which TCP alone would notice only
    /// after about 15 minutes. The connection then ends: its open calls fail as lost after they were sent (outcome
    /// unknown), queued ones as never sent, and the pool, which drops a connection that is no longer alive, connects
    /// anew. While the PING waits, new calls are held here (``isProbing``), not written into a connection that is
    /// probably dead: they go out once anything arrives, or fail as never sent with the connection, and are retried
    /// on another.
    private func checkLiveness(callStart: NIODeadline, context: ChannelHandlerContext) {
        guard context.channel.isActive,  // the expired call may have been the last of a connection going away
            let ping = liveness?.deadlinePassed(callStart: callStart, now: context.eventLoop.now),
            let timeout = liveness?.pingTimeout
        else { return }
        write([ping], context: context)
        usable.setSaturated(true)  // the pool prefers another connection meanwhile
        pingTimer?.cancel()
        pingTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            pingTimer = nil
            guard let context = self.context, liveness?.isDead(now: context.eventLoop.now) == true else { return }
            errorCaught(context: context, error: PingUnanswered(timeout: timeout))
        }
    }

    /// The server did not answer a PING, nor send anything else, within the PING timeout.
    private struct PingUnanswered: Error, CustomStringConvertible {
        var timeout: TimeAmount
        var description: String {
            "nothing from the server within \(timeout.nanoseconds / 1_000_000) ms of a PING sent when a call's "
                + "deadline passed on a silent connection: taken for dead"
        }
    }

    /// Starts queued calls while the server's limit leaves room; queued calls past their deadline fail.
    private func drainQueue() {
        while state.canStartCall, !isProbing, let next = queue.popFirst() { begin(next, waited: true) }
        if state.phase != .active {
            while let next = queue.popFirst() {
                next.promise.succeed(.connectionFailure(message: closingMessage, retryable: true))
            }
        }
        usable.setSaturated(!queue.isEmpty || !state.canStartCall || isProbing)
    }

    /// The caller stopped waiting (task cancelled): CANCEL the stream, fail the promise.
    func cancel(promise: EventLoopPromise<Outcome>) {
        let key = ObjectIdentifier(promise.futureResult)
        if let id = streamsByCall[key] {
            fail(streamID: id, with: .status(ClientStatus.cancelled))
        } else if let queued = queue.remove(key: key) {
            queued.promise.succeed(.status(ClientStatus.cancelledNotSent))
            if let context { noteIfIdle(context: context) }
        }
        // Otherwise the call already finished: nothing to do.
    }

    /// The server refuses new calls here: take none (queued ones fail as never started, to be retried elsewhere) and
    /// close once the open ones are done.
    func retire(reason: String) {
        perform(state.retire(reason: reason))
        drainQueue()
    }

    private func fail(streamID id: UInt32, with outcome: Outcome) {
        perform(state.cancelCall(streamID: id))
        complete(id, outcome)
    }

    // MARK: Actions

    private func perform(_ action: ClientConnectionStateMachine.Action) {
        guard let context else { return }
        switch action {
        case .none:
            break
        case .write(let frames):
            write(frames, context: context)
        case .writeThenClose(let frames):
            write(frames, context: context)
            unflushedWrites = 0
            context.flush()
            context.close(promise: nil)
        case .finish(let id, let outcome):
            complete(id, outcome)
        case .finishMany(let outcomes, let close):
            for (id, outcome) in outcomes { complete(id, outcome) }
            if state.phase != .active {
                usable.markUnusable()
                // A GOAWAY that refused none of the open calls completes none, which is what drains the queue
                // otherwise: its calls, never sent, go to another connection now, not at their deadline.
                drainQueue()
            }
            if close { context.close(promise: nil) }
        case .closeWithGoAway(let away, let failing):
            usable.markUnusable()
            for (id, outcome) in failing { complete(id, outcome) }
            drainQueue()  // the calls held (for a PING, say), never sent: to another connection
            var buffer = context.channel.allocator.buffer(capacity: 64)
            buffer.writeFrame(Frame(type: .goAway, streamID: 0, payload: away.payload()))
            // Closed once the GOAWAY is written, or after `goAwayFlushTimeout` if it never is (a server that does not
            // read): the connection must end, or it stays open for ever, held by the pool.
            let giveUp = context.eventLoop.assumeIsolated().scheduleTask(in: Self.goAwayFlushTimeout) {
                context.close(promise: nil)
            }
            context.writeAndFlush(wrapOutboundOut(buffer)).assumeIsolated().whenComplete { _ in
                giveUp.cancel()
                context.close(promise: nil)
            }
        }
    }

    private func complete(_ id: UInt32, _ outcome: Outcome) {
        deadlines.removeValue(forKey: id)
        guard let promise = promises.removeValue(forKey: id) else { return }
        streamsByCall[ObjectIdentifier(promise.futureResult)] = nil
        promise.succeed(outcome)
        drainQueue()
        if let context { noteIfIdle(context: context) }
    }

    private func write(_ frames: [Frame], context: ChannelHandlerContext) {
        let size = frames.reduce(0) { $0 + Frame.headerLength + $1.payload.readableBytes }
        var buffer = context.channel.allocator.buffer(capacity: size)
        for frame in frames { buffer.writeFrame(frame) }
        context.write(wrapOutboundOut(buffer), promise: nil)
        // Calls started in the same event-loop tick share one flush (one TLS record, one syscall), up to a bound
        // so the server starts on the first calls of a long tick while the rest are being made.
        unflushedWrites += 1
        if unflushedWrites >= Self.unflushedWritesMax {
            unflushedWrites = 0
            context.flush()
        }
        guard !flushScheduled else { return }
        flushScheduled = true
        context.eventLoop.assumeIsolated().execute { [self] in
            flushScheduled = false
            guard unflushedWrites > 0 else { return }
            unflushedWrites = 0
            self.context?.flush()
        }
    }
}
