import NIOCore
import NIOEmbedded
import NumberAPI
import NumberWire
import Testing

@testable import NumberServer

/// The flood budgets of `ServerConnectionHandler` against the connection's clock, on an embedded channel whose clock
/// the test moves: a monitor that only health-checks and PINGs is never closed, and a client's CANCEL at its call's
/// deadline is not counted as a cancel flood.
@Suite("Server: flood budgets over time")
struct FloodBudgetClockTests {
    /// HealthCheck answered at once (synchronous, as numberd's), GetAccount held until cancelled.
    static func router() -> RPCRouter {
        var router = RPCRouter()
        router.registerSynchronous(NumbersMethods.healthCheck) { _, _ in
            HealthCheckResponse(status: .serving, version: "t")
        }
        router.register(NumbersMethods.getAccount) { request, _ in
            try await Task.sleep(for: .seconds(10))
            return GetAccountResponse(account: Account(id: request.accountId))
        }
        return router
    }

    static func connection(
        pings: Int = 100, cancels: Int = 1000, renewal: TimeAmount = .seconds(1)
    ) throws -> (EmbeddedChannel, EmbeddedEventLoop) {
        try embeddedServerConnection(
            timeouts: .init(
                settings: .seconds(1000), requestArrival: .zero, frameArrival: .zero, idle: .zero,
                goAwayFlush: .seconds(1)),
            router: router(),
            limits: .init(
                settings: .defaults, pingsBetweenCallsMax: pings, cancelsBetweenCompletionsMax: cancels,
                budgetRenewal: renewal))
    }

    /// A monitor on one long-lived connection that health-checks and PINGs every 10 s. HealthCheck renews no budget
    /// (any client may call it without a key), so its 101st PING used to close the connection, about 17 minutes in.
    @Test("a monitor that health-checks and PINGs every 10 s is never closed; a PING flood still is")
    func monitorIsNeverClosed() throws {
        let (channel, loop) = try Self.connection()
        var acks = 0
        var stream: UInt32 = 1
        for index in 0..<500 {
            loop.advanceTime(by: .seconds(10))
            var bytes = ByteBuffer()
            try writeCall(&bytes, stream: stream, method: NumbersMethods.healthCheck.path)
            stream += 2
            bytes.writeFrame(Frame(type: .ping, streamID: 0, payload: ByteBuffer(integer: UInt64(index))))
            try channel.writeInbound(bytes)
            let frames = try writtenFrames(channel)
            acks += frames.filter { $0.type == .ping && $0.flags.contains(.ack) }.count
            #expect(try goAway(in: frames) == nil, "closed at check \(index)")
            if !channel.isActive { break }
        }
        #expect(acks == 500)
        // A flood on the same connection, 10 s on: the budget (100), and no more.
        loop.advanceTime(by: .seconds(10))
        var flood = ByteBuffer()
        for index in 0..<101 {
            flood.writeFrame(Frame(type: .ping, streamID: 0, payload: ByteBuffer(integer: UInt64(index))))
        }
        try channel.writeInbound(flood)
        let frames = try writtenFrames(channel)
        #expect(frames.filter { $0.type == .ping && $0.flags.contains(.ack) }.count == 100)
        #expect(try goAway(in: frames)?.code == .enhanceYourCalm)
        _ = try? channel.finish()
    }

    /// What the claim was checked against: health checks alone spend no budget, so a monitor that only calls
    /// HealthCheck was never closed, with or without renewal by time; PINGs were what closed it.
    @Test("health checks alone spend no budget")
    func healthChecksAlone() throws {
        let (channel, loop) = try Self.connection(renewal: .zero)
        for index in 0..<UInt32(1000) {
            loop.advanceTime(by: .seconds(10))
            var bytes = ByteBuffer()
            try writeCall(&bytes, stream: 2 * index + 1, method: NumbersMethods.healthCheck.path)
            try channel.writeInbound(bytes)
        }
        let frames = try writtenFrames(channel)
        #expect(try trailerStatuses(frames).count == 1000)
        #expect(try goAway(in: frames) == nil)
        #expect(channel.isActive)
        _ = try? channel.finish()
    }

    /// A call with a 1 s deadline (by the server's clock from its arrival) cancelled 100 ms before it is not counted;
    /// 101 ms before, it is. With a budget of one CANCEL, the call cancelled at once then closes the connection.
    @Test("a CANCEL within 100 ms of its call's deadline is not counted, one 101 ms before is")
    func cancelAtTheDeadline() throws {
        let (channel, loop) = try Self.connection(cancels: 1, renewal: .zero)
        func call(_ stream: UInt32) throws {
            var headers = ByteBuffer()
            try ProtoEncoder().encode(
                RequestHeaders(method: NumbersMethods.getAccount.path, timeoutMicros: 1_000_000), into: &headers)
            var bytes = ByteBuffer()
            bytes.writeFrame(Frame(type: .headers, streamID: stream, payload: headers))
            var message = ByteBuffer()
            try ProtoEncoder().encode(GetAccountRequest(accountId: "A"), into: &message)
            bytes.writeFrame(Frame(type: .message, flags: .endStream, streamID: stream, payload: message))
            try channel.writeInbound(bytes)
        }
        func cancel(_ stream: UInt32) throws -> GoAway? {
            var bytes = ByteBuffer()
            bytes.writeFrame(Frame(type: .cancel, streamID: stream))
            try channel.writeInbound(bytes)
            return try goAway(in: writtenFrames(channel))
        }
        try call(1)
        loop.advanceTime(by: .milliseconds(900))
        #expect(try cancel(1) == nil)  // 100 ms left: not counted
        try call(3)
        loop.advanceTime(by: .milliseconds(899))
        #expect(try cancel(3) == nil)  // 101 ms left: counted, 1 of 1
        try call(5)
        #expect(try cancel(5)?.code == .enhanceYourCalm)  // the second counted
        _ = try? channel.finish()
    }
}
