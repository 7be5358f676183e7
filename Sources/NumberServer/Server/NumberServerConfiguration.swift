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
        /// Connections open at once; more are closed right after accept. Default 10 000.
        public var connectionsMax: Int
        /// SETTINGS this server advertises: message size (4 MiB), concurrent calls (100), header size (16 KiB),
        /// idle timeout (300 s).
        public var settings: ConnectionSettings
        /// From accept until the client's SETTINGS (after the TLS handshake). Default 10 s.
        public var settingsTimeout: TimeAmount
        /// From a call's HEADERS until its request MESSAGE (with END_STREAM) has fully arrived. A call still short of
        /// its request then closes the connection with GOAWAY `ENHANCE_YOUR_CALM`: its stored HEADERS and a
        /// half-received MESSAGE would otherwise be held forever, since only running calls keep a connection busy.
        /// Default 30 s (the client's default deadline: a request later than that is not awaited by its caller).
        public var requestArrivalTimeout: TimeAmount
        /// PINGs allowed between two calls. Default 100.
        public var pingsBetweenCallsMax: Int
        /// Cancelled calls allowed without a completed one in between. Default 1000.
        public var cancelsBetweenCompletionsMax: Int
        /// How long a connection closed for a limit or a protocol error may take to write its GOAWAY before it is
        /// closed without it (a peer still in the TLS handshake, or not reading). Default 1 s.
        public var goAwayFlushTimeout: TimeAmount

        /// Creates limits.
        public init(
            connectionsMax: Int = 10_000, settings: ConnectionSettings = .defaults,
            settingsTimeout: TimeAmount = .seconds(10), requestArrivalTimeout: TimeAmount = .seconds(30),
            pingsBetweenCallsMax: Int = 100, cancelsBetweenCompletionsMax: Int = 1000,
            goAwayFlushTimeout: TimeAmount = .seconds(1)
        ) {
            self.connectionsMax = connectionsMax
            self.settings = settings
            self.settingsTimeout = settingsTimeout
            self.requestArrivalTimeout = requestArrivalTimeout
            self.pingsBetweenCallsMax = pingsBetweenCallsMax
            self.cancelsBetweenCompletionsMax = cancelsBetweenCompletionsMax
            self.goAwayFlushTimeout = goAwayFlushTimeout
        }

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
