import NIOCore
import NIOEmbedded
import NumberAPI
import NumberWire
import Testing

@testable import NumberServer

/// The frame arrival clock of `ServerConnectionHandler` on an embedded channel, whose clock the test moves: a frame
/// whose first bytes arrived must be whole within the frame arrival timeout (10 s here), whatever stream it names;
/// each frame has its own clock, and the clock waits while the server holds the connection's reads.
@Suite("Server: the frame arrival clock")
struct FrameArrivalClockTests {
    /// A handler with a 10 s frame arrival timeout and no other clock that could close the connection first. Its
    /// calls are queued and never run (nothing serves the queue): a call started stays running.
    static func connection() throws -> (EmbeddedChannel, EmbeddedEventLoop) {
        try embeddedServerConnection(
            timeouts: .init(
                settings: .seconds(1000), requestArrival: .zero, frameArrival: .seconds(10), idle: .zero,
                goAwayFlush: .seconds(1)),
            router: abuseRouter())
    }

    /// A MESSAGE frame of `length` payload bytes on `stream`, cut after `sent` of them.
    static func partialMessage(stream: UInt32, length: Int, sent: Int) -> ByteBuffer {
        var bytes = ByteBuffer()
        bytes.writeFrameHeader(payloadLength: length, type: .message, streamID: stream)
        bytes.writeRepeatingByte(0, count: sent)
        return bytes
    }

    @Test(
        "a frame announced with 4 MiB and stopped short closes the connection at the timeout, not before",
        arguments: [
            "a stream never opened", "the header alone", "a running call's stream",
        ])
    func stalledFrame(stream: String) throws {
        let (channel, loop) = try Self.connection()
        let length = 4 * 1024 * 1024
        switch stream {
        case "the header alone":
            var header = Self.partialMessage(stream: 1, length: length, sent: 0)
            try channel.writeInbound(header.readSlice(length: 7)!)
        case "a running call's stream":
            var call = ByteBuffer()
            try writeCall(&call, stream: 1, method: NumbersMethods.getAccount.path)
            try channel.writeInbound(call)
            try channel.writeInbound(Self.partialMessage(stream: 1, length: length, sent: length - 1))
        default:
            try channel.writeInbound(Self.partialMessage(stream: 1, length: length, sent: length - 1))
        }
        loop.advanceTime(by: .milliseconds(9900))
        #expect(try RequestArrivalClockTests.goAwaySent(channel) == nil, "closed before the 10 s")
        loop.advanceTime(by: .milliseconds(200))
        let away = try RequestArrivalClockTests.goAwaySent(channel)
        #expect(away?.code == .enhanceYourCalm, "no GOAWAY after 10.1 s: \(String(describing: away))")
        #expect(away?.message == "a frame did not fully arrive in time")
        _ = try? channel.finish()
    }

    /// A client whose every read ends inside its next frame, each frame whole within 3 s: never a frame late, the
    /// connection stays however long that goes on.
    @Test("each frame has its own clock: frames that each arrive in time never close the connection")
    func perFrameClock() throws {
        let (channel, loop) = try Self.connection()
        var pings = ByteBuffer()
        for index in 0..<11 {
            pings.writeFrame(Frame(type: .ping, streamID: 0, payload: ByteBuffer(integer: UInt64(index))))
        }
        let frameLength = Frame.headerLength + 8
        try channel.writeInbound(pings.getSlice(at: 0, length: frameLength / 2)!)
        for index in 0..<10 {
            loop.advanceTime(by: .seconds(3))
            // The rest of one PING and the first half of the next.
            try channel.writeInbound(pings.getSlice(at: frameLength / 2 + index * frameLength, length: frameLength)!)
        }
        #expect(try RequestArrivalClockTests.goAwaySent(channel) == nil, "closed after 30 s of frames each in time")
        // The last one stalls: closed 10 s after its first bytes.
        loop.advanceTime(by: .milliseconds(9900))
        #expect(try RequestArrivalClockTests.goAwaySent(channel) == nil, "closed before the last frame's 10 s")
        loop.advanceTime(by: .milliseconds(200))
        #expect(try RequestArrivalClockTests.goAwaySent(channel)?.code == .enhanceYourCalm)
        _ = try? channel.finish()
    }

    @Test("the clock waits while the server holds the connection's reads, then goes on with the time left")
    func pausedWhileHeld() throws {
        let (channel, loop) = try Self.connection()
        try channel.writeInbound(Self.partialMessage(stream: 1, length: 1000, sent: 10))
        loop.advanceTime(by: .seconds(6))
        RequestArrivalClockTests.setWritable(false, channel)
        loop.advanceTime(by: .seconds(30))
        #expect(try RequestArrivalClockTests.goAwaySent(channel) == nil, "closed while reading was paused")
        RequestArrivalClockTests.setWritable(true, channel)
        loop.advanceTime(by: .milliseconds(3900))
        #expect(try RequestArrivalClockTests.goAwaySent(channel) == nil, "closed before the 4 s left had passed")
        loop.advanceTime(by: .milliseconds(200))
        #expect(try RequestArrivalClockTests.goAwaySent(channel)?.code == .enhanceYourCalm)
        _ = try? channel.finish()
    }

    @Test("a frame that completes in time stops the clock")
    func completedInTime() throws {
        let (channel, loop) = try Self.connection()
        var ping = ByteBuffer()
        ping.writeFrame(Frame(type: .ping, streamID: 0, payload: ByteBuffer(integer: UInt64(7))))
        try channel.writeInbound(ping.readSlice(length: 15)!)
        loop.advanceTime(by: .milliseconds(9900))
        try channel.writeInbound(ping)
        loop.advanceTime(by: .seconds(60))
        #expect(try RequestArrivalClockTests.goAwaySent(channel) == nil)
        _ = try? channel.finish()
    }
}
