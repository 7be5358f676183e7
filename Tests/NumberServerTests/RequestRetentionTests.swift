import NIOCore
import NIOEmbedded
import NumberAPI
import NumberWire
import Testing

@testable import NumberServer

/// A call holds no bytes of its request once the request is decoded, which it is as it arrives: a call waiting in the
/// core (for a provider-change slot, a purchase check, a statement) kept its whole request MESSAGE until it ended. No
/// budget counts a running call's request, and an unknown field (which decoding skips) pads a valid one to
/// MAX_MESSAGE_PAYLOAD: one tenant's 264 waiting UpdateNumber calls held 1–2 GiB at 4 MiB.
@Suite("Server: a running call holds none of its request's bytes")
struct RequestRetentionTests {
    /// A `ServerConnectionHandler` on an embedded channel, past the client's preface and SETTINGS, whose asynchronous
    /// calls go to `calls` (no timer that could end them).
    static func connection(router: RPCRouter, calls: AsyncStream<ServerCall>.Continuation) throws -> EmbeddedChannel {
        let handler = ServerConnectionHandler(
            limits: .init(settings: .defaults, pingsBetweenCallsMax: 100, cancelsBetweenCompletionsMax: 1000),
            timeouts: .init(
                settings: .seconds(1000), requestArrival: .zero, frameArrival: .zero, idle: .zero,
                goAwayFlush: .seconds(1)),
            router: router, calls: calls, logger: quietLogger, metrics: ServerMetrics())
        let channel = EmbeddedChannel(handler: handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.writeInbound(clientStart())
        return channel
    }

    /// An UpdateNumber call on stream 1 whose request carries `padding` bytes in an unknown field (15), which
    /// decoding skips: HEADERS and MESSAGE in one buffer, as one read brings them.
    static func paddedUpdateNumber(padding: Int) throws -> ByteBuffer {
        var message = ByteBuffer()
        try ProtoEncoder().encode(UpdateNumberRequest(accountId: "ACC_1", numberId: "NUM_1"), into: &message)
        message.writeInteger(UInt8(15 << 3 | 2))  // field 15, length-delimited
        var length = padding
        while length >= 0x80 {
            message.writeInteger(UInt8(length & 0x7F | 0x80))
            length >>= 7
        }
        message.writeInteger(UInt8(length))
        message.writeRepeatingByte(0, count: padding)
        var headers = ByteBuffer()
        try ProtoEncoder().encode(RequestHeaders(method: NumbersMethods.updateNumber.path), into: &headers)
        var bytes = ByteBuffer()
        bytes.writeFrame(Frame(type: .headers, streamID: 1, payload: headers))
        bytes.writeFrame(Frame(type: .message, flags: .endStream, streamID: 1, payload: message))
        return bytes
    }

    /// The request arrives in a buffer the test keeps a copy of: the call's MESSAGE is a slice of it, sharing its
    /// storage. While the call's handler is blocked (its request decoded, the call held as the server's task group
    /// holds it), a write to the test's copy must find the storage held by nobody else: a write copies the storage
    /// only when someone else still holds it, so an unchanged address is proof, with no timing or heap measure.
    /// On the main actor: the embedded event loop (which the call holds, to answer on it) is used, and let go of, on
    /// the thread it was made on.
    @Test("a call blocked in its handler holds none of its request's bytes, an unknown field's padding included")
    @MainActor
    func blockedCallHoldsNoRequestBytes() async throws {
        let (started, signal) = AsyncStream.makeStream(of: String.self)
        var router = RPCRouter()
        router.register(NumbersMethods.updateNumber) { request, _ in
            signal.yield(request.numberId)
            try await Task.sleep(for: .seconds(3600))  // the gate: until the test cancels it
            return UpdateNumberResponse()
        }
        let (stream, calls) = AsyncStream.makeStream(of: ServerCall.self)
        let channel = try Self.connection(router: router, calls: calls)
        var received = try Self.paddedUpdateNumber(padding: 60_000)  // within the server's 64 KiB
        let before = received.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        try channel.writeInbound(received)
        var queued: ServerCall?
        for await call in stream {
            queued = call
            break
        }
        let call = try #require(queued)
        // Run as the server's task group runs it. Cancelled before its handler ends (its gate never opens), it hands
        // nothing back to the event loop.
        let running = Task { await call.run() }
        for await numberID in started {
            #expect(numberID == "NUM_1")
            break
        }
        let after = withExtendedLifetime(call) {
            received.setInteger(UInt8(0), at: received.readerIndex)
            return received.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        }
        #expect(before == after, "the running call still holds its request's bytes")
        call.cancellation.cancel()
        await running.value
        _ = try? channel.finish()
    }
}
