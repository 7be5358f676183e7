import NIOCore
import NumberAPI
import NumberWire

/// The client side of one nrpc/1 connection as a pure state machine (FRAMING.md §5–8): stream ids, the call table,
/// the server's limits and GOAWAY.
struct ClientConnectionStateMachine {
    enum Phase: Hashable {
        case active
        /// The server sent GOAWAY: calls up to `lastStreamID` finish, no new ones start here.
        case goingAway(lastStreamID: UInt32)
        case closed
    }

    /// The outcome of one call as the server reported it.
    enum CallOutcome: Equatable {
        /// The response message and an OK status.
        case response(ByteBuffer)
        /// A non-OK status, or one that cannot be read (TRAILERS payload, an `RpcStatus`).
        case status(ByteBuffer)
        /// The connection failed before the call finished; `retryable` when the server never started it.
        case connectionFailure(message: String, retryable: Bool)
    }

    enum Action: Equatable {
        case none
        case write([Frame])
        /// Write these frames, then close (the last open call of a connection going away was cancelled).
        case writeThenClose([Frame])
        case finish(streamID: UInt32, CallOutcome)
        /// Finish these calls (connection-level events) and maybe close.
        case finishMany([(UInt32, CallOutcome)], close: Bool)
        /// A connection error: finish these calls (as possibly run), send GOAWAY, close (FRAMING.md §3).
        case closeWithGoAway(GoAway, failing: [(UInt32, CallOutcome)] = [])

        static func == (lhs: Action, rhs: Action) -> Bool {
            switch (lhs, rhs) {
            case (.none, .none): return true
            case (.write(let a), .write(let b)): return a == b
            case (.writeThenClose(let a), .writeThenClose(let b)): return a == b
            case (.finish(let a, let x), .finish(let b, let y)): return a == b && x == y
            case (.finishMany(let a, let c1), .finishMany(let b, let c2)):
                return c1 == c2 && a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
            case (.closeWithGoAway(let a, let x), .closeWithGoAway(let b, let y)):
                return a == b && x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
            default: return false
            }
        }
    }

    /// What the client accepts from a server, like the server's own limits on its clients.
    struct Limits: Hashable {
        /// PINGs answered between two completed calls; one more fails the connection (GOAWAY `ENHANCE_YOUR_CALM`).
        /// Default 100.
        var pingsBetweenCallsMax = 100
        /// SETTINGS (not ACKs; the first one included) answered between two completed calls; one more fails the
        /// connection (GOAWAY `ENHANCE_YOUR_CALM`). Default 10.
        var settingsBetweenCallsMax = 10

        static let defaults = Limits()
    }

    let limits: Limits
    private var pingsSinceCall = 0
    private var settingsSinceCall = 0

    /// A connection with `limits` whose first call gets `firstStreamID` (odd; not 1 only in tests of the last ids).
    init(limits: Limits = .defaults, firstStreamID: UInt32 = 1) {
        precondition(firstStreamID % 2 == 1, "client stream ids are odd")
        self.limits = limits
        self.nextStreamID = firstStreamID
    }

    private(set) var phase: Phase = .active
    /// Why the connection stopped taking calls (the server's GOAWAY, a close, a protocol error), for the errors of
    /// calls refused afterwards.
    private(set) var closingReason: String?
    private(set) var serverSettings = ConnectionSettings.defaults
    /// Whether the server's SETTINGS arrived: the connection carries calls only from then on (FRAMING.md §2). Under
    /// TLS 1.3 the client's handshake ends before the server has checked the client's certificate; a server that
    /// refuses it closes before its SETTINGS, so a call sent earlier would be lost instead of never sent.
    private(set) var serverSettingsReceived = false
    /// The id of the next call; nil once every odd id has been used (the connection then goes away locally).
    private var nextStreamID: UInt32?
    /// The highest stream this client opened (0: none yet): a frame on one above it, or on an even one, names a
    /// stream never opened (FRAMING.md §3: a connection error).
    private var lastOpenedStreamID: UInt32 = 0
    /// Streams waiting for a response: the MESSAGE payload once it arrived.
    private var open: [UInt32: ByteBuffer?] = [:]

    var openCallCount: Int { open.count }

    /// Whether a new call may start here now.
    var canStartCall: Bool {
        guard case .active = phase, nextStreamID != nil else { return false }
        return open.count < Int(serverSettings.maxConcurrentStreams)
    }

    /// A frame of a call over the server's limit for it.
    struct Oversize: Hashable {
        /// `HEADERS` or `MESSAGE`.
        var frame: String
        /// The frame's payload length.
        var size: Int
        /// The server's limit (its SETTINGS, the protocol's defaults until they arrive).
        var limit: Int
    }

    /// The frame of a call with these payloads that the server would refuse outright, nil if both fit. The server
    /// answers an oversized frame by ending the whole connection (GOAWAY `FRAME_TOO_LARGE`), failing every other call
    /// on it, so such a call must fail alone before it is sent. Until the server's SETTINGS arrive its limits are the
    /// protocol's defaults, which it must accept.
    func oversize(headers: ByteBuffer, message: ByteBuffer) -> Oversize? {
        let headersMax = Int(serverSettings.maxHeadersPayload)
        if headers.readableBytes > headersMax {
            return Oversize(frame: "HEADERS", size: headers.readableBytes, limit: headersMax)
        }
        let messageMax = Int(serverSettings.maxMessagePayload)
        if message.readableBytes > messageMax {
            return Oversize(frame: "MESSAGE", size: message.readableBytes, limit: messageMax)
        }
        return nil
    }

    /// The API revision the server advertised (its SETTINGS' API_REVISION, ``APIRevision``): what request fields it
    /// understands. 0 when it sent none, a server older than the setting, and until its SETTINGS arrive: the pool
    /// hands out no connection before then (``ClientConnection/connect``), so a call is checked against the
    /// server's own word.
    var serverAPIRevision: UInt32 { serverSettings.apiRevision ?? APIRevision.unadvertised }

    /// Those of a call's guarded fields (``APIRevision/guardedFieldsSet(in:)``) that the server would skip as
    /// unknown, their revision above its own; empty when it understands them all. Such a call must fail before it
    /// is sent: at the server its guard would fail open.
    func fieldsTooNew(_ fields: [APIRevision.GuardedField]) -> [APIRevision.GuardedField] {
        guard !fields.isEmpty else { return [] }
        let revision = serverAPIRevision
        return fields.filter { $0.revision > revision }
    }

    /// The preface and our SETTINGS.
    func greeting(settings: ConnectionSettings) -> (preface: Bool, frames: [Frame]) {
        (true, [Frame(type: .settings, streamID: 0, payload: settings.payload())])
    }

    /// Opens a stream for a new call; nil if the connection cannot take one (`canStartCall` is false). The call on
    /// the last odd id puts the connection in `goingAway`, as if the server had sent GOAWAY: it takes no new call
    /// and closes once its open calls are done.
    mutating func startCall(headers: ByteBuffer, message: ByteBuffer) -> (streamID: UInt32, frames: [Frame])? {
        guard canStartCall, let id = nextStreamID else { return nil }
        open[id] = .some(nil)
        lastOpenedStreamID = id
        if id <= UInt32.max - 2 {
            nextStreamID = id + 2
        } else {
            nextStreamID = nil
            phase = .goingAway(lastStreamID: id)
            closingReason = "no stream ids left on this connection (2^31 calls made on it)"
        }
        return (
            id,
            [
                Frame(type: .headers, streamID: id, payload: headers),
                Frame(type: .message, flags: .endStream, streamID: id, payload: message),
            ]
        )
    }

    /// The caller gave up (cancelled or deadline): tell the server, forget the stream; and close if that was the
    /// last open call of a connection going away.
    mutating func cancelCall(streamID: UInt32) -> Action {
        guard open.removeValue(forKey: streamID) != nil else { return .none }
        let cancel = [Frame(type: .cancel, streamID: streamID)]
        guard case .goingAway = phase, open.isEmpty else { return .write(cancel) }
        phase = .closed
        return .writeThenClose(cancel)
    }

    /// Counts one more control frame from the server since the last completed call; the GOAWAY when that passes
    /// `max`.
    static func spend(_ count: inout Int, max: Int, of kind: String) -> GoAway? {
        count += 1
        guard count > max else { return nil }
        return GoAway(
            lastStreamID: 0, code: .enhanceYourCalm, message: "more than \(max) \(kind) without a completed call")
    }

    mutating func received(_ frame: Frame) -> Action {
        // Nothing after the connection ended is processed: the rest of the read after a connection error would
        // otherwise fail it again, one GOAWAY per frame, written after the close.
        if case .closed = phase { return .none }
        switch frame.type {
        case .settings:
            if frame.flags.contains(.ack) { return .none }
            if let away = Self.spend(&settingsSinceCall, max: limits.settingsBetweenCallsMax, of: "SETTINGS") {
                return failAll(away)
            }
            do {
                serverSettings = try ConnectionSettings(payload: frame.payload, base: serverSettings)
            } catch {
                return failAll(GoAway(lastStreamID: 0, code: error.goAwayCode, message: error.message))
            }
            serverSettingsReceived = true
            return .write([Frame(type: .settings, flags: .ack, streamID: 0)])
        case .ping:
            if frame.flags.contains(.ack) { return .none }
            if let away = Self.spend(&pingsSinceCall, max: limits.pingsBetweenCallsMax, of: "PINGs") {
                return failAll(away)
            }
            return .write([Frame(type: .ping, flags: .ack, streamID: 0, payload: frame.payload)])
        case .message:
            if let away = neverOpened(frame) { return failAll(away) }
            guard let slot = open[frame.streamID] else { return .none }  // cancelled meanwhile
            guard slot == nil else {
                return failAll(GoAway(lastStreamID: 0, code: .protocolError, message: "two responses on a unary call"))
            }
            open[frame.streamID] = .some(frame.payload)
            return .none
        case .trailers:
            if let away = neverOpened(frame) { return failAll(away) }
            guard let slot = open.removeValue(forKey: frame.streamID) else { return .none }  // cancelled meanwhile
            pingsSinceCall = 0
            settingsSinceCall = 0
            return finish(frame.streamID, Self.outcome(trailers: frame.payload, response: slot))
        case .goAway:
            guard let away = try? GoAway(payload: frame.payload) else {
                // Too short to name its last stream: which calls the server ran is unknown, so none of them counts as
                // never started (that would retry calls it may have run).
                return failAll(GoAway(lastStreamID: 0, code: .protocolError, message: "a GOAWAY under 8 bytes"))
            }
            return receivedGoAway(away)
        case .headers, .cancel:
            return failAll(GoAway(lastStreamID: 0, code: .protocolError, message: "\(frame.type) from a server"))
        }
    }

    /// The GOAWAY for a response frame on a stream above the last this client opened (FRAMING.md §3); nil for one not
    /// above it: opened (maybe cancelled since: its late frames are ignored) or never (an even id), ignored either way.
    private func neverOpened(_ frame: Frame) -> GoAway? {
        guard frame.streamID > lastOpenedStreamID else { return nil }
        return GoAway(
            lastStreamID: 0, code: .protocolError,
            message: "\(frame.type) on stream \(frame.streamID), which this client never opened")
    }

    /// The frames the server sent cannot be read (FRAMING.md §3: a connection error): every open call fails as
    /// possibly run, and GOAWAY tells the server why.
    mutating func framingError(_ error: FramingError) -> Action {
        // The rest of a read after the connection ended (a connection error earlier in it): it was failed once.
        if case .closed = phase { return .none }
        return failAll(GoAway(lastStreamID: 0, code: error.goAwayCode, message: error.message))
    }

    /// A call's outcome from its TRAILERS payload, an `RpcStatus` (FRAMING.md §4; empty is every field at its
    /// default: OK), and its response if one came. An OK status completes the call with the response (an OK call
    /// without a MESSAGE has a response with every field at its default), whatever else the status holds: numberd
    /// sends an empty one, another server may set a message. Any other code, or a status that cannot be read, is the
    /// call's error.
    static func outcome(trailers: ByteBuffer, response: ByteBuffer?) -> CallOutcome {
        let ok =
            trailers.readableBytes == 0
            || (try? ProtoDecoder().decode(RpcStatus.self, from: trailers))?.code == StatusCode.ok.rawValue
        return ok ? .response(response ?? ByteBuffer()) : .status(trailers)
    }

    private mutating func finish(_ id: UInt32, _ outcome: CallOutcome) -> Action {
        if case .goingAway = phase, open.isEmpty {
            phase = .closed
            return .finishMany([(id, outcome)], close: true)
        }
        return .finish(streamID: id, outcome)
    }

    private mutating func receivedGoAway(_ away: GoAway) -> Action {
        phase = .goingAway(lastStreamID: away.lastStreamID)
        closingReason = "server going away (\(away.code)): \(away.message)"
        // Calls above the last stream were never started: safe to retry on another connection.
        let refused = open.keys.filter { $0 > away.lastStreamID }.sorted()
        for id in refused { open[id] = nil }
        let outcomes = refused.map {
            (
                $0,
                CallOutcome.connectionFailure(
                    message: "server going away (\(away.code)): \(away.message)", retryable: true)
            )
        }
        let close = open.isEmpty
        if close { phase = .closed }
        return .finishMany(outcomes, close: close)
    }

    /// The server refuses new calls on this connection (it answered one `SHUTTING_DOWN`) without a GOAWAY: go away
    /// locally as if it had sent one that lets every open call finish. No new call starts here, and the connection
    /// closes once its open calls are done.
    mutating func retire(reason: String) -> Action {
        guard case .active = phase else { return .none }
        return receivedGoAway(GoAway(lastStreamID: open.keys.max() ?? 0, code: .noError, message: reason))
    }

    /// The connection is gone (closed, reset, TLS failure): every open call fails; none is known to be unstarted.
    mutating func connectionClosed(reason: String) -> Action {
        phase = .closed
        let message = "connection closed: \(reason)"
        closingReason = closingReason ?? message
        let outcomes = open.keys.sorted().map {
            ($0, CallOutcome.connectionFailure(message: message, retryable: false))
        }
        open.removeAll()
        return .finishMany(outcomes, close: false)
    }

    private mutating func failAll(_ away: GoAway) -> Action {
        phase = .closed
        let message = "protocol error: \(away.message)"
        closingReason = closingReason ?? message
        let outcomes = open.keys.sorted().map {
            ($0, CallOutcome.connectionFailure(message: message, retryable: false))
        }
        open.removeAll()
        return .closeWithGoAway(away, failing: outcomes)
    }
}
