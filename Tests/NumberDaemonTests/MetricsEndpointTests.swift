import Logging
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle
import Synchronization
import Testing

@testable import NumberDaemon

/// The metrics endpoint's limits at their edges: a request of up to `requestBytesMax` is served and one byte more is
/// 431; a connection that has not sent a whole request by `connectionTimeout` gets 408 and is closed; past
/// `connectionsMax` open connections the next one takes the place of the oldest not being answered (closed), and gets
/// 503 at once only when all are being answered. Each served request closes its connection. Before these limits the
/// 8 KiB + 1 request was served, the silent connection stayed open and the third was served.
@Suite("Metrics endpoint limits", .serialized)
struct MetricsEndpointTests {
    /// A 2-connection, 8 KiB endpoint closing connections after `timeout`, on 127.0.0.1:0 for the duration of `body`.
    /// Tests that expect a close by anything else give it a timeout far beyond that (a busy machine can be slow).
    static func withEndpoint(
        timeout: TimeAmount = .seconds(30), readiness: @escaping @Sendable () -> String? = { nil },
        _ body: (Int, OpenConnections) async throws -> Void
    ) async throws {
        let registry = PrometheusCollectorRegistry()
        registry.makeCounter(
            descriptor: MetricNameDescriptor(metricName: "numberd_test", unitName: "total", helpText: "a test counter")
        ).increment()
        let bound = Mutex<Int?>(nil)
        var endpoint = MetricsEndpoint(host: "127.0.0.1", port: 0, registry: registry, logger: quietLogger)
        endpoint.limits = .init(connectionsMax: 2, connectionTimeout: timeout, requestBytesMax: 8 * 1024)
        endpoint.readiness = readiness
        endpoint.onListening = { address in bound.withLock { $0 = address.port } }
        let group = ServiceGroup(services: [endpoint], logger: quietLogger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            // Waits for what must happen: on a loaded machine the event loops may take a while to bind.
            var port: Int?
            let deadline = ContinuousClock.now + .seconds(60)
            while port == nil, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
                port = bound.withLock { $0 }
            }
            do {
                try await body(try #require(port), endpoint.openConnections)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.next()
        }
    }

    /// A GET /metrics request of exactly `bytes` bytes (a padding header fills it).
    static func request(bytes: Int) -> String {
        let start = "GET /metrics HTTP/1.1\r\nhost: 127.0.0.1\r\nx-pad: "
        let end = "\r\n\r\n"
        return start + String(repeating: "p", count: bytes - start.utf8.count - end.utf8.count) + end
    }

    @Test("a request of 8 KiB is served and closes its connection; one byte more is 431", arguments: [0, 1])
    func requestSize(extra: Int) async throws {
        // A connection timeout far past the bound below, which is only slack for a loaded machine.
        try await Self.withEndpoint(timeout: .seconds(600)) { port, _ in
            let connection = try await TCPConnection.connect(port: port)
            try await connection.send(Self.request(bytes: 8 * 1024 + extra))
            let closedAfter = try #require(await connection.waitForClose(timeout: .seconds(180)))
            #expect(closedAfter < .seconds(120), "closed after \(closedAfter): by the deadline, not the answer")
            let text = connection.text
            if extra == 0 {
                #expect(text.hasPrefix("HTTP/1.1 200 OK"), "\(text.prefix(200))")
                #expect(text.contains("numberd_test_total 1"))
                #expect(text.lowercased().contains("connection: close"))
            } else {
                #expect(text.hasPrefix("HTTP/1.1 431"), "\(text.prefix(200))")
            }
        }
    }

    @Test("a connection without a whole request is answered 408 and closed at the timeout, not before")
    func slowRequest() async throws {
        try await Self.withEndpoint(timeout: .seconds(1)) { port, _ in
            let connection = try await TCPConnection.connect(port: port)
            try await connection.send("GET /metrics HTTP/1.1\r\nhost: 127.0.0.1\r\n")
            // The bound is only slack for a loaded machine: without the timeout the connection stayed open.
            let closedAfter = try #require(await connection.waitForClose(timeout: .seconds(300)))
            #expect(closedAfter >= .milliseconds(900), "closed after \(closedAfter)")
            #expect(closedAfter <= .seconds(200), "closed after \(closedAfter)")
            #expect(connection.text.hasPrefix("HTTP/1.1 408"), "\(connection.text.prefix(200))")
        }
    }

    /// Found probing the endpoint: 65 idle connections (from anyone who reached the port) got every later one 503,
    /// `/healthz` included, and a liveness probe had numberd restarted. The newest connection now takes the place
    /// of the oldest idle one.
    @Test("past the connection cap the next connection takes the oldest idle one's place, closed; it is served")
    func connectionCap() async throws {
        // Idle connections stay until evicted: no timeout of theirs may run out while the test waits on a loaded machine.
        try await Self.withEndpoint(timeout: .seconds(600)) { port, open in
            var idle: [TCPConnection] = []
            for _ in 0..<2 {
                idle.append(try await TCPConnection.connect(port: port))
                // Admitted in order (a connect returns once the kernel accepted it, before the endpoint did).
                let admitted = ContinuousClock.now + .seconds(60)
                while open.current < idle.count, ContinuousClock.now < admitted {
                    try await Task.sleep(for: .milliseconds(10))
                }
            }
            try #require(open.current == 2, "the endpoint admitted \(open.current) of the 2 connections")
            let probe = try await TCPConnection.connect(port: port)
            try await probe.send("GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
            #expect(await probe.waitForClose(timeout: .seconds(120)) != nil)
            #expect(probe.text.hasPrefix("HTTP/1.1 200"), "\(probe.text.prefix(200))")
            let evictedAfter = await idle[0].waitForClose(timeout: .seconds(120))
            #expect(evictedAfter != nil, "the oldest idle connection was closed")
            #expect(idle[0].text.isEmpty, "closed without an answer: \(idle[0].text.prefix(200))")
            #expect(!idle[1].isClosed)
        }
    }

    @Test("the slots: the oldest connection not being answered gives way; none does when all are being answered")
    func slotBookkeeping() async throws {
        try await Self.withEndpoint { port, _ in
            var channels: [any Channel] = []
            for _ in 0..<4 { channels.append(try await TCPConnection.connect(port: port).channel) }
            let open = OpenConnections()
            let first = try #require(open.admit(channels[0], max: 2))
            let second = try #require(open.admit(channels[1], max: 2))
            #expect(first.evicted == nil && second.evicted == nil && open.current == 2)
            open.answering(first.slot)
            // The first is being answered: the second, younger but idle, gives way.
            let third = try #require(open.admit(channels[2], max: 2))
            #expect(third.evicted === channels[1] && open.current == 2)
            open.answering(third.slot)
            #expect(open.admit(channels[3], max: 2) == nil, "every slot being answered: refused (503)")
            open.release(first.slot)
            open.release(second.slot)  // taken from it already: nothing
            #expect(open.current == 1)
            #expect(open.admit(channels[3], max: 2)?.evicted == nil)
            for channel in channels { try? await channel.close() }
        }
    }
}

/// A plain TCP client that records what it receives and when the server closed.
final class TCPConnection: Sendable {
    let channel: any Channel
    let opened: ContinuousClock.Instant
    private let received: Received

    final class Received: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let bytes = Mutex(ByteBuffer())
        let closedAt = Mutex<ContinuousClock.Instant?>(nil)

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            bytes.withLock { _ = $0.writeBuffer(&buffer) }
        }

        func channelInactive(context: ChannelHandlerContext) {
            closedAt.withLock { $0 = ContinuousClock.now }
        }
    }

    private init(channel: any Channel, opened: ContinuousClock.Instant, received: Received) {
        self.channel = channel
        self.opened = opened
        self.received = received
    }

    static func connect(port: Int) async throws -> TCPConnection {
        let received = Received()
        let opened = ContinuousClock.now
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(received) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return TCPConnection(channel: channel, opened: opened, received: received)
    }

    func send(_ text: String) async throws {
        try await channel.writeAndFlush(ByteBuffer(string: text))
    }

    var text: String { String(buffer: received.bytes.withLock { $0 }) }

    var isClosed: Bool { received.closedAt.withLock { $0 } != nil }

    /// How long after opening the server closed the connection, or nil if it did not within `timeout` (then it is
    /// closed here).
    func waitForClose(timeout: Duration) async -> Duration? {
        let deadline = opened + timeout
        while ContinuousClock.now < deadline {
            if let closed = received.closedAt.withLock({ $0 }) { return closed - opened }
            try? await Task.sleep(for: .milliseconds(20))
        }
        try? await channel.close()
        return nil
    }
}
