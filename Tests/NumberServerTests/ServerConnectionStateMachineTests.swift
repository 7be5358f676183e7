import NIOCore
import NumberWire
import Testing

@testable import NumberServer

@Suite("Server connection state machine")
struct ServerConnectionStateMachineTests {
    typealias Action = ServerConnectionStateMachine.Action

    private func machine(
        streams: UInt32 = 2, pings: Int = 3, cancels: Int = 2, renewal: TimeAmount = .seconds(1)
    ) -> ServerConnectionStateMachine {
        var machine = ServerConnectionStateMachine(
            limits: .init(
                settings: ConnectionSettings(maxConcurrentStreams: streams), pingsBetweenCallsMax: pings,
                cancelsBetweenCompletionsMax: cancels, budgetRenewal: renewal))
        _ = machine.received(Frame(type: .settings, streamID: 0))
        return machine
    }

    private func headers(_ id: UInt32, endStream: Bool = false) -> Frame {
        Frame(type: .headers, flags: endStream ? .endStream : [], streamID: id, payload: ByteBuffer(string: "h\(id)"))
    }

    private func message(_ id: UInt32, endStream: Bool = true) -> Frame {
        Frame(type: .message, flags: endStream ? .endStream : [], streamID: id, payload: ByteBuffer(string: "m\(id)"))
    }

    private func headers(_ id: UInt32, bytes: Int) -> Frame {
        Frame(type: .headers, streamID: id, payload: ByteBuffer(repeating: 0x68, count: bytes))
    }

    private func goAwayCode(_ action: ServerConnectionStateMachine.Action) -> GoAway.Code? {
        if case .closeWithGoAway(let away) = action { return away.code }
        if case .closeWithGoAwayRefusing(_, let away) = action { return away.code }
        return nil
    }

    @Test("the first frame must be SETTINGS, and it is acknowledged")
    func settingsFirst() {
        var fresh = ServerConnectionStateMachine(
            limits: .init(settings: .defaults, pingsBetweenCallsMax: 1, cancelsBetweenCompletionsMax: 1))
        #expect(goAwayCode(fresh.received(headers(1))) == .protocolError)
        var other = ServerConnectionStateMachine(
            limits: .init(settings: .defaults, pingsBetweenCallsMax: 1, cancelsBetweenCompletionsMax: 1))
        #expect(
            other.received(Frame(type: .settings, streamID: 0))
                == .write([Frame(type: .settings, flags: .ack, streamID: 0)]))
        #expect(other.phase == .active)
    }

    @Test("a unary call starts when its message arrives with END_STREAM")
    func unaryCall() {
        var machine = machine()
        #expect(machine.received(headers(1)) == .none)
        #expect(
            machine.received(message(1))
                == .startCall(streamID: 1, headers: ByteBuffer(string: "h1"), message: ByteBuffer(string: "m1")))
        #expect(machine.callFinished(streamID: 1).send)
        #expect(!machine.callFinished(streamID: 1).send)
    }

    /// A frame's payload is a slice of the receive buffer it was decoded from: a HEADERS waiting for its MESSAGE (up
    /// to the request arrival timeout) kept that slice, and with it the whole buffer, up to MAX_MESSAGE_PAYLOAD after
    /// a large frame, per stream. It gets storage of its own size instead. The MESSAGE is handed on as it is: the
    /// handler decodes it at once and keeps none of it (`RequestRetentionTests`).
    @Test("a waiting HEADERS does not keep the big receive buffer it was read from; the MESSAGE is not copied")
    func payloadsLetGoOfTheirReceiveBuffer() throws {
        let received = ByteBuffer(repeating: 0x61, count: 4 * 1024 * 1024)
        let headersPayload = try #require(received.getSlice(at: 1000, length: 100))
        let messagePayload = try #require(received.getSlice(at: 3000, length: 50))
        var machine = machine()
        #expect(machine.received(Frame(type: .headers, streamID: 1, payload: headersPayload)) == .none)
        machine.requestAwaited(streamID: 1)  // the burst ended without the MESSAGE
        let action = machine.received(Frame(type: .message, flags: .endStream, streamID: 1, payload: messagePayload))
        guard case .startCall(1, let headers, let message) = action else {
            Issue.record("no call started: \(action)")
            return
        }
        #expect(headers == headersPayload)
        #expect(message == messagePayload)
        #expect(headers.storageCapacity <= 16 * 1024, "HEADERS keeps \(headers.storageCapacity) bytes")
        let address = messagePayload.withUnsafeReadableBytes { $0.baseAddress }
        #expect(message.withUnsafeReadableBytes { $0.baseAddress } == address, "the MESSAGE was copied")
    }

    /// The usual cases cost no copy: a HEADERS whose MESSAGE comes in the same read burst, a MESSAGE in a receive
    /// buffer not much bigger than it.
    @Test("a HEADERS answered in its burst and a MESSAGE in a buffer about its size are not copied")
    func smallBuffersKept() throws {
        let received = ByteBuffer(repeating: 0x61, count: 2048)
        let payload = try #require(received.getSlice(at: 100, length: 1000))
        var machine = machine()
        _ = machine.received(Frame(type: .headers, streamID: 1, payload: payload))
        let action = machine.received(Frame(type: .message, flags: .endStream, streamID: 1, payload: payload))
        guard case .startCall(1, let headers, let message) = action else {
            Issue.record("no call started: \(action)")
            return
        }
        let address = payload.withUnsafeReadableBytes { $0.baseAddress }
        #expect(headers.withUnsafeReadableBytes { $0.baseAddress } == address)
        #expect(message.withUnsafeReadableBytes { $0.baseAddress } == address)
    }

    @Test("stream ids must be odd and increasing")
    func streamIDs() {
        var even = machine()
        #expect(goAwayCode(even.received(headers(2))) == .protocolError)
        var backwards = machine()
        _ = backwards.received(headers(5))
        #expect(goAwayCode(backwards.received(headers(3))) == .protocolError)
    }

    @Test("calls beyond the concurrent limit are refused one by one, the connection stays")
    func concurrencyLimit() {
        var machine = machine(streams: 2)
        _ = machine.received(headers(1))
        _ = machine.received(headers(3))
        #expect(
            machine.received(headers(5))
                == .rejectCall(streamID: 5, code: 8, message: "more than 2 calls open on this connection"))
        _ = machine.received(message(1))
        _ = machine.callFinished(streamID: 1)
        #expect(machine.received(headers(7)) == .none)
        #expect(machine.openStreamCount == 2)
    }

    @Test("missing message, client streaming and stray frames")
    func badCalls() {
        var machine = machine()
        if case .rejectCall(1, 3, _, false) = machine.received(headers(1, endStream: true)) {
        } else {
            Issue.record("no reject")
        }
        _ = machine.received(headers(3))
        if case .rejectCall(3, 12, _, false) = machine.received(message(3, endStream: false)) {
        } else {
            Issue.record("no reject")
        }
        #expect(machine.received(message(1)) == .none)  // a late frame for an ended stream is ignored
        #expect(goAwayCode(machine.received(message(9))) == .protocolError)  // never opened
        var trailers = self.machine()
        #expect(goAwayCode(trailers.received(Frame(type: .trailers, streamID: 1))) == .protocolError)
    }

    @Test("PINGs are answered up to the limit between calls")
    func pingFlood() {
        var machine = machine(pings: 3)
        let ping = Frame(type: .ping, streamID: 0, payload: ByteBuffer(repeating: 1, count: 8))
        for _ in 0..<3 {
            #expect(
                machine.received(ping) == .write([Frame(type: .ping, flags: .ack, streamID: 0, payload: ping.payload)]))
        }
        #expect(goAwayCode(machine.received(ping)) == .enhanceYourCalm)
    }

    @Test("a completed call resets the PING budget")
    func pingBudgetResets() {
        var machine = machine(pings: 1)
        let ping = Frame(type: .ping, streamID: 0, payload: ByteBuffer(repeating: 1, count: 8))
        _ = machine.received(ping)
        _ = machine.received(headers(1))
        _ = machine.received(message(1))
        _ = machine.callFinished(streamID: 1, authenticated: true)
        #expect(goAwayCode(machine.received(ping)) == nil)
    }

    /// A call any client can make without a key (HealthCheck, a malformed request, an unknown method) renews
    /// nothing: a client without a key could send one between floods to renew them without end.
    @Test("only a call whose caller proved a key renews the budgets")
    func onlyAuthenticatedCallsRenew() {
        let ping = Frame(type: .ping, streamID: 0, payload: ByteBuffer(repeating: 1, count: 8))
        var anonymous = machine(pings: 1, cancels: 1)
        _ = anonymous.received(ping)
        _ = anonymous.received(headers(3))
        _ = anonymous.received(message(3))
        #expect(anonymous.callFinished(streamID: 3, authenticated: false).send)
        #expect(goAwayCode(anonymous.received(ping)) == .enhanceYourCalm)
        var known = machine(pings: 1, cancels: 1)
        _ = known.received(ping)
        _ = known.received(headers(3))
        _ = known.received(message(3))
        _ = known.callFinished(streamID: 3, authenticated: true)
        #expect(goAwayCode(known.received(ping)) == nil)
    }

    @Test("a refused or unfinished call does not reset the PING budget")
    func pingBudgetNeedsCompletedCall() {
        let ping = Frame(type: .ping, streamID: 0, payload: ByteBuffer(repeating: 1, count: 8))
        var refused = machine(pings: 1)
        _ = refused.received(ping)
        _ = refused.received(headers(1, endStream: true))  // answered at once: no request message
        #expect(goAwayCode(refused.received(ping)) == .enhanceYourCalm)
        var open = machine(pings: 1)
        _ = open.received(ping)
        _ = open.received(headers(1))
        _ = open.received(message(1))
        #expect(goAwayCode(open.received(ping)) == .enhanceYourCalm)
    }

    @Test("a call ended by its deadline renews neither the PING nor the cancel budget")
    func deadlineIsNoCompletion() {
        let ping = Frame(type: .ping, streamID: 0, payload: ByteBuffer(repeating: 1, count: 8))
        var pings = machine(pings: 1)
        _ = pings.received(ping)
        _ = pings.received(headers(1))
        _ = pings.received(message(1))
        #expect(pings.callFinished(streamID: 1, completed: false).send)
        #expect(goAwayCode(pings.received(ping)) == .enhanceYourCalm)
        var cancels = machine(streams: 10, cancels: 1)
        _ = cancels.received(headers(1))
        _ = cancels.received(Frame(type: .cancel, streamID: 1))
        _ = cancels.received(headers(3))
        _ = cancels.received(message(3))
        _ = cancels.callFinished(streamID: 3, completed: false)
        _ = cancels.received(headers(5))
        #expect(goAwayCode(cancels.received(Frame(type: .cancel, streamID: 5))) == .enhanceYourCalm)
    }

    /// Each flood budget also earns one frame back per `budgetRenewal` (1 s), up to its maximum: a client that
    /// completes no call (a monitor that only health-checks) and PINGs no faster than that is never closed; a burst
    /// still is, after the budget and what time earned back.
    @Test("PING, SETTINGS and CANCEL budgets earn one frame back per second; a burst past them still closes")
    func budgetsRenewByTime() {
        let start = NIODeadline.now()  // not before the machine's first SETTINGS, read at `.now()`
        let ping = Frame(type: .ping, streamID: 0, payload: ByteBuffer(repeating: 1, count: 8))
        let pong = Action.write([Frame(type: .ping, flags: .ack, streamID: 0, payload: ping.payload)])
        // One a second, far past the budget of 3: all answered.
        var steady = machine(pings: 3)
        for second in 0..<1000 { #expect(steady.received(ping, now: start + .seconds(Int64(second))) == pong) }
        // 3 at once, a fourth 999 ms later: closed; 1 s later it has earned one back, and only one.
        var early = machine(pings: 3)
        for _ in 0..<3 { #expect(early.received(ping, now: start) == pong) }
        #expect(goAwayCode(early.received(ping, now: start + .milliseconds(999))) == .enhanceYourCalm)
        var late = machine(pings: 3)
        for _ in 0..<3 { #expect(late.received(ping, now: start) == pong) }
        #expect(late.received(ping, now: start + .seconds(1)) == pong)
        #expect(goAwayCode(late.received(ping, now: start + .seconds(1))) == .enhanceYourCalm)
        // Earned back up to the budget only: a long silence does not bank more.
        var rested = machine(pings: 3)
        #expect(rested.received(ping, now: start) == pong)
        for _ in 0..<3 { #expect(rested.received(ping, now: start + .seconds(3600)) == pong) }
        #expect(goAwayCode(rested.received(ping, now: start + .seconds(3600))) == .enhanceYourCalm)
        // Without renewal by time (0), as before: the fourth closes however slowly they come.
        var fixed = machine(pings: 3, renewal: .zero)
        for second in 0..<3 { #expect(fixed.received(ping, now: start + .seconds(Int64(second) * 60)) == pong) }
        #expect(goAwayCode(fixed.received(ping, now: start + .seconds(3600))) == .enhanceYourCalm)
        // SETTINGS (10, the first one included) and CANCELs renew the same way.
        var settings = machine()
        let ack = Action.write([Frame(type: .settings, flags: .ack, streamID: 0)])
        for second in 1...100 {
            #expect(settings.received(Frame(type: .settings, streamID: 0), now: start + .seconds(Int64(second))) == ack)
        }
        var cancels = machine(streams: 10, cancels: 2)
        for index in 0..<UInt32(100) {
            let at = start + .seconds(Int64(index))
            _ = cancels.received(headers(2 * index + 1), now: at)
            #expect(
                cancels.received(Frame(type: .cancel, streamID: 2 * index + 1), now: at)
                    == .forgetCall(streamID: 2 * index + 1))
        }
        #expect(cancels.phase == .active)
    }

    /// A client cancels at its deadline, which the server, reading the CANCEL, is about to answer itself (or already
    /// should have: its timer runs late on a busy loop). Such a CANCEL is not counted within 100 ms of the deadline by
    /// the server's clock, once the call has run for 100 ms itself; one sent earlier is, and so is that of a call whose
    /// request has not arrived (no deadline), and that of a call cancelled in its first 100 ms whatever its deadline
    /// (a call with a timeout under 100 ms would otherwise be exempt from the moment it started: a client without a
    /// key could open and cancel such calls without end).
    @Test("a CANCEL at most 100 ms before its call's deadline, or after it, is not counted; an earlier one is")
    func cancelAtDeadline() {
        var machine = machine(streams: 10, cancels: 2, renewal: .zero)
        let start = NIODeadline.now()  // not before the machine's first SETTINGS, read at `.now()`
        let deadline = start + .seconds(1)
        func cancel(_ id: UInt32, at: NIODeadline, started: NIODeadline = start) -> Action {
            machine.received(
                Frame(type: .cancel, streamID: id), now: at,
                times: { $0 == id ? .init(started: started, deadline: deadline) : nil })
        }
        for (id, at) in [(UInt32(1), deadline - .milliseconds(100)), (3, deadline), (5, deadline + .seconds(5))] {
            _ = machine.received(headers(id))
            _ = machine.received(message(id))
            #expect(cancel(id, at: at) == .forgetCall(streamID: id), "stream \(id)")
        }
        _ = machine.received(headers(7))
        _ = machine.received(message(7))
        #expect(cancel(7, at: deadline - .milliseconds(101)) == .forgetCall(streamID: 7))  // counted: 1 of 2
        // A 50 ms call cancelled 10 ms after it started: within the slack of its deadline, but counted (2 of 2).
        _ = machine.received(headers(9))
        _ = machine.received(message(9))
        #expect(
            cancel(9, at: deadline - .milliseconds(40), started: deadline - .milliseconds(50))
                == .forgetCall(streamID: 9))
        _ = machine.received(headers(11))
        _ = machine.received(message(11))
        #expect(goAwayCode(cancel(11, at: start)) == .enhanceYourCalm)
        // A call still waiting for its request has no deadline yet: counted.
        var waiting = self.machine(streams: 10, cancels: 1, renewal: .zero)
        for id: UInt32 in [1, 3] { _ = waiting.received(headers(id)) }
        let anyTimes: (UInt32) -> ServerConnectionStateMachine.CallTimes? = { _ in
            .init(started: start - .seconds(1), deadline: start)
        }
        #expect(
            waiting.received(Frame(type: .cancel, streamID: 1), now: start, times: anyTimes)
                == .forgetCall(streamID: 1))
        #expect(
            goAwayCode(waiting.received(Frame(type: .cancel, streamID: 3), now: start, times: anyTimes))
                == .enhanceYourCalm)
    }

    @Test("SETTINGS are answered up to the limit between completed calls, the first one included")
    func settingsFlood() {
        var machine = ServerConnectionStateMachine(
            limits: .init(
                settings: .defaults, pingsBetweenCallsMax: 1, settingsBetweenCallsMax: 3,
                cancelsBetweenCompletionsMax: 1
            ))
        let settings = Frame(type: .settings, streamID: 0)
        let ack = Frame(type: .settings, flags: .ack, streamID: 0)
        for _ in 0..<3 { #expect(machine.received(settings) == .write([ack])) }
        #expect(machine.received(ack) == .none)  // ACKs are not counted
        _ = machine.received(headers(1))
        _ = machine.received(message(1))
        _ = machine.callFinished(streamID: 1, authenticated: true)
        for _ in 0..<3 { #expect(machine.received(settings) == .write([ack])) }
        #expect(goAwayCode(machine.received(settings)) == .enhanceYourCalm)
    }

    @Test("request+cancel floods are cut off")
    func cancelFlood() {
        var machine = machine(streams: 10, cancels: 2)
        for id: UInt32 in [1, 3] {
            _ = machine.received(headers(id))
            #expect(machine.received(Frame(type: .cancel, streamID: id)) == .forgetCall(streamID: id))
        }
        _ = machine.received(headers(5))
        #expect(goAwayCode(machine.received(Frame(type: .cancel, streamID: 5))) == .enhanceYourCalm)
    }

    /// Frames the server drops — MESSAGE or CANCEL on an ended or skipped stream, a second MESSAGE on a running
    /// call — spend the CANCEL budget: dropped for free, they could be sent without end.
    @Test(
        "stray frames are dropped within the CANCEL budget, one more closes the connection",
        arguments: [
            "MESSAGE on an ended stream", "CANCEL on an ended stream", "MESSAGE on a skipped stream",
            "second MESSAGE on a running call",
        ])
    func strayFrames(kind: String) {
        var machine = machine(streams: 10, cancels: 3)
        _ = machine.received(headers(1))
        _ = machine.received(message(1))
        _ = machine.callFinished(streamID: 1, authenticated: true)
        _ = machine.received(headers(5))
        _ = machine.received(message(5))  // running
        let stray: Frame
        switch kind {
        case "MESSAGE on an ended stream": stray = message(1)
        case "CANCEL on an ended stream": stray = Frame(type: .cancel, streamID: 1)
        case "MESSAGE on a skipped stream": stray = message(3)
        default: stray = message(5)
        }
        for _ in 0..<3 { #expect(machine.received(stray) == .none) }
        #expect(goAwayCode(machine.received(stray)) == .enhanceYourCalm)
        #expect(machine.phase == .closed)
        // A completed call renews the budget.
        var renewed = self.machine(streams: 10, cancels: 1)
        _ = renewed.received(headers(1))
        _ = renewed.received(message(1))
        _ = renewed.callFinished(streamID: 1, authenticated: true)
        #expect(renewed.received(message(1)) == .none)
        _ = renewed.received(headers(3))
        _ = renewed.received(message(3))
        _ = renewed.callFinished(streamID: 3, authenticated: true)
        #expect(renewed.received(message(1)) == .none)
    }

    @Test("stray frames and CANCELs share one budget")
    func strayFramesAndCancels() {
        var machine = machine(streams: 10, cancels: 2)
        _ = machine.received(headers(1))
        #expect(machine.received(Frame(type: .cancel, streamID: 1)) == .forgetCall(streamID: 1))
        #expect(machine.received(Frame(type: .cancel, streamID: 1)) == .none)  // too late: counted
        _ = machine.received(headers(3))
        #expect(goAwayCode(machine.received(Frame(type: .cancel, streamID: 3))) == .enhanceYourCalm)
    }

    /// Frames that answer nothing the server sent — a PING ACK (the server sends no PING), a SETTINGS ACK after the
    /// one of its greeting, a client's GOAWAY after its first — were read, decrypted and dropped for free, without
    /// end. Each now spends the budget of its kind, and is still not answered.
    @Test("unsolicited PING and SETTINGS ACKs and repeated client GOAWAYs spend the PING, SETTINGS and stray budgets")
    func unsolicitedControlFramesAreCounted() {
        let ping = Frame(type: .ping, streamID: 0, payload: ByteBuffer(repeating: 1, count: 8))
        let pingAck = Frame(type: .ping, flags: .ack, streamID: 0, payload: ping.payload)
        var pings = machine(pings: 3, renewal: .zero)
        for _ in 0..<3 { #expect(pings.received(pingAck) == .none) }
        #expect(goAwayCode(pings.received(pingAck)) == .enhanceYourCalm)
        // PINGs and ACKs share the budget.
        var mixed = machine(pings: 3, renewal: .zero)
        #expect(mixed.received(ping) == .write([Frame(type: .ping, flags: .ack, streamID: 0, payload: ping.payload)]))
        #expect(mixed.received(pingAck) == .none)
        #expect(mixed.received(pingAck) == .none)
        #expect(goAwayCode(mixed.received(ping)) == .enhanceYourCalm)

        let settingsAck = Frame(type: .settings, flags: .ack, streamID: 0)
        var settings = ServerConnectionStateMachine(
            limits: .init(
                settings: .defaults, pingsBetweenCallsMax: 1, settingsBetweenCallsMax: 3,
                cancelsBetweenCompletionsMax: 1, budgetRenewal: .zero))
        #expect(settings.received(Frame(type: .settings, streamID: 0)) == .write([settingsAck]))  // 1 of 3
        #expect(settings.received(settingsAck) == .none)  // the ACK of the server's SETTINGS: free
        #expect(settings.received(settingsAck) == .none)  // 2 of 3
        #expect(settings.received(settingsAck) == .none)  // 3 of 3
        #expect(goAwayCode(settings.received(settingsAck)) == .enhanceYourCalm)

        let goAway = Frame(type: .goAway, streamID: 0)
        var goAways = machine(streams: 10, cancels: 2, renewal: .zero)
        _ = goAways.received(headers(1))
        _ = goAways.received(message(1))  // running: the client's GOAWAY drains the connection
        #expect(goAways.received(goAway) == .none)  // the first: free
        #expect(goAways.phase == .draining)
        for _ in 0..<2 { #expect(goAways.received(goAway) == .none) }
        #expect(goAwayCode(goAways.received(goAway)) == .enhanceYourCalm)
        // A completed call renews the budgets as for any stray frame.
        var renewed = machine(streams: 10, cancels: 1, renewal: .zero)
        for id: UInt32 in [1, 3] {
            _ = renewed.received(headers(id))
            _ = renewed.received(message(id))
        }
        #expect(renewed.received(goAway) == .none)
        #expect(renewed.received(goAway) == .none)  // 1 of 1
        _ = renewed.callFinished(streamID: 1, authenticated: true)
        #expect(renewed.received(goAway) == .none)  // 1 of 1 again
        #expect(renewed.phase == .draining)
    }

    /// FRAMING.md §5: a frame for an ended stream is ignored when its id is not above the last opened one — the last
    /// opened stream itself included: a CANCEL that crossed its call's answer — and PROTOCOL_ERROR above it. (The
    /// spec said "below the last opened id", which made that CANCEL a PROTOCOL_ERROR on paper.)
    @Test("a CANCEL or MESSAGE on the last opened stream after its answer is ignored; one above it is PROTOCOL_ERROR")
    func lateFramesOnTheLastOpenedStream() {
        var machine = machine(streams: 10, cancels: 2)
        _ = machine.received(headers(1))
        _ = machine.received(message(1))
        #expect(machine.callFinished(streamID: 1, authenticated: true).send)
        #expect(machine.lastStreamID == 1)
        #expect(machine.received(Frame(type: .cancel, streamID: 1)) == .none)
        #expect(machine.received(message(1)) == .none)
        #expect(machine.phase == .active)
        #expect(goAwayCode(machine.received(Frame(type: .cancel, streamID: 3))) == .protocolError)
    }

    /// The client's CANCEL of a call the server ended itself (its deadline, a refusal) crossed the server's answer:
    /// not counted, once per call. A second one, a MESSAGE on such a stream, or a CANCEL on a skipped stream is.
    @Test("the first CANCEL of a call the server ended is not counted; stray frames still are")
    func lateCancelOfServerEndedCall() {
        var machine = machine(streams: 10, cancels: 1)
        for id in stride(from: UInt32(1), through: 99, by: 2) {
            _ = machine.received(headers(id))
            _ = machine.received(message(id))
            #expect(machine.callFinished(streamID: id, completed: false).send)
            #expect(machine.received(Frame(type: .cancel, streamID: id)) == .none)
        }
        #expect(machine.phase == .active)
        #expect(machine.received(Frame(type: .cancel, streamID: 99)) == .none)  // the second: counted (1 of 1)
        #expect(goAwayCode(machine.received(Frame(type: .cancel, streamID: 99))) == .enhanceYourCalm)
        var messages = self.machine(streams: 10, cancels: 1)
        _ = messages.received(headers(1))
        _ = messages.received(message(1))
        _ = messages.callFinished(streamID: 1, completed: false)
        #expect(messages.received(message(1)) == .none)
        #expect(goAwayCode(messages.received(message(1))) == .enhanceYourCalm)
        var skipped = self.machine(streams: 10, cancels: 1)
        _ = skipped.received(headers(5))
        _ = skipped.received(message(5))
        _ = skipped.callFinished(streamID: 5, completed: false)
        #expect(skipped.received(Frame(type: .cancel, streamID: 1)) == .none)
        #expect(goAwayCode(skipped.received(Frame(type: .cancel, streamID: 3))) == .enhanceYourCalm)
    }

    /// A call refused as it arrives (one too many open, a HEADERS with END_STREAM, a request MESSAGE without it) is a
    /// call the server ended too: the client's first CANCEL of it is not counted. It was, for these three alone.
    @Test("the first CANCEL of a call refused on arrival is not counted")
    func lateCancelOfRefusedCall() {
        var machine = machine(streams: 1, cancels: 1)
        _ = machine.received(headers(1))  // open: the next is one too many
        var id: UInt32 = 3
        for _ in 0..<50 {
            #expect(machine.received(headers(id)) != .none)
            #expect(machine.received(Frame(type: .cancel, streamID: id)) == .none)
            id += 2
            #expect(machine.received(headers(id, endStream: true)) != .none)
            #expect(machine.received(Frame(type: .cancel, streamID: id)) == .none)
            id += 2
        }
        var streaming = self.machine(streams: 10, cancels: 1)
        for id in stride(from: UInt32(1), through: 99, by: 2) {
            _ = streaming.received(headers(id))
            #expect(streaming.received(message(id, endStream: false)) != .none)
            #expect(streaming.received(Frame(type: .cancel, streamID: id)) == .none)
        }
        #expect(machine.phase == .active && streaming.phase == .active)
        // A second CANCEL of one still counts.
        #expect(streaming.received(Frame(type: .cancel, streamID: 99)) == .none)
        #expect(goAwayCode(streaming.received(Frame(type: .cancel, streamID: 99))) == .enhanceYourCalm)
    }

    /// A HEADERS beyond MAX_CONCURRENT_STREAMS is refused before its client can know, and the request MESSAGE it sent
    /// with them arrives after the refusal: each was counted as a stray frame, so a client retrying such refusals was
    /// closed with ENHANCE_YOUR_CALM, losing the answers of its running calls. A second MESSAGE still counts.
    @Test("the request MESSAGE of a call refused for too many open calls is not counted; a second one is")
    func messageOfCallRefusedAtHeaders() {
        var machine = machine(streams: 1, cancels: 2, renewal: .zero)
        _ = machine.received(headers(1))
        #expect(machine.received(message(1)) != .none)  // running: each next call is one too many
        for id: UInt32 in [3, 5, 7] {
            #expect(
                machine.received(headers(id))
                    == .rejectCall(streamID: id, code: 8, message: "more than 1 calls open on this connection"))
            #expect(machine.received(message(id)) == .none)
        }
        #expect(machine.phase == .active)
        // Its CANCEL, which may cross the refusal too, is still not counted.
        #expect(machine.received(Frame(type: .cancel, streamID: 7)) == .none)
        #expect(machine.received(message(5)) == .none)  // a second MESSAGE: counted (1 of 2)
        #expect(machine.received(message(7)) == .none)  // after its CANCEL: counted (2 of 2)
        #expect(machine.phase == .active)
        #expect(goAwayCode(machine.received(message(5))) == .enhanceYourCalm)
    }

    /// Streams ended by the server are remembered up to twice MAX_CONCURRENT_STREAMS, the most recent: an older one's
    /// CANCEL is counted.
    @Test("ended streams remembered: the bound is exact")
    func endedStreamsRememberedBound() {
        var machine = machine(streams: 2, cancels: 1)
        #expect(machine.limits.endedStreamsRememberedMax == 4)
        for id: UInt32 in [1, 3, 5, 7, 9] {
            _ = machine.received(headers(id))
            _ = machine.received(message(id))
            _ = machine.callFinished(streamID: id, completed: false)
        }
        for id: UInt32 in [3, 5, 7, 9] { #expect(machine.received(Frame(type: .cancel, streamID: id)) == .none) }
        #expect(machine.received(Frame(type: .cancel, streamID: 1)) == .none)  // forgotten: counted (1 of 1)
        #expect(goAwayCode(machine.received(Frame(type: .cancel, streamID: 1))) == .enhanceYourCalm)
    }

    /// One tenant's revoked key on a connection shared by many (a gateway's) must not drain it for all: the count is
    /// of failed authentications since the last call whose caller proved a key.
    @Test("a proved key resets the count of failed authentications; other calls do not")
    func provedKeyResetsFailedAuthentications() {
        var machine = machine(streams: 10)
        var id: UInt32 = 1
        func call(authenticated: Bool = false, failed: Bool = false) -> ServerConnectionStateMachine.Action {
            _ = machine.received(headers(id))
            _ = machine.received(message(id))
            defer { id += 2 }
            return machine.callFinished(streamID: id, authenticated: authenticated, authenticationFailed: failed).then
        }
        for _ in 0..<100 {
            for _ in 0..<10 { #expect(call(failed: true) == .none) }
            #expect(call(authenticated: true) == .none)
        }
        for _ in 0..<10 { #expect(call(failed: true) == .none) }
        #expect(call() == .none)  // no key proved (HealthCheck): no reset
        #expect(machine.failedAuthentications == 10)
        guard case .closeWithGoAway(let away) = call(failed: true) else {
            Issue.record("no GOAWAY")
            return
        }
        #expect(away.code == .enhanceYourCalm)
    }

    @Test("failed authentications: the budget is exact, then the connection drains; they renew no budget")
    func failedAuthentications() {
        var machine = ServerConnectionStateMachine(
            limits: .init(
                settings: ConnectionSettings(maxConcurrentStreams: 10), pingsBetweenCallsMax: 1,
                cancelsBetweenCompletionsMax: 1, failedAuthenticationsMax: 2))
        _ = machine.received(Frame(type: .settings, streamID: 0))
        let ping = Frame(type: .ping, streamID: 0, payload: ByteBuffer(repeating: 1, count: 8))
        _ = machine.received(ping)
        for id: UInt32 in [1, 3] {
            _ = machine.received(headers(id))
            _ = machine.received(message(id))
            #expect(machine.callFinished(streamID: id, authenticationFailed: true) == (true, .none))
        }
        _ = machine.received(headers(5))
        _ = machine.received(message(5))
        _ = machine.received(headers(7))
        _ = machine.received(message(7))
        // The third: GOAWAY ENHANCE_YOUR_CALM naming stream 7, which still runs and is answered.
        let over = machine.callFinished(streamID: 5, authenticationFailed: true)
        #expect(over.send)
        guard case .write(let frames) = over.then, let frame = frames.first,
            let away = try? GoAway(payload: frame.payload)
        else {
            Issue.record("no GOAWAY: \(over.then)")
            return
        }
        #expect(away.code == .enhanceYourCalm && away.lastStreamID == 7)
        #expect(machine.received(headers(9)) == .none)  // after the GOAWAY: not started
        let last = machine.callFinished(streamID: 7)
        #expect(last.send && last.then == .close)
        // None of them renewed the PING budget.
        var pings = self.machine(pings: 1)
        _ = pings.received(ping)
        _ = pings.received(headers(1))
        _ = pings.received(message(1))
        _ = pings.callFinished(streamID: 1, authenticationFailed: true)
        #expect(goAwayCode(pings.received(ping)) == .enhanceYourCalm)
    }

    @Test("a call still waiting for its request when the request arrival timeout fires closes the connection")
    func requestArrival() {
        var waiting = machine()
        _ = waiting.received(headers(1))
        #expect(waiting.isAwaitingRequest(1))
        #expect(goAwayCode(waiting.requestArrivalTimeoutFired(streamID: 1)) == .enhanceYourCalm)
        #expect(waiting.phase == .closed)
        var arrived = machine()
        _ = arrived.received(headers(1))
        _ = arrived.received(message(1))
        #expect(!arrived.isAwaitingRequest(1))
        #expect(arrived.requestArrivalTimeoutFired(streamID: 1) == .none)
        var cancelled = machine()
        _ = cancelled.received(headers(1))
        _ = cancelled.received(Frame(type: .cancel, streamID: 1))
        #expect(cancelled.requestArrivalTimeoutFired(streamID: 1) == .none)
        #expect(cancelled.phase == .active)
    }

    /// A call waiting for its request is bounded by the request arrival timeout, which waits while the server holds
    /// the connection's frames (no request can arrive then): the idle timeout ends a client that never reads again.
    @Test("a call waiting for its request keeps the connection from the idle timeout unless its frames are held")
    func idleWithWaitingCall() {
        var waiting = machine()
        _ = waiting.received(headers(1))
        #expect(waiting.runningCallCount == 0)
        #expect(waiting.idleTimeoutFired(framesHeld: false) == .none)
        // Requests stuck behind unread answers: a limit close (ENHANCE_YOUR_CALM, no wait for a close_notify).
        #expect(goAwayCode(waiting.idleTimeoutFired(framesHeld: true)) == .enhanceYourCalm)
        // Closed once: the request arrival timer firing afterwards (reading resumed meanwhile) does nothing.
        #expect(waiting.requestArrivalTimeoutFired(streamID: 1) == .none)
        #expect(waiting.idleTimeoutFired(framesHeld: true) == .none)
        var running = machine()
        _ = running.received(headers(1))
        _ = running.received(message(1))
        _ = running.received(headers(3))
        #expect(running.runningCallCount == 1)
        #expect(running.idleTimeoutFired(framesHeld: true) == .none)
        _ = running.callFinished(streamID: 1)
        #expect(goAwayCode(running.idleTimeoutFired(framesHeld: true)) == .enhanceYourCalm)
        // Idle with nothing waiting: a graceful close.
        var idle = machine()
        #expect(goAwayCode(idle.idleTimeoutFired(framesHeld: true)) == .noError)
    }

    @Test("graceful drain: GOAWAY, open calls finish, calls after it are ignored, then close")
    func drain() {
        var machine = machine()
        _ = machine.received(headers(1))
        _ = machine.received(message(1))
        guard case .write(let frames) = machine.beginDraining() else {
            Issue.record("no GOAWAY")
            return
        }
        #expect(frames.first?.type == .goAway)
        #expect(machine.received(headers(3)) == .none)
        #expect(machine.openStreamCount == 1)
        let finished = machine.callFinished(streamID: 1)
        #expect(finished.send)
        #expect(finished.then == .close)
        // A streamed MESSAGE refused during a drain can end its last open call too: closed after its TRAILERS.
        var streamed = self.machine()
        _ = streamed.received(headers(1))
        _ = streamed.beginDraining()
        if case .rejectCall(1, 12, _, thenClose: true) = streamed.received(message(1, endStream: false)) {
        } else {
            Issue.record("no reject that closes")
        }
        #expect(streamed.phase == .closed)
    }

    private func goAwayLastStreamID(_ action: Action) -> UInt32? {
        if case .closeWithGoAway(let away) = action { return away.lastStreamID }
        if case .closeWithGoAwayRefusing(_, let away) = action { return away.lastStreamID }
        return nil
    }

    /// Calls opened after the drain's GOAWAY are never processed: a later GOAWAY (the drain timeout, a framing error,
    /// a flood) must not claim them, or their client would count them as run and not retry them elsewhere.
    @Test("after a drain begins, every GOAWAY names the drain's last stream, not HEADERS that came after it")
    func drainLastStreamStays() {
        typealias Close = (inout ServerConnectionStateMachine) -> Action
        let closes: [(String, Close)] = [
            ("drain timeout", { $0.drainTimeoutFired() }),
            ("framing error", { $0.framingError(FramingError(.invalidPayload, "bad")) }),
            ("protocol error", { $0.received(Frame(type: .trailers, streamID: 5)) }),
            ("idle timeout with answers unread", { $0.idleTimeoutFired(framesHeld: true) }),
        ]
        for (name, close) in closes {
            var machine = machine()
            _ = machine.received(headers(1))
            guard case .write(let frames) = machine.beginDraining(),
                let away = try? GoAway(payload: frames[0].payload)
            else {
                Issue.record("no GOAWAY")
                return
            }
            #expect(away.lastStreamID == 1)
            #expect(machine.received(headers(3)) == .none)
            #expect(goAwayLastStreamID(close(&machine)) == 1, "\(name)")
        }
    }

    @Test("timeouts: SETTINGS, idle, drain")
    func timeouts() {
        var fresh = ServerConnectionStateMachine(
            limits: .init(settings: .defaults, pingsBetweenCallsMax: 1, cancelsBetweenCompletionsMax: 1))
        #expect(goAwayCode(fresh.settingsTimeoutFired()) == .settingsTimeout)
        var idle = machine()
        #expect(goAwayCode(idle.idleTimeoutFired()) == .noError)
        var busy = machine()
        _ = busy.received(headers(1))
        #expect(busy.idleTimeoutFired() == .none)
        #expect(goAwayCode(busy.drainTimeoutFired()) == .noError)
    }

    /// The HEADERS of calls waiting for their MESSAGE (up to 16 KiB each, 100 per connection, from clients that need
    /// not have proved a key) are settled against the server's budget of partially received frames: their bytes are
    /// counted from their arrival until their call starts or ends, whichever way it ends.
    @Test("the bytes of HEADERS waiting for their MESSAGE are counted until the call starts or ends, every way")
    func waitingHeadersCounted() {
        var machine = machine(streams: 10, cancels: 10)
        _ = machine.received(headers(1, bytes: 100))
        _ = machine.received(headers(3, bytes: 200))
        _ = machine.received(headers(5, bytes: 300))
        #expect(machine.pendingHeadersBytes == 600)
        machine.requestAwaited(streamID: 1)  // copied to storage of its own: the same bytes
        #expect(machine.pendingHeadersBytes == 600)
        if case .startCall(1, _, _) = machine.received(message(1)) {
        } else {
            Issue.record("no call started")
        }
        #expect(machine.pendingHeadersBytes == 500)
        #expect(machine.received(Frame(type: .cancel, streamID: 3)) == .forgetCall(streamID: 3))
        #expect(machine.pendingHeadersBytes == 300)
        _ = machine.received(message(5, endStream: false))  // client streaming: refused
        #expect(machine.pendingHeadersBytes == 0)
        // Refused on arrival (too many calls, no request): never kept.
        _ = machine.received(headers(7, endStream: true))
        #expect(machine.pendingHeadersBytes == 0)
        var full = self.machine(streams: 1)
        _ = full.received(headers(1, bytes: 100))
        #expect(full.received(headers(3, bytes: 100)) != .none)
        #expect(full.pendingHeadersBytes == 100)
        // Closed with calls waiting: the budget's refusal, each closing timeout.
        typealias Close = (inout ServerConnectionStateMachine) -> Void
        let closes: [(String, Close)] = [
            ("partial frame budget", { _ = $0.partialFrameRefused(budgetBytes: 1) }),
            ("request arrival timeout", { _ = $0.requestArrivalTimeoutFired(streamID: 1) }),
            ("frame arrival timeout", { _ = $0.frameArrivalTimeoutFired() }),
            ("idle timeout with answers unread", { _ = $0.idleTimeoutFired(framesHeld: true) }),
        ]
        for (name, close) in closes {
            var machine = self.machine(streams: 10)
            _ = machine.received(headers(1, bytes: 16_384))
            _ = machine.received(headers(3, bytes: 16_384))
            #expect(machine.pendingHeadersBytes == 32_768, "\(name)")
            close(&machine)
            #expect(machine.pendingHeadersBytes == 0, "\(name)")
            #expect(machine.openStreamCount == 0, "\(name)")
        }
    }

    /// A wire review: a bad SETTINGS after the first sent GOAWAY but left the connection open, so a HEADERS and
    /// MESSAGE read with it started a call above the last stream that GOAWAY named (its client would run it again
    /// elsewhere); and a framing error after a closing frame sent a second GOAWAY.
    @Test("a refused SETTINGS closes the connection: nothing after it starts; nothing answers a framing error then")
    func refusedSettingsCloses() {
        var machine = machine(streams: 10, pings: 3)
        _ = machine.received(headers(1))
        _ = machine.received(message(1))
        _ = machine.callFinished(streamID: 1)
        var bad = ByteBuffer()
        bad.writeInteger(UInt16(0x1))  // MAX_MESSAGE_PAYLOAD
        bad.writeInteger(UInt32(1))  // far below its 16 KiB minimum
        let refused = machine.received(Frame(type: .settings, streamID: 0, payload: bad))
        guard case .closeWithGoAway(let away) = refused else {
            Issue.record("not refused: \(refused)")
            return
        }
        #expect(away.lastStreamID == 1)
        #expect(machine.phase == .closed)
        #expect(machine.received(headers(3)) == .none)
        #expect(machine.received(message(3)) == .none)
        #expect(machine.framingError(FramingError(.invalidPayload, "bad")) == .none)
        // After a flood's GOAWAY too.
        var flooded = self.machine(pings: 3)
        let ping = Frame(type: .ping, streamID: 0, payload: ByteBuffer(repeating: 1, count: 8))
        for _ in 0..<3 { _ = flooded.received(ping) }
        #expect(goAwayCode(flooded.received(ping)) == .enhanceYourCalm)
        #expect(flooded.framingError(FramingError(.invalidPayload, "bad")) == .none)
    }

    /// A wire review: the CANCEL of a drain's last open call closed the connection without forgetting the call — its
    /// task was not cancelled until the connection went inactive, its deadline timer stayed armed, and it was not
    /// counted as cancelled.
    @Test("a drain's last call cancelled: forgotten, then the connection closed")
    func drainLastCallCancelled() {
        var machine = machine(streams: 10)
        _ = machine.received(headers(1))
        _ = machine.received(message(1))
        _ = machine.beginDraining()
        #expect(machine.received(Frame(type: .cancel, streamID: 1)) == .forgetCall(streamID: 1, thenClose: true))
        #expect(machine.phase == .closed)
    }

    /// A client that multiplexes many calls sends HEADERS, MESSAGEs and CANCELs until it reads the server's GOAWAY:
    /// the server ignores the streams opened after it, and their MESSAGEs and CANCELs too. They spent the CANCEL
    /// budget, and a busy client's 1001st closed the connection with ENHANCE_YOUR_CALM, losing the answers of the calls
    /// the drain had promised to finish.
    /// After the client's own GOAWAY the client knows: a wire review found such frames free too, so a client could
    /// send them without end after its GOAWAY, at no cost, until the request arrival timeout (counted since, also
    /// when our drain came first: `streamsAfterTheClientsGoAwayCount`).
    @Test("during our drain, frames on streams opened after it cost nothing; the open call still finishes")
    func drainIgnoredStreamsAreFree() {
        for drainedBy in ["server"] {
            var machine = machine(streams: 10, cancels: 1000, renewal: .zero)
            _ = machine.received(headers(1))
            _ = machine.received(message(1))  // running: the drain waits for it
            guard case .write = machine.beginDraining() else {
                Issue.record("no GOAWAY")
                return
            }
            for id in stride(from: UInt32(3), through: 2003, by: 2) {
                #expect(machine.received(headers(id)) == .none)
                #expect(machine.received(message(id)) == .none)
                #expect(machine.received(Frame(type: .cancel, streamID: id)) == .none)
            }
            #expect(machine.phase == .draining, "\(drainedBy)")
            #expect(machine.openStreamCount == 1, "\(drainedBy)")
            // A frame on a stream never opened is still a protocol error.
            var never = machine
            #expect(goAwayCode(never.received(message(2005))) == .protocolError, "\(drainedBy)")
            let finished = machine.callFinished(streamID: 1)
            #expect(finished.send && finished.then == .close, "\(drainedBy)")
        }
        // A drain the client began: HEADERS after its GOAWAY, and their frames, are ignored and counted.
        for frame in ["headers", "message", "cancel"] {
            var clientDrained = machine(streams: 10, cancels: 1000, renewal: .zero)
            _ = clientDrained.received(headers(1))
            _ = clientDrained.received(message(1))
            #expect(clientDrained.received(Frame(type: .goAway, streamID: 0)) == .none)
            var last = ServerConnectionStateMachine.Action.none
            for id in stride(from: UInt32(3), through: 2003, by: 2) where last == .none {
                last = clientDrained.received(headers(id))
                if last == .none, frame == "message" { last = clientDrained.received(message(id)) }
                if last == .none, frame == "cancel" {
                    last = clientDrained.received(Frame(type: .cancel, streamID: id))
                }
            }
            #expect(goAwayCode(last) == .enhanceYourCalm, "\(frame): \(last)")
            #expect(clientDrained.phase == .closed, "\(frame)")
        }
        // Stray frames on a stream the drain covers are counted as before.
        var covered = machine(streams: 10, cancels: 1, renewal: .zero)
        _ = covered.received(headers(1))
        _ = covered.received(message(1))
        _ = covered.beginDraining()
        #expect(covered.received(message(1)) == .none)
        #expect(goAwayCode(covered.received(message(1))) == .enhanceYourCalm)
    }

    /// GOAWAY names the highest stream processed, and a call still waiting for its request is at or below it, yet
    /// never started: closed for a late request, a late frame or unread answers without a word about such calls, the
    /// client counted them as possibly run. They are answered first, as for the partial frame budget.
    @Test("closing for a late request, a late frame or unread answers first answers the calls whose request never came")
    func closingTimeoutsAnswerAwaitingCalls() {
        var late = machine(streams: 10)
        _ = late.received(headers(1))
        _ = late.received(headers(3))
        _ = late.received(message(3))
        guard case .closeWithGoAwayRefusing(let refused, let away) = late.requestArrivalTimeoutFired(streamID: 1) else {
            Issue.record("no GOAWAY refusing the waiting call")
            return
        }
        #expect(refused == [1])
        #expect(away.code == .enhanceYourCalm && away.lastStreamID == 3)
        #expect(late.phase == .closed)
        // The running call is not among them: the GOAWAY covers it, it may have run.
        #expect(late.callFinished(streamID: 3).send)
        var frame = machine(streams: 10)
        for id: UInt32 in [1, 3, 5] { _ = frame.received(headers(id)) }
        _ = frame.received(message(3))
        if case .closeWithGoAwayRefusing(let refused, let away) = frame.frameArrivalTimeoutFired() {
            #expect(refused == [1, 5])
            #expect(away.message == "a frame did not fully arrive in time")
        } else {
            Issue.record("frame arrival timeout: no GOAWAY refusing the waiting calls")
        }
        var stuck = machine(streams: 10)
        _ = stuck.received(headers(1))
        _ = stuck.received(headers(3))
        if case .closeWithGoAwayRefusing(let refused, let away) = stuck.idleTimeoutFired(framesHeld: true) {
            #expect(refused == [1, 3])
            #expect(away.code == .enhanceYourCalm)
        } else {
            Issue.record("idle timeout: no GOAWAY refusing the waiting calls")
        }
        var draining = machine(streams: 10)
        _ = draining.received(headers(1))
        _ = draining.beginDraining()
        if case .closeWithGoAwayRefusing(let refused, let away) = draining.drainTimeoutFired() {
            #expect(refused == [1])
            #expect(away.code == .noError && away.message == "drain timeout")
        } else {
            Issue.record("drain timeout: no GOAWAY refusing the waiting call")
        }
        // None waiting: the GOAWAY alone.
        var running = machine(streams: 10)
        _ = running.received(headers(1))
        _ = running.received(message(1))
        guard case .closeWithGoAway = running.frameArrivalTimeoutFired() else {
            Issue.record("no GOAWAY")
            return
        }
    }

    /// The client's GOAWAY read during the server's own drain must not move the drain's last stream up to HEADERS the
    /// server ignored since: a later GOAWAY would name them, and their client would not send them again elsewhere.
    @Test("a client's GOAWAY during the server's drain keeps the last stream the drain announced")
    func clientGoAwayKeepsDrainLastStream() {
        var machine = machine(streams: 10)
        _ = machine.received(headers(1))
        _ = machine.received(message(1))
        _ = machine.beginDraining()
        #expect(machine.received(headers(3)) == .none)  // after our GOAWAY: ignored
        #expect(machine.received(Frame(type: .goAway, streamID: 0)) == .none)
        #expect(machine.received(headers(5)) == .none)
        #expect(goAwayLastStreamID(machine.drainTimeoutFired()) == 1)
    }

    /// The protocol review: a close for a protocol error, a framing error, a bad SETTINGS or a flood named the calls
    /// still waiting for their MESSAGE in its GOAWAY and left them unanswered, so their clients took them for possibly
    /// run (FRAMING.md §8), though none started. Only the timeouts' closes answered them.
    @Test("every close refuses the calls still waiting for their request, named in its GOAWAY, before it")
    func everyCloseRefusesAwaitingCalls() {
        let closes: [(String, (inout ServerConnectionStateMachine) -> Action)] = [
            ("a protocol error", { $0.received(Frame(type: .trailers, streamID: 1)) }),
            ("a framing error", { $0.framingError(FramingError(.frameTooLarge, "a MESSAGE over 64 KiB")) }),
            (
                "a bad SETTINGS",
                { machine in
                    var payload = ByteBuffer()
                    payload.writeInteger(UInt16(0x1))
                    payload.writeInteger(UInt32(1))  // MAX_MESSAGE_PAYLOAD below its range
                    return machine.received(Frame(type: .settings, streamID: 0, payload: payload))
                }
            ),
            (
                "a PING flood",
                { machine in
                    var last = Action.none
                    for _ in 0..<4 where last == .none {
                        last = machine.received(
                            Frame(type: .ping, streamID: 0, payload: ByteBuffer(bytes: [UInt8](repeating: 0, count: 8)))
                        )
                        if case .write = last { last = .none }
                    }
                    return last
                }
            ),
        ]
        for (what, close) in closes {
            var machine = self.machine()
            _ = machine.received(headers(1))  // waiting for its MESSAGE
            let action = close(&machine)
            guard case .closeWithGoAwayRefusing(let refused, let away) = action else {
                Issue.record("\(what): \(action)")
                continue
            }
            #expect(refused == [1] && away.lastStreamID == 1, "\(what)")
            #expect(machine.phase == .closed, "\(what)")
        }
    }

    /// The protocol review: after our drain, HEADERS the client opened after its own GOAWAY were free, as if sent
    /// before it read ours; FRAMING.md §6 counts them (it knew it opens no more).
    @Test("after our drain and then the client's GOAWAY, streams it opens are counted; those before its GOAWAY are not")
    func streamsAfterTheClientsGoAwayCount() {
        var machine = self.machine(cancels: 2)
        _ = machine.received(headers(1))
        _ = machine.received(message(1))  // running: the drain waits for it
        _ = machine.beginDraining()
        // Sent before the client read our GOAWAY: free, however many.
        for id in stride(from: 3 as UInt32, through: 21, by: 2) {
            #expect(machine.received(headers(id)) == .none, "stream \(id)")
            #expect(machine.received(message(id)) == .none, "stream \(id)")
        }
        #expect(
            machine.received(
                Frame(type: .goAway, streamID: 0, payload: GoAway(lastStreamID: 0, code: .noError).payload())) == .none)
        // Opened after its own GOAWAY: counted, and past the budget (2) the connection closes.
        var last = Action.none
        for id in stride(from: 23 as UInt32, through: 33, by: 2) where last == .none {
            last = machine.received(headers(id))
        }
        #expect(goAwayCode(last) == .enhanceYourCalm, "\(last)")
    }

    /// The diff's review: a call whose own request frame was over its limit was answered REQUEST_NOT_ARRIVED with the
    /// others, so its client sent it again as it was, closing one connection after another.
    @Test(
        "a frame over its limit on a call waiting for its request refuses that call as too large, the others as not arrived"
    )
    func tooLargeRequestRefusesItsCall() {
        var machine = self.machine(streams: 4)
        _ = machine.received(headers(1))
        _ = machine.received(headers(3))
        let error = FramingError(
            .frameTooLarge, "MESSAGE payload of 65537 bytes exceeds the limit of 65536", streamID: 3)
        guard case .closeRefusingTooLarge(3, _, let awaiting, let away) = machine.framingError(error) else {
            Issue.record("not refused as too large")
            return
        }
        #expect(awaiting == [1] && away.code == .frameTooLarge && away.lastStreamID == 3)
        #expect(machine.phase == .closed)
        // A frame over its limit on no call waiting: the awaiting ones as not arrived, as before.
        var other = self.machine(streams: 4)
        _ = other.received(headers(1))
        let stray = FramingError(.frameTooLarge, "big", streamID: 9)
        guard case .closeWithGoAwayRefusing([1], _) = other.framingError(stray) else {
            Issue.record("not refused as not arrived")
            return
        }
    }
}
