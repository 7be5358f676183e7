import NIOCore
import NIOPosix
import NumberAPI
import NumberWire
import Synchronization

/// A scripted nrpc/1 server on 127.0.0.1:0 without TLS, for the client's tests against a real socket: it reads each
/// call as numberd does (preface, SETTINGS, HEADERS + MESSAGE with `END_STREAM`) and answers it as the test's script
/// says — a response, a status, silence, a GOAWAY, or the connection dropped once the request is read — remembering
/// every call's headers in arrival order.
///
/// ```swift
/// let server = try await FakeNumbersServer.start { index, _ in index == 0 ? .closeConnection : .response(ByteBuffer()) }
/// defer { Task { await server.stop() } }
/// ```
final class FakeNumbersServer: Sendable {
    /// What the server does with one call once its request has fully arrived.
    enum Answer: Sendable {
        /// The response message and an OK status.
        case response(ByteBuffer)
        /// A non-OK status, in TRAILERS.
        case status(RpcStatus)
        /// Nothing, ever: the caller's deadline or cancellation ends the call.
        case never
        /// Closes the connection: the client knows the request was sent, not what became of it.
        case closeConnection
        /// Closes the connection and stops listening: every later connect is refused.
        case closeConnectionAndStopListening
        /// Stops listening, then sends GOAWAY with a last stream below this call's, refusing it (never started), and
        /// closes the connection: numberd's drain at a restart, as its client sees it.
        case goAwayAndStopListening
        /// Stops reading the connection and never sends anything on it again (PING ACKs included), keeping it open:
        /// a server frozen or wedged, or a path that lost its packets, as its client sees it.
        case stopReading
        /// Sends GOAWAY naming this call's stream as the last it runs, and never answers the call: the connection goes
        /// away with the call still open on it (a server draining a long call).
        case goAway
    }

    /// Picks the answer to a call from its index (0 for the first call the server read) and headers.
    typealias Script = @Sendable (_ index: Int, _ headers: RequestHeaders) -> Answer

    /// The port it listens on.
    let port: Int
    private let log: CallLog

    private init(port: Int, log: CallLog) {
        self.port = port
        self.log = log
    }

    /// The headers of every call read so far, in order.
    var calls: [RequestHeaders] { log.recorded.withLock { $0 } }
    /// The connection (counted from 0 in order of acceptance) each call of `calls` came on.
    var callConnections: [Int] { log.connectionOfCall.withLock { $0 } }
    /// Connections accepted and not closed yet.
    var openConnections: Int { log.connectionsOpen.withLock { $0 } }

    /// Starts listening on 127.0.0.1 at a free port; `settings` (nil: an empty SETTINGS frame, every default) is what
    /// it advertises, e.g. a concurrent-call limit. Connections from number `settingsWithheldFrom` on (counted from 0
    /// in order of acceptance) never get the server's SETTINGS: a new connection that is slow to come up, which its
    /// client waits for until its connect timeout. Those numbered in `settingsHeld` (below `settingsWithheldFrom`) get
    /// them only when the test says (``releaseSettings(connection:)``): a connection that comes up when the test wants.
    static func start(
        port: Int = 0, settings: ConnectionSettings? = nil, settingsWithheldFrom: Int = .max,
        settingsHeld: Set<Int> = [], _ script: @escaping Script
    ) async throws -> FakeNumbersServer {
        let log = CallLog(
            script: script, settings: settings, settingsWithheldFrom: settingsWithheldFrom, settingsHeld: settingsHeld)
        let listener = try await bootstrap(log).bind(host: "127.0.0.1", port: port).get()
        log.listener.withLock { $0 = listener }
        return FakeNumbersServer(port: listener.localAddress!.port!, log: log)
    }

    /// Starts serving on `socket`, a socket the test bound and made listen (it is closed with the server).
    static func start(
        listeningSocket socket: NIOBSDSocket.Handle, _ script: @escaping Script
    ) async throws -> FakeNumbersServer {
        let log = CallLog(script: script, settings: nil, settingsWithheldFrom: .max, settingsHeld: [])
        let listener = try await bootstrap(log).withBoundSocket(socket).get()
        log.listener.withLock { $0 = listener }
        return FakeNumbersServer(port: listener.localAddress!.port!, log: log)
    }

    private static func bootstrap(_ log: CallLog) -> ServerBootstrap {
        ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Connection(log: log))
                }
            }
    }

    /// Sends the server's SETTINGS on connection `connection`, one of those `settingsHeld` (at once if it was accepted,
    /// else as soon as it is): its client's connect completes.
    func releaseSettings(connection: Int) {
        guard let channel = log.releaseSettings(connection: connection) else { return }
        // NIO writes it on the channel's event loop.
        channel.writeAndFlush(log.settingsFrame(), promise: nil)
    }

    /// Stops listening (connections already open stay until their client closes them).
    func stop() async {
        try? await log.stopListening()?.get()
    }

    /// The script, what was read and the listening socket, shared by every connection.
    private final class CallLog: Sendable {
        let script: Script
        /// The SETTINGS each connection advertises (nil: an empty frame).
        let settings: ConnectionSettings?
        /// The number of the first connection that is never sent them.
        let settingsWithheldFrom: Int
        /// The numbers of the connections sent them only once released.
        let settingsHeld: Set<Int>
        /// The channels of those accepted and not released yet, and those released before they were accepted.
        private let held = Mutex<(channels: [Int: any Channel], released: Set<Int>)>(([:], []))
        let recorded = Mutex<[RequestHeaders]>([])
        let connectionOfCall = Mutex<[Int]>([])
        let connectionsAccepted = Mutex(0)
        let connectionsOpen = Mutex(0)
        let listener = Mutex<(any Channel)?>(nil)

        init(
            script: @escaping Script, settings: ConnectionSettings?, settingsWithheldFrom: Int, settingsHeld: Set<Int>
        ) {
            self.script = script
            self.settings = settings
            self.settingsWithheldFrom = settingsWithheldFrom
            self.settingsHeld = settingsHeld
        }

        /// The server's SETTINGS frame, encoded.
        func settingsFrame() -> ByteBuffer {
            var buffer = ByteBuffer()
            buffer.writeFrame(Frame(type: .settings, streamID: 0, payload: settings?.payload() ?? ByteBuffer()))
            return buffer
        }

        /// Whether connection `number`, just accepted over `channel`, is sent the server's SETTINGS now: true unless
        /// it is held and not released yet (it is then kept for ``releaseSettings(connection:)``).
        func sendsSettings(number: Int, over channel: any Channel) -> Bool {
            guard settingsHeld.contains(number) else { return true }
            return held.withLock { held in
                if held.released.contains(number) { return true }
                held.channels[number] = channel
                return false
            }
        }

        /// Releases held connection `number`: its channel when it was accepted (the caller sends the SETTINGS on it),
        /// else nil, and it is sent them once accepted.
        func releaseSettings(connection number: Int) -> (any Channel)? {
            held.withLock { held in
                held.released.insert(number)
                return held.channels.removeValue(forKey: number)
            }
        }

        /// Numbers a new connection.
        func accepted() -> Int {
            connectionsAccepted.withLock { count in
                defer { count += 1 }
                return count
            }
        }

        /// Records a call that came on connection `connection` and returns its answer.
        func answer(_ headers: RequestHeaders, connection: Int) -> Answer {
            let index = recorded.withLock { calls in
                calls.append(headers)
                connectionOfCall.withLock { $0.append(connection) }
                return calls.count - 1
            }
            return script(index, headers)
        }

        /// Closes the listening socket; completes once nothing listens.
        func stopListening() -> EventLoopFuture<Void>? {
            listener.withLock { $0 }?.close()
        }
    }

    /// One accepted connection: frames in, the script's answers out.
    private final class Connection: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        private let log: CallLog
        private let number: Int
        private let reader = FrameReader(FrameDecoder(expectsPreface: true))
        private var headers: [UInt32: RequestHeaders] = [:]
        /// Set by `.stopReading`: nothing read after it is looked at, nothing more is sent.
        private var frozen = false

        init(log: CallLog) {
            self.log = log
            self.number = log.accepted()
        }

        func channelActive(context: ChannelHandlerContext) {
            log.connectionsOpen.withLock { $0 += 1 }
            if number < log.settingsWithheldFrom, log.sendsSettings(number: number, over: context.channel) {
                send(
                    [Frame(type: .settings, streamID: 0, payload: log.settings?.payload() ?? ByteBuffer())],
                    context: context)
            }
            context.fireChannelActive()
        }

        func channelInactive(context: ChannelHandlerContext) {
            log.connectionsOpen.withLock { $0 -= 1 }
            context.fireChannelInactive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard !frozen else { return }
            let failure = reader.read(unwrapInboundIn(data)) { frame in received(frame, context: context) }
            if failure != nil { context.close(promise: nil) }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }

        private func received(_ frame: Frame, context: ChannelHandlerContext) {
            guard !frozen else { return }
            switch frame.type {
            case .settings where !frame.flags.contains(.ack):
                send([Frame(type: .settings, flags: .ack, streamID: 0)], context: context)
            case .ping where !frame.flags.contains(.ack):
                send([Frame(type: .ping, flags: .ack, streamID: 0, payload: frame.payload)], context: context)
            case .headers:
                headers[frame.streamID] =
                    (try? ProtoDecoder().decode(RequestHeaders.self, from: frame.payload)) ?? .init()
            case .message where frame.flags.contains(.endStream):
                guard let call = headers.removeValue(forKey: frame.streamID) else { return }
                carryOut(log.answer(call, connection: number), streamID: frame.streamID, context: context)
            default:
                break
            }
        }

        private func carryOut(_ answer: Answer, streamID: UInt32, context: ChannelHandlerContext) {
            switch answer {
            case .response(let message):
                send(
                    [
                        Frame(type: .message, streamID: streamID, payload: message),
                        Frame(type: .trailers, streamID: streamID),
                    ],
                    context: context)
            case .status(let status):
                var payload = ByteBuffer()
                try! ProtoEncoder().encode(status, into: &payload)
                send([Frame(type: .trailers, streamID: streamID, payload: payload)], context: context)
            case .never:
                break
            case .closeConnection:
                context.close(promise: nil)
            case .closeConnectionAndStopListening:
                // Closed only once nothing listens, so the client's next connect is refused, not accepted.
                let channel = context.channel
                let stopped = log.stopListening() ?? channel.eventLoop.makeSucceededVoidFuture()
                stopped.whenComplete { _ in channel.close(promise: nil) }
            case .goAwayAndStopListening:
                // Sent once nothing listens, so the client's retry of the refused call is refused too, not accepted.
                let channel = context.channel
                var buffer = channel.allocator.buffer(capacity: 64)
                let away = GoAway(lastStreamID: streamID > 2 ? streamID - 2 : 0, code: .noError, message: "draining")
                buffer.writeFrame(Frame(type: .goAway, streamID: 0, payload: away.payload()))
                let frame = buffer
                let stopped = log.stopListening() ?? channel.eventLoop.makeSucceededVoidFuture()
                stopped.whenComplete { _ in
                    channel.writeAndFlush(frame).whenComplete { _ in channel.close(promise: nil) }
                }
            case .stopReading:
                frozen = true
                context.channel.setOption(.autoRead, value: false).whenFailure { _ in }
            case .goAway:
                let away = GoAway(lastStreamID: streamID, code: .noError, message: "draining")
                send([Frame(type: .goAway, streamID: 0, payload: away.payload())], context: context)
            }
        }

        private func send(_ frames: [Frame], context: ChannelHandlerContext) {
            var buffer = context.channel.allocator.buffer(capacity: 64)
            for frame in frames { buffer.writeFrame(frame) }
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        }
    }
}

extension RpcStatus {
    /// What numberd answers a call its connection can no longer hand to a handler (the server is stopping).
    static let shuttingDown = RpcStatus(
        code: StatusCode.unavailable.rawValue, message: "the server is shutting down", reason: "SHUTTING_DOWN")

    /// The status numberd answers a keyed retry with while the first request with its key is still running.
    static let requestInProgress = RpcStatus(
        code: StatusCode.aborted.rawValue, message: "a request with this idempotency key is still in progress",
        reason: "REQUEST_IN_PROGRESS")
}
