import NIOCore
import NIOEmbedded
import NumberTLS

/// A TLS client and server on two `EmbeddedChannel`s, wired together by copying bytes: no sockets.
final class InMemoryPair {
    let client: EmbeddedChannel
    let server: EmbeddedChannel
    let clientEvents = EventRecorder()
    let serverEvents = EventRecorder()

    convenience init(
        client clientConfiguration: TLSConfiguration, server serverConfiguration: TLSConfiguration,
        hostname: String = "localhost", sessionCache: TLSSessionCache? = nil, sessionKey: String? = nil
    ) throws {
        try self.init(
            clientContext: TLSContext(configuration: clientConfiguration),
            serverContext: TLSContext(configuration: serverConfiguration), hostname: hostname,
            sessionCache: sessionCache, sessionKey: sessionKey)
    }

    /// A pair on contexts made already: a session cache resumes only sessions of the same client context.
    init(
        clientContext: TLSContext, serverContext: TLSContext, hostname: String = "localhost",
        sessionCache: TLSSessionCache? = nil, sessionKey: String? = nil
    ) throws {
        client = EmbeddedChannel()
        server = EmbeddedChannel()
        try client.pipeline.syncOperations.addTLSClientHandler(
            context: clientContext, serverHostname: hostname, sessionCache: sessionCache, sessionKey: sessionKey)
        try client.pipeline.syncOperations.addHandler(clientEvents)
        try server.pipeline.syncOperations.addTLSServerHandler(context: serverContext)
        try server.pipeline.syncOperations.addHandler(serverEvents)
    }

    /// Activates both channels (the client starts the handshake) and exchanges bytes until quiet.
    func connect() throws {
        try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
        try interactInMemory()
    }

    /// Moves bytes between the channels until neither has anything to send (bounded turns).
    func interactInMemory() throws {
        for _ in 0..<1000 {
            let fromClient = try move(from: client, to: server)
            let fromServer = try move(from: server, to: client)
            if !fromClient && !fromServer {
                return
            }
        }
        fatalError("interactInMemory did not settle in 1000 turns")
    }

    private func move(from source: EmbeddedChannel, to destination: EmbeddedChannel) throws -> Bool {
        var moved = false
        while let buffer = try source.readOutbound(as: ByteBuffer.self) {
            moved = true
            if destination.isActive {
                try destination.writeInbound(buffer)
            }
        }
        return moved
    }

    func sendFromClient(_ text: String) throws {
        try client.writeAndFlush(ByteBuffer(string: text)).wait()
        try interactInMemory()
    }

    func sendFromServer(_ text: String) throws {
        try server.writeAndFlush(ByteBuffer(string: text)).wait()
        try interactInMemory()
    }
}
