import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// One plain client connection kept open across several writes, for what the server does with a connection over
/// time (its limits and deadlines): everything received so far, and whether the server closed it.
final class RawConnection: Sendable {
    private let channel: any Channel
    private let state: State

    private final class State: Sendable {
        let received = Mutex<[UInt8]>([])
        let isClosed = Mutex(false)
        /// Set when the client itself closes the connection (its cut-off), so a close is not taken for the server's.
        let closedByClient = Mutex(false)
        let closed: EventLoopPromise<Void>

        init(closed: EventLoopPromise<Void>) { self.closed = closed }
    }

    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        private let state: State

        init(state: State) { self.state = state }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
            state.received.withLock { $0 += bytes }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            state.isClosed.withLock { $0 = true }
            state.closed.succeed()
        }
    }

    private init(channel: any Channel, state: State) {
        self.channel = channel
        self.state = state
    }

    /// Connects to 127.0.0.1:`port`.
    static func open(port: Int) async throws -> RawConnection {
        let group = MultiThreadedEventLoopGroup.singleton
        let state = State(closed: group.next().makePromise())
        do {
            let channel = try await ClientBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(Collector(state: state))
                    }
                }
                .connect(host: "127.0.0.1", port: port).get()
            return RawConnection(channel: channel, state: state)
        } catch {
            state.closed.succeed()  // no channel will complete it (a leaked promise traps)
            throw error
        }
    }

    /// Everything received so far, as text.
    var text: String { String(decoding: state.received.withLock { $0 }, as: UTF8.self) }

    /// Whether the connection has closed, by either side.
    var isClosed: Bool { state.isClosed.withLock { $0 } }

    /// Writes `text` as is.
    func send(_ text: String) async throws {
        try await channel.writeAndFlush(channel.allocator.buffer(string: text))
    }

    /// Waits until the text received holds `count` complete responses that carry no body (or bodies of
    /// `Content-Length`), the connection closes, or `cutOff` passes; returns what was received.
    func waitForResponses(_ count: Int, cutOff: Duration = .seconds(120)) async throws -> String {
        let end = ContinuousClock.now + cutOff
        while ContinuousClock.now < end, !state.isClosed.withLock({ $0 }) {
            if Self.completeResponses(in: text) >= count { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        return text
    }

    /// Waits until the connection closes — closing it itself once `cutOff` has passed — and returns everything
    /// received, and whether the server closed it (false: the cut-off did).
    func waitForClose(cutOff: TimeAmount) async -> (text: String, closedByServer: Bool) {
        let channel = self.channel
        let state = self.state
        let timer = channel.eventLoop.scheduleTask(in: cutOff) {
            state.closedByClient.withLock { $0 = true }
            channel.close(promise: nil)
        }
        try? await state.closed.futureResult.get()
        timer.cancel()
        return (text, !state.closedByClient.withLock { $0 })
    }

    /// Closes the connection and waits until it is closed.
    func close() async {
        state.closedByClient.withLock { $0 = true }
        try? await channel.close()
    }

    /// How many whole responses `text` holds (each a head, then `Content-Length` bytes of body).
    private static func completeResponses(in text: String) -> Int {
        var rest = Array(text.utf8)[...]
        let separator = Array("\r\n\r\n".utf8)
        var count = 0
        while let end = rest.indices.first(where: { rest[$0...].starts(with: separator) }) {
            let head = String(decoding: rest[..<end], as: UTF8.self).lowercased()
            let length =
                head.components(separatedBy: "\r\n").lazy
                .compactMap { line -> Int? in
                    guard line.hasPrefix("content-length:") else { return nil }
                    return Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces))
                }.first ?? 0
            let body = rest[(end + separator.count)...]
            guard body.count >= length else { break }
            rest = body.dropFirst(length)
            count += 1
        }
        return count
    }
}
