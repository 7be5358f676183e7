import NIOCore
import NIOPosix
import NumberTLS

/// Completes a promise when the handshake finishes (or fails).
final class HandshakeProbe: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let done: EventLoopPromise<Bool>
    private var completed = false

    init(done: EventLoopPromise<Bool>) {
        self.done = done
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSHandshakeCompleted, !completed {
            completed = true
            done.succeed(event.sessionReused)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !completed {
            completed = true
            done.fail(error)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !completed {
            completed = true
            done.fail(ChannelError.eof)
        }
    }
}

/// New TLS connections per second: connect, handshake, close, repeated by `concurrency` workers.
struct HandshakeLoad {
    var concurrency: Int
    var durationSeconds: Double
    var resume: Bool

    struct Result {
        var handshakesPerSecond: Double
        var resumedFraction: Double
    }

    func run(group: any EventLoopGroup, port: Int, context: TLSContext) async throws -> Result {
        let cache = resume ? TLSSessionCache() : nil
        let deadline = ContinuousClock.now + .milliseconds(Int(durationSeconds * 1000))
        let start = ContinuousClock.now
        let counts = try await withThrowingTaskGroup(of: (Int, Int).self) { tasks in
            for worker in 0..<concurrency {
                // Tickets are single use: each worker keeps its own, as a client per server would.
                let key = "localhost#\(worker)"
                tasks.addTask {
                    var handshakes = 0
                    var resumed = 0
                    while ContinuousClock.now < deadline {
                        if try await Self.handshakeOnce(
                            group: group, port: port, context: context, cache: cache, key: key)
                        {
                            resumed += 1
                        }
                        handshakes += 1
                    }
                    return (handshakes, resumed)
                }
            }
            var total = (0, 0)
            for try await count in tasks {
                total.0 += count.0
                total.1 += count.1
            }
            return total
        }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return Result(
            handshakesPerSecond: Double(counts.0) / seconds,
            resumedFraction: counts.0 == 0 ? 0 : Double(counts.1) / Double(counts.0))
    }

    /// One connection: returns whether its session was resumed.
    static func handshakeOnce(
        group: any EventLoopGroup, port: Int, context: TLSContext, cache: TLSSessionCache?, key: String
    ) async throws -> Bool {
        let eventLoop = group.next()
        let done = eventLoop.makePromise(of: Bool.self)
        let channel = try await ClientBootstrap(group: eventLoop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addTLSClientHandler(
                        context: context, serverHostname: "localhost", sessionCache: cache, sessionKey: key)
                    try channel.pipeline.syncOperations.addHandler(HandshakeProbe(done: done))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        let resumed = try await done.futureResult.get()
        // Resumption needs the TLS 1.3 ticket, which follows the handshake: wait for it before closing.
        if let cache {
            for _ in 0..<100 where !cache.contains(key) {
                try await Task.sleep(for: .milliseconds(1))
            }
        }
        try await channel.close()
        return resumed
    }
}
