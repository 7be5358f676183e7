import NIOCore
import Testing

@testable import NumberTLS

@Suite("TLSStateMachine: plain values in, actions out")
struct TLSStateMachineTests {
    func active() -> TLSStateMachine {
        var machine = TLSStateMachine(pendingWriteBytesMax: 100)
        _ = machine.channelActive()
        _ = machine.handshakeCompleted()
        return machine
    }

    @Test("the handshake starts once; bytes drive it, then application reads")
    func start() {
        var machine = TLSStateMachine(pendingWriteBytesMax: 100)
        #expect(machine.bytesReceived() == .drop)
        #expect(machine.channelActive() == .startHandshake)
        #expect(machine.channelActive() == .none)
        #expect(machine.isHandshaking)
        #expect(machine.bytesReceived() == .driveHandshake)
        #expect(machine.handshakeCompleted() == false)
        #expect(machine.bytesReceived() == .readApplicationData)
        #expect(!machine.isHandshaking)
    }

    @Test("writes before the handshake are queued up to the limit; a flush waits for the handshake")
    func pendingWrites() {
        var machine = TLSStateMachine(pendingWriteBytesMax: 100)
        _ = machine.channelActive()
        #expect(machine.write(bytes: 60) == .enqueue)
        #expect(machine.write(bytes: 40) == .enqueue)
        #expect(machine.pendingWriteBytes == 100)
        #expect(machine.flush() == .deferred)
        guard case .failConnection(let error) = machine.write(bytes: 1) else {
            Issue.record("101st byte accepted")
            return
        }
        #expect(error.code == .pendingWriteLimitExceeded)
        #expect(machine.handshakeCompleted() == true)
        #expect(machine.flush() == .encryptPendingWrites)
        // After the handshake there is no byte limit: flushes drain the queue.
        #expect(machine.write(bytes: 1_000_000) == .enqueue)
        machine.pendingWritesDrained()
        #expect(machine.pendingWriteBytes == 0)
    }

    @Test("close on a live session sends close_notify; writes after it are refused")
    func close() {
        var machine = active()
        #expect(machine.closeRequested(mode: .input) == .passThrough)
        #expect(machine.closeRequested(mode: .all) == .sendCloseNotify)
        #expect(machine.bytesReceived() == .drop)
        #expect(machine.flush() == .passThrough)
        guard case .refuse(let error) = machine.write(bytes: 1) else {
            Issue.record("write after close accepted")
            return
        }
        #expect(error.code == .connectionClosed)
        #expect(machine.closeRequested(mode: .all) == .closeNow)
        #expect(machine.channelInactive() == nil)
    }

    @Test("close before the handshake completes closes at once, with nothing to send")
    func closeDuringHandshake() {
        var machine = TLSStateMachine(pendingWriteBytesMax: 100)
        _ = machine.channelActive()
        _ = machine.write(bytes: 10)
        #expect(machine.closeRequested(mode: .all) == .closeNow)
        #expect(machine.pendingWriteBytes == 0)
        #expect(machine.channelInactive() == nil)
    }

    @Test("a received close_notify is answered once")
    func closeNotifyReceived() {
        var machine = active()
        #expect(machine.closeNotifyReceived() == .sendCloseNotify)
        #expect(machine.closeNotifyReceived() == .passThrough)
        #expect(machine.channelInactive() == nil)
    }

    @Test("the socket closing mid-handshake or mid-session is an error; a failure is reported once")
    func inactiveAndFailure() {
        var handshaking = TLSStateMachine(pendingWriteBytesMax: 100)
        _ = handshaking.channelActive()
        #expect(handshaking.channelInactive()?.code == .handshakeFailed)
        var session = active()
        #expect(session.channelInactive()?.code == .uncleanShutdown)
        var failing = active()
        let first = failing.failed()
        let second = failing.failed()
        #expect(first && !second)
        #expect(failing.bytesReceived() == .drop)
        #expect(failing.channelInactive() == nil)
    }
}
