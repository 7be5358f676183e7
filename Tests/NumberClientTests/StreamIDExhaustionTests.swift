import NIOCore
import NIOEmbedded
import NumberWire
import Testing

@testable import NumberClient

/// A connection whose stream ids run out (after 2^31 calls) goes away locally, as if the server had sent GOAWAY:
/// it takes no new call, the pool stops choosing it, calls that could not start fail as never started (so the
/// client retries them on a new connection), and it closes once its last call is answered.
@Suite("Client stream ids running out")
struct StreamIDExhaustionTests {
    typealias Outcome = ClientConnectionStateMachine.CallOutcome

    /// Starts a call without a deadline; its outcome lands in the returned box.
    private func start(_ handler: ClientConnectionHandler, _ loop: EmbeddedEventLoop) -> OutcomeBox {
        let promise = loop.makePromise(of: Outcome.self)
        let box = OutcomeBox()
        promise.futureResult.whenSuccess { box.outcome = $0 }
        handler.start(
            headers: ByteBuffer(), message: ByteBuffer(), timeout: nil, promise: promise, token: CallCancellationToken()
        )
        return box
    }

    @Test("the state machine opens the last odd id, then takes no call and goes away")
    func stateMachine() throws {
        var machine = ClientConnectionStateMachine(firstStreamID: UInt32.max - 2)
        #expect(machine.startCall(headers: ByteBuffer(), message: ByteBuffer())?.streamID == UInt32.max - 2)
        #expect(machine.startCall(headers: ByteBuffer(), message: ByteBuffer())?.streamID == UInt32.max)
        #expect(!machine.canStartCall)
        #expect(machine.phase == .goingAway(lastStreamID: UInt32.max))
        #expect(machine.closingReason?.contains("stream ids") == true)
        #expect(machine.startCall(headers: ByteBuffer(), message: ByteBuffer()) == nil)
        #expect(
            machine.received(Frame(type: .trailers, streamID: UInt32.max - 2))
                == .finish(streamID: UInt32.max - 2, .response(ByteBuffer())))
        #expect(
            machine.received(Frame(type: .trailers, streamID: UInt32.max))
                == .finishMany([(UInt32.max, .response(ByteBuffer()))], close: true))
    }

    @Test("a connection out of ids closes when its last open call is cancelled (or its deadline passes)")
    func lastCallCancelled() {
        var machine = ClientConnectionStateMachine(firstStreamID: UInt32.max)
        _ = machine.startCall(headers: ByteBuffer(), message: ByteBuffer())
        #expect(
            machine.cancelCall(streamID: UInt32.max) == .writeThenClose([Frame(type: .cancel, streamID: UInt32.max)]))
        #expect(machine.phase == .closed)
    }

    @Test("on the last id: the connection stops taking calls, a queued call fails retryable, it closes after its last")
    func connection() throws {
        let loop = EmbeddedEventLoop()
        let status = ClientConnectionStatus()
        let handler = ClientConnectionHandler(settings: .defaults, status: status, firstStreamID: UInt32.max)
        let channel = EmbeddedChannel(handler: handler, loop: loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let last = start(handler, loop)
        let refused = start(handler, loop)
        loop.run()
        guard case .connectionFailure(let message, let retryable) = refused.outcome else {
            Issue.record("the call after the last id did not fail: \(String(describing: refused.outcome))")
            _ = try? channel.finish(acceptAlreadyClosed: true)
            return
        }
        #expect(retryable, "a call that never started is retried elsewhere")
        #expect(message.contains("stream ids"), "\(message)")
        #expect(!status.isAlive, "the pool must stop choosing the connection")
        #expect(last.outcome == nil)
        #expect(channel.isActive, "the open call still finishes")
        try channel.writeInbound(ClientDeadlineTests.bytes(Frame(type: .trailers, streamID: UInt32.max)))
        loop.run()
        #expect(last.outcome == .response(ByteBuffer()))
        #expect(!channel.isActive, "closed once no call is open")
        _ = try? channel.finish(acceptAlreadyClosed: true)
    }
}

/// A call's outcome once it has one. Only touched on the embedded loop, which runs on the test's thread.
private final class OutcomeBox: @unchecked Sendable {
    var outcome: ClientConnectionStateMachine.CallOutcome?
}
