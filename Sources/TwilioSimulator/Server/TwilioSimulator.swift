import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A local server that speaks Twilio's REST API (2010 numbers, Pricing v1, Trunking v1) on one port, routing by path.
///
/// ```swift
/// let sim = try await TwilioSimulator.start(configuration: .defaults)
/// // point api/pricing/trunking base URLs at sim.baseURL, authenticate with sim.credentials
/// try await sim.shutdown()
/// ```
public final class TwilioSimulator: Sendable {
    /// The state, faults and inspection API.
    public let engine: SimulatorEngine
    /// The bound port (useful with port 0).
    public let port: Int
    /// The bound host.
    public let host: String
    /// `http://host:port` or `https://host:port`.
    public let baseURL: String
    /// The CA PEM file clients should trust when TLS is on.
    public let caPEMPath: String?
    private let channel: Channel
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
        self.baseURL = "\(scheme)://\(host):\(port)"
        self.caPEMPath = caPEMPath
    }

    /// Client connections open right now.
    public var openConnections: Int { connections.count }

    /// The account credentials the simulator accepts.
    public var credentials: SimulatorCredentials { engine.configuration.credentials }

    /// Binds and starts serving; with `tls` the pipeline is TLS → HTTP/1.1, else plain HTTP.
    public static func start(
        configuration: SimulatorConfiguration, tls: SimulatorTLS? = nil,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        clock: @escaping @Sendable () -> Date = { Date() }
    ) async throws -> TwilioSimulator {
        let engine = SimulatorEngine(configuration: configuration, clock: clock)
        let connections = ConnectionSet()
        let bootstrap = ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                connections.insert(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try tls?.addHandlers(channel)
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(SimulatorHTTPHandler(engine: engine))
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

    /// Stops accepting connections, closes the listener and every open connection (stalled ones included).
    public func shutdown() async throws {
        try await channel.close()
        for connection in connections.drain() {
            try? await connection.close()
        }
    }
}
