import Foundation
import NIOCore
import NIOPosix
import NumberTLS

/// `swift run -c release TLSBenchmark [--duration 3] [--depth 64] ...`: TLS echo and handshake rates over loopback,
/// with our handler on both ends, next to OpenSSL's own figures from the same run.
@main
enum TLSBenchmarkMain {
    static func main() async {
        // Before the certificates are generated (OpenSSL's first use): no exit handler frees it under running TLS.
        OpenSSLProcess.initialize()
        let options: BenchmarkOptions
        do {
            options = try BenchmarkOptions.parse(Array(CommandLine.arguments.dropFirst()))
        } catch {
            print(error.message)
            exit(2)
        }
        do {
            try await run(options)
        } catch {
            print("benchmark failed: \(error)")
            exit(1)
        }
    }

    static func run(_ options: BenchmarkOptions) async throws {
        let authority = try CertificateAuthority.generate(commonName: "TLSBenchmark CA")
        let certificate = try authority.issueServerCertificate()
        var serverConfiguration = TLSConfiguration.server(
            certificateChain: certificate.certificateChain, privateKey: certificate.privateKey)
        serverConfiguration.applicationProtocols = ["nrpc/1"]
        var clientConfiguration = TLSConfiguration.client(trustRoots: authority.trustRoots)
        clientConfiguration.applicationProtocols = ["nrpc/1"]
        let clientContext = try TLSContext(configuration: clientConfiguration)

        // One event loop per side: on 2 cores, server and client each get one.
        let serverGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let clientGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await TLSEchoServer.start(
            group: serverGroup, context: TLSContext(configuration: serverConfiguration))
        print("TLSBenchmark: duration \(options.durationSeconds) s, depth \(options.depth), ", terminator: "")
        print("connections \(options.connections), handshake concurrency \(options.handshakeConcurrency)")

        for size in [options.smallBytes, options.largeBytes] {
            let load = EchoLoad(
                messageBytes: size, depth: options.depth, connections: options.connections,
                durationSeconds: options.durationSeconds)
            let result = try await load.run(group: clientGroup, port: server.port, context: clientContext)
            print(
                "echo \(size) B x depth \(options.depth): \(format(result.messagesPerSecond)) messages/s, "
                    + "\(format(result.megabytesPerSecond)) MB/s echoed")
        }
        for resume in [false, true] {
            let load = HandshakeLoad(
                concurrency: options.handshakeConcurrency, durationSeconds: options.durationSeconds, resume: resume)
            let result = try await load.run(group: clientGroup, port: server.port, context: clientContext)
            print(
                "handshakes (\(resume ? "resumed" : "full"), TLS 1.3, P-256): "
                    + "\(format(result.handshakesPerSecond))/s, resumed \(format(result.resumedFraction * 100)) %")
        }
        if options.openSSLBaseline {
            let seconds = max(1, Int(options.durationSeconds))
            print("openssl speed -seconds 1 ecdsap256: \(OpenSSLBaseline.ecdsaP256())")
            print("openssl speed -seconds 1 -evp aes-128-gcm: \(OpenSSLBaseline.aes128GCM())")
            print("openssl s_time -new -time \(seconds) (against our server): ", terminator: "")
            print(OpenSSLBaseline.sTime(port: server.port, seconds: seconds, reuse: false))
            print("openssl s_time -reuse -time \(seconds) (against our server): ", terminator: "")
            print(OpenSSLBaseline.sTime(port: server.port, seconds: seconds, reuse: true))
        }
        try await server.close()
        try await clientGroup.shutdownGracefully()
        try await serverGroup.shutdownGracefully()
    }

    static func format(_ value: Double) -> String {
        String(format: "%.1f", value)
    }
}
