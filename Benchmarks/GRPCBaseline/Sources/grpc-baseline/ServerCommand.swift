import ArgumentParser
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix

struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Serve /bench.Bench/Call over HTTP/2 + TLS on 127.0.0.1."
    )

    @Option(help: "Port to listen on (0 picks a free one).") var port: Int = 50051
    @Option(help: "PEM certificate (chain) file.") var cert: String
    @Option(help: "PEM private key file.") var key: String
    @Option(help: "Size of the fixed response, in bytes.") var responseBytes: Int = 420

    func run() async throws {
        let transport = HTTP2ServerTransport.Posix(
            address: .ipv4(host: "127.0.0.1", port: self.port),
            transportSecurity: .tls(
                certificateChain: [.file(path: self.cert, format: .pem)],
                privateKey: .file(path: self.key, format: .pem)
            )
        )
        let service = BenchService(response: RawBytes(bytes: [UInt8](repeating: 0x2A, count: self.responseBytes)))
        let server = GRPCServer(transport: transport, services: [service])

        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await server.serve() }
            let address = try await transport.listeningAddress
            // Unbuffered, so a script tailing our output sees it at once.
            FileHandle.standardOutput.write(Data("serving on 127.0.0.1:\(address.ipv4?.port ?? self.port)\n".utf8))
        }
    }
}
