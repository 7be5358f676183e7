import NIOCore
import NIOEmbedded
import NumberTLS
import Synchronization
import Testing

@testable import numbers_load

/// The raw TLS echo baseline (`--compare-raw`) on a connection that loses its answers: its figures would be too low
/// with nothing to say so, so the run fails instead — when the connection closes with requests unanswered, and when
/// answers are still missing a timeout after the run's end.
@Suite("Raw baseline: a connection that loses its answers fails the run")
struct RawClientHandlerTests {
    /// The outcome `done` settles with.
    final class Outcome: Sendable {
        let result = Mutex<Result<Void, any Error>?>(nil)
        var error: (any Error)? {
            result.withLock { result in
                if case .failure(let error) = result { return error }
                return nil
            }
        }
        var settled: Bool { result.withLock { $0 != nil } }
    }

    static let handshake = TLSHandshakeCompleted(
        applicationProtocol: nil, protocolVersion: "TLSv1.3", cipherSuite: "TLS_AES_128_GCM_SHA256", peer: nil,
        sessionReused: false)

    /// A handler of `depth` 4 on an embedded channel, its outcome and its handshake's.
    static func connected(timeout: TimeAmount) throws -> (EmbeddedChannel, done: Outcome, handshaken: Outcome) {
        let channel = EmbeddedChannel()
        let done = channel.eventLoop.makePromise(of: Void.self)
        let handshaken = channel.eventLoop.makePromise(of: Void.self)
        let (outcome, handshake) = (Outcome(), Outcome())
        done.futureResult.whenComplete { result in outcome.result.withLock { $0 = result } }
        handshaken.futureResult.whenComplete { result in handshake.result.withLock { $0 = result } }
        let handler = RawClientHandler(
            requestBytes: 40, responseBytes: 420, depth: 4, timeout: timeout, stripe: 0, done: done,
            handshaken: handshaken)
        try channel.pipeline.syncOperations.addHandler(handler)
        return (channel, outcome, handshake)
    }

    /// Requests written so far.
    static func requestsOut(_ channel: EmbeddedChannel) throws -> Int {
        var sent = 0
        while try channel.readOutbound(as: ByteBuffer.self) != nil { sent += 1 }
        return sent
    }

    /// A handler of `depth` 4 on an embedded channel, its handshake done and the run started (so 4 requests are
    /// out), and its outcome.
    static func started(end: NIODeadline, timeout: TimeAmount) throws -> (EmbeddedChannel, Outcome) {
        let (channel, outcome, _) = try connected(timeout: timeout)
        channel.pipeline.fireUserInboundEventTriggered(handshake)
        channel.pipeline.fireUserInboundEventTriggered(
            RawClientHandler.Start(end: end, recorder: LatencyRecorder(measureFrom: .now())))
        #expect(try requestsOut(channel) == 4, "depth 4 in flight")
        return (channel, outcome)
    }

    @Test("the connection closing with requests unanswered fails the run, naming how many")
    func closedWithRequestsUnanswered() throws {
        let (channel, outcome) = try Self.started(end: .now() + .seconds(600), timeout: .seconds(5))
        // One answer (420 bytes) comes back, and its request is replaced: still 4 out.
        try channel.writeInbound(ByteBuffer(repeating: 0, count: 420))
        #expect(!outcome.settled)
        channel.pipeline.fireChannelInactive()
        let error = try #require(outcome.error as? RawConnectionFailure)
        #expect(error.description.contains("closed with 4 requests unanswered"), "\(error)")
    }

    @Test("answers still missing the timeout after the end fail the run; all of them in time succeed it")
    func answersMissingAfterTheEnd() throws {
        let end = NIODeadline.now() + .seconds(1)
        let (channel, outcome) = try Self.started(end: end, timeout: .seconds(5))
        channel.embeddedEventLoop.advanceTime(to: end + .seconds(5))
        let error = try #require(outcome.error as? RawConnectionFailure)
        #expect(error.description.contains("4 raw requests unanswered"), "\(error)")

        let (answered, done) = try Self.started(end: NIODeadline.now(), timeout: .seconds(5))
        try answered.writeInbound(ByteBuffer(repeating: 0, count: 4 * 420))
        #expect(done.settled && done.error == nil, "every request answered after the end: the run is sound")
    }
}

/// The raw baseline's clock started before its connections existed (each connect awaited in turn, its handshake in
/// the measured time) while the RPC side connects every client first: a handler now only announces its handshake, and
/// sends when the run fires its start, once every connection's handshake is done.
@Suite("Raw baseline: no request goes out before the run's start")
struct RawClientHandlerStartTests {
    @Test("the handshake announces itself and sends nothing; the start sends depth requests, once")
    func handshakeThenStart() throws {
        let (channel, done, handshaken) = try RawClientHandlerTests.connected(timeout: .seconds(5))
        let start = RawClientHandler.Start(end: .now() + .seconds(600), recorder: LatencyRecorder(measureFrom: .now()))
        channel.pipeline.fireUserInboundEventTriggered(start)
        #expect(try RawClientHandlerTests.requestsOut(channel) == 0, "no request before the handshake")
        channel.pipeline.fireUserInboundEventTriggered(RawClientHandlerTests.handshake)
        #expect(handshaken.settled && handshaken.error == nil)
        #expect(try RawClientHandlerTests.requestsOut(channel) == 0, "the handshake alone starts nothing")
        channel.pipeline.fireUserInboundEventTriggered(start)
        #expect(try RawClientHandlerTests.requestsOut(channel) == 4)
        channel.pipeline.fireUserInboundEventTriggered(start)
        #expect(try RawClientHandlerTests.requestsOut(channel) == 0, "a second start sends nothing more")
        #expect(!done.settled)
        channel.pipeline.fireChannelInactive()
        #expect(done.error != nil)
    }

    @Test("a connection that closes before the start fails the run; one closing before its handshake fails that too")
    func closedBeforeTheStart() throws {
        let (shaken, done, _) = try RawClientHandlerTests.connected(timeout: .seconds(5))
        shaken.pipeline.fireUserInboundEventTriggered(RawClientHandlerTests.handshake)
        shaken.pipeline.fireChannelInactive()
        let error = try #require(done.error as? RawConnectionFailure)
        #expect(error.description.contains("closed before the run started"), "\(error)")

        let (unshaken, _, handshaken) = try RawClientHandlerTests.connected(timeout: .seconds(5))
        unshaken.pipeline.fireChannelInactive()
        #expect(handshaken.error is RawConnectionFailure)
    }
}
