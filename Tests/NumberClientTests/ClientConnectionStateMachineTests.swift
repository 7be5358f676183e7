import NIOCore
import NumberWire
import Testing

@testable import NumberClient

@Suite("Client connection state machine")
struct ClientConnectionStateMachineTests {
    @Test("stream ids are odd and increasing; responses are matched to their calls")
    func calls() throws {
        var machine = ClientConnectionStateMachine()
        let firstStarted = machine.startCall(headers: ByteBuffer(), message: ByteBuffer())
        let first = try #require(firstStarted)
        let secondStarted = machine.startCall(headers: ByteBuffer(), message: ByteBuffer())
        let second = try #require(secondStarted)
        #expect(first.streamID == 1)
        #expect(second.streamID == 3)
        #expect(first.frames.map(\.type) == [.headers, .message])
        #expect(first.frames[1].flags == .endStream)
        #expect(machine.received(Frame(type: .message, streamID: 3, payload: ByteBuffer(string: "r3"))) == .none)
        #expect(
            machine.received(Frame(type: .trailers, streamID: 3))
                == .finish(streamID: 3, .response(ByteBuffer(string: "r3"))))
        #expect(
            machine.received(Frame(type: .trailers, streamID: 1, payload: ByteBuffer(string: "err")))
                == .finish(streamID: 1, .status(ByteBuffer(string: "err"))))
    }

    @Test("the server's SETTINGS are noted once they arrive valid; an ACK or an invalid SETTINGS is not them")
    func serverSettingsReceived() throws {
        var machine = ClientConnectionStateMachine()
        #expect(!machine.serverSettingsReceived)
        _ = machine.received(Frame(type: .settings, flags: .ack, streamID: 0))
        #expect(!machine.serverSettingsReceived)
        _ = machine.received(Frame(type: .ping, streamID: 0, payload: ByteBuffer(repeating: 0, count: 8)))
        #expect(!machine.serverSettingsReceived)
        #expect(
            machine.received(Frame(type: .settings, streamID: 0))
                == .write([Frame(type: .settings, flags: .ack, streamID: 0)]))
        #expect(machine.serverSettingsReceived)

        var refused = ClientConnectionStateMachine()
        var outOfRange = ByteBuffer()
        outOfRange.writeInteger(UInt16(0x2))  // MAX_CONCURRENT_STREAMS
        outOfRange.writeInteger(UInt32(0))  // below its range (1...10000)
        _ = refused.received(Frame(type: .settings, streamID: 0, payload: outOfRange))
        #expect(!refused.serverSettingsReceived)
        #expect(refused.phase == .closed)
    }

    @Test("the server's concurrent-call limit is respected")
    func limit() throws {
        var machine = ClientConnectionStateMachine()
        _ = machine.received(
            Frame(type: .settings, streamID: 0, payload: ConnectionSettings(maxConcurrentStreams: 1).payload()))
        #expect(machine.startCall(headers: ByteBuffer(), message: ByteBuffer()) != nil)
        #expect(!machine.canStartCall)
        #expect(machine.startCall(headers: ByteBuffer(), message: ByteBuffer()) == nil)
    }

    @Test("GOAWAY: calls above the last stream fail as not started, the rest finish, then close")
    func goAway() throws {
        var machine = ClientConnectionStateMachine()
        for _ in 0..<3 { _ = machine.startCall(headers: ByteBuffer(), message: ByteBuffer()) }
        let away = Frame(
            type: .goAway, streamID: 0, payload: GoAway(lastStreamID: 1, code: .noError, message: "bye").payload())
        guard case .finishMany(let failed, let close) = machine.received(away) else {
            Issue.record("no failures")
            return
        }
        #expect(failed.map(\.0) == [3, 5])
        #expect(failed.allSatisfy { if case .connectionFailure(_, true) = $0.1 { true } else { false } })
        #expect(!close)
        #expect(!machine.canStartCall)
        // Calls refused from now on say why (the GOAWAY's code and message).
        #expect(machine.closingReason?.contains("bye") == true)
        guard case .finishMany(let last, true) = machine.received(Frame(type: .trailers, streamID: 1)) else {
            Issue.record("no close after the last call")
            return
        }
        #expect(last.map(\.0) == [1])
    }

    @Test("a closed connection fails every open call with an unknown outcome")
    func closed() {
        var machine = ClientConnectionStateMachine()
        _ = machine.startCall(headers: ByteBuffer(), message: ByteBuffer())
        guard case .finishMany(let failed, _) = machine.connectionClosed(reason: "reset") else {
            Issue.record("nothing failed")
            return
        }
        #expect(failed.count == 1)
        guard case .connectionFailure(_, false) = failed[0].1 else {
            Issue.record("a sent call must end as a connection failure that is not retried: \(failed[0].1)")
            return
        }
        #expect(machine.closingReason == "connection closed: reset")
    }

    @Test("server PINGs are answered up to 100 between completed calls, the 101st fails the connection")
    func pingFlood() throws {
        var machine = ClientConnectionStateMachine()
        let ping = Frame(type: .ping, streamID: 0, payload: ByteBuffer(repeating: 7, count: 8))
        let pong = Frame(type: .ping, flags: .ack, streamID: 0, payload: ping.payload)
        for _ in 0..<100 { #expect(machine.received(ping) == .write([pong])) }
        _ = machine.startCall(headers: ByteBuffer(), message: ByteBuffer())
        _ = machine.received(Frame(type: .trailers, streamID: 1))  // a completed call renews the budget
        for _ in 0..<100 { #expect(machine.received(ping) == .write([pong])) }
        guard case .closeWithGoAway(let away, _) = machine.received(ping) else {
            Issue.record("the 101st PING was answered")
            return
        }
        #expect(away.code == .enhanceYourCalm)
        #expect(machine.phase == .closed)
        // The rest of the read is not processed: no second GOAWAY, no answer written after the close.
        #expect(machine.received(ping) == .none)
        #expect(machine.received(Frame(type: .settings, streamID: 0)) == .none)
    }

    @Test("server SETTINGS are answered up to 10 between completed calls, the 11th fails the open calls")
    func settingsFlood() throws {
        var machine = ClientConnectionStateMachine()
        let settings = Frame(type: .settings, streamID: 0)
        let ack = Frame(type: .settings, flags: .ack, streamID: 0)
        for _ in 0..<10 { #expect(machine.received(settings) == .write([ack])) }
        #expect(machine.received(ack) == .none)
        _ = machine.startCall(headers: ByteBuffer(), message: ByteBuffer())
        // The open calls fail, and the GOAWAY that says why goes out (it was dropped when a call was open).
        guard case .closeWithGoAway(let away, let failed) = machine.received(settings) else {
            Issue.record("the 11th SETTINGS was answered")
            return
        }
        #expect(away.code == .enhanceYourCalm)
        #expect(failed.map(\.0) == [1])
        #expect(machine.closingReason?.contains("SETTINGS") == true)
    }

    @Test("a cancelled call sends CANCEL and ignores its late response")
    func cancel() throws {
        var machine = ClientConnectionStateMachine()
        let callStarted = machine.startCall(headers: ByteBuffer(), message: ByteBuffer())
        let call = try #require(callStarted)
        #expect(machine.cancelCall(streamID: call.streamID) == .write([Frame(type: .cancel, streamID: 1)]))
        #expect(machine.received(Frame(type: .trailers, streamID: 1)) == .none)
    }

    /// The protocol review: a response frame on a stream never opened above the last the client opened was dropped
    /// as if its call had been cancelled; FRAMING.md §3 makes it a connection error. One not above it (an even id
    /// among them) is ignored, as §3 says and the server does: it was a connection error too, failing every open call
    /// as possibly run.
    @Test("a MESSAGE or TRAILERS on a stream never opened above the last opened fails the connection; below, ignored")
    func frameOnStreamNeverOpened() {
        for (id, type) in [(5 as UInt32, FrameType.trailers), (4, .message), (1001, .message)] {
            var machine = ClientConnectionStateMachine()
            for _ in 0..<2 { _ = machine.startCall(headers: ByteBuffer(), message: ByteBuffer()) }
            guard case .closeWithGoAway(let away, let failed) = machine.received(Frame(type: type, streamID: id))
            else {
                Issue.record("\(type) on \(id) was ignored")
                continue
            }
            #expect(away.code == .protocolError && away.message.contains("never opened"), "\(away)")
            #expect(failed.map(\.0) == [1, 3], "the open calls fail, as possibly run")
        }
        // Even ids not above the last opened: no call has them, and nothing is failed for them.
        var evenBelow = ClientConnectionStateMachine()
        for _ in 0..<2 { _ = evenBelow.startCall(headers: ByteBuffer(), message: ByteBuffer()) }
        #expect(evenBelow.received(Frame(type: .message, streamID: 2)) == .none)
        #expect(evenBelow.received(Frame(type: .trailers, streamID: 2)) == .none)
        #expect(evenBelow.openCallCount == 2)
        // One opened and cancelled since: its late frames are ignored.
        var machine = ClientConnectionStateMachine()
        _ = machine.startCall(headers: ByteBuffer(), message: ByteBuffer())
        _ = machine.cancelCall(streamID: 1)
        #expect(machine.received(Frame(type: .message, streamID: 1)) == .none)
        #expect(machine.received(Frame(type: .trailers, streamID: 1)) == .none)
    }

    @Test("a frame the client cannot read fails the connection with a GOAWAY naming the framing error")
    func framingErrorSendsGoAway() {
        var machine = ClientConnectionStateMachine()
        _ = machine.startCall(headers: ByteBuffer(), message: ByteBuffer())
        guard case .closeWithGoAway(let away, let failed) = machine.framingError(FramingError(.frameTooLarge, "big"))
        else {
            Issue.record("no GOAWAY")
            return
        }
        #expect(away.code == .frameTooLarge && away.lastStreamID == 0)
        #expect(failed.map(\.0) == [1])
        #expect(machine.phase == .closed)
        // The rest of the read, after another connection error or this one: no second GOAWAY.
        #expect(machine.framingError(FramingError(.unknownFrameType, "bad type")) == .none)
        var afterFlood = ClientConnectionStateMachine()
        _ = afterFlood.startCall(headers: ByteBuffer(), message: ByteBuffer())
        guard case .closeWithGoAway = afterFlood.received(Frame(type: .message, streamID: 9)) else {
            Issue.record("no GOAWAY for a stream never opened")
            return
        }
        #expect(afterFlood.framingError(FramingError(.frameTooLarge, "big")) == .none)
    }

    @Test("request sizes are checked against the server's SETTINGS, and the protocol's defaults until they arrive")
    func requestSizes() {
        var machine = ClientConnectionStateMachine()
        let big = ByteBuffer(repeating: 0, count: 16 * 1024 + 1)
        #expect(
            machine.oversize(headers: big, message: ByteBuffer())
                == .init(frame: "HEADERS", size: 16 * 1024 + 1, limit: 16 * 1024))
        #expect(machine.oversize(headers: ByteBuffer(), message: big) == nil)
        _ = machine.received(
            Frame(type: .settings, streamID: 0, payload: ConnectionSettings(maxMessagePayload: 16 * 1024).payload()))
        #expect(
            machine.oversize(headers: ByteBuffer(), message: big)
                == .init(frame: "MESSAGE", size: 16 * 1024 + 1, limit: 16 * 1024))
    }

    /// One frame decoded from its bytes as the client's handler decodes them.
    static func frame(hex: String) throws -> Frame? {
        var buffer = ByteBuffer(bytes: hex.split(separator: " ").map { UInt8($0, radix: 16)! })
        var decoder = FrameDecoder(expectsPreface: false)
        return try decoder.decode(buffer: &buffer)
    }

    @Test("a GOAWAY whose debug text is not UTF-8 still names its last stream: the calls up to it stay open")
    func goAwayWithTextNotUTF8() throws {
        var machine = ClientConnectionStateMachine()
        for _ in 0..<2 { _ = machine.startCall(headers: ByteBuffer(), message: ByteBuffer()) }
        // GOAWAY, 9 bytes, stream 0: last stream 3, NO_ERROR, then a lone UTF-8 lead byte.
        let decoded = try Self.frame(hex: "00 00 00 09 06 00 00 00 00 00 00 00 00 00 00 03 00 00 00 00 C3")
        let away = try #require(decoded)
        #expect(machine.received(away) == .finishMany([], close: false))
        #expect(machine.openCallCount == 2)
        #expect(machine.phase == .goingAway(lastStreamID: 3))
        #expect(machine.closingReason?.contains("NO_ERROR") == true)
    }

    @Test("a GOAWAY too short to name its last stream fails the open calls as outcome unknown, never as not started")
    func goAwayUnreadable() {
        var machine = ClientConnectionStateMachine()
        for _ in 0..<2 { _ = machine.startCall(headers: ByteBuffer(), message: ByteBuffer()) }
        // The frame decoder refuses it (GOAWAY < 8 bytes); the state machine must not read it as "last stream 0".
        let short = Frame(type: .goAway, streamID: 0, payload: ByteBuffer(bytes: [0, 0, 0, 3]))
        guard case .closeWithGoAway(let away, let failed) = machine.received(short) else {
            Issue.record("the open calls did not fail")
            return
        }
        #expect(away.code == .protocolError)
        #expect(failed.map(\.0) == [1, 3])
        #expect(failed.allSatisfy { if case .connectionFailure(_, false) = $0.1 { true } else { false } })
        #expect(machine.phase == .closed)
    }

    @Test("TRAILERS with an OK RpcStatus that has fields set completes the call with its response")
    func okTrailersWithFields() throws {
        var machine = ClientConnectionStateMachine()
        for _ in 0..<3 { _ = machine.startCall(headers: ByteBuffer(), message: ByteBuffer()) }
        let ok = ByteBuffer(bytes: [0x12, 0x02, 0x6F, 0x6B])  // RpcStatus{code: 0, message: "ok"}
        #expect(machine.received(Frame(type: .message, streamID: 1, payload: ByteBuffer(string: "r1"))) == .none)
        #expect(
            machine.received(Frame(type: .trailers, streamID: 1, payload: ok))
                == .finish(streamID: 1, .response(ByteBuffer(string: "r1"))))
        // OK without a MESSAGE: a response with every field at its default, as with an empty TRAILERS.
        #expect(
            machine.received(Frame(type: .trailers, streamID: 3, payload: ok))
                == .finish(streamID: 3, .response(ByteBuffer())))
        // A non-OK status stays a status, whatever came before it.
        let notFound = ByteBuffer(bytes: [0x08, 0x05])
        #expect(machine.received(Frame(type: .message, streamID: 5, payload: ByteBuffer(string: "r5"))) == .none)
        #expect(
            machine.received(Frame(type: .trailers, streamID: 5, payload: notFound))
                == .finish(streamID: 5, .status(notFound)))
    }
}
