import NIOCore
import NIOEmbedded
import NumberAPI
import NumberWire
import Testing

@testable import NumberClient

/// The client's deadlines, on an embedded event loop whose clock the test moves: one timer serves every call, yet
/// each call fails at its own deadline and not before; calls that finish in time leave nothing behind.
@Suite("Client call deadlines")
struct ClientDeadlineTests {
    typealias Outcome = ClientConnectionStateMachine.CallOutcome

    /// Starts an empty call on `handler` with `timeout`; its outcome.
    static func start(
        _ handler: ClientConnectionHandler, _ loop: EmbeddedEventLoop, timeout: TimeAmount?
    ) -> EventLoopFuture<Outcome> {
        let promise = loop.makePromise(of: Outcome.self)
        handler.start(
            headers: ByteBuffer(), message: ByteBuffer(), timeout: timeout, promise: promise,
            token: CallCancellationToken())
        return promise.futureResult
    }

    /// A frame as the bytes the handler reads (it decodes frames itself).
    static func bytes(_ frame: Frame) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeFrame(frame)
        return buffer
    }

    private func isDeadlineExceeded(_ future: EventLoopFuture<Outcome>) throws -> Bool {
        guard case .status(let payload) = try future.wait() else { return false }
        return try ProtoDecoder().decode(RpcStatus.self, from: payload).reason == "DEADLINE_EXCEEDED"
    }

    @Test("each call fails at its own deadline, in any order of starting, and not before")
    func ownDeadlines() throws {
        let loop = EmbeddedEventLoop()
        let handler = ClientConnectionHandler(settings: .defaults, status: ClientConnectionStatus())
        let channel = EmbeddedChannel(handler: handler, loop: loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let late = Self.start(handler, loop, timeout: .milliseconds(300))
        let middle = Self.start(handler, loop, timeout: .milliseconds(100))
        let early = Self.start(handler, loop, timeout: .milliseconds(50))
        let never = Self.start(handler, loop, timeout: nil)
        let finished = Finished()
        for (name, future) in [("late", late), ("middle", middle), ("early", early), ("never", never)] {
            future.whenComplete { _ in finished.names.append(name) }
        }
        var done: [String] { finished.names }

        loop.advanceTime(by: .milliseconds(49))
        #expect(done.isEmpty)
        loop.advanceTime(by: .milliseconds(1))
        #expect(done == ["early"])
        #expect(try isDeadlineExceeded(early))
        loop.advanceTime(by: .milliseconds(49))
        #expect(done == ["early"])
        loop.advanceTime(by: .milliseconds(1))
        #expect(done == ["early", "middle"])
        loop.advanceTime(by: .milliseconds(200))
        #expect(done == ["early", "middle", "late"])
        #expect(try isDeadlineExceeded(middle))
        #expect(try isDeadlineExceeded(late))
        loop.advanceTime(by: .seconds(3600))
        #expect(done == ["early", "middle", "late"])
        _ = try channel.finish(acceptAlreadyClosed: true)
        #expect(done.last == "never")
    }

    @Test("a call answered in time is not failed when its deadline comes")
    func answeredInTime() throws {
        let loop = EmbeddedEventLoop()
        let handler = ClientConnectionHandler(settings: .defaults, status: ClientConnectionStatus())
        let channel = EmbeddedChannel(handler: handler, loop: loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let answered = Self.start(handler, loop, timeout: .milliseconds(100))
        let unanswered = Self.start(handler, loop, timeout: .milliseconds(200))
        let finished = Finished()
        unanswered.whenComplete { _ in finished.names.append("unanswered") }
        var unansweredDone: Bool { !finished.names.isEmpty }
        // Stream 1 is the first call: its response and trailers arrive in time.
        try channel.writeInbound(Self.bytes(Frame(type: .message, streamID: 1, payload: ByteBuffer(string: "ok"))))
        try channel.writeInbound(Self.bytes(Frame(type: .trailers, streamID: 1)))
        guard case .response(let payload) = try answered.wait() else {
            Issue.record("the answered call did not get its response")
            return
        }
        #expect(payload == ByteBuffer(string: "ok"))
        loop.advanceTime(by: .milliseconds(150))
        #expect(!unansweredDone)
        loop.advanceTime(by: .milliseconds(50))
        #expect(unansweredDone)
        #expect(try isDeadlineExceeded(unanswered))
        _ = try channel.finish(acceptAlreadyClosed: true)
    }
}

extension ClientDeadlineTests {
    @Test("a call queued behind the server's concurrent-call limit fails at its own deadline, not when a slot frees")
    func queuedCallDeadline() throws {
        let loop = EmbeddedEventLoop()
        let handler = ClientConnectionHandler(settings: .defaults, status: ClientConnectionStatus())
        let channel = EmbeddedChannel(handler: handler, loop: loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        // A server that allows one call at a time and never answers.
        try channel.writeInbound(
            Self.bytes(
                Frame(type: .settings, streamID: 0, payload: ConnectionSettings(maxConcurrentStreams: 1).payload())))
        let running = Self.start(handler, loop, timeout: nil)
        let queued = Self.start(handler, loop, timeout: .milliseconds(100))
        let queuedLater = Self.start(handler, loop, timeout: .milliseconds(300))
        let finished = Finished()
        for (name, future) in [("running", running), ("queued", queued), ("queuedLater", queuedLater)] {
            future.whenComplete { _ in finished.names.append(name) }
        }
        var done: [String] { finished.names }

        loop.advanceTime(by: .milliseconds(99))
        #expect(done.isEmpty)
        loop.advanceTime(by: .milliseconds(1))
        try #require(done == ["queued"])  // waiting on an unfinished future would hang the embedded loop
        #expect(try isDeadlineExceeded(queued))
        loop.advanceTime(by: .milliseconds(200))
        try #require(done == ["queued", "queuedLater"])
        #expect(try isDeadlineExceeded(queuedLater))
        // The running call is untouched, and a slot freeing later starts nothing that already failed.
        try channel.writeInbound(Self.bytes(Frame(type: .trailers, streamID: 1)))
        #expect(done == ["queued", "queuedLater", "running"])
        _ = try channel.finish(acceptAlreadyClosed: true)
    }
}

/// What finished, in order. Only touched on the embedded loop, which runs on the test's thread.
private final class Finished: @unchecked Sendable {
    var names: [String] = []
}

extension ClientDeadlineTests {
    @Test("a server that sends bytes that are no frame fails the open calls and closes the connection")
    func brokenServerFraming() throws {
        let loop = EmbeddedEventLoop()
        let handler = ClientConnectionHandler(settings: .defaults, status: ClientConnectionStatus())
        let channel = EmbeddedChannel(handler: handler, loop: loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let call = Self.start(handler, loop, timeout: nil)
        var garbage = ByteBuffer()
        garbage.writeBytes([0, 0, 0, 0, 0xEE, 0, 0, 0, 0, 0, 0, 1])  // frame type 0xEE does not exist
        try channel.writeInbound(garbage)
        guard case .connectionFailure(let message, let retryable) = try call.wait() else {
            Issue.record("the open call did not fail with the connection")
            return
        }
        #expect(message.contains("unknown frame type") && !retryable)
        #expect(!channel.isActive)
        _ = try channel.finish(acceptAlreadyClosed: true)
    }
}

extension ClientDeadlineTests {
    /// The `outcome` a locally made status names: `not-started` when the call was never sent.
    private func outcome(_ future: EventLoopFuture<Outcome>) throws -> (reason: String, outcome: String?) {
        guard case .status(let payload) = try future.wait() else { return ("", nil) }
        let status = try ProtoDecoder().decode(RpcStatus.self, from: payload)
        return (status.reason, status.metadata["outcome"])
    }

    @Test("a call that fails before it was sent (queued, or cancelled first) says so; one sent does not")
    func notStartedMarked() throws {
        let loop = EmbeddedEventLoop()
        let handler = ClientConnectionHandler(settings: .defaults, status: ClientConnectionStatus())
        let channel = EmbeddedChannel(handler: handler, loop: loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.writeInbound(
            Self.bytes(
                Frame(type: .settings, streamID: 0, payload: ConnectionSettings(maxConcurrentStreams: 1).payload())))
        let sent = Self.start(handler, loop, timeout: .milliseconds(100))
        let queued = Self.start(handler, loop, timeout: .milliseconds(100))
        let queuedCancelled = loop.makePromise(of: Outcome.self)
        handler.start(
            headers: ByteBuffer(), message: ByteBuffer(), timeout: nil, promise: queuedCancelled,
            token: CallCancellationToken())
        handler.cancel(promise: queuedCancelled)
        #expect(try outcome(queuedCancelled.futureResult) == ("CANCELLED", "not-started"))
        loop.advanceTime(by: .milliseconds(100))
        #expect(try outcome(sent) == ("DEADLINE_EXCEEDED", nil))
        #expect(try outcome(queued) == ("DEADLINE_EXCEEDED", "not-started"))
        // Cancelled before the start reached the event loop: never sent.
        let token = CallCancellationToken()
        _ = token.markCancelled()
        let promise = loop.makePromise(of: Outcome.self)
        handler.start(headers: ByteBuffer(), message: ByteBuffer(), timeout: nil, promise: promise, token: token)
        #expect(try outcome(promise.futureResult) == ("CANCELLED", "not-started"))
        _ = try channel.finish(acceptAlreadyClosed: true)
    }
}

extension ClientDeadlineTests {
    @Test("a call that waited in the queue tells the server the time left when it is sent, not its first timeout")
    func queuedCallSendsItsTimeLeft() throws {
        let (handler, channel, loop, _) = try ClientConnectionLivenessTests.connected(
            pingTimeout: .seconds(60), serverSettings: ConnectionSettings(maxConcurrentStreams: 1))
        let running = Self.start(handler, loop, timeout: nil)
        let request = RequestHeaders(method: "/numbers.v1.Numbers/GetBalance", timeoutMicros: 10_000_000)
        let promise = loop.makePromise(of: Outcome.self)
        handler.start(
            headers: ByteBuffer(bytes: try ProtoEncoder().encode(request)), message: ByteBuffer(),
            timeout: .seconds(10), promise: promise, token: CallCancellationToken(), requestHeaders: request)
        #expect(try ClientConnectionLivenessTests.written(channel).map(\.streamID) == [1, 1], "only the first call")
        loop.advanceTime(by: .seconds(3))
        try channel.writeInbound(Self.bytes(Frame(type: .trailers, streamID: 1)))
        _ = try running.wait()
        let frames = try ClientConnectionLivenessTests.written(channel)
        let headers = try #require(frames.first { $0.type == .headers && $0.streamID == 3 })
        let sent = try ProtoDecoder().decode(RequestHeaders.self, from: headers.payload)
        #expect(sent.method == request.method)
        #expect(sent.timeoutMicros == 7_000_000, "the 3 s spent queued came off the 10 s")
        _ = try channel.finish(acceptAlreadyClosed: true)
    }
}

@Suite("Client call deadlines on the wire")
struct ClientTimeoutMicrosTests {
    @Test(
        "the time left is sent in whole microseconds rounded up: under 1 µs left is 1 µs, never 0 (no deadline)",
        arguments: [
            (TimeAmount.nanoseconds(1), Int64(1)), (.nanoseconds(999), 1), (.nanoseconds(1000), 1),
            (.nanoseconds(1001), 2), (.seconds(30), 30_000_000),
        ])
    func timeoutMicros(remaining: TimeAmount, micros: Int64) {
        #expect(NumbersClient.timeoutMicros(remaining) == micros)
    }
}
