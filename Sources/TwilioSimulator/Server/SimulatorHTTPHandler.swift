import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Collects one HTTP request, asks the engine what to do, and carries it out (delays on the event loop).
final class SimulatorHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let engine: SimulatorEngine
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var tooLarge = false
    /// A request is between its head and its answer (or stall): idle timeouts must not cut it (the request deadline
    /// bounds the part before it is whole).
    private var busy = false
    /// The clock on the request's arrival, in front of the HTTP codec: told when the request is whole and when it
    /// is answered.
    private let requestDeadline: RequestDeadlineHandler
    /// The open connections, told once this one sends the account's credentials (it then keeps its place when the
    /// set is full); nil when none is kept.
    private let connections: ConnectionSet?
    /// A request on this connection carried the account's credentials.
    private var authenticated = false
    /// A whole request not yet handled because the client has not read the answers before it (the connection is
    /// past its write watermark), or handed over while the answer before it was being written: handled once the
    /// connection drains (``channelWritabilityChanged(context:)``), or after that write if it did not fill it.
    private var waiting: HTTPRequestHead?
    /// Inside ``send(_:keepAlive:context:)``: NIO's HTTP pipeline hands the next pipelined request over as the answer's
    /// end is written, before the flush — and under TLS the answer's bytes reach the connection, and count against its
    /// watermark, only at that flush. Such a request waits until the write is done.
    private var sending = false
    /// A request was handled, answered or parked since the last idle tick: a connection whose request waits for the
    /// client to read is closed only after a whole idle period without any of those, in which its client did not read
    /// either (``acknowledged``).
    private var progressed = false
    /// The bytes of answers the client's TCP had acknowledged at the last idle tick (Linux: `TCP_INFO`'s
    /// `tcpi_bytes_acked`), nil where not known: more since, and the client is reading, however slowly — socket buffers
    /// of megabytes can take a slow reader longer than an idle period to drain before the next request is handled.
    private var acknowledged: UInt64?
    /// An answer said `Connection: close`: no request pipelined behind it is handled (its effects would be done and
    /// its answer never delivered).
    private var closing = false

    init(engine: SimulatorEngine, requestDeadline: RequestDeadlineHandler, connections: ConnectionSet? = nil) {
        self.engine = engine
        self.requestDeadline = requestDeadline
        self.connections = connections
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let requestHead):
            requestDeadline.requestHeadArrived()
            // At the head, which holds the credentials: a request whose body is still coming (libcurl waits for
            // `100 Continue`) must not be evicted as a silent connection's.
            noteCredentials(requestHead, context: context)
            busy = true
            head = requestHead
            body.removeAll(keepingCapacity: true)
            tooLarge = false
            // libcurl sends `Expect: 100-continue` before bodies over 1 KiB and waits a second without this.
            if requestHead.headers[canonicalForm: "expect"].contains(where: { $0.lowercased() == "100-continue" }) {
                let interim = HTTPResponseHead(version: requestHead.version, status: .continue)
                context.writeAndFlush(wrapOutboundOut(.head(interim)), promise: nil)
            }
        case .body(var buffer):
            // Check the limit before buffering (never hold more than requestBodyBytesMax).
            if body.count + buffer.readableBytes > engine.configuration.limits.requestBodyBytesMax {
                tooLarge = true
                body.removeAll()
            } else if !tooLarge, let bytes = buffer.readBytes(length: buffer.readableBytes) {
                body += bytes
            }
        case .end:
            requestDeadline.requestWhole()
            guard let requestHead = head else { return }
            head = nil
            complete(requestHead, context: context)
        }
    }

    /// Marks the connection as one that sent the account's credentials (it keeps its place when the table is full).
    private func noteCredentials(_ requestHead: HTTPRequestHead, context: ChannelHandlerContext) {
        guard !authenticated,
            let (username, password) = Router.basicCredentials(requestHead.headers.first(name: "Authorization")),
            engine.credentials.accepts(username: username, password: password)
        else { return }
        authenticated = true
        connections?.markAuthenticated(context.channel)
    }

    private func complete(_ requestHead: HTTPRequestHead, context: ChannelHandlerContext) {
        // A client that pipelines requests and does not read the answers (a page of 1,000 numbers is ~0.5 MB) is not
        // answered into memory: the next request waits for the connection to drain. Until its answer is written the
        // HTTP pipeline reads no further request.
        guard !closing else { return }
        progressed = true
        guard !sending, context.channel.isWritable else {
            waiting = requestHead
            return
        }
        var request = SimulatorRequest(
            method: requestHead.method.rawValue, target: requestHead.uri,
            headers: requestHead.headers.map { ($0.name, $0.value) }, body: body)
        // Each API is served under its own prefix, as each has its own host at Twilio.
        if let (api, path) = TwilioAPI.split(request.path) {
            request.path = path
            request.host = .only(api)
        } else {
            request.host = .none
        }
        let keepAlive = requestHead.isKeepAlive
        if tooLarge {
            let error = TwilioError(
                status: 413, code: 20001,
                message: "Request body larger than \(engine.configuration.limits.requestBodyBytesMax) bytes")
            write(.respond(.twilioError(error)), keepAlive: false, context: context)
            return
        }
        guard engine.beginRequest() else {
            write(engine.refuseOverloaded(request), keepAlive: keepAlive, context: context)
            return
        }
        let (endpoint, plan) = engine.plan(for: request)
        guard plan.delayMilliseconds > 0 else {
            finish(request, endpoint: endpoint, plan: plan, keepAlive: keepAlive, context: context)
            return
        }
        context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(Int64(plan.delayMilliseconds))) {
            self.finish(request, endpoint: endpoint, plan: plan, keepAlive: keepAlive, context: context)
        }
    }

    /// Executes the request without holding the event loop while its journal line is synced (the loop serves
    /// numberd's own connections too): the answer comes back to the loop when it is on disk.
    private func finish(
        _ request: SimulatorRequest, endpoint: Endpoint, plan: FaultPlan, keepAlive: Bool,
        context: ChannelHandlerContext
    ) {
        let loop = context.eventLoop
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: loop)
        let engine = self.engine
        engine.execute(request, endpoint: endpoint, plan: plan) { action in
            @Sendable func answer() {
                if case .stallThenClose = action {
                    // A hung request still counts against the concurrency limit at Twilio, as a delayed one does here:
                    // its slot is given back once its connection is closed, by the stall's end or by the client
                    // giving up first (a connection closed already completes at once).
                    bound.value.context.channel.closeFuture.whenComplete { _ in engine.endRequest() }
                } else {
                    engine.endRequest()
                }
                bound.value.handler.write(action, keepAlive: keepAlive, context: bound.value.context)
            }
            if loop.inEventLoop { answer() } else { loop.execute(answer) }
        }
    }

    private func write(_ action: TransportAction, keepAlive: Bool, context: ChannelHandlerContext) {
        if case .respond = action {
            busy = false
            progressed = true
            requestDeadline.requestAnswered()
        }
        guard context.channel.isActive else { return }
        switch action {
        case .respond(let response):
            send(response, keepAlive: keepAlive, context: context)
        case .reset:
            // SO_LINGER 0 turns the close into a TCP RST, as a peer crashing mid-request would.
            guard let provider = context.channel as? any SocketOptionProvider else {
                context.close(promise: nil)
                return
            }
            provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        case .close:
            context.close(promise: nil)
        case .stallThenClose(let milliseconds):
            context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(Int64(milliseconds))) {
                context.close(promise: nil)
            }
        }
    }

    private func send(_ response: SimulatorResponse, keepAlive requested: Bool, context: ChannelHandlerContext) {
        // An authentication failure closes its connection (HTTP lets a server close after any response; Twilio
        // documents nothing either way): a client without the credentials gets no connection to hold, and the
        // ones numberd opens find a place.
        let keepAlive = requested && response.status != 401
        if !keepAlive { closing = true }
        var headers = HTTPHeaders()
        for (name, value) in response.headers.sorted(by: { $0.key < $1.key }) { headers.add(name: name, value: value) }
        headers.add(name: "Content-Length", value: String(response.body.count))
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        let head = HTTPResponseHead(
            version: .http1_1, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
        sending = true
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if !response.body.isEmpty {
            context.write(
                wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: response.body)))),
                promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        sending = false
        if !keepAlive {
            done.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
        // A request handed over during the write: on the next turn of the loop (not deeper in this one's stack), if
        // the write left room; else when the connection drains.
        if waiting != nil {
            context.eventLoop.assumeIsolated().execute { self.resumeWaiting(context: context) }
        }
    }

    /// Handles the request that waits, if the connection has room for its answer.
    private func resumeWaiting(context: ChannelHandlerContext) {
        guard !closing, context.channel.isActive, context.channel.isWritable, let requestHead = waiting else { return }
        waiting = nil
        complete(requestHead, context: context)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        resumeWaiting(context: context)
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // An idle keep-alive connection is closed after `connectionIdleTimeoutMilliseconds`, and so is one whose
        // request has waited a whole idle period for its client to read, no request handled meanwhile; but not while
        // its client reads what it was answered (its answer may still be on its way: closed, the rest was lost).
        if event is IdleStateHandler.IdleStateEvent {
            let before = acknowledged
            acknowledged = Self.acknowledgedBytes(context.channel)
            let reading = before.map { before in acknowledged.map { $0 > before } ?? false } ?? false
            if !reading && (!busy || (waiting != nil && !progressed)) { context.close(promise: nil) }
            progressed = false
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    #if os(Linux)
    /// `struct tcp_info` up to and including `tcpi_bytes_acked` (byte offset 120; Linux 4.1 and later), whose
    /// declaration in Glibc's headers ends before it.
    private typealias TCPInfoPrefix = (
        UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
        UInt64, UInt64
    )
    #endif

    /// The bytes the peer's TCP has acknowledged on `channel`'s socket, nil where that is not known (not Linux, not a
    /// socket, the call failed). Called on the channel's event loop, where the socket option is read at once.
    private static func acknowledgedBytes(_ channel: any Channel) -> UInt64? {
        #if os(Linux)
        guard let provider = channel as? any SocketOptionProvider else { return nil }
        let info: EventLoopFuture<TCPInfoPrefix> = provider.unsafeGetSocketOption(level: .tcp, name: .tcp_info)
        var acknowledged: UInt64?
        info.assumeIsolated().whenSuccess { acknowledged = $0.15 }
        return acknowledged
        #else
        return nil
        #endif
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
