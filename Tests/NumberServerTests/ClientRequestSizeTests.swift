import NIOCore
import NumberAPI
import NumberClient
import NumberServer
import NumberWire
import Testing

/// A request of a size the server's SETTINGS do not allow would make the server end the whole connection (GOAWAY
/// `FRAME_TOO_LARGE`), failing every other call on it with an unknown outcome. The client checks the sizes when the
/// call starts and fails that call alone, before anything is sent.
@Suite("Client: a request larger than the server takes fails alone, locally")
struct ClientRequestSizeTests {
    let tls: TestTLS

    init() throws { tls = try TestTLS() }

    /// A HealthCheck request with a large field 1 (the server never decodes it: the size check comes first).
    private struct BigRequest: Codable, Hashable, Sendable {
        var padding: String
        enum CodingKeys: Int, CodingKey { case padding = 1 }
    }

    /// Small limits advertised by the test server: 4 KiB of HEADERS, 64 KiB of MESSAGE.
    private static let serverSettings = ConnectionSettings(maxMessagePayload: 64 * 1024, maxHeadersPayload: 4 * 1024)

    @Test(
        "a too-large call beside a running one: the running call succeeds, the big one fails RESOURCE_EXHAUSTED",
        arguments: ["metadata", "message"])
    func oversizedBesideRunning(part: String) async throws {
        let (started, signal) = AsyncStream.makeStream(of: Void.self)
        var router = RPCRouter()
        router.register(NumbersMethods.healthCheck) { _, _ in HealthCheckResponse(status: .serving, version: "t") }
        router.register(NumbersMethods.releaseNumber) { request, _ in
            signal.yield()
            try await Task.sleep(for: .milliseconds(300))
            return ReleaseNumberResponse(message: "released \(request.numberId)")
        }
        let configuration = NumberServerConfiguration(
            port: 0, connection: .init(settings: Self.serverSettings))
        try await withTestServer(router: router, tls: tls, configuration: configuration) { _, port in
            try await withNumbersClient(tls.clientConfiguration(port: port)) { client in
                _ = try await client.healthCheck(HealthCheckRequest())  // the server's SETTINGS have arrived
                async let running = client.releaseNumber(ReleaseNumberRequest(accountId: "ACC_1", numberId: "NUM_1"))
                var iterator = started.makeAsyncIterator()
                await iterator.next()
                let error = await #expect(throws: RPCError.self) {
                    if part == "metadata" {
                        let metadata = [
                            "x-one": String(repeating: "a", count: 3000), "x-two": String(repeating: "b", count: 3000),
                        ]
                        _ = try await client.healthCheck(HealthCheckRequest(), options: CallOptions(metadata: metadata))
                    } else {
                        let big = MethodDescriptor<BigRequest, HealthCheckResponse>(
                            service: "numbers.v1.Numbers", method: "HealthCheck")
                        _ = try await client.call(big, BigRequest(padding: String(repeating: "x", count: 100_000)))
                    }
                }
                #expect(error?.code == .resourceExhausted, "\(String(describing: error))")
                #expect(error?.reason == "REQUEST_TOO_LARGE", "\(String(describing: error))")
                #expect(error?.details["limit"] == (part == "metadata" ? "4096" : "65536"))
                let released = try await running
                #expect(released.message == "released NUM_1")
                // The connection is still there for later calls.
                let health = try await client.healthCheck(HealthCheckRequest())
                #expect(health.status == .serving)
            }
        }
    }

    /// A server on its defaults takes request messages of up to 64 KiB: the client reads that from its SETTINGS, sends
    /// a request of exactly 64 KiB, and fails one a byte larger alone, before sending it.
    @Test("against a server on its defaults, a request of 64 KiB is sent and one byte more fails REQUEST_TOO_LARGE")
    func defaultServerLimit() async throws {
        var router = RPCRouter()
        router.register(NumbersMethods.healthCheck) { _, _ in HealthCheckResponse(status: .serving, version: "t") }
        try await withTestServer(router: router, tls: tls) { _, port in
            try await withNumbersClient(tls.clientConfiguration(port: port)) { client in
                let big = MethodDescriptor<BigRequest, HealthCheckResponse>(
                    service: "numbers.v1.Numbers", method: "HealthCheck")
                // Field 1's tag (1 byte) and length (3 bytes), then the text: 65,536 bytes in all.
                let padding = String(repeating: "x", count: 64 * 1024 - 4)
                let served = try await client.call(big, BigRequest(padding: padding))
                #expect(served.status == .serving)
                let error = await #expect(throws: RPCError.self) {
                    _ = try await client.call(big, BigRequest(padding: padding + "x"))
                }
                #expect(error?.reason == "REQUEST_TOO_LARGE", "\(String(describing: error))")
                #expect(error?.details["limit"] == "65536")
                // Failed alone: the connection is still there.
                let health = try await client.healthCheck(HealthCheckRequest())
                #expect(health.status == .serving)
            }
        }
    }
}
