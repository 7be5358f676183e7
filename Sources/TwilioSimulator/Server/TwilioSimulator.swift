import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A local server that speaks Twilio's REST API (2010 numbers, Pricing v1, Trunking v1) on one port, each API under
/// its own path prefix standing for its host at Twilio (``TwilioAPI``: `baseURL/api`, `baseURL/pricing`,
/// `baseURL/trunking`); a path of one API under another's prefix, or under none, is 404/20404, as a Twilio host
/// answers a path it does not serve.
///
/// Behaviour follows shared/reference/twilio-api.md; where Twilio's behaviour is unconfirmed the simulator picks:
/// - search: at most `searchResultsMax` (30) results, no paging fields, `SMS`/`MMS` capability keys, coordinates as
///   strings; `Contains` per ``ContainsPattern``; unsupported type for a country → 404/20404;
///   `VoiceEnabled=false` (and the other capability flags) means "no requirement", not "must lack";
/// - buy: unknown or owned-elsewhere number → 400/21422, malformed → 400/21421 (a raw `+` decoded to a space is
///   malformed), re-buying an owned number → 201 acting as an update (counted in `repeatPurchaseCount`),
///   `AreaCode` on typed paths → 21457, type mismatch on typed paths → 21458, magic numbers of §7 honoured;
///   typed sub-resources omit `type` like their schemas;
/// - release → 204 and the number is back in search at once (no aging);
/// - unknown `TrunkSid`/malformed parameters → 400/20001; invalid `PageToken` → 400/21481 (so is one naming a number
///   released before the last `releasedNumbersKeptMax` releases, or a trunk deleted before the last as many
///   deletions, as Twilio refuses an expired token); `TrunkSid` and `VoiceApplicationSid` both set in one request →
///   400/20001 (either alone clears the other); a callback URL
///   (`VoiceUrl`, ..., a trunk's `DisasterRecoveryUrl`) longer than `callbackUrlBytesMax` → 400/20001;
/// - `NearNumber` is placed where its numbering area is, whether or not the carrier holds it;
/// - trunk association moves a number from another trunk; deleting a trunk clears `trunk_sid` on its numbers;
/// - more than `concurrentRequestsMax` requests at once → 429/20429, without `Retry-After` (as Twilio); a stalled
///   request counts until its connection closes, as a hung one does at Twilio;
/// - more than `connectionsMax` connections open → the oldest that never sent the account's credentials is closed
///   for the newcomer, or, when all have, the newcomer is closed as soon as it is accepted; a 401 closes its
///   connection; a request not whole within `requestDeadlineMilliseconds` of its first byte → 408/20001 and the
///   connection closed (the simulator's limits: Twilio documents none of them);
/// - unset optional strings and SIDs are `null` (the schemas' SID patterns refuse `""`);
/// - with `stateFile`, owned numbers and trunks survive a restart, as at Twilio (`SimulatorStateFile`: a snapshot and
///   a journal of the changes since, each change synced before it is answered).
///
/// ```swift
/// let sim = try await TwilioSimulator.start(configuration: .defaults)
/// // point the api/pricing/trunking base URLs at sim.url(for: .api), …, authenticate with sim.credentials
/// try await sim.shutdown()
/// ```
public final class TwilioSimulator: Sendable {
    /// The state, faults and inspection API.
    public let engine: SimulatorEngine
    /// The bound port (useful with port 0).
    public let port: Int
    /// The bound host, as given to the bind (an IPv6 address without brackets).
    public let host: String
    /// `http://host:port` or `https://host:port` (an IPv6 host in brackets): the APIs are under it, at ``url(for:)``.
    public let baseURL: String
    /// The CA PEM file clients should trust when TLS is on.
    public let caPEMPath: String?
    /// The listener.
    let channel: Channel
    private let connections: ConnectionSet

    private init(
        engine: SimulatorEngine, channel: Channel, connections: ConnectionSet, host: String, port: Int, scheme: String,
        caPEMPath: String?
    ) {
        self.engine = engine
        self.channel = channel
        self.connections = connections
        self.host = host
        self.port = port
        self.baseURL = Self.makeBaseURL(scheme: scheme, host: host, port: port)
        self.caPEMPath = caPEMPath
    }

    /// `scheme://host:port`, an IPv6 `host` in brackets (`https://[::1]:8443`) as URLs need it.
    static func makeBaseURL(scheme: String, host: String, port: Int) -> String {
        "\(scheme)://\(ListenAddress.urlHost(host)):\(port)"
    }

    /// The base URL of one API (`baseURL/pricing`), as its Twilio host's (`https://pricing.twilio.com`).
    public func url(for api: TwilioAPI) -> String { api.url(atSimulator: baseURL) }

    /// Client connections open right now.
    public var openConnections: Int { connections.count }

    /// Connections closed at once because `connectionsMax` were open, all of them authenticated, since the start.
    public var refusedConnections: Int { connections.refusedCount }

    /// Connections that never sent the account's credentials, closed to make room for a newcomer when
    /// `connectionsMax` were open, since the start.
    public var evictedConnections: Int { connections.evictedCount }

    /// The account credentials the simulator accepts now (``SimulatorEngine/credentials``).
    public var credentials: SimulatorCredentials { engine.credentials }

    /// Binds and starts serving; with `tls` the pipeline is TLS → HTTP/1.1, else plain HTTP.
    public static func start(
        configuration: SimulatorConfiguration, tls: SimulatorTLS? = nil,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        clock: @escaping @Sendable () -> Date = { Date() }
    ) async throws -> TwilioSimulator {
        try await start(
            configuration: configuration, tls: tls, eventLoopGroup: eventLoopGroup, clock: clock,
            fileOperations: .system)
    }

    /// The same, with the state file's system calls replaced (tests hold or fail a sync).
    static func start(
        configuration: SimulatorConfiguration, tls: SimulatorTLS? = nil, eventLoopGroup: any EventLoopGroup,
        clock: @escaping @Sendable () -> Date, fileOperations: SimulatorFileOperations
    ) async throws -> TwilioSimulator {
        let engine = try SimulatorEngine(configuration: configuration, clock: clock, fileOperations: fileOperations)
        let connections = ConnectionSet()
        let bootstrap = ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                let limits = configuration.limits
                guard connections.admit(channel, max: limits.connectionsMax) == .admitted else {
                    // Over the limit, or accepted just before `shutdown` and handed over after it closed the rest.
                    return channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(RefusedConnectionHandler())
                    }
                }
                return channel.eventLoop.makeCompletedFuture {
                    try tls?.addHandlers(channel)
                    let idle = TimeAmount.milliseconds(Int64(limits.connectionIdleTimeoutMilliseconds))
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: idle))
                    let deadline = RequestDeadlineHandler(
                        deadline: .milliseconds(Int64(limits.requestDeadlineMilliseconds)))
                    try channel.pipeline.syncOperations.addHandler(deadline)
                    var head = NIOHTTPDecoderLimitConfiguration()
                    head.maxHeaderFieldSize = limits.requestHeadBytesMax
                    head.maxHeaderListSize = limits.requestHeadBytesMax
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withErrorHandling: true, withEncoderConfiguration: .init(),
                        withDecoderLimitConfiguration: head)
                    try channel.pipeline.syncOperations.addHandler(
                        SimulatorHTTPHandler(engine: engine, requestDeadline: deadline, connections: connections))
                }
            }
        let channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        let port = channel.localAddress?.port ?? configuration.port
        let simulator = TwilioSimulator(
            engine: engine, channel: channel, connections: connections, host: configuration.host, port: port,
            scheme: tls == nil ? "http" : "https", caPEMPath: tls?.caPEMPath)
        if configuration.publicBaseURL == nil { engine.baseURL = simulator.baseURL }
        return simulator
    }

    /// Stops accepting connections, closes the listener and every open connection (stalled ones included). A
    /// connection the listener accepted before it closed but whose set-up runs after this is closed at once. The open
    /// connections are closed whatever the listener's close answers: a listener already closed (a second call, or
    /// one that failed after its close) threw first and left them serving. Throws the listener's error, if any other.
    public func shutdown() async throws {
        var closeError: (any Error)?
        do {
            try await channel.close()
        } catch ChannelError.alreadyClosed {
        } catch {
            closeError = error
        }
        for connection in connections.drain() {
            try? await connection.close()
        }
        if let closeError { throw closeError }
    }
}
