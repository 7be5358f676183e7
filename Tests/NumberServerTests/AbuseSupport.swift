import Foundation
import NIOCore
import NIOEmbedded
import NIOPosix
import NumberAPI
import NumberClient
import NumberTLS
import NumberWire
import Synchronization
import Testing

@testable import NumberServer

/// A router for abuse tests: HealthCheck answers at once, GetAccount holds the call until cancelled (≤ 10 s).
func abuseRouter() -> RPCRouter {
    var router = RPCRouter()
    router.register(NumbersMethods.healthCheck) { _, _ in HealthCheckResponse(status: .serving, version: "abuse") }
    router.register(NumbersMethods.getAccount) { request, _ in
        try await Task.sleep(for: .seconds(10))
        return GetAccountResponse(account: Account(id: request.accountId))
    }
    return router
}

/// The resident set size of this process in KiB, from /proc/self/status.
func residentKiB() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
    else { return 0 }
    return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
}

/// Latencies of a well-behaved client's calls made on its own connection while abuse runs.
struct LatencyReport: CustomStringConvertible {
    var calls: [Duration]
    var failures: [String]

    var p99: Duration {
        let sorted = calls.sorted()
        guard !sorted.isEmpty else { return .zero }
        return sorted[min(sorted.count - 1, Int((Double(sorted.count) * 0.99).rounded(.up)) - 1)]
    }

    var description: String { "\(calls.count) calls, \(failures.count) failed, p99 \(p99)" }
}

/// Whether the abuse tests hold resident memory to each attack's own bound (`ABUSE_STRICT_MEMORY=1`). VmRSS is the
/// whole process's: in the default run every other suite runs in parallel in the same process and its allocations
/// count too, so there the bound is at least ``abuseMemoryGrowthDefaultRunMaxKiB``. Run the suite alone with the
/// variable set to check the tight bounds: `ABUSE_STRICT_MEMORY=1 swift test --filter ProtocolAbuseTests`.
let abuseMemoryStrict = ProcessInfo.processInfo.environment["ABUSE_STRICT_MEMORY"] == "1"

/// The least VmRSS growth allowed during an attack in the default run (the whole suite in one process): 512 MiB.
let abuseMemoryGrowthDefaultRunMaxKiB = 512 * 1024

/// Runs `abuse` while a well-behaved client calls HealthCheck in a loop on another connection; checks every call
/// succeeded, at least `minimumCalls` of them, and that resident memory grew by at most `memoryGrowthMaxKiB` (with
/// `ABUSE_STRICT_MEMORY=1`; else by at most the larger of that and ``abuseMemoryGrowthDefaultRunMaxKiB``).
func whileWellBehavedClientCalls(
    _ name: String, port: Int, tls: TestTLS, minimumCalls: Int = 5, memoryGrowthMaxKiB: Int = 256 * 1024,
    abuse: @escaping @Sendable () async throws -> Void
) async throws {
    let before = residentKiB()
    let done = StopFlag()
    let report = try await withNumbersClient(tls.clientConfiguration(port: port)) { client in
        try await withThrowingTaskGroup(of: LatencyReport?.self) { group in
            _ = try await client.healthCheck(HealthCheckRequest())  // connected before the clock starts
            group.addTask {
                var report = LatencyReport(calls: [], failures: [])
                let clock = ContinuousClock()
                while !done.value.load(ordering: .relaxed) {
                    let start = clock.now
                    do {
                        let health = try await client.healthCheck(HealthCheckRequest())
                        if health.status == .serving { report.calls.append(clock.now - start) }
                    } catch {
                        report.failures.append("\(error)")
                    }
                    try await Task.sleep(for: .milliseconds(20))
                }
                return report
            }
            group.addTask {
                defer { done.value.store(true, ordering: .relaxed) }
                try await abuse()
                return nil
            }
            var report: LatencyReport?
            for try await result in group { if let result { report = result } }
            return report!
        }
    }
    let after = residentKiB()
    print("abuse \(name): well-behaved client \(report); VmRSS \(before) KiB -> \(after) KiB")
    #expect(report.failures.isEmpty, "\(name): \(report.failures.prefix(3))")
    #expect(report.calls.count >= minimumCalls, "\(name): \(report)")
    let growthMaxKiB =
        abuseMemoryStrict ? memoryGrowthMaxKiB : max(memoryGrowthMaxKiB, abuseMemoryGrowthDefaultRunMaxKiB)
    #expect(
        after - before <= growthMaxKiB,
        "\(name): VmRSS grew from \(before) KiB to \(after) KiB (at most \(growthMaxKiB) KiB)")
}

/// Counts calls a test router's handler made.
final class CallCounter: Sendable {
    let value = Atomic<Int>(0)
}

/// Tells the well-behaved client's loop to stop.
final class StopFlag: Sendable {
    let value = Atomic<Bool>(false)
}

/// A raw client connection (TLS or plain TCP) that writes whatever it is given and records what comes back and
/// when it closed.
final class RawConnection: Sendable {
    let channel: any Channel
    let received: Received
    let opened: ContinuousClock.Instant

    final class Received: Sendable {
        let bytes = Mutex(ByteBuffer())
        let closedAt = Mutex<ContinuousClock.Instant?>(nil)
    }

    private init(channel: any Channel, received: Received, opened: ContinuousClock.Instant) {
        self.channel = channel
        self.received = received
        self.opened = opened
    }

    /// Connects to 127.0.0.1:`port`, over TLS if `tls` is given.
    static func connect(port: Int, tls: TestTLS?) async throws -> RawConnection {
        let context = try tls?.rawClientContext()
        let received = Received()
        let opened = ContinuousClock.now
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let context {
                        try channel.pipeline.syncOperations.addTLSClientHandler(
                            context: context, serverHostname: "127.0.0.1")
                    }
                    try channel.pipeline.syncOperations.addHandler(Recorder(received: received))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawConnection(channel: channel, received: received, opened: opened)
    }

    /// Writes and flushes `bytes`.
    func send(_ bytes: ByteBuffer) async throws {
        try await channel.writeAndFlush(bytes)
    }

    /// Waits until the server closes the connection or `timeout`, counted from when the connection was opened,
    /// passes (then closes it here); returns how long after opening the server closed it, nil if it did not.
    func waitForClose(timeout: Duration) async -> Duration? {
        let deadline = opened + timeout
        while ContinuousClock.now < deadline {
            if let closed = received.closedAt.withLock({ $0 }) { return closed - opened }
            try? await Task.sleep(for: .milliseconds(20))
        }
        if let closed = received.closedAt.withLock({ $0 }) { return closed - opened }
        try? await channel.close()
        return nil
    }

    /// Whether the server has closed the connection.
    var isClosed: Bool { received.closedAt.withLock { $0 } != nil }

    /// Waits until `condition` holds for the frames received so far, the server closes, or `timeout` passes;
    /// returns the frames. Waiting on what must arrive (rather than sleeping) keeps the tests right on a busy CI; the
    /// default timeout is generous for that reason (a passing wait returns as soon as the frames are there).
    func waitForFrames(
        timeout: Duration = .seconds(60), until condition: ([Frame]) throws -> Bool
    ) async throws -> [Frame] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let frames = try frames()
            if try condition(frames) || isClosed || ContinuousClock.now >= deadline { return frames }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// The frames received so far (the server sends no preface).
    func frames() throws -> [Frame] {
        try NumberServerTests.frames(in: received.bytes.withLock { $0 })
    }

    private final class Recorder: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let received: Received
        init(received: Received) { self.received = received }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var bytes = unwrapInboundIn(data)
            received.bytes.withLock { _ = $0.writeBuffer(&bytes) }
        }

        func channelInactive(context: ChannelHandlerContext) {
            received.closedAt.withLock { $0 = ContinuousClock.now }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}

/// Bytes of a client connection's start: preface and an empty SETTINGS.
func clientStart() -> ByteBuffer {
    var bytes = ByteBuffer()
    Preface.write(to: &bytes)
    bytes.writeFrame(Frame(type: .settings, streamID: 0))
    return bytes
}

/// Appends HEADERS and an END_STREAM MESSAGE for a call of `method` on `stream`.
func writeCall(
    _ bytes: inout ByteBuffer, stream: UInt32, method: String, metadata: [String: String] = [:],
    timeoutMicros: Int64 = 0, body: some Encodable = HealthCheckRequest()
) throws {
    var headers = ByteBuffer()
    try ProtoEncoder().encode(
        RequestHeaders(method: method, timeoutMicros: timeoutMicros, metadata: metadata), into: &headers)
    bytes.writeFrame(Frame(type: .headers, streamID: stream, payload: headers))
    var message = ByteBuffer()
    try ProtoEncoder().encode(body, into: &message)
    bytes.writeFrame(Frame(type: .message, flags: .endStream, streamID: stream, payload: message))
}

/// The statuses of the TRAILERS in `frames`, by stream.
func trailerStatuses(_ frames: [Frame]) throws -> [UInt32: RpcStatus] {
    var statuses: [UInt32: RpcStatus] = [:]
    for frame in frames where frame.type == .trailers {
        statuses[frame.streamID] = try ProtoDecoder().decode(RpcStatus.self, from: frame.payload)
    }
    return statuses
}

/// The GOAWAY in `frames`, if any.
func goAway(in frames: [Frame]) throws -> GoAway? {
    try frames.last { $0.type == .goAway }.map { try GoAway(payload: $0.payload) }
}

/// Every frame an embedded connection's handler wrote since the last look.
func writtenFrames(_ channel: EmbeddedChannel) throws -> [Frame] {
    var bytes = ByteBuffer()
    while var chunk = try channel.readOutbound(as: ByteBuffer.self) { bytes.writeBuffer(&chunk) }
    return try frames(in: bytes)
}

/// A `ServerConnectionHandler` with `timeouts` and `limits` on an active embedded channel (whose clock the test moves)
/// past the client's preface and SETTINGS, taking partial frames from `partialFrames` if given. Its asynchronous calls
/// are queued and never run (nothing serves the queue): a call started stays running.
func embeddedServerConnection(
    timeouts: ServerConnectionHandler.Timeouts, router: RPCRouter,
    limits: ServerConnectionStateMachine.Limits = .init(
        settings: .defaults, pingsBetweenCallsMax: 100, cancelsBetweenCompletionsMax: 1000),
    partialFrames: ServerByteBudget? = nil, loop: EmbeddedEventLoop = EmbeddedEventLoop()
) throws -> (EmbeddedChannel, EmbeddedEventLoop) {
    let (queue, calls) = AsyncStream.makeStream(of: ServerCall.self)
    let handler = ServerConnectionHandler(
        limits: limits, timeouts: timeouts, router: router, calls: calls, logger: quietLogger,
        metrics: ServerMetrics(), partialFrames: partialFrames)
    let channel = EmbeddedChannel(handlers: [handler, CallQueueKeeper(queue)], loop: loop)
    try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    try channel.writeInbound(clientStart())
    return (channel, loop)
}

/// Keeps an embedded connection's call queue alive as long as its pipeline: a queue nobody holds is finished, and the
/// handler would then refuse every asynchronous call at once (`SHUTTING_DOWN`) instead of keeping it running.
private final class CallQueueKeeper: ChannelInboundHandler {
    typealias InboundIn = Never
    let queue: AsyncStream<ServerCall>
    init(_ queue: AsyncStream<ServerCall>) { self.queue = queue }
}
