import NIOCore
import NIOPosix
import NumberTLS
import Synchronization

/// What a loopback peer observed, collected across the event loops.
final class Observations: Sendable {
    private let state = Mutex(State())

    struct State {
        var handshakes: [TLSHandshakeCompleted] = []
        var errors: [TLSError] = []
        var otherErrors: [String] = []
        var received: [UInt8] = []
    }

    func record(_ body: (inout State) -> Void) {
        state.withLock { body(&$0) }
    }

    var snapshot: State {
        state.withLock { $0 }
    }
}

/// Echoes every byte back; flushes once per read burst. Records handshakes and errors.
final class EchoProbe: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let observations: Observations

    init(observations: Observations) {
        self.observations = observations
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        observations.record { $0.received.append(contentsOf: buffer.readableBytesView) }
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSHandshakeCompleted {
            observations.record { $0.handshakes.append(event) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? TLSError {
            observations.record { $0.errors.append(error) }
        } else {
            observations.record { $0.otherErrors.append("\(error)") }
        }
        context.close(promise: nil)
    }
}

/// A TLS echo server on 127.0.0.1 with an ephemeral port.
final class LoopbackEchoServer: Sendable {
    let channel: any Channel
    let observations = Observations()

    var port: Int { channel.localAddress!.port! }

    init(group: any EventLoopGroup, context: TLSContext) async throws {
        let observations = self.observations
        channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addTLSServerHandler(context: context)
                    try channel.pipeline.syncOperations.addHandler(EchoProbe(observations: observations))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    func close() async throws {
        try await channel.close()
    }
}

/// A client side probe: completes `handshake` (or fails it with the first error), gathers bytes until
/// `expectedBytes` arrived, and completes `closed` with the errors seen when the channel goes inactive.
final class ClientProbe: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let handshake: EventLoopPromise<TLSHandshakeCompleted>
    let received: EventLoopPromise<[UInt8]>
    let closed: EventLoopPromise<[TLSError]>
    let expectedBytes: Int
    private var bytes: [UInt8] = []
    private var errors: [TLSError] = []
    private var handshakeDone = false
    private var receivedDone = false

    init(
        handshake: EventLoopPromise<TLSHandshakeCompleted>, received: EventLoopPromise<[UInt8]>,
        closed: EventLoopPromise<[TLSError]>, expectedBytes: Int
    ) {
        self.handshake = handshake
        self.received = received
        self.closed = closed
        self.expectedBytes = expectedBytes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        bytes.append(contentsOf: unwrapInboundIn(data).readableBytesView)
        if bytes.count >= expectedBytes, !receivedDone {
            receivedDone = true
            received.succeed(bytes)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSHandshakeCompleted, !handshakeDone {
            handshakeDone = true
            handshake.succeed(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let error = error as? TLSError ?? TLSError(code: .protocolError, message: "\(error)")
        errors.append(error)
        failPending(error)
    }

    private func failPending(_ error: TLSError) {
        if !handshakeDone {
            handshakeDone = true
            handshake.fail(error)
        }
        if !receivedDone {
            receivedDone = true
            received.fail(error)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failPending(TLSError(code: .connectionClosed, message: "closed"))
        closed.succeed(errors)
    }
}

/// A connected TLS client with its probe's futures.
struct LoopbackClient {
    let channel: any Channel
    let handshake: EventLoopFuture<TLSHandshakeCompleted>
    let received: EventLoopFuture<[UInt8]>
    let closed: EventLoopFuture<[TLSError]>

    static func connect(
        group: any EventLoopGroup, port: Int, context: TLSContext, hostname: String = "localhost",
        sessionCache: TLSSessionCache? = nil, expectedBytes: Int = 0
    ) async throws -> LoopbackClient {
        let eventLoop = group.next()
        let probe = ClientProbePromises(eventLoop: eventLoop)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addTLSClientHandler(
                            context: context, serverHostname: hostname, sessionCache: sessionCache)
                        try channel.pipeline.syncOperations.addHandler(probe.makeProbe(expectedBytes: expectedBytes))
                    }
                }
                .connect(host: "127.0.0.1", port: port).get()
        } catch {
            // No probe will complete the promises: fail them, or their futures trap as leaked.
            probe.handshake.fail(error)
            probe.received.fail(error)
            probe.closed.fail(error)
            throw error
        }
        return LoopbackClient(
            channel: channel, handshake: probe.handshake.futureResult, received: probe.received.futureResult,
            closed: probe.closed.futureResult)
    }
}

/// Promises made outside the channel initializer, so the test can hold the futures.
struct ClientProbePromises: Sendable {
    let handshake: EventLoopPromise<TLSHandshakeCompleted>
    let received: EventLoopPromise<[UInt8]>
    let closed: EventLoopPromise<[TLSError]>

    init(eventLoop: any EventLoop) {
        handshake = eventLoop.makePromise()
        received = eventLoop.makePromise()
        closed = eventLoop.makePromise()
    }

    func makeProbe(expectedBytes: Int) -> ClientProbe {
        ClientProbe(handshake: handshake, received: received, closed: closed, expectedBytes: expectedBytes)
    }
}
