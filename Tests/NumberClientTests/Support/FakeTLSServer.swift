import NIOCore
import NIOPosix
import NumberAPI
import NumberTLS
import NumberWire
import Synchronization

/// A TLS listener on 127.0.0.1:0 that completes the handshake (with our OpenSSL handler, as numberd does) and then
/// behaves as the test says, for the client's tests of when a connection is ready: it records the HEADERS of every
/// call it reads.
final class FakeTLSServer: Sendable {
    /// What the server does once the TLS handshake is done.
    enum Behaviour: Sendable {
        /// Reads and records, never writes a frame: no SETTINGS ever.
        case neverSendsSettings
        /// Closes the connection (a server that refuses the client only after its handshake).
        case closesAfterHandshake
        /// Sends its SETTINGS, then reads and records, and answers each call `NOT_FOUND` / `FAKE`.
        case sendsSettings
    }

    /// The CA of the server certificate (trusted by the test's client) and one that issues client certificates.
    struct PKI: Sendable {
        let authority: CertificateAuthority
        let server: IssuedCertificate

        static func make() throws -> PKI {
            let authority = try CertificateAuthority.generate(commonName: "client tests CA")
            return PKI(authority: authority, server: try authority.issueServerCertificate())
        }
    }

    let pki: PKI
    private let listener: any Channel
    private let recorded: Recorded

    /// What the connections saw, shared with the listener's initializer.
    private final class Recorded: Sendable {
        let channels = Mutex<[any Channel]>([])
        let headers = Mutex<[RequestHeaders]>([])
        let handshakes = Mutex(0)
    }

    private init(pki: PKI, listener: any Channel, recorded: Recorded) {
        self.pki = pki
        self.listener = listener
        self.recorded = recorded
    }

    /// The port it listens on.
    var port: Int { listener.localAddress!.port! }
    /// The HEADERS of the calls read so far: calls that reached the server.
    var headers: [RequestHeaders] { recorded.headers.withLock { $0 } }
    /// TLS handshakes the server completed.
    var handshakes: Int { recorded.handshakes.withLock { $0 } }

    /// Connections it accepted (their handshakes completed or not).
    var connections: Int { recorded.channels.withLock { $0.count } }

    /// Starts listening; with `clientCA`, a client certificate issued by it is required (mutual TLS).
    static func start(_ behaviour: Behaviour, clientCA: CertificateAuthority? = nil) async throws -> FakeTLSServer {
        let pki = try PKI.make()
        var configuration = TLSConfiguration.server(
            certificateChain: pki.server.certificateChain, privateKey: pki.server.privateKey)
        configuration.applicationProtocols = ["nrpc/1"]
        if let clientCA {
            configuration.trustRoots = clientCA.trustRoots
            configuration.clientAuthentication = .required
        }
        let context = try TLSContext(configuration: configuration)
        let recorded = Recorded()
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                recorded.channels.withLock { $0.append(channel) }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addTLSServerHandler(context: context)
                    try channel.pipeline.syncOperations.addHandler(Connection(behaviour, recorded: recorded))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return FakeTLSServer(pki: pki, listener: listener, recorded: recorded)
    }

    /// Stops listening and closes what it accepted.
    func stop() async {
        try? await listener.close()
        for channel in recorded.channels.withLock({ $0 }) { try? await channel.close() }
    }

    /// One accepted connection, past TLS.
    private final class Connection: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        private let behaviour: Behaviour
        private let recorded: Recorded
        private let reader = FrameReader(FrameDecoder(expectsPreface: true))

        init(_ behaviour: Behaviour, recorded: Recorded) {
            self.behaviour = behaviour
            self.recorded = recorded
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            guard event is TLSHandshakeCompleted else { return }
            recorded.handshakes.withLock { $0 += 1 }
            switch behaviour {
            case .neverSendsSettings:
                break
            case .closesAfterHandshake:
                context.close(promise: nil)
            case .sendsSettings:
                var buffer = context.channel.allocator.buffer(capacity: Frame.headerLength)
                buffer.writeFrame(Frame(type: .settings, streamID: 0))
                context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
            }
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let failure = reader.read(unwrapInboundIn(data)) { frame in
                if frame.type == .headers,
                    let headers = try? ProtoDecoder().decode(RequestHeaders.self, from: frame.payload)
                {
                    recorded.headers.withLock { $0.append(headers) }
                }
                if case .sendsSettings = behaviour, frame.type == .message, frame.flags.contains(.endStream) {
                    answer(streamID: frame.streamID, context: context)
                }
            }
            if failure != nil { context.close(promise: nil) }
        }

        private func answer(streamID: UInt32, context: ChannelHandlerContext) {
            var status = ByteBuffer()
            try! ProtoEncoder().encode(
                RpcStatus(code: StatusCode.notFound.rawValue, message: "fake", reason: "FAKE"), into: &status)
            var buffer = context.channel.allocator.buffer(capacity: Frame.headerLength + status.readableBytes)
            buffer.writeFrame(Frame(type: .trailers, streamID: streamID, payload: status))
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}
