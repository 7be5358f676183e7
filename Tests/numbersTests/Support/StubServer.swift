import Foundation
import Logging
import NumberServer
import NumberTLS
import Synchronization

/// A numberd transport over TLS on 127.0.0.1:0 serving a test's router, and the CA file that `numbers --ca` trusts.
struct StubServer {
    /// The port it listens on.
    let port: Int
    /// A PEM file of the CA that issued the server's certificate.
    let caFile: String
}

/// Runs a server with `router` for the duration of `body`, with a fresh CA written to a temporary file.
func withStubServer(router: RPCRouter, _ body: (StubServer) async throws -> Void) async throws {
    let authority = try CertificateAuthority.generate()
    let issued = try authority.issueServerCertificate()
    var configuration = TLSConfiguration.server(
        certificateChain: issued.certificateChain, privateKey: issued.privateKey)
    configuration.applicationProtocols = ["nrpc/1"]
    // A `numbers` process started on a machine busy with the whole suite may take longer than the defaults (10 s) to
    // finish its handshake and send its SETTINGS.
    configuration.handshakeTimeout = .seconds(60)
    var serverConfiguration = NumberServerConfiguration(port: 0)
    serverConfiguration.connection.settingsTimeout = .seconds(60)
    let caFile = FileManager.default.temporaryDirectory.appendingPathComponent("numbers-ca-\(UUID()).pem").path
    try authority.certificatePEM.write(toFile: caFile, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(atPath: caFile) }
    let server = NumberServer(
        configuration: serverConfiguration,
        transport: .tls(try TLSContext(configuration: configuration)),
        router: router, logger: Logger(label: "numbers-test", factory: { _ in SwiftLogNoOpLogHandler() }))
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await server.run() }
        defer { group.cancelAll() }
        let address = try await server.listeningAddress()
        try await body(StubServer(port: address.port!, caFile: caFile))
    }
}

/// What a stub server's handlers record, from any thread, in order.
final class Recorded<Value: Sendable>: Sendable {
    private let values = Mutex<[Value]>([])

    /// Everything recorded so far.
    var all: [Value] { values.withLock { $0 } }

    /// Records `value`.
    func append(_ value: Value) { values.withLock { $0.append(value) } }
}

/// Counts the calls a stub handler answers: `next()` is 1 for the first, 2 for the second… (a stub that answers the
/// first call and refuses the later ones).
final class CallCounter: Sendable {
    private let count = Mutex(0)

    func next() -> Int {
        count.withLock { count in
            count += 1
            return count
        }
    }
}
