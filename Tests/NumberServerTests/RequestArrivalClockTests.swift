import NIOCore
import NIOEmbedded
import NumberAPI
import NumberWire
import Testing

@testable import NumberServer

/// The request arrival clock of `ServerConnectionHandler` on an embedded channel, whose clock the test moves: it
/// bounds how long a started request may take to arrive, waits while the server itself holds the connection's reads
/// (its client does not read the answers), and then goes on with the time the request had left.
@Suite("Server: the request arrival clock across a read pause")
struct RequestArrivalClockTests {
    /// A handler with a 10 s request arrival timeout and no idle timeout, on an active embedded channel past the
    /// client's preface and SETTINGS.
    static func connection() throws -> (EmbeddedChannel, EmbeddedEventLoop) {
        try embeddedServerConnection(
            timeouts: .init(
                settings: .seconds(10), requestArrival: .seconds(10), frameArrival: .zero, idle: .zero,
                goAwayFlush: .seconds(1)),
            router: RPCRouter())
    }

    /// The GOAWAY among everything the handler wrote so far, if any.
    static func goAwaySent(_ channel: EmbeddedChannel) throws -> GoAway? {
        try goAway(in: writtenFrames(channel))
    }

    /// Makes the channel unwritable (the client does not read) or writable again, as NIO tells the handler.
    static func setWritable(_ writable: Bool, _ channel: EmbeddedChannel) {
        channel.isWritable = writable
        channel.pipeline.fireChannelWritabilityChanged()
    }

    @Test("a request that used 6 s of its 10 s before the server paused reading has 4 s left after, not 10 s")
    func resumesWithTheRemainder() throws {
        let (channel, loop) = try Self.connection()
        var headers = ByteBuffer()
        try ProtoEncoder().encode(RequestHeaders(method: NumbersMethods.healthCheck.path), into: &headers)
        var bytes = ByteBuffer()
        bytes.writeFrame(Frame(type: .headers, streamID: 1, payload: headers))
        try channel.writeInbound(bytes)  // HEADERS without its MESSAGE: the clock starts
        loop.advanceTime(by: .seconds(6))
        Self.setWritable(false, channel)
        loop.advanceTime(by: .seconds(30))  // paused: no request can arrive, the clock waits
        #expect(try Self.goAwaySent(channel) == nil, "closed while reading was paused")
        Self.setWritable(true, channel)
        loop.advanceTime(by: .milliseconds(3900))
        #expect(try Self.goAwaySent(channel) == nil, "closed before the 4 s left had passed")
        loop.advanceTime(by: .milliseconds(200))
        let away = try Self.goAwaySent(channel)
        #expect(away?.code == .enhanceYourCalm, "no GOAWAY 4.1 s after reading resumed: \(String(describing: away))")
        _ = try? channel.finish()
    }

    @Test("a request that started during the burst that paused reading gets its whole budget after")
    func startedAtThePauseKeepsItsBudget() throws {
        let (channel, loop) = try Self.connection()
        var headers = ByteBuffer()
        try ProtoEncoder().encode(RequestHeaders(method: NumbersMethods.healthCheck.path), into: &headers)
        var bytes = ByteBuffer()
        bytes.writeFrame(Frame(type: .headers, streamID: 1, payload: headers))
        try channel.writeInbound(bytes)
        Self.setWritable(false, channel)
        loop.advanceTime(by: .seconds(30))
        Self.setWritable(true, channel)
        loop.advanceTime(by: .milliseconds(9900))
        #expect(try Self.goAwaySent(channel) == nil, "closed before its 10 s had passed")
        loop.advanceTime(by: .milliseconds(200))
        #expect(try Self.goAwaySent(channel)?.code == .enhanceYourCalm)
        _ = try? channel.finish()
    }

    /// The GOAWAY of a late request names the highest stream processed, which covers calls still waiting for their
    /// request: never started, they are answered so before it (as for the partial frame budget), or their client
    /// would count them as possibly run and not send them again.
    @Test("closing for a late request answers every call whose request never came, before the GOAWAY")
    func awaitingCallsAnsweredFirst() throws {
        let (channel, loop) = try Self.connection()
        var headers = ByteBuffer()
        try ProtoEncoder().encode(RequestHeaders(method: NumbersMethods.healthCheck.path), into: &headers)
        var bytes = ByteBuffer()
        bytes.writeFrame(Frame(type: .headers, streamID: 1, payload: headers))
        bytes.writeFrame(Frame(type: .headers, streamID: 3, payload: headers))
        try channel.writeInbound(bytes)
        loop.advanceTime(by: .seconds(11))
        let frames = try writtenFrames(channel)
        let firstAnswer = try #require(frames.firstIndex(where: { $0.type == .trailers }))
        let goAwayIndex = try #require(frames.firstIndex(where: { $0.type == .goAway }))
        #expect(firstAnswer < goAwayIndex)
        let statuses = try trailerStatuses(frames)
        for stream: UInt32 in [1, 3] {
            #expect(statuses[stream]?.code == StatusCode.resourceExhausted.rawValue, "stream \(stream)")
            #expect(statuses[stream]?.reason == "REQUEST_NOT_ARRIVED", "stream \(stream)")
        }
        let away = try goAway(in: frames)
        #expect(away?.code == .enhanceYourCalm && away?.lastStreamID == 3)
        _ = try? channel.finish()
    }
}
