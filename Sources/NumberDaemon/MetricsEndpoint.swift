import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle
import Synchronization

/// Serves `GET /metrics` in the Prometheus text format from `registry`, on loopback by default, and the probes of
/// supervisors that cannot speak nrpc/TLS: `GET /healthz` (liveness: 200 `ok` while the process answers and
/// ``liveness`` finds nothing wrong, else 503 and the reason) and `GET /readyz` (readiness: 200 `ready`, else 503 and
/// the reason, from ``readiness``). Plain HTTP: put it on an address only the scraper and the probes reach.
///
/// Bounded like everything else (``Limits``): one request per connection (answered with `connection: close`), a
/// request of at most 8 KiB, a connection closed 10 s after it was accepted whatever it did, and 64 connections at
/// once (probes included: a probe every few seconds and a scrape need a handful). A scraper needs one short
/// connection every few seconds; anything beyond gets a clear HTTP status (431, 408, 503) and the connection closed.
/// At the cap a new connection takes the place of the oldest one not yet being answered, which is closed: 65 idle
/// connections from anyone who reached the port used to get every later one refused 503 — `/healthz` included, so a
/// liveness probe had numberd restarted over and over. Only 64 connections all being answered at once refuse one.
struct MetricsEndpoint: Service, CustomStringConvertible {
    /// The endpoint's limits, each with a default.
    struct Limits: Sendable, Hashable {
        /// Connections open at once; one more takes the place of the oldest not yet being answered (closed), or, when
        /// every one is being answered, is answered 503 and closed. Default 64.
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
    /// Why numberd is not ready for traffic (`/readyz` answers 503 with it), nil when it is. Asked on the event loop
    /// for each `/readyz`: it must be quick and must not block.
    var readiness: @Sendable () -> String? = { nil }
    /// Why numberd should be restarted (`/healthz` answers 503 with it), nil while it is alive. Asked on the event loop
    /// for each `/healthz`, like ``readiness``.
    var liveness: @Sendable () -> String? = { nil }
    /// Told where the endpoint listens once it is bound (tests bind port 0).
    var onListening: @Sendable (SocketAddress) -> Void = { _ in }
    /// The connections admitted under the cap and not closed yet (shared by copies: tests read it to know when
    /// connections were admitted before they open one more).
    let openConnections = OpenConnections()
    /// Told why the endpoint could not bind (its `run()` then throws it).
    var onBindFailure: @Sendable (any Error) -> Void = { _ in }
    /// The socket ``bind()`` opened, which `run()` serves (nil: `run()` binds its own).
    var bound: (any Channel)?

    /// Binds the endpoint's address and returns its socket, accepting nothing until a `run()` with it as ``bound``
    /// (the kernel queues connections meanwhile), so a start can fail on a taken port before anything else runs.
    /// The caller closes it if no `run()` takes it.
    func bind() async throws -> any Channel {
        try await listen(accepting: false)
    }

    /// How the service lifecycle's log lines name it (its default spelled out every field, the registry's too).
    var description: String { "MetricsEndpoint(\(host):\(port))" }

    func run() async throws {
        let channel: any Channel
        if let bound {
            channel = bound
            do {
                try await channel.setOption(.autoRead, value: true).get()
            } catch {
                try? await channel.close()
                throw error
            }
        } else {
            channel = try await listen(accepting: true)
        }
        logger.info("metrics listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
        try? await gracefulShutdown()
        try await channel.close()
    }

    /// Binds the address (`accepting`: at once, else once `autoRead` is set); tells ``onListening`` or
    /// ``onBindFailure``.
    private func listen(accepting: Bool) async throws -> any Channel {
        let registry = self.registry
        let limits = self.limits
        let readiness = self.readiness
        let liveness = self.liveness
        let open = openConnections
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.autoRead, value: accepting)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    guard let (slot, evicted) = open.admit(channel, max: limits.connectionsMax) else {
                        try pipeline.addHandler(MetricsConnectionGuard(refusing: limits))
                        return
                    }
                    evicted?.close(promise: nil)
                    channel.closeFuture.whenComplete { _ in open.release(slot) }
                    try pipeline.addHandler(MetricsConnectionGuard(limits: limits, answering: { open.answering(slot) }))
                    try pipeline.configureHTTPServerPipeline(withErrorHandling: true)
                    try pipeline.addHandler(
                        MetricsHTTPHandler(registry: registry, readiness: readiness, liveness: liveness))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: host, port: port).get()
        } catch {
            onBindFailure(error)
            throw error
        }
        if let address = channel.localAddress { onListening(address) }
        return channel
    }
}

/// The endpoint's open connections under the cap, oldest first, each with whether it is being answered.
final class OpenConnections: Sendable {
    private struct Entry {
        let slot: UInt64
        let channel: any Channel
        var answering = false
    }

    private let state = Mutex<(next: UInt64, entries: [Entry])>((0, []))

    /// Slots taken now.
    var current: Int { state.withLock { $0.entries.count } }

    /// Takes a slot for `channel` if fewer than `max` are taken, else the slot of the oldest connection not being
    /// answered, which the caller closes (`evicted`); nil when all `max` are being answered.
    func admit(_ channel: any Channel, max: Int) -> (slot: UInt64, evicted: (any Channel)?)? {
        state.withLock { state in
            var evicted: (any Channel)?
            if state.entries.count >= max {
                guard let oldest = state.entries.firstIndex(where: { !$0.answering }) else { return nil }
                evicted = state.entries.remove(at: oldest).channel
            }
            let slot = state.next
            state.next += 1
            state.entries.append(Entry(slot: slot, channel: channel))
            return (slot, evicted)
        }
    }

    /// The connection of `slot` has begun its answer: it is no longer the one a new connection takes the place of.
    func answering(_ slot: UInt64) {
        state.withLock { state in
            guard let index = state.entries.firstIndex(where: { $0.slot == slot }) else { return }
            state.entries[index].answering = true
        }
    }

    /// Gives the slot back (a connection closed; nothing when it was taken from it already).
    func release(_ slot: UInt64) {
        state.withLock { state in state.entries.removeAll { $0.slot == slot } }
    }
}

private final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let registry: PrometheusCollectorRegistry
    private let readiness: @Sendable () -> String?
    private let liveness: @Sendable () -> String?
    private var head: HTTPRequestHead?
    /// The one request was answered: the rest of what the client sends is ignored until the connection closes.
    private var answered = false

    init(
        registry: PrometheusCollectorRegistry, readiness: @escaping @Sendable () -> String?,
        liveness: @escaping @Sendable () -> String?
    ) {
        self.registry = registry
        self.readiness = readiness
        self.liveness = liveness
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            answered = true
            let answer = MetricsEndpoint.answer(
                method: head.method, uri: head.uri, metrics: { registry.emitToBuffer() }, readiness: readiness,
                liveness: liveness)
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: answer.contentType)
            headers.add(name: "content-length", value: "\(answer.body.count)")
            headers.add(name: "connection", value: "close")
            context.write(
                wrapOutboundOut(
                    .head(HTTPResponseHead(version: head.version, status: answer.status, headers: headers))),
                promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: answer.body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        }
    }
}
