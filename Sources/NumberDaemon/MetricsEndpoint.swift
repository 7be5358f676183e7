import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle
import Synchronization

/// Serves `GET /metrics` in the Prometheus text format from `registry`, on loopback by default. Plain HTTP: put it
/// on an address only the scraper reaches.
///
/// Bounded like everything else (``Limits``): one request per connection (answered with `connection: close`), a
/// request of at most 8 KiB, a connection closed 10 s after it was accepted whatever it did, and 64 connections at
/// once. A scraper needs one short connection every few seconds; anything beyond gets a clear HTTP status (431,
/// 408, 503) and the connection closed.
struct MetricsEndpoint: Service {
    /// The endpoint's limits, each with a default.
    struct Limits: Sendable, Hashable {
        /// Connections open at once; one more is answered 503 and closed. Default 64.
        var connectionsMax = 64
        /// From accept until the connection is closed: a request not whole by then is answered 408, an answer not
        /// sent by then is cut. Default 10 s.
        var connectionTimeout: TimeAmount = .seconds(10)
        /// Bytes a connection may send (its one request: line, headers and any body); one more is answered 431.
        /// Default 8 KiB.
        var requestBytesMax = 8 * 1024

        /// The defaults.
        static let defaults = Limits()
    }

    let host: String
    let port: Int
    let registry: PrometheusCollectorRegistry
    let logger: Logger
    var limits: Limits = .defaults
    /// Told where the endpoint listens once it is bound (tests bind port 0).
    var onListening: @Sendable (SocketAddress) -> Void = { _ in }
    /// The connections admitted under the cap and not closed yet (shared by copies: tests read it to know when
    /// connections were admitted before they open one more).
    let openConnections = OpenConnections()

    func run() async throws {
        let registry = self.registry
        let limits = self.limits
        let open = openConnections
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    guard open.admit(max: limits.connectionsMax) else {
                        try pipeline.addHandler(MetricsConnectionGuard(refusing: limits))
                        return
                    }
                    channel.closeFuture.whenComplete { _ in open.release() }
                    try pipeline.addHandler(MetricsConnectionGuard(limits: limits))
                    try pipeline.configureHTTPServerPipeline(withErrorHandling: true)
                    try pipeline.addHandler(MetricsHTTPHandler(registry: registry))
                }
            }
            .bind(host: host, port: port).get()
        if let address = channel.localAddress { onListening(address) }
        logger.info("metrics listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
        try? await gracefulShutdown()
        try await channel.close()
    }
}

/// The endpoint's open connections, counted under the cap.
final class OpenConnections: Sendable {
    private let count = Atomic<Int>(0)

    /// Slots taken now.
    var current: Int { count.load(ordering: .relaxed) }

    /// Takes a slot if fewer than `max` are taken.
    func admit(max: Int) -> Bool {
        var current = count.load(ordering: .relaxed)
        while current < max {
            let (exchanged, original) = count.compareExchange(
                expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }

    func release() {
        count.subtract(1, ordering: .relaxed)
    }
}

private final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let registry: PrometheusCollectorRegistry
    private var head: HTTPRequestHead?
    /// The one request was answered: the rest of what the client sends is ignored until the connection closes.
    private var answered = false

    init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            answered = true
            let (status, body): (HTTPResponseStatus, [UInt8]) =
                head.method == .GET && head.uri.split(separator: "?").first == "/metrics"
                ? (.ok, registry.emitToBuffer()) : (.notFound, Array("not found: GET /metrics\n".utf8))
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: "text/plain; version=0.0.4")
            headers.add(name: "content-length", value: "\(body.count)")
            headers.add(name: "connection", value: "close")
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
                promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        }
    }
}
