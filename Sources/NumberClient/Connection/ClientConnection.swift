import NIOCore
import NIOPosix
import NumberAPI
import NumberTLS
import NumberWire

/// One nrpc/1 connection to a numberd server: many calls multiplexed over it.
final class ClientConnection: Sendable {
    let channel: any Channel
    let status: ClientConnectionStatus
    private let handler: NIOLoopBound<ClientConnectionHandler>

    private init(channel: any Channel, handler: NIOLoopBound<ClientConnectionHandler>, status: ClientConnectionStatus) {
        self.channel = channel
        self.handler = handler
        self.status = status
    }

    /// Connects, secures the connection with TLS (`tls` nil only for protocol tests) and greets the server.
    /// Completes once the server's SETTINGS have arrived, at most `connectTimeout` after the TLS handshake (without
    /// TLS, after TCP connected): a connection joins the pool only when it can carry calls, so a handshake that fails
    /// (an untrusted certificate, a wrong name, a timeout) or a server that refuses the connection after it (under
    /// TLS 1.3 a server checks the client's certificate after the client's handshake is done, and its alert comes
    /// later) fails the connect, with nothing sent, instead of the calls started on it.
    /// Future-based so the pool can share one attempt between many waiting callers without a task of its own.
    /// `liveness` sets the PING timeout of its handler and the keepalive options of its socket (``TCPKeepalive``);
    /// at most `queuedCallsMax` calls wait on it for room; `resolver` (tests) replaces the system's for `host`;
    /// `attempts.cancel()` cuts the connect short; `roomReturned` is told when the connection takes calls again after
    /// holding them for a PING (``ClientConnectionStatus/probeAnswered()``).
    static func connect(
        host: String, port: Int, tls: TLSContext?, serverHostname: String, sessionCache: TLSSessionCache?,
        settings: ConnectionSettings, connectTimeout: TimeAmount,
        liveness: NumbersClientConfiguration.LivenessPolicy = .defaults,
        queuedCallsMax: Int = NumbersClientConfiguration.queuedCallsMaxDefault,
        group: any EventLoopGroup, resolver: (any Resolver & Sendable)? = nil,
        attempts: ConnectionAttempts = ConnectionAttempts(),
        roomReturned: (@Sendable (ClientConnectionStatus) -> Void)? = nil
    ) -> EventLoopFuture<ClientConnection> {
        let sessionKey = "\(serverHostname):\(port)"
        // NIO runs the initializer once per connection attempt (Happy Eyeballs tries a host's addresses side by
        // side): each channel gets a connection of its own, and the one that connected is picked by its channel.
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .resolver(resolver)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let tls {
                        try pipeline.addTLSClientHandler(
                            context: tls, serverHostname: serverHostname, sessionCache: sessionCache,
                            sessionKey: sessionKey)
                    }
                    let status = ClientConnectionStatus(roomReturned: roomReturned)
                    let ready = channel.eventLoop.makePromise(of: Void.self)
                    let handler = ClientConnectionHandler(
                        settings: settings, status: status, ready: ready, awaitsHandshake: tls != nil,
                        settingsTimeout: connectTimeout, pingTimeout: liveness.pingTimeout,
                        queuedCallsMax: queuedCallsMax)
                    do {
                        try pipeline.addHandler(handler)
                    } catch {
                        ready.fail(error)
                        throw error
                    }
                    let connection = ClientConnection(
                        channel: channel, handler: NIOLoopBound(handler, eventLoop: channel.eventLoop), status: status)
                    guard attempts.record(connection, ready: ready.futureResult) else {
                        let error = RPCError(
                            code: .unavailable, message: "the client is closed", reason: "CLIENT_CLOSED")
                        ready.fail(error)
                        throw error
                    }
                }
            }
        let connecting = TCPKeepalive(liveness).apply(to: bootstrap).connect(host: host, port: port)
        return connecting.flatMap { channel in
            guard let (connection, ready) = attempts.take(for: channel) else {
                return channel.eventLoop.makeFailedFuture(
                    RPCError(code: .internal, message: "connection set-up did not run", reason: "CLIENT_BUG"))
            }
            return ready.map { connection }
        }
    }

    /// Makes one call: HEADERS + MESSAGE out, the outcome back. Cancelling the task cancels the call. It ends at
    /// `deadline` (nil: none), queued or sent: the caller's instant, not a timeout counted from when the call
    /// reaches the connection's event loop. `guardedFields`, those its request sets
    /// (``APIRevision/guardedFieldsSet(in:)``), are checked against this connection's server: one too old for them
    /// fails the call `SERVER_TOO_OLD`, unsent.
    func call(
        headers: ByteBuffer, message: ByteBuffer, deadline: NIODeadline?,
        guardedFields: [APIRevision.GuardedField] = [], requestHeaders: RequestHeaders? = nil
    ) async throws
        -> ClientConnectionStateMachine.CallOutcome
    {
        let promise = channel.eventLoop.makePromise(of: ClientConnectionStateMachine.CallOutcome.self)
        let handler = self.handler
        let token = CallCancellationToken()
        return try await withTaskCancellationHandler {
            // The handler counts a timeout on the event loop's clock (a test's embedded loop moves it by hand): the
            // time left is taken on the loop, just before the start, so no hop or queue wait is added to it.
            if handler.eventLoop.inEventLoop {
                // Already on the connection's thread (a task preferring `EventLoopTaskExecutor`): no hop.
                handler.value.start(
                    headers: headers, message: message, timeout: deadline.map { $0 - .now() }, promise: promise,
                    token: token, guardedFields: guardedFields, requestHeaders: requestHeaders)
            } else {
                handler.eventLoop.execute {
                    handler.value.start(
                        headers: headers, message: message, timeout: deadline.map { $0 - .now() }, promise: promise,
                        token: token, guardedFields: guardedFields, requestHeaders: requestHeaders)
                }
            }
            return try await promise.futureResult.get()
        } onCancel: {
            // If the start has not reached the event loop yet, it will see the token and not start at all.
            if token.markCancelled() {
                handler.eventLoop.execute { handler.value.cancel(promise: promise) }
            }
        }
    }

    /// Stops taking calls at once and closes once the open ones are done: the server answered a call here
    /// `SHUTTING_DOWN`, so the next attempt must go to another connection.
    func retire(reason: String) {
        status.markUnusable()
        let handler = self.handler
        handler.eventLoop.execute { handler.value.retire(reason: reason) }
    }

    /// Closes the connection (open calls fail).
    func close() async {
        try? await channel.close()
    }
}
