import Foundation
import Testing

/// What `numberd serve` prints when it serves.
@Suite("numberd's banner")
struct BannerTests {
    /// With `--listen HOST:0` the banner said `HOST:0`: the port clients need was nowhere (the server bound it only
    /// once it ran). numberd binds its ports before it prints the banner now, so it names the one it got.
    @Test("with port 0 the banner names the port numberd bound, and it takes connections")
    func boundPortInBanner() async throws {
        let child = try ServingChild()
        try await child.waitUntilServing()
        let line = try #require(
            child.standardOutput.split(separator: "\n").first { $0.contains("serving nrpc/1 over TLS on 127.0.0.1:") })
        let address = line.split(separator: " ").first { $0.hasPrefix("127.0.0.1:") }?.dropLast()  // "…:port;"
        let port = try #require(address.flatMap { Int($0.split(separator: ":").last!) }, "\(line)")
        #expect(port > 0, "\(line)")
        #expect(acceptsConnections(port: port))
        await child.stop()
    }
}
