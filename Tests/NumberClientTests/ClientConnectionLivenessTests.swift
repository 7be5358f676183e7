import NIOCore
import NIOEmbedded
import NumberWire
import Synchronization
import Testing

@testable import NumberClient

/// How the client notices a connection that carries nothing any more: a deadline passing on a silent connection
/// sends a PING, and no answer within the PING timeout ends the connection. First the state machine with plain
/// values, then the handler on an embedded event loop whose clock the test moves.
@Suite("Client connection liveness")
struct ClientConnectionLivenessTests {
    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test("a deadline on a connection silent since the oldest call started sends one PING of 8 bytes")
    func pingsWhenSilent() throws {
        var liveness = ClientConnectionLiveness(pingTimeout: .seconds(5))
        liveness.received(now: Self.start)  // the server's SETTINGS
        let callStart = Self.start + .milliseconds(10)
        let sent = liveness.deadlinePassed(callStart: callStart, now: callStart + .seconds(1))
        let ping = try #require(sent)
        #expect(ping.type == .ping && ping.streamID == 0 && ping.flags.isEmpty)
        #expect(ping.payload.readableBytes == 8)
        #expect(liveness.pingSent == callStart + .seconds(1))
        // One PING at a time: a second deadline while it waits sends none.
        #expect(liveness.deadlinePassed(callStart: callStart, now: callStart + .seconds(3)) == nil)
    }

    @Test("a deadline on a connection that received something since the oldest call started sends no PING")
    func noPingWhenHeardFrom() {
        var liveness = ClientConnectionLiveness(pingTimeout: .seconds(5))
        let callStart = Self.start
        liveness.received(now: callStart + .milliseconds(1))
        #expect(liveness.deadlinePassed(callStart: callStart, now: callStart + .seconds(1)) == nil)
        #expect(liveness.pingSent == nil)
    }

    @Test("PINGs go out one a second at most, answered or not")
    func pingIntervalMin() throws {
        var liveness = ClientConnectionLiveness(pingTimeout: .seconds(5))
        let first = Self.start
        #expect(liveness.deadlinePassed(callStart: first, now: first) != nil)
        liveness.received(now: first + .milliseconds(5))
        let later = first + .milliseconds(10)
        let almost = first + ClientConnectionLiveness.pingIntervalMin - .nanoseconds(1)
        #expect(liveness.deadlinePassed(callStart: later, now: almost) == nil)
        let again = liveness.deadlinePassed(
            callStart: later, now: first + ClientConnectionLiveness.pingIntervalMin)
        let second = try #require(again)
        #expect(second.payload.getInteger(at: second.payload.readerIndex, as: UInt64.self) == 2, "a payload of its own")
    }

    @Test("dead exactly when the PING timeout has passed with nothing received since the PING")
    func pingTimeoutEdge() {
        let timeout = TimeAmount.milliseconds(1500)
        var liveness = ClientConnectionLiveness(pingTimeout: timeout)
        #expect(!liveness.isDead(now: Self.start + .seconds(3600)), "no PING, no verdict")
        #expect(liveness.deadlinePassed(callStart: Self.start, now: Self.start) != nil)
        #expect(!liveness.isDead(now: Self.start + timeout - .nanoseconds(1)))
        #expect(liveness.isDead(now: Self.start + timeout))
        // Anything received, even at the last moment, answers it.
        liveness.received(now: Self.start + timeout - .nanoseconds(1))
        #expect(!liveness.isDead(now: Self.start + timeout))
    }

    @Test("the default PING timeout is 5 s, the default connect timeout")
    func defaults() {
        let policy = NumbersClientConfiguration.LivenessPolicy.defaults
        #expect(policy.pingTimeout == .seconds(5))
        #expect(policy.tcpKeepaliveIdle == .seconds(30))
        #expect(policy.tcpKeepaliveInterval == .seconds(10))
        #expect(policy.tcpUserTimeout == .seconds(30))
        let configuration = NumbersClientConfiguration(trustRoots: .system)
        #expect(configuration.liveness == policy)
        #expect(configuration.liveness.pingTimeout == configuration.connectTimeout)
    }
}

extension ClientConnectionLivenessTests {
    typealias Outcome = ClientConnectionStateMachine.CallOutcome

    /// A handler on an embedded loop that has had the server's SETTINGS, with a PING timeout of `pingTimeout`.
    /// A client review: the expired calls were failed before the PING went out, so a call waiting in the queue for
    /// their place was written into the suspect connection and failed with it, its outcome unknown.
    @Test("a queued call does not take an expired call's place before the PING that tests the connection")
    func queuedCallWaitsForThePingAtItsTurn() throws {
        let (handler, channel, loop, _) = try Self.connected(
            pingTimeout: .seconds(2), serverSettings: ConnectionSettings(maxConcurrentStreams: 1))
        let expiring = ClientDeadlineTests.start(handler, loop, timeout: .milliseconds(100))
        let queued = ClientDeadlineTests.start(handler, loop, timeout: nil)
        #expect(try Self.written(channel).map(\.type) == [.headers, .message], "the second waits for a place")
        loop.advanceTime(by: .milliseconds(100))
        _ = try expiring.wait()
        #expect(try Self.written(channel).map(\.type) == [.ping, .cancel], "the queued call is held for the PING")
        loop.advanceTime(by: .seconds(2))
        guard case .connectionFailure(_, let retryable) = try queued.wait() else {
            Issue.record("the queued call did not fail with the connection")
            return
        }
        #expect(retryable, "never sent: safe to send on another connection")
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    /// The same review: a GOAWAY that refused none of the open calls completed none, which is what drains the queue;
    /// its calls waited for their deadline instead of going to another connection.
    @Test("a GOAWAY that refuses no open call sends the queued ones elsewhere at once")
    func goAwayReleasesTheQueue() throws {
        let (handler, channel, loop, _) = try Self.connected(
            pingTimeout: .seconds(2), serverSettings: ConnectionSettings(maxConcurrentStreams: 1))
        let open = ClientDeadlineTests.start(handler, loop, timeout: nil)
        let queued = ClientDeadlineTests.start(handler, loop, timeout: .seconds(1))
        _ = try Self.written(channel)
        let away = GoAway(lastStreamID: 1, code: .noError, message: "draining").payload()
        try channel.writeInbound(ClientDeadlineTests.bytes(Frame(type: .goAway, streamID: 0, payload: away)))
        loop.run()
        let released = Mutex(false)
        queued.whenComplete { _ in released.withLock { $0 = true } }
        #expect(released.withLock { $0 }, "released at the GOAWAY, not at its deadline")
        loop.advanceTime(by: .seconds(2))  // (its deadline: ends it if the GOAWAY did not, so a failure cannot hang)
        guard case .connectionFailure(_, let retryable) = try queued.wait() else {
            Issue.record("the queued call was not released")
            return
        }
        #expect(retryable)
        _ = open
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    /// A client review: a later SETTINGS that raised MAX_CONCURRENT_STREAMS only updated the limit; the calls queued
    /// behind the old one waited for some call to end, perhaps past their deadlines.
    @Test("a later SETTINGS that raises MAX_CONCURRENT_STREAMS sends the queued calls at once")
    func raisedLimitDrainsTheQueue() throws {
        let (handler, channel, loop, _) = try Self.connected(
            pingTimeout: .seconds(2), serverSettings: ConnectionSettings(maxConcurrentStreams: 1))
        let open = ClientDeadlineTests.start(handler, loop, timeout: nil)
        let queued = ClientDeadlineTests.start(handler, loop, timeout: nil)
        #expect(try Self.written(channel).map(\.type) == [.headers, .message], "the second waits for a place")
        let raised = ConnectionSettings(maxConcurrentStreams: 2).payload()
        try channel.writeInbound(ClientDeadlineTests.bytes(Frame(type: .settings, streamID: 0, payload: raised)))
        loop.run()
        let written = try Self.written(channel).map(\.type)
        #expect(written.contains(.headers) && written.contains(.message), "the queued call went out: \(written)")
        _ = (open, queued)
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    static func connected(
        pingTimeout: TimeAmount, serverSettings: ConnectionSettings? = nil,
        status: ClientConnectionStatus = ClientConnectionStatus()
    ) throws -> (ClientConnectionHandler, EmbeddedChannel, EmbeddedEventLoop, ClientConnectionStatus) {
        let loop = EmbeddedEventLoop()
        let handler = ClientConnectionHandler(settings: .defaults, status: status, pingTimeout: pingTimeout)
        let channel = EmbeddedChannel(handler: handler, loop: loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.writeInbound(
            ClientDeadlineTests.bytes(
                Frame(type: .settings, streamID: 0, payload: serverSettings?.payload() ?? ByteBuffer())))
        loop.advanceTime(by: .milliseconds(10))
        while try channel.readOutbound(as: ByteBuffer.self) != nil {}  // preface, SETTINGS, SETTINGS ACK
        return (handler, channel, loop, status)
    }

    /// The frames the handler wrote since the last look (the greeting is read away by `connected`).
    static func written(_ channel: EmbeddedChannel) throws -> [Frame] {
        channel.embeddedEventLoop.run()
        var bytes = ByteBuffer()
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) { bytes.writeBuffer(&buffer) }
        var frames: [Frame] = []
        if let failure = FrameReader(FrameDecoder(expectsPreface: false)).read(bytes, { frames.append($0) }) {
            throw failure
        }
        return frames
    }
}

extension ClientConnectionLivenessTests {
    @Test("a PING unanswered for the PING timeout ends the connection: open calls fail as sent, outcome unknown")
    func unansweredPingEndsTheConnection() throws {
        let (handler, channel, loop, status) = try Self.connected(pingTimeout: .seconds(2))
        let expiring = ClientDeadlineTests.start(handler, loop, timeout: .milliseconds(100))
        let open = ClientDeadlineTests.start(handler, loop, timeout: nil)
        let sentCalls = try Self.written(channel)
        #expect(sentCalls.map(\.type) == [.headers, .message, .headers, .message])
        loop.advanceTime(by: .milliseconds(100))
        guard case .status = try expiring.wait() else {
            Issue.record("the expiring call did not fail at its deadline")
            return
        }
        let frames = try Self.written(channel)
        #expect(frames.map(\.type) == [.ping, .cancel], "\(frames)")
        loop.advanceTime(by: .seconds(2) - .nanoseconds(1))
        #expect(channel.isActive && status.isAlive, "not before the PING timeout")
        loop.advanceTime(by: .nanoseconds(1))
        #expect(!channel.isActive)
        // Required: waiting on an unfinished future would hang the embedded loop.
        try #require(!status.isAlive, "the pool must drop it")
        guard case .connectionFailure(let message, let retryable) = try open.wait() else {
            Issue.record("the open call did not fail with the connection")
            return
        }
        #expect(!retryable, "it was sent: its outcome is unknown, not never-started")
        #expect(message.contains("PING"), "\(message)")
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    @Test("a PING answered in time keeps the connection, and its calls")
    func answeredPingKeepsTheConnection() throws {
        let (handler, channel, loop, status) = try Self.connected(pingTimeout: .seconds(2))
        let expiring = ClientDeadlineTests.start(handler, loop, timeout: .milliseconds(100))
        let open = ClientDeadlineTests.start(handler, loop, timeout: nil)
        loop.advanceTime(by: .milliseconds(100))
        _ = try expiring.wait()
        let ping = try #require(try Self.written(channel).first { $0.type == .ping }, "no PING")
        loop.advanceTime(by: .seconds(2) - .nanoseconds(1))
        try channel.writeInbound(
            ClientDeadlineTests.bytes(Frame(type: .ping, flags: .ack, streamID: 0, payload: ping.payload)))
        loop.advanceTime(by: .seconds(60))
        #expect(channel.isActive && status.isAlive)
        try channel.writeInbound(ClientDeadlineTests.bytes(Frame(type: .trailers, streamID: 3)))
        guard case .response = try open.wait() else {
            Issue.record("the open call did not get its answer")
            return
        }
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    /// A pool review: a connection that took calls again once its PING was answered told no one, so the calls waiting
    /// in the pool for room (none while the PING waited) waited on for a call to end or a connection to come up.
    @Test("a connection taking calls again once its PING is answered tells the pool it has room, once")
    func answeredPingReportsRoom() throws {
        let reports = Mutex(0)
        let status = ClientConnectionStatus(roomReturned: { _ in reports.withLock { $0 += 1 } })
        let (handler, channel, loop, _) = try Self.connected(pingTimeout: .seconds(2), status: status)
        let expiring = ClientDeadlineTests.start(handler, loop, timeout: .milliseconds(100))
        loop.advanceTime(by: .milliseconds(100))
        _ = try expiring.wait()
        let ping = try #require(try Self.written(channel).first { $0.type == .ping }, "no PING")
        #expect(!status.hasRoom && status.room == 0, "no room while the PING waits")
        #expect(reports.withLock { $0 } == 0)
        try channel.writeInbound(
            ClientDeadlineTests.bytes(Frame(type: .ping, flags: .ack, streamID: 0, payload: ping.payload)))
        #expect(status.hasRoom)
        #expect(reports.withLock { $0 } == 1, "the pool was told")
        // Anything read later, with no PING waiting, tells it nothing.
        try channel.writeInbound(ClientDeadlineTests.bytes(Frame(type: .settings, flags: .ack, streamID: 0)))
        #expect(reports.withLock { $0 } == 1)
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    @Test("a deadline on a connection that answered since the oldest call started sends no PING")
    func noPingAfterAnswers() throws {
        let (handler, channel, loop, status) = try Self.connected(pingTimeout: .seconds(2))
        let answered = ClientDeadlineTests.start(handler, loop, timeout: nil)
        let expiring = ClientDeadlineTests.start(handler, loop, timeout: .milliseconds(100))
        loop.advanceTime(by: .milliseconds(50))
        try channel.writeInbound(ClientDeadlineTests.bytes(Frame(type: .trailers, streamID: 1)))
        _ = try answered.wait()
        loop.advanceTime(by: .milliseconds(50))
        _ = try expiring.wait()
        #expect(try Self.written(channel).map(\.type) == [.headers, .message, .headers, .message, .cancel])
        loop.advanceTime(by: .seconds(60))
        #expect(channel.isActive && status.isAlive)
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    /// The check used the oldest open call's start: a long call sent before the last answer hid a connection that had
    /// carried nothing since later calls were sent, until that long call's own deadline (30 s, or whatever its caller
    /// chose) plus the PING timeout.
    @Test("a long call sent before the last answer does not hide a connection silent since the expiring call")
    func longCallDoesNotHideSilence() throws {
        let (handler, channel, loop, status) = try Self.connected(pingTimeout: .seconds(2))
        let long = ClientDeadlineTests.start(handler, loop, timeout: nil)
        let answered = ClientDeadlineTests.start(handler, loop, timeout: nil)
        loop.advanceTime(by: .milliseconds(50))
        try channel.writeInbound(ClientDeadlineTests.bytes(Frame(type: .trailers, streamID: 3)))
        _ = try answered.wait()
        loop.advanceTime(by: .milliseconds(50))
        // The server freezes; a short call is sent after its last answer and expires.
        let expiring = ClientDeadlineTests.start(handler, loop, timeout: .milliseconds(100))
        _ = try Self.written(channel)
        loop.advanceTime(by: .milliseconds(100))
        _ = try expiring.wait()
        #expect(try Self.written(channel).map(\.type) == [.ping, .cancel])
        loop.advanceTime(by: .seconds(2))
        try #require(!status.isAlive, "taken for dead at the PING timeout")
        guard case .connectionFailure(_, let retryable) = try long.wait() else {
            Issue.record("the long call did not fail with the connection")
            return
        }
        #expect(!retryable)
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    /// A client review: only sent calls' deadlines checked the connection. Behind a call without a deadline (or a long
    /// one) holding the server's only slot, the queued calls expired one after another on a connection that had
    /// carried nothing since they were queued, and no PING ever tested it.
    @Test("a queued call expiring behind an open call on a silent connection sends a PING; no answer ends it")
    func anExpiringQueuedCallChecksASilentConnection() throws {
        let (handler, channel, loop, status) = try Self.connected(
            pingTimeout: .seconds(2), serverSettings: ConnectionSettings(maxConcurrentStreams: 1))
        let open = ClientDeadlineTests.start(handler, loop, timeout: nil)
        let queued = ClientDeadlineTests.start(handler, loop, timeout: .seconds(1))
        #expect(try Self.written(channel).map(\.type) == [.headers, .message], "the second waits for a place")
        loop.advanceTime(by: .seconds(1))
        guard case .status = try queued.wait() else {
            Issue.record("the queued call did not fail at its deadline")
            return
        }
        #expect(try Self.written(channel).map(\.type) == [.ping], "the silent connection is tested")
        loop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
        // Required: waiting on an unfinished future would hang the embedded loop.
        try #require(!status.isAlive, "taken for dead at the PING timeout")
        guard case .connectionFailure(_, let retryable) = try open.wait() else {
            Issue.record("the open call did not fail with the connection")
            return
        }
        #expect(!retryable, "it was sent: its outcome is unknown")
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    /// Calls started while the PING waits were written into the probably dead connection and failed with it, their
    /// outcome unknown — an unkeyed ReleaseNumber or CreateTrunk could not be retried. They are held now.
    @Test("calls started while a PING waits are held: sent once the PING is answered, or failed as never sent")
    func callsWaitForThePing() throws {
        for answered in [true, false] {
            let (handler, channel, loop, status) = try Self.connected(pingTimeout: .seconds(2))
            let expiring = ClientDeadlineTests.start(handler, loop, timeout: .milliseconds(100))
            loop.advanceTime(by: .milliseconds(100))
            _ = try expiring.wait()
            let ping = try #require(try Self.written(channel).first { $0.type == .ping }, "no PING")
            #expect(!status.acceptsCalls, "the pool prefers another connection while the PING waits")
            // A held call whose deadline passes leaves the connection still avoided by the pool.
            let expiringHeld = ClientDeadlineTests.start(handler, loop, timeout: .milliseconds(10))
            loop.advanceTime(by: .milliseconds(10))
            _ = try expiringHeld.wait()
            #expect(!status.acceptsCalls, "still avoided after a held call expired")
            let held = ClientDeadlineTests.start(handler, loop, timeout: nil)
            #expect(try Self.written(channel).isEmpty, "held, not written")
            if answered {
                try channel.writeInbound(
                    ClientDeadlineTests.bytes(Frame(type: .ping, flags: .ack, streamID: 0, payload: ping.payload)))
                #expect(try Self.written(channel).map(\.type) == [.headers, .message])
                #expect(status.acceptsCalls)
                try channel.writeInbound(ClientDeadlineTests.bytes(Frame(type: .trailers, streamID: 3)))
                guard case .response = try held.wait() else {
                    Issue.record("the held call did not get its answer")
                    return
                }
            } else {
                loop.advanceTime(by: .seconds(2))
                guard case .connectionFailure(_, let retryable) = try held.wait() else {
                    Issue.record("the held call did not fail with the connection")
                    return
                }
                #expect(retryable, "never sent: safe to send on another connection")
            }
            _ = try channel.finish(acceptAlreadyClosed: true)
        }
    }
}

/// Holds every write (and its promise) without passing it on: a peer that does not read.
private final class HeldWrites: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var held: [EventLoopPromise<Void>?] = []
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        held.append(promise)
    }
    func flush(context: ChannelHandlerContext) {}
}

extension ClientConnectionLivenessTests {
    /// The diff's review: the GOAWAY of a connection error closed the connection only once written; a server that
    /// does not read held it open for ever, in the pool, its end never seen.
    @Test("a connection error closes the connection within 1 s even when its GOAWAY cannot be written")
    func goAwayThatCannotBeWrittenStillCloses() throws {
        let loop = EmbeddedEventLoop()
        let handler = ClientConnectionHandler(settings: .defaults, status: ClientConnectionStatus())
        let channel = EmbeddedChannel(loop: loop)
        try channel.pipeline.syncOperations.addHandler(HeldWrites())
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        // 11 SETTINGS without a completed call: a flood, a connection error.
        var flood = ByteBuffer()
        for _ in 0..<11 { flood.writeFrame(Frame(type: .settings, streamID: 0)) }
        try channel.writeInbound(flood)
        loop.run()
        #expect(channel.isActive, "waits for the GOAWAY to be written")
        loop.advanceTime(by: ClientConnectionHandler.goAwayFlushTimeout)
        #expect(!channel.isActive, "closed anyway")
        _ = try? channel.finish(acceptAlreadyClosed: true)
    }
}
