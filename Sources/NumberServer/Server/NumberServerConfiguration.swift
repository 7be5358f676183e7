import NIOCore
import NumberWire

/// How a `NumberServer` listens and what it allows. Every limit has a default documented here and in the README.
public struct NumberServerConfiguration: Sendable {
    /// Where to listen. Default `127.0.0.1:7443`; port 0 picks a free port (tests).
    public var host: String
    /// The TCP port.
    public var port: Int
    /// Connection-level limits.
    public var connection: ConnectionLimits
    /// How long a graceful shutdown waits for open calls before closing connections anyway. Default 30 s.
    public var drainTimeout: TimeAmount

    /// Limits per connection and for the whole server.
    public struct ConnectionLimits: Sendable, Hashable {
        /// Connections open at once; more are closed right after accept, before the TLS handshake, counted in
        /// `numberd_connections_refused_total` and logged at most once per 10 s. Default 10 000.
        public var connectionsMax: Int
        /// Connections open at once from one remote IP address; more from it are closed right after accept, like
        /// those over `connectionsMax` (counted in `numberd_connections_refused_total` and
        /// `numberd_connections_refused_per_address_total`, logged at most once per 10 s), so that one address cannot
        /// take every slot and lock all other clients out. Loopback clients (127.0.0.0/8, ::1) are exempt: they run
        /// on the server's own machine (the CLI, `numbers-load`, which opens 10,000 connections from 127.0.0.1, a
        /// local sidecar), and numberd listens only on loopback by default. Default 1000: a tenth of
        /// `connectionsMax`, far above what a client host needs (the client library opens 1 connection per client,
        /// `connectionPoolSize` more), while an attacker needs ten addresses to fill the server. Raise it when many
        /// clients reach numberd through one address (a NAT or a TCP proxy). An IPv6 client counts by its /64 network,
        /// which one host picks its addresses from at will (``NumberServer/limitedAddress(_:exemptingLoopback:)``).
        public var connectionsPerAddressMax: Int
        /// SETTINGS this server advertises, the limits of what it receives: request message size (64 KiB,
        /// ``defaultSettings``), concurrent calls (100), header size (16 KiB), idle timeout (300 s). A larger
        /// MESSAGE closes the connection with GOAWAY `FRAME_TOO_LARGE`; the size of a response is bounded by the
        /// client's own SETTINGS instead. Its `apiRevision` is not used: the server always sends its own,
        /// `APIRevision.current`, which says what it understands.
        public var settings: ConnectionSettings
        /// From accept until the client's SETTINGS (after the TLS handshake). Default 10 s.
        public var settingsTimeout: TimeAmount
        /// From a call's HEADERS until its request MESSAGE (with END_STREAM) has fully arrived. A call still short of
        /// its request then closes the connection with GOAWAY `ENHANCE_YOUR_CALM`: its stored HEADERS and a
        /// half-received MESSAGE would otherwise be held forever, since only running calls keep a connection busy.
        /// Its calls still waiting for their request are answered `RESOURCE_EXHAUSTED` / `REQUEST_NOT_ARRIVED` first
        /// (never started), as they are when the frame arrival or the idle timeout closes it. Default 30 s (the
        /// client's default deadline: a request later than that is not awaited by its caller).
        /// The clock waits while the server has stopped reading the connection (past `writeBufferBytesMax`), when no
        /// request can arrive, and goes on with the time each request had left when it reads again; the idle timeout
        /// (`settings`) then ends a client that never reads again, since calls waiting for their request do not keep
        /// such a connection busy.
        public var requestArrivalTimeout: TimeAmount
        /// From the first byte of a frame until its last. A frame still incomplete then closes the connection with GOAWAY
        /// `ENHANCE_YOUR_CALM`: a frame header announcing up to MAX_MESSAGE_PAYLOAD, most of the payload, then silence
        /// would otherwise keep those bytes until the idle timeout, on any stream (the request arrival timeout covers
        /// only calls whose HEADERS arrived). Each frame has its own clock: a client whose reads always end inside the
        /// next frame is not at fault. Default 30 s (as `requestArrivalTimeout`: 64 KiB in 30 s is 2.2 KB/s, 4 MiB
        /// 140 KB/s). Like that clock it waits while the server has stopped reading the connection. 0 turns it off.
        public var frameArrivalTimeout: TimeAmount
        /// Bytes held in partially received frames across all connections. A frame that does not arrive within one
        /// read burst waits in its connection's reader (up to MAX_MESSAGE_PAYLOAD, for up to `frameArrivalTimeout`);
        /// at the end of each read burst that leaves one waiting, the connection takes what it now holds from this
        /// budget, and gives it back when the frame completes or the connection closes. The HEADERS of its calls
        /// still waiting for their MESSAGE (up to 16 KiB each, for up to `requestArrivalTimeout`) are counted with it,
        /// until the MESSAGE arrives or the call ends, and so are the frames read while its client takes none of the
        /// answers (held, with 64 bytes each for their keeping, until it does). A connection whose partial frame,
        /// waiting HEADERS and held frames would take the total over it is refused: its calls still waiting for their request are answered
        /// `RESOURCE_EXHAUSTED` / `PARTIAL_FRAME_BUDGET` (they never started) and it closes with GOAWAY
        /// `ENHANCE_YOUR_CALM`; the other connections go on. Bytes that arrived are counted, not the length a header
        /// announces (12 bytes announcing 64 KiB reserve nothing), so spending it takes sending it. The storage
        /// holding them can be up to twice as large (buffers grow by powers of two). Default 256 MiB (without it,
        /// 10,000 connections could hold 16 GiB: each a 64 KiB frame and 100 HEADERS of 16 KiB waiting for their
        /// MESSAGE). A value below one whole largest frame (MAX_MESSAGE_PAYLOAD + 12 bytes) refuses every request of
        /// that size that does not arrive in one burst.
        public var partialFrameBytesMax: Int
        /// Reply bytes written to connections and not yet taken by their clients, across all connections, beyond each
        /// connection's first `writeBufferBytesMax`. A client that does not read stops the server reading its frames
        /// (`writeBufferBytesMax`), but its running calls still finish and queue their answers — up to one per open
        /// call, each up to a whole page — so without this 10,000 such connections could hold many GiB. Measured after
        /// each flush and given back as clients read; a connection whose unsent replies would take the total over it
        /// is closed at once (its client is not reading, so a GOAWAY could not reach it) and its calls cancelled,
        /// counted in `numberd_unsent_reply_refusals_total`; the other connections go on. Default 256 MiB.
        public var unsentReplyBytesMax: Int
        /// PINGs allowed between two completed calls. Default 100. Only a call whose caller proved an API key
        /// (``CallContext/markAuthenticated()``) and that was not refused counts as completed: not HealthCheck, a
        /// malformed request or an unknown method, which any client can send without a key; the same holds for the
        /// SETTINGS and CANCEL budgets. Each budget also earns one frame back per `budgetRenewalInterval`.
        public var pingsBetweenCallsMax: Int
        /// SETTINGS frames (the client's first one included) allowed between two completed calls; each is answered
        /// with an ACK. Default 10.
        public var settingsBetweenCallsMax: Int
        /// Bytes queued for writing to a connection (responses its client has not read yet) above which the server
        /// stops reading and processing that connection's frames until the queue drains to half of it, so a client
        /// that does not read cannot grow the server's memory. Running calls still finish and queue their response:
        /// past the mark the queue holds at most one more response per open call. Default 64 KiB.
        public var writeBufferBytesMax: Int
        /// Cancelled calls and stray frames (a MESSAGE or CANCEL for a stream that has ended, a second MESSAGE on a
        /// running call) allowed without a completed call in between. Default 1000. The first CANCEL of a call the
        /// server ended itself without it counting as completed (its deadline passed, it was refused) is not counted:
        /// the client sent it before it could know, nor the first MESSAGE of a call refused at its HEADERS for too
        /// many open calls, sent with them. The server remembers the last 2 × MAX_CONCURRENT_STREAMS such
        /// streams; a CANCEL for an older one counts. Nor is the CANCEL of a running call whose deadline, by the
        /// server's clock, has passed or is at most 100 ms off: its client gave up at its deadline, which the server
        /// was about to answer (a slow server's timeout storm is no cancel flood).
        public var cancelsBetweenCompletionsMax: Int
        /// The PING, SETTINGS and CANCEL budgets each earn one frame back per this interval, up to their maximum,
        /// whether or not calls complete: a client that completes no call (a monitor that only health-checks, which
        /// renews nothing) and sends such frames no more often than this is never closed, while a flood is closed
        /// after the budget plus one frame per interval. Default 1 s; zero: only completed calls renew them.
        public var budgetRenewalInterval: TimeAmount
        /// Calls answered UNAUTHENTICATED on one connection since the last call whose caller proved an API key; the
        /// next one drains it with GOAWAY `ENHANCE_YOUR_CALM` (its open calls are answered). A proved key resets the
        /// count, so a connection shared by many accounts' keys (a gateway's) is not drained by one revoked key
        /// among good calls, while one with no good key is. Such calls, and PERMISSION_DENIED ones, do not count as
        /// completed calls for the PING, SETTINGS and CANCEL budgets. Default 10.
        public var failedAuthenticationsMax: Int
        /// How long a connection closed for a limit or a protocol error may take to write its GOAWAY before it is
        /// closed without it (a peer still in the TLS handshake, or not reading). Default 1 s.
        public var goAwayFlushTimeout: TimeAmount
        /// Whether loopback addresses are exempt from `connectionsPerAddressMax`. Always true outside the tests, which
        /// connect from 127.0.0.1 and turn it off to reach the limit.
        package var loopbackExempt = true

        /// Creates limits.
        public init(
            connectionsMax: Int = 10_000, connectionsPerAddressMax: Int = 1000,
            partialFrameBytesMax: Int = 256 * 1024 * 1024,
            settings: ConnectionSettings = ConnectionLimits.defaultSettings,
            settingsTimeout: TimeAmount = .seconds(10), requestArrivalTimeout: TimeAmount = .seconds(30),
            frameArrivalTimeout: TimeAmount = .seconds(30),
            pingsBetweenCallsMax: Int = 100, settingsBetweenCallsMax: Int = 10,
            cancelsBetweenCompletionsMax: Int = 1000, budgetRenewalInterval: TimeAmount = .seconds(1),
            failedAuthenticationsMax: Int = 10, writeBufferBytesMax: Int = 64 * 1024,
            goAwayFlushTimeout: TimeAmount = .seconds(1), unsentReplyBytesMax: Int = 256 * 1024 * 1024
        ) {
            self.connectionsMax = connectionsMax
            self.connectionsPerAddressMax = connectionsPerAddressMax
            self.partialFrameBytesMax = partialFrameBytesMax
            self.settings = settings
            self.settingsTimeout = settingsTimeout
            self.requestArrivalTimeout = requestArrivalTimeout
            self.frameArrivalTimeout = frameArrivalTimeout
            self.pingsBetweenCallsMax = pingsBetweenCallsMax
            self.settingsBetweenCallsMax = settingsBetweenCallsMax
            self.writeBufferBytesMax = writeBufferBytesMax
            self.cancelsBetweenCompletionsMax = cancelsBetweenCompletionsMax
            self.budgetRenewalInterval = budgetRenewalInterval
            self.failedAuthenticationsMax = failedAuthenticationsMax
            self.goAwayFlushTimeout = goAwayFlushTimeout
            self.unsentReplyBytesMax = unsentReplyBytesMax
        }

        /// The SETTINGS a server advertises unless told otherwise: the protocol's defaults, but a MAX_MESSAGE_PAYLOAD
        /// of 64 KiB instead of 4 MiB. The largest valid request is about 2 KiB (an AdjustBalance or AddFunds with a
        /// 500-character reason or description, 2,000 bytes of UTF-8 at most; a purchase of 20 numbers is under
        /// 1 KiB, a trunk's name, SID and SIP URI about 1.1 KiB), so 64 KiB is ample. What a request costs before any
        /// check is bounded by it: its bytes, read and decoded on the event loop, and its decoded message, which its
        /// call holds while it runs or waits in the core (a text field as long as the message decodes before its
        /// handler looks at it). At 4 MiB, one tenant's waiting calls (264 provider changes) could hold 1 GiB. A
        /// response is bounded by the client's SETTINGS instead (4 MiB unless it says otherwise).
        public static let defaultSettings = ConnectionSettings(maxMessagePayload: 64 * 1024)

        /// One whole frame of the largest size a client may send: MAX_MESSAGE_PAYLOAD and its 12-byte header (65,548
        /// bytes at the defaults). A `partialFrameBytesMax` below it refuses such frames unless they arrive within one
        /// read burst.
        public var largestFrameBytes: Int { Int(settings.maxMessagePayload) + Frame.headerLength }

        /// One whole frame of the largest response a client takes unless its SETTINGS say otherwise: the protocol's
        /// default MAX_MESSAGE_PAYLOAD (4 MiB, which numberd's client advertises) and its 12-byte header, 4,194,316
        /// bytes. An `unsentReplyBytesMax` below it closes a connection whose client is slow to read one such answer.
        public static let largestResponseFrameBytes =
            Int(ConnectionSettings.defaults.maxMessagePayload) + Frame.headerLength

        /// The defaults.
        public static let defaults = ConnectionLimits()
    }

    /// Creates a configuration.
    public init(
        host: String = "127.0.0.1", port: Int = 7443, connection: ConnectionLimits = .defaults,
        drainTimeout: TimeAmount = .seconds(30)
    ) {
        self.host = host
        self.port = port
        self.connection = connection
        self.drainTimeout = drainTimeout
    }

    /// The defaults: `127.0.0.1:7443` and the limits above.
    public static let defaults = NumberServerConfiguration()
}
