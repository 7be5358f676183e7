import NIOCore
import NIOEmbedded
import NumberAPI
import NumberWire
import Testing

@testable import NumberServer

/// A closed connection's handler is freed. It kept its channel context, which holds the handler: the pair outlived
/// every connection, with all the handler held — the HEADERS its calls waited with (up to 100 of 16 KiB, copied into
/// storage of their own), frames held, the API keys its memo saw. A client opening connections that each left 100
/// such HEADERS and closed leaked ~1.8 MiB a connection, no key needed, while the partial-frame budget, given back at
/// the close, read zero; plain connects and closes leaked ~2 KiB each.
@Suite("Server: a closed connection lets go of its handler")
struct ConnectionReleaseTests {
    @Test("a connection closed with a call waiting for its request frees its handler and what it held")
    func closedConnectionFreesItsHandler() throws {
        weak var released: ServerConnectionHandler?
        try {
            let (_, calls) = AsyncStream.makeStream(of: ServerCall.self)
            let handler = ServerConnectionHandler(
                limits: .init(settings: .defaults, pingsBetweenCallsMax: 100, cancelsBetweenCompletionsMax: 1000),
                timeouts: .init(
                    settings: .seconds(1000), requestArrival: .zero, frameArrival: .zero, idle: .zero,
                    goAwayFlush: .seconds(1)),
                router: RPCRouter(), calls: calls, logger: quietLogger, metrics: ServerMetrics())
            released = handler
            let channel = EmbeddedChannel(handler: handler)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            try channel.writeInbound(clientStart())
            // A call's HEADERS whose MESSAGE never comes: it waits, copied into storage of its own.
            var headers = ByteBuffer()
            try ProtoEncoder().encode(
                RequestHeaders(
                    method: NumbersMethods.getBalance.path, metadata: ["x-padding": String(repeating: "p", count: 4000)]
                ),
                into: &headers)
            var bytes = ByteBuffer()
            bytes.writeFrame(Frame(type: .headers, streamID: 1, payload: headers))
            try channel.writeInbound(bytes)
            _ = try channel.finish(acceptAlreadyClosed: true)
        }()
        #expect(released == nil, "the closed connection's handler is still alive")
    }
}
