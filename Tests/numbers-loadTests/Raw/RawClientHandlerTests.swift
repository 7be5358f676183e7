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

    /// A handler of `depth` 4 on an embedded channel, its handshake done (so 4 requests are out), and its outcome.
    static func started(end: NIODeadline, timeout: TimeAmount) throws -> (EmbeddedChannel, Outcome) {
        let channel = EmbeddedChannel()
        let done = channel.eventLoop.makePromise(of: Void.self)
        let outcome = Outcome()
        done.futureResult.whenComplete { result in outcome.result.withLock { $0 = result } }
        let handler = RawClientHandler(
            requestBytes: 40, responseBytes: 420, depth: 4, end: end, timeout: timeout,
            recorder: LatencyRecorder(measureFrom: .now()), stripe: 0, done: done)
        try channel.pipeline.syncOperations.addHandler(handler)
        channel.pipeline.fireUserInboundEventTriggered(handshake)
        var sent = 0
        while try channel.readOutbound(as: ByteBuffer.self) != nil { sent += 1 }
        #expect(sent == 4, "depth 4 in flight")
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
