import Logging
import NIOCore
import NIOPosix
import NumberAPI
import NumberClient
import NumberServer
import NumberTLS
import NumberWire

/// A numberd transport on 127.0.0.1:0 with a fresh CA and server certificate, for end-to-end tests over real TLS.
struct TestTLS {
    let authority: CertificateAuthority
    let serverContext: TLSContext

    /// `closeNotifyTimeout`, `handshakeTimeout`: the server's, if not the default.
    init(closeNotifyTimeout: Duration? = nil, handshakeTimeout: Duration? = nil) throws {
        authority = try CertificateAuthority.generate()
        let issued = try authority.issueServerCertificate()
        var configuration = TLSConfiguration.server(
            certificateChain: issued.certificateChain, privateKey: issued.privateKey)
        configuration.applicationProtocols = ["nrpc/1"]
        if let closeNotifyTimeout { configuration.closeNotifyTimeout = closeNotifyTimeout }
        if let handshakeTimeout { configuration.handshakeTimeout = handshakeTimeout }
        serverContext = try TLSContext(configuration: configuration)
    }

    /// A client of the test server. Its waits are past what a loaded full run makes a connection take (handshakes
    /// of 15–26 s, a first minute with no CPU for the process): the call's deadline covers its connect too. Tests of
    /// a deadline or a connect limit set their own.
    func clientConfiguration(port: Int, apiKey: String? = nil) -> NumbersClientConfiguration {
        var configuration = NumbersClientConfiguration(
            host: "127.0.0.1", port: port, apiKey: apiKey, trustRoots: authority.trustRoots,
            connectTimeout: .seconds(60), defaultTimeout: .seconds(300))
        configuration.handshakeTimeout = .seconds(60)
        return configuration
    }

    /// A raw client's TLS, its handshake waited for as long as ``clientConfiguration(port:apiKey:)``'s: the default
    /// 10 s failed a clean-clone CI run's 30 connections one after another.
    func rawClientContext() throws -> TLSContext {
        var configuration = TLSConfiguration.client(trustRoots: authority.trustRoots)
        configuration.applicationProtocols = ["nrpc/1"]
        configuration.handshakeTimeout = .seconds(60)
        return try TLSContext(configuration: configuration)
    }
}

let quietLogger = Logger(label: "numberd-test", factory: { _ in SwiftLogNoOpLogHandler() })

/// Runs a server with `router` for the duration of `body`, logging to `logger` (default: nowhere).
func withTestServer(
    router: RPCRouter, tls: TestTLS, configuration: NumberServerConfiguration = NumberServerConfiguration(port: 0),
    logger: Logger = quietLogger, _ body: (NumberServer, Int) async throws -> Void
) async throws {
    let server = NumberServer(
        configuration: configuration, transport: .tls(tls.serverContext), router: router, logger: logger)
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await server.run() }
        let address = try await server.listeningAddress()
        do {
            try await body(server, address.port!)
        } catch {
            group.cancelAll()
            throw error
        }
        group.cancelAll()
    }
}

/// Sends raw bytes over TLS and returns everything the server sent until it closed (or `timeout`: generous, since
/// every caller makes the server close, and a loaded machine can take seconds to answer).
func rawExchange(
    port: Int, tls: TestTLS, send: ByteBuffer, timeout: TimeAmount = .seconds(60)
) async throws -> ByteBuffer {
    let done = MultiThreadedEventLoopGroup.singleton.any().makePromise(of: ByteBuffer.self)
    let channel = try await connectRawTLS(port: port, tls: tls, failing: done) { Collector(done: done) }
    try await channel.writeAndFlush(send)
    let timer = channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    let received = try await done.futureResult.get()
    timer.cancel()
    return received
}

/// A TLS client channel to 127.0.0.1:`port` (trusting the test CA) with `handler()` above the TLS handler. When the
/// connection fails, `promise` — which that handler would have completed — is failed too: a leaked promise traps.
func connectRawTLS<Value: Sendable>(
    port: Int, tls: TestTLS, failing promise: EventLoopPromise<Value>,
    _ handler: @escaping @Sendable () -> some ChannelHandler
) async throws -> any Channel {
    let context = try tls.rawClientContext()
    do {
        return try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addTLSClientHandler(
                        context: context, serverHostname: "127.0.0.1")
                    try channel.pipeline.syncOperations.addHandler(handler())
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
    } catch {
        promise.fail(error)
        throw error
    }
}

/// Decodes server frames from raw bytes.
func frames(in buffer: ByteBuffer) throws -> [Frame] {
    let processor = NIOSingleStepByteToMessageProcessor(FrameDecoder(expectsPreface: false))
    var frames: [Frame] = []
    try processor.process(buffer: buffer) { frames.append($0) }
    return frames
}

private final class Collector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private var received = ByteBuffer()
    private let done: EventLoopPromise<ByteBuffer>

    init(done: EventLoopPromise<ByteBuffer>) { self.done = done }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        received.writeBuffer(&bytes)
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.succeed(received)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
