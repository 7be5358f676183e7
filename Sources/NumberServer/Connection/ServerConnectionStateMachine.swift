import NIOCore
import NumberAPI
import NumberWire

/// The server side of one nrpc/1 connection as a pure state machine: frames and events in, actions out
/// (FRAMING.md §5–8). It owns the stream table and every per-connection limit; the channel handler only carries the
/// actions out.
struct ServerConnectionStateMachine {
    /// Per-connection limits.
    struct Limits: Hashable {
        /// What this server advertises in SETTINGS.
        var settings: ConnectionSettings
        /// PINGs accepted between two completed calls before GOAWAY `ENHANCE_YOUR_CALM`. A PING ACK counts as one:
        /// the server sends no PING, so an ACK answers nothing, yet costs a read and a decryption like a PING.
        var pingsBetweenCallsMax: Int
        /// SETTINGS (the first one included) accepted between two completed calls before GOAWAY `ENHANCE_YOUR_CALM`:
        /// each one is answered with an ACK. The ACK of the server's own SETTINGS is free; any further ACK answers
        /// nothing and counts as a SETTINGS.
        var settingsBetweenCallsMax: Int = 10
        /// CANCELs and stray frames (a MESSAGE or CANCEL on a stream that has ended or was skipped, a second MESSAGE
        /// on a running call, a GOAWAY after the client's first) accepted between two completed calls before GOAWAY
        /// `ENHANCE_YOUR_CALM`: request+cancel floods, and frames that are read, decrypted and dropped at no cost to
        /// their sender. The first CANCEL of a call the server ended without renewing the budgets (its deadline, a
        /// refusal) is not counted: the client may have sent it before it could know (``endedStreamsRememberedMax``).
        /// Nor is the first MESSAGE of a call refused at its HEADERS (one too many open): sent with them.
        var cancelsBetweenCompletionsMax: Int
        /// Calls answered UNAUTHENTICATED on the connection since the last call whose caller proved a key, before it
        /// is drained with GOAWAY `ENHANCE_YOUR_CALM`: authentication comes before any per-account rate limit, so a
        /// caller without a valid key is limited here. A proved key resets the count: a connection shared by many
        /// tenants (a gateway's) is not drained for everyone by one tenant's revoked key among good calls.
        var failedAuthenticationsMax: Int = 10
        /// Each of the PING, SETTINGS and CANCEL budgets also earns one frame back per this interval, up to its
        /// maximum, whether calls complete or not (``FloodBudget``): a connection that only health-checks (which
        /// renews nothing) and PINGs no more often than this is never closed, a flood still is. Zero: only completed
        /// calls renew them.
        var budgetRenewal: TimeAmount = .seconds(1)
        /// A CANCEL of a running call whose deadline, by the server's clock, has passed or is at most this far off is
        /// not counted: the client cancelled because its deadline came, which the server was about to answer
        /// itself (a timeout storm of a slow server is no cancel flood). 100 ms: the two clocks start one network
        /// trip apart, and the server may read the CANCEL a little before its own deadline timer fires.
        var cancelAtDeadlineSlack: TimeAmount = .milliseconds(100)

        /// Streams the server ended without renewing the budgets whose first CANCEL is not counted (nor, for one
        /// refused at its HEADERS, its first MESSAGE): the most recent ones, twice MAX_CONCURRENT_STREAMS (200), so a
        /// storm of calls ending at their deadline, all open ones at once, is covered while their clients' CANCELs
        /// are under way. 8 bytes each; one forgotten sooner only has its CANCEL (and MESSAGE) counted.
        var endedStreamsRememberedMax: Int { 2 * Int(settings.maxConcurrentStreams) }
    }

    enum Phase: Hashable {
        /// Preface read by the decoder; the client's SETTINGS has not arrived.
        case awaitingSettings
        case active
        /// GOAWAY sent; streams up to the drain's last (`drainLastStreamID`) finish, then the connection closes.
        case draining
        case closed
    }

    /// What the handler must do.
    enum Action: Equatable {
        case none
        /// Write these frames (in order).
        case write([Frame])
        /// Run the call: decode its headers and message and dispatch it.
        case startCall(streamID: UInt32, headers: ByteBuffer, message: ByteBuffer)
        /// Answer the stream at once with this status (no handler runs); then, if `thenClose`, close the connection
        /// (it was the last open call of a drain).
        case rejectCall(streamID: UInt32, code: Int32, message: String, thenClose: Bool = false)
        /// The client abandoned the call: drop its result when it comes (cancel it, end its deadline); then, if
        /// `thenClose`, close the connection (it was the last open call of a drain).
        case forgetCall(streamID: UInt32, thenClose: Bool = false)
        /// Write GOAWAY and close the connection now.
        case closeWithGoAway(GoAway)
        /// Answer these streams, whose calls were still waiting for their request, as never started (their client
        /// may send them again); then write GOAWAY and close the connection now, as `closeWithGoAway`.
        case closeWithGoAwayRefusing([UInt32], GoAway)
        /// A call's own request frame is over its limit: answer that call `REQUEST_TOO_LARGE` (never started, and not
        /// to be sent again as it is), then the others as `closeWithGoAwayRefusing` does.
        case closeRefusingTooLarge(streamID: UInt32, message: String, awaiting: [UInt32], GoAway)
        /// Close the connection now (graceful drain finished, or peer went away).
        case close
    }

    private(set) var phase: Phase = .awaitingSettings
    private(set) var peerSettings = ConnectionSettings.defaults
    /// The highest stream id the client opened (HEADERS): a new one must be above it, frames for streams not above it
    /// (itself included) that have ended are ignored.
    private(set) var lastStreamID: UInt32 = 0
    /// The last stream of the drain, once one began (our GOAWAY, or the client's): streams opened after it are never
    /// processed.
    private var drainLastStreamID: UInt32?
    /// The last stream any GOAWAY of ours names: the highest one processed. Once a drain began, the drain's, whatever
    /// HEADERS came after it (ignored, never started): a later GOAWAY (drain timeout, framing error, a flood) that
    /// named them would tell the client they may have run, and it would not retry them elsewhere.
    private var goAwayLastStreamID: UInt32 { drainLastStreamID ?? lastStreamID }
    /// Whether the drain is ours (our GOAWAY came first): the client's frames for streams it opened after it were sent
    /// before it read the GOAWAY, and cost nothing. After a drain the client began (its GOAWAY, saying it opens no
    /// more calls) it knows: such frames count as stray frames, or it could send them without end for nothing.
    private var drainBegunByServer = false
    /// Open calls: streams whose HEADERS arrived and whose TRAILERS are not yet sent. `false` until the request
    /// message arrived.
    private(set) var openStreams: [UInt32: Bool] = [:]
    private var pings: FloodBudget
    private var settingsFrames: FloodBudget
    private var cancels: FloodBudget
    /// Whether the ACK of the server's SETTINGS (its greeting, the only SETTINGS it sends) came: a later ACK answers
    /// nothing and spends the SETTINGS budget.
    private var settingsAcknowledged = false
    /// Whether the client's GOAWAY came: a later one tells nothing new and spends the stray frame budget.
    private var clientGoAwayReceived = false
    /// The last stream opened when the client's GOAWAY came: streams it opens after are counted, whoever began the
    /// drain (it knew it opens no more).
    private var clientGoAwayLastStreamID: UInt32?
    /// Calls that failed authentication on this connection since the last one whose caller proved a key.
    private(set) var failedAuthentications = 0
    /// A stream the server ended without renewing the budgets, whose CANCEL has not come.
    private struct EndedStream {
        var id: UInt32
        /// Refused at its HEADERS, so the request MESSAGE its client sent with them is still to come: the first
        /// MESSAGE is not counted either.
        var messageDue: Bool
    }
    /// Streams the server ended without renewing the budgets, oldest first, whose CANCEL has not come: the first
    /// CANCEL of each is not counted, nor the first MESSAGE of one refused at its HEADERS (at most
    /// ``Limits/endedStreamsRememberedMax``).
    private var endedByServer = CircularBuffer<EndedStream>(initialCapacity: 0)
    let limits: Limits

    init(limits: Limits) {
        self.limits = limits
        pings = FloodBudget(max: limits.pingsBetweenCallsMax, renewal: limits.budgetRenewal)
        settingsFrames = FloodBudget(max: limits.settingsBetweenCallsMax, renewal: limits.budgetRenewal)
        cancels = FloodBudget(max: limits.cancelsBetweenCompletionsMax, renewal: limits.budgetRenewal)
    }

    /// Frames the server sends as soon as the connection is up: its SETTINGS, with its API revision
    /// (``APIRevision/current``: what this build understands, so no configuration sets it), by which a client
    /// refuses to send a request whose guard fields this server would skip.
    func greeting() -> [Frame] {
        var advertised = limits.settings
        advertised.apiRevision = APIRevision.current
        return [Frame(type: .settings, streamID: 0, payload: advertised.payload())]
    }

    var openStreamCount: Int { openStreams.count }

    /// Calls running: open streams whose request arrived (the others wait in `pendingHeaders`).
    var runningCallCount: Int { openStreams.count - pendingHeaders.count }

    // MARK: Frames from the client

    /// When a running call started (its deadline armed) and its deadline, by the connection's clock.
    struct CallTimes: Equatable {
        var started: NIODeadline
        var deadline: NIODeadline
    }

    /// Processes one frame from the client. `now` (the connection's clock, read only for frames that spend a
    /// budget) and `times` (a running call's start and deadline, by the same clock; asked only for a CANCEL) serve
    /// the budgets' rules.
    mutating func received(
        _ frame: Frame, now: @autoclosure () -> NIODeadline = .now(), times: (UInt32) -> CallTimes? = { _ in nil }
    ) -> Action {
        if case .closed = phase { return .none }
        if case .awaitingSettings = phase, frame.type != .settings {
            return protocolError("the first frame after the preface must be SETTINGS, not \(frame.type)")
        }
        switch frame.type {
        case .settings: return receivedSettings(frame, now: now)
        case .ping: return receivedPing(frame, now: now)
        case .goAway: return receivedGoAway(now: now)
        case .headers: return receivedHeaders(frame, now: now)
        case .message: return receivedMessage(frame, now: now)
        case .cancel: return receivedCancel(frame, now: now, times: times)
        case .trailers: return protocolError("TRAILERS is sent by servers only")
        }
    }

    private mutating func receivedSettings(_ frame: Frame, now: () -> NIODeadline) -> Action {
        if frame.flags.contains(.ack), !settingsAcknowledged {
            settingsAcknowledged = true
            return .none
        }
        if let away = Self.spend(&settingsFrames, of: "SETTINGS", now: now, goAwayLastStreamID) {
            return closing(away)
        }
        // An unsolicited ACK: counted above, not answered.
        if frame.flags.contains(.ack) { return .none }
        do {
            peerSettings = try ConnectionSettings(payload: frame.payload, base: peerSettings)
        } catch {
            // Closed here, like any other refusal: a wire review found the frames after a bad SETTINGS in the same
            // read (HEADERS, a MESSAGE) still started calls above the last stream its GOAWAY named.
            return closing(GoAway(lastStreamID: goAwayLastStreamID, code: error.goAwayCode, message: error.message))
        }
        if case .awaitingSettings = phase { phase = .active }
        return .write([Frame(type: .settings, flags: .ack, streamID: 0)])
    }

    private mutating func receivedPing(_ frame: Frame, now: () -> NIODeadline) -> Action {
        // An ACK (the server sends no PING) is counted like a PING, and not answered.
        if let away = Self.spend(&pings, of: "PINGs", now: now, goAwayLastStreamID) {
            return closing(away)
        }
        if frame.flags.contains(.ack) { return .none }
        return .write([Frame(type: .ping, flags: .ack, streamID: 0, payload: frame.payload)])
    }

    /// Spends one frame of `budget`; the GOAWAY (naming `lastStreamID`) when that passes its maximum.
    private static func spend(
        _ budget: inout FloodBudget, of kind: String, now: () -> NIODeadline, _ lastStreamID: UInt32
    ) -> GoAway? {
        guard budget.spend(now: now) else { return nil }
        return GoAway(
            lastStreamID: lastStreamID, code: .enhanceYourCalm,
            message: "more than \(budget.max) \(kind) without a completed call")
    }

    /// Spends one of the CANCEL and stray frame budget: the closing action past it, else `otherwise`.
    private mutating func spendCancel(otherwise action: Action, now: () -> NIODeadline) -> Action {
        guard let away = Self.spend(&cancels, of: "CANCEL or stray frames", now: now, goAwayLastStreamID) else {
            return action
        }
        return closing(away)
    }

    /// The connection closes with `away` (a flood budget spent, a frame refused): nothing after this frame is
    /// processed, so a burst of them brings one GOAWAY, not one per frame. The calls still waiting for their request
    /// never started, and are answered so before the GOAWAY, as for the other closes (`closeRefusingAwaiting`): named
    /// by its last stream id and unanswered, their clients took them for possibly run (FRAMING.md §8).
    private mutating func closing(_ away: GoAway) -> Action {
        closeRefusingAwaiting(away)
    }

    private mutating func receivedGoAway(now: () -> NIODeadline) -> Action {
        // A second GOAWAY changes nothing: a stray frame. (After a first one with no call open, nothing is read.)
        if clientGoAwayReceived { return spendCancel(otherwise: .none, now: now) }
        clientGoAwayReceived = true
        clientGoAwayLastStreamID = lastStreamID
        // The client will open no more calls; finish the open ones, then close.
        if openStreams.isEmpty {
            phase = .closed
            return .close
        }
        phase = .draining
        // A drain already begun (our GOAWAY) keeps the last stream it announced: HEADERS read since were ignored.
        if drainLastStreamID == nil { drainLastStreamID = lastStreamID }
        return .none
    }

    /// Whether the frames of stream `id`, opened after our drain's GOAWAY and ignored, cost nothing: its client sent
    /// them before it read the GOAWAY. Not those of a stream opened after the client's own GOAWAY, which came after
    /// ours: it knew then that it opens no more (FRAMING.md §6).
    private func isFreeAfterDrain(_ id: UInt32) -> Bool {
        guard drainBegunByServer, let last = drainLastStreamID, id > last else { return false }
        return clientGoAwayLastStreamID.map { id <= $0 } ?? true
    }

    private mutating func receivedHeaders(_ frame: Frame, now: () -> NIODeadline) -> Action {
        let id = frame.streamID
        guard id % 2 == 1 else { return protocolError("client stream ids are odd; got \(id)") }
        guard id > lastStreamID else {
            return protocolError("stream id \(id) is not above the last opened stream \(lastStreamID)")
        }
        lastStreamID = id
        if case .draining = phase, let last = drainLastStreamID, id > last {
            // Opened after our GOAWAY: not processed, the client may retry it elsewhere. After its own: counted.
            return isFreeAfterDrain(id) ? .none : spendCancel(otherwise: .none, now: now)
        }
        // A call refused here ended at the server as it began: its client's CANCEL may cross the refusal, as for any
        // call the server ends (remembered, not counted once), and so may the request MESSAGE sent with the HEADERS.
        guard openStreams.count < Int(limits.settings.maxConcurrentStreams) else {
            rememberEndedByServer(id, messageDue: true)
            refusedHeaders = [id: frame.payload]
            return .rejectCall(
                streamID: id, code: 8,
                message: "more than \(limits.settings.maxConcurrentStreams) calls open on this connection")
        }
        if frame.flags.contains(.endStream) {
            rememberEndedByServer(id)
            return .rejectCall(streamID: id, code: 3, message: "the call has no request message")
        }
        openStreams[id] = false
        keepPendingHeaders(frame.payload, of: id)
        return .none
    }

    /// HEADERS payloads of streams whose request message has not arrived yet.
    private var pendingHeaders: [UInt32: ByteBuffer] = [:]
    /// The bytes of the payloads in `pendingHeaders`: up to MAX_CONCURRENT_STREAMS × MAX_HEADERS_PAYLOAD (1.6 MiB at
    /// the defaults) held for calls that have not started, by a client that need not have proved a key. The handler
    /// settles them with its reader's partial frame against the server's budget of partially received frames at the
    /// end of each read burst, when each one still here waits for a MESSAGE not yet read.
    private(set) var pendingHeadersBytes = 0

    /// Keeps the HEADERS of `id` until its request MESSAGE arrives.
    private mutating func keepPendingHeaders(_ payload: ByteBuffer, of id: UInt32) {
        pendingHeaders[id] = payload
        pendingHeadersBytes += payload.readableBytes
    }

    /// The HEADERS of `id` if its call still waits for its request, no longer kept.
    private mutating func takePendingHeaders(of id: UInt32) -> ByteBuffer? {
        guard let payload = pendingHeaders.removeValue(forKey: id) else { return nil }
        pendingHeadersBytes -= payload.readableBytes
        return payload
    }

    /// The HEADERS of the calls the last action refuses before they started (one too many open, or their request not
    /// arrived when the connection closes), for the handler to name their method in its metrics and log
    /// (``takeRefusedHeaders(of:)``); replaced by the next refusal, so it holds no more than that action's.
    private var refusedHeaders: [UInt32: ByteBuffer] = [:]

    /// The HEADERS of a call the last action refused before it started, no longer kept; nil if none.
    mutating func takeRefusedHeaders(of id: UInt32) -> ByteBuffer? {
        refusedHeaders.removeValue(forKey: id)
    }

    /// Ends every call still waiting for its request (none started) and returns their streams, lowest first.
    private mutating func endAwaitingCalls() -> [UInt32] {
        let awaiting = pendingHeaders.keys.sorted()
        for id in awaiting { openStreams[id] = nil }
        refusedHeaders = pendingHeaders
        pendingHeaders.removeAll()
        pendingHeadersBytes = 0
        return awaiting
    }

    private mutating func receivedMessage(_ frame: Frame, now: () -> NIODeadline) -> Action {
        let id = frame.streamID
        guard let started = openStreams[id] else {
            guard id <= lastStreamID else { return protocolError("MESSAGE on stream \(id) that was never opened") }
            // Opened after our drain began and ignored: its client sent it before it read the GOAWAY, as it did the
            // HEADERS. Not counted, or a busy client's calls in flight would close the connection before the drain
            // answered the calls it promised to finish. (After the client's own GOAWAY: counted below.)
            if isFreeAfterDrain(id) { return .none }
            // The request of a call refused at its HEADERS (one too many open), sent with them before the client could
            // know: dropped, not counted (once), or a client retrying such refusals would close its connection.
            if takeDueMessage(of: id) { return .none }
            // Ended (or skipped): dropped, and counted, or a client could send them without end for nothing.
            return spendCancel(otherwise: .none, now: now)
        }
        guard !started, let headers = takePendingHeaders(of: id) else {
            // A second request message on a unary call: the call is already running; dropped and counted.
            return spendCancel(otherwise: .none, now: now)
        }
        guard frame.flags.contains(.endStream) else {
            openStreams[id] = nil
            rememberEndedByServer(id)
            refusedHeaders = [id: headers]
            return .rejectCall(
                streamID: id, code: 12, message: "client streaming is not supported: send one MESSAGE with END_STREAM",
                thenClose: closesIfDrained())
        }
        openStreams[id] = true
        // Handed on as it is, a slice of the buffer it was read into: the handler decodes it at once and keeps only
        // the decoded request (``RPCRouter/Entry``), so no call holds it, or that buffer, while it runs.
        return .startCall(streamID: id, headers: headers, message: frame.payload)
    }

    /// The read burst that brought the HEADERS of `streamID` ended without its request MESSAGE: the HEADERS now waits
    /// (up to the request arrival timeout) in storage of its own size. Until then it is a slice of the receive buffer
    /// it came in, which it would keep alive whole (up to MAX_MESSAGE_PAYLOAD after a large frame) for every waiting
    /// call. Copied here, not on arrival: the usual call, whose MESSAGE comes in the same burst, costs no copy.
    mutating func requestAwaited(streamID: UInt32) {
        guard let headers = pendingHeaders[streamID] else { return }
        pendingHeaders[streamID] = headers.copiedToOwnStorage()
    }

    private mutating func receivedCancel(
        _ frame: Frame, now: () -> NIODeadline, times: (UInt32) -> CallTimes?
    ) -> Action {
        let id = frame.streamID
        guard openStreams.removeValue(forKey: id) != nil else {
            guard id <= lastStreamID else { return protocolError("CANCEL on stream \(id) that was never opened") }
            // Opened after our drain began and ignored, as for a MESSAGE: not counted.
            if isFreeAfterDrain(id) { return .none }
            // Crossed the server's own end of the call (its deadline, a refusal): the client could not know.
            if forgetEndedByServer(id) { return .none }
            // Too late for a call the client already cancelled or saw end, or for a skipped stream: nothing to stop,
            // but it counts like any CANCEL.
            return spendCancel(otherwise: .none, now: now)
        }
        // A call still waiting for its request has no deadline yet: its CANCEL counts.
        if takePendingHeaders(of: id) == nil, let times = times(id) {
            let now = now()
            // Its deadline came (or all but): the server was about to end it itself, which would cost the client
            // nothing; a client of a slow server sends these by the hundred (a timeout storm). Only after the call
            // has run for the slack too: a call whose whole timeout is under it would otherwise be exempt the moment
            // it starts, and a client without a key could open and cancel such calls without end, free of any budget.
            let slack = limits.cancelAtDeadlineSlack
            if times.deadline - now <= slack, now - times.started >= slack {
                return .forgetCall(streamID: id, thenClose: closesIfDrained())
            }
        }
        let overBudget = spendCancel(otherwise: .none, now: now)
        guard overBudget == .none else { return overBudget }
        return .forgetCall(streamID: id, thenClose: closesIfDrained())
    }

    // MARK: Events from this side

    /// A call's response is ready. Returns whether to send it (false if the stream was cancelled or already ended).
    /// A completed call whose caller proved a key (`authenticated`) renews the budgets of control frames and
    /// cancels: only real work for a known caller does. Not a HEADERS the server refused at once, a call whose
    /// deadline passed or whose caller was refused (`completed` false), nor one any client can make without a key
    /// (HealthCheck, a malformed request, an unknown method: `authenticated` false), which a client could otherwise
    /// send between floods to renew them for free. A proved key resets the count of failed authentications. A call
    /// that failed authentication spends that budget: past it the connection drains (its open calls are answered,
    /// none after them is started) with GOAWAY `ENHANCE_YOUR_CALM`. A call ended without renewing the budgets is
    /// remembered, so that its client's CANCEL, sent before it could know, is not counted.
    mutating func callFinished(
        streamID: UInt32, completed: Bool = true, authenticated: Bool = false, authenticationFailed: Bool = false
    ) -> (send: Bool, then: Action) {
        guard openStreams.removeValue(forKey: streamID) != nil else { return (false, .none) }
        if authenticated { failedAuthentications = 0 }
        if completed && authenticated && !authenticationFailed {
            cancels.renew()
            pings.renew()
            settingsFrames.renew()
        } else {
            rememberEndedByServer(streamID)
        }
        if authenticationFailed {
            failedAuthentications += 1
            if failedAuthentications == limits.failedAuthenticationsMax + 1 {
                let message = "more than \(limits.failedAuthenticationsMax) calls failed authentication"
                return (true, beginDraining(code: .enhanceYourCalm, message: message))
            }
        }
        return (true, closeIfDrained(otherwise: .none))
    }

    /// Remembers a stream the server ended without renewing the budgets (the oldest is forgotten past the bound);
    /// `messageDue` when it was refused at its HEADERS, before its request MESSAGE came.
    private mutating func rememberEndedByServer(_ streamID: UInt32, messageDue: Bool = false) {
        let max = limits.endedStreamsRememberedMax
        guard max > 0 else { return }
        if endedByServer.count >= max { _ = endedByServer.popFirst() }
        endedByServer.append(EndedStream(id: streamID, messageDue: messageDue))
    }

    /// Whether `streamID` is a stream the server ended whose CANCEL had not come; forgets it (a second CANCEL counts).
    /// A linear search of at most ``Limits/endedStreamsRememberedMax`` ids, for CANCELs on ended streams only.
    private mutating func forgetEndedByServer(_ streamID: UInt32) -> Bool {
        guard let index = endedByServer.firstIndex(where: { $0.id == streamID }) else { return false }
        endedByServer.remove(at: index)
        return true
    }

    /// Whether `streamID` is a stream refused at its HEADERS whose request MESSAGE had not come; it is no longer due
    /// (a second MESSAGE counts), and the stream stays remembered for its CANCEL. The same linear search, for
    /// MESSAGEs on ended streams only.
    private mutating func takeDueMessage(of streamID: UInt32) -> Bool {
        guard let index = endedByServer.firstIndex(where: { $0.id == streamID && $0.messageDue }) else { return false }
        endedByServer[index].messageDue = false
        return true
    }

    /// Starts a graceful shutdown: GOAWAY (`NO_ERROR` unless told otherwise) naming the last stream we will process.
    mutating func beginDraining(code: GoAway.Code = .noError, message: String = "server shutting down") -> Action {
        switch phase {
        case .closed, .draining: return closeIfDrained(otherwise: .none)
        case .awaitingSettings, .active:
            let away = GoAway(lastStreamID: goAwayLastStreamID, code: code, message: message)
            if openStreams.isEmpty {
                phase = .closed
                return .closeWithGoAway(away)
            }
            phase = .draining
            drainLastStreamID = lastStreamID
            drainBegunByServer = true
            return .write([Frame(type: .goAway, streamID: 0, payload: away.payload())])
        }
    }

    /// Whether `streamID` is open and still waiting for its request MESSAGE.
    func isAwaitingRequest(_ streamID: UInt32) -> Bool {
        pendingHeaders[streamID] != nil
    }

    /// A call's request did not fully arrive within the request arrival timeout: a client that opens calls and never
    /// completes them would hold their HEADERS (and a half-received MESSAGE) forever, so the connection ends. Its
    /// calls still waiting for their request, this one included, never started and are answered so first.
    mutating func requestArrivalTimeoutFired(streamID: UInt32) -> Action {
        if case .closed = phase { return .none }
        guard isAwaitingRequest(streamID) else { return .none }
        return closeRefusingAwaiting(
            GoAway(
                lastStreamID: goAwayLastStreamID, code: .enhanceYourCalm,
                message: "the request of stream \(streamID) did not arrive in time"))
    }

    /// A frame started arriving and did not finish within the frame arrival timeout: its bytes (up to
    /// MAX_MESSAGE_PAYLOAD) would be held until the idle timeout otherwise, whatever stream it names. Calls still
    /// waiting for their request never started and are answered so first.
    mutating func frameArrivalTimeoutFired() -> Action {
        if case .closed = phase { return .none }
        return closeRefusingAwaiting(
            GoAway(
                lastStreamID: goAwayLastStreamID, code: .enhanceYourCalm,
                message: "a frame did not fully arrive in time"))
    }

    /// Closes the connection with `away` (for a limit), ending first the calls still waiting for their request:
    /// `away` names them (they are at or below its last stream), yet none started, so they are answered as not
    /// started before it; otherwise their client would count them as possibly run, and not send them again.
    private mutating func closeRefusingAwaiting(_ away: GoAway) -> Action {
        let awaiting = endAwaitingCalls()
        phase = .closed
        return awaiting.isEmpty ? .closeWithGoAway(away) : .closeWithGoAwayRefusing(awaiting, away)
    }

    /// The server's budget of bytes held in partially received frames, shared by all connections, cannot take
    /// what this connection holds of requests not whole yet (its unfinished frame, the HEADERS of its calls waiting
    /// for their MESSAGE): the connection closes with GOAWAY `ENHANCE_YOUR_CALM`. Its calls still waiting for their
    /// request (the frame is most likely one's MESSAGE) never started: they are returned, to be answered
    /// `RESOURCE_EXHAUSTED` before the GOAWAY, so their clients learn the server refused them.
    mutating func partialFrameRefused(budgetBytes: Int) -> (awaiting: [UInt32], then: Action) {
        if case .closed = phase { return ([], .none) }
        let awaiting = endAwaitingCalls()
        phase = .closed
        let message = "the server's budget of partially received frames (\(budgetBytes) bytes) is spent"
        return (
            awaiting,
            .closeWithGoAway(GoAway(lastStreamID: goAwayLastStreamID, code: .enhanceYourCalm, message: message))
        )
    }

    /// The connection was idle (no running call) for the idle timeout. Calls still waiting for their request keep
    /// it open, the request arrival timeout bounds them, unless the server holds the connection's frames (its client
    /// does not read what it is sent, `framesHeld`): then no request can arrive and that clock waits, so the idle
    /// timeout is what ends a client that never reads again. Those calls never started, and are answered so.
    mutating func idleTimeoutFired(framesHeld: Bool = false) -> Action {
        if case .closed = phase { return .none }
        guard openStreams.isEmpty || (framesHeld && runningCallCount == 0) else { return .none }
        // Requests waiting behind answers their client has not read for the whole idle timeout: a limit (its close
        // does not wait for the client to read a close_notify either); otherwise a graceful close.
        let stuck = !openStreams.isEmpty
        return closeRefusingAwaiting(
            GoAway(
                lastStreamID: goAwayLastStreamID, code: stuck ? .enhanceYourCalm : .noError,
                message: stuck ? "idle timeout with answers unread" : "idle timeout"))
    }

    /// A graceful shutdown waited long enough: close even with calls open (their results are dropped).
    mutating func drainTimeoutFired() -> Action {
        if case .closed = phase { return .none }
        // Calls the drain promised to finish whose request never arrived did not start: answered so, as for a limit.
        return closeRefusingAwaiting(GoAway(lastStreamID: goAwayLastStreamID, code: .noError, message: "drain timeout"))
    }

    /// The client did not send its SETTINGS in time.
    mutating func settingsTimeoutFired() -> Action {
        guard case .awaitingSettings = phase else { return .none }
        phase = .closed
        return .closeWithGoAway(
            GoAway(lastStreamID: 0, code: .settingsTimeout, message: "no SETTINGS from the client in time"))
    }

    /// A framing error from the decoder. None once closed: the rest of a read after a closing frame (a flood's) is
    /// not processed, and a second GOAWAY would follow the first.
    mutating func framingError(_ error: FramingError) -> Action {
        if case .closed = phase { return .none }
        let away = GoAway(lastStreamID: goAwayLastStreamID, code: error.goAwayCode, message: error.message)
        // The request of a call waiting for it is over MAX_MESSAGE_PAYLOAD (a client that did not check): answered
        // REQUEST_NOT_ARRIVED with the others, it was sent again, on a new connection, closed the same way.
        guard error.kind == .frameTooLarge, let id = error.streamID, pendingHeaders[id] != nil else {
            return closing(away)
        }
        let awaiting = endAwaitingCalls().filter { $0 != id }
        phase = .closed
        return .closeRefusingTooLarge(streamID: id, message: error.message, awaiting: awaiting, away)
    }

    private mutating func closeIfDrained(otherwise action: Action) -> Action {
        closesIfDrained() ? .close : action
    }

    /// Whether a drain has no open call left: the connection is then closed (the action returned closes it).
    private mutating func closesIfDrained() -> Bool {
        guard case .draining = phase, openStreams.isEmpty else { return false }
        phase = .closed
        return true
    }

    private mutating func protocolError(_ message: String) -> Action {
        closing(GoAway(lastStreamID: goAwayLastStreamID, code: .protocolError, message: message))
    }
}
