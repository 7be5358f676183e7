import NIOCore
import NIOEmbedded
import NumberAPI
import NumberWire
import Testing

@testable import NumberServer

/// The frames a connection reads while its client takes none of the answers are held until it does: a wire review
/// found them counted nowhere, and the table holding them kept the size it grew to for the connection's life — a
/// burst of 12-byte frames from a client reading nothing held ~1 MiB of slots for good, on every such connection.
@Suite("Server: frames held while the client does not read")
struct HeldFramesBudgetTests {
    static let frames = 20_000

    /// `frames` HEADERS frames without payload on new streams, in one read.
    static func burst() -> ByteBuffer {
        var bytes = ByteBuffer()
        for n in 0..<frames {
            bytes.writeFrame(Frame(type: .headers, streamID: UInt32(2 * n + 1), payload: ByteBuffer()))
        }
        return bytes
    }

    static func connection(budget: ServerByteBudget) throws -> (EmbeddedChannel, EmbeddedEventLoop) {
        try embeddedServerConnection(
            timeouts: .init(
                settings: .seconds(10), requestArrival: .zero, frameArrival: .zero, idle: .zero,
                goAwayFlush: .seconds(1)),
            router: RPCRouter(), partialFrames: budget)
    }

    @Test("held frames count against the partial frame budget: past it the connection is closed ENHANCE_YOUR_CALM")
    func heldFramesAreCounted() throws {
        let budget = ServerByteBudget(limit: 256 * 1024)
        let (channel, _) = try Self.connection(budget: budget)
        _ = try writtenFrames(channel)
        RequestArrivalClockTests.setWritable(false, channel)
        try channel.writeInbound(Self.burst())
        let away = try RequestArrivalClockTests.goAwaySent(channel)
        #expect(away?.code == .enhanceYourCalm, "\(String(describing: away))")
        #expect(budget.heldBytes == 0, "the connection's share given back")
        let handler = try channel.pipeline.syncOperations.handler(type: ServerConnectionHandler.self)
        #expect(handler.framesHeldCapacity <= 16, "the held frames let go of: \(handler.framesHeldCapacity)")
        _ = try? channel.finish()
    }

    @Test("within the budget they are counted while held, then processed, given back, and their table let go of")
    func heldThenReleased() throws {
        let budget = ServerByteBudget(limit: 64 * 1024 * 1024)
        let (channel, _) = try Self.connection(budget: budget)
        RequestArrivalClockTests.setWritable(false, channel)
        try channel.writeInbound(Self.burst())
        let handler = try channel.pipeline.syncOperations.handler(type: ServerConnectionHandler.self)
        let counted =
            Self.frames * ServerConnectionHandler.heldFrameOverhead - ServerByteBudget.freePerConnectionDefault
        #expect(budget.heldBytes >= counted, "\(budget.heldBytes) held, at least \(counted) expected")
        #expect(handler.framesHeldCapacity >= Self.frames)
        RequestArrivalClockTests.setWritable(true, channel)
        #expect(budget.heldBytes == 0, "given back once processed: \(budget.heldBytes)")
        #expect(handler.framesHeldCapacity <= 16, "the grown table kept: \(handler.framesHeldCapacity)")
        _ = try? channel.finish()
    }
}
