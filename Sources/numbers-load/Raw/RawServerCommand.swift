import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import NumberAPI
import NumberTLS

/// `numbers-load raw-server`: the raw TLS request/response server of the transport baseline, in its own process
/// (as numberd is). Prints `listening <port>` on stdout once bound; exits after `--lifetime` seconds at the latest.
struct RawServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "raw-server", abstract: "Serve the raw TLS request/response baseline (used by run --compare-raw).")

    @Option(help: "Server certificate chain PEM.") var cert: String
    @Option(help: "Server private key PEM.") var key: String
    @Option(help: "Listen address, loopback only.") var listen = "127.0.0.1:0"
    @Option(parsing: .unconditional, help: "Seconds before the server exits by itself (1...7200).") var lifetime:
        Double = 900

    func validate() throws {
        _ = try LoopbackAddress.parse(listen)
        guard (1...7200).contains(lifetime) else { throw ValidationError("--lifetime must be 1...7200") }
    }

    func run() async throws {
        // One descriptor per connection of the run it serves (up to 1024): the soft default, often 1024, refused some.
        _ = OpenFilesLimit.raiseToHard()
        let (host, port) = try LoopbackAddress.parse(listen)
        var tls = TLSConfiguration.server(certificateChain: .file(cert), privateKey: .file(key))
        tls.applicationProtocols = ["nrpc/1"]
        let context = try TLSContext(configuration: tls)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addTLSServerHandler(context: context)
                    try channel.pipeline.syncOperations.addHandler(RawServerHandler())
                }
            }
            .bind(host: host, port: port).get()
        try? FileHandle.standardOutput.write(contentsOf: Data("listening \(channel.localAddress?.port ?? 0)\n".utf8))
        try? await Task.sleep(nanoseconds: UInt64(lifetime * 1e9))
        try await channel.close()
    }
}
