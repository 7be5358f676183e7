import NIOCore
import NumberAPI
import NumberClient
import NumberWire
import Testing

@testable import NumberServer

/// TRAILERS never exceed the client's MAX_HEADERS_PAYLOAD, even when the status message echoes what the client sent.
@Suite("TRAILERS fit the client's header limit")
struct RpcStatusFittingTests {
    private func size(_ status: RpcStatus) throws -> Int {
        try ProtoEncoder().encode(status).count
    }

    @Test("a status of exactly the limit is unchanged; one byte over is shortened to fit, the message first")
    func edge() throws {
        let status = RpcStatus(
            code: 12, message: "unknown method /" + String(repeating: "m", count: 1500), reason: "UNKNOWN_METHOD",
            metadata: ["request-id": "r1"])
        let exact = try size(status)
        let same = try ProtoDecoder().decode(RpcStatus.self, from: status.encoded(bytesMax: exact))
        #expect(same == status)
        let cut = status.encoded(bytesMax: exact - 1)
        #expect(cut.readableBytes <= exact - 1)
        let decoded = try ProtoDecoder().decode(RpcStatus.self, from: cut)
        #expect(decoded.code == 12)
        #expect(decoded.reason == "UNKNOWN_METHOD")
        #expect(decoded.metadata == ["request-id": "r1"])
        #expect(status.message.hasPrefix(decoded.message))
        #expect(decoded.message.utf8.count == status.message.utf8.count - 1)
    }

    @Test("multi-byte characters are not split, and metadata goes once the message is empty")
    func characters() throws {
        let status = RpcStatus(
            code: 3, message: String(repeating: "é€😀", count: 400), reason: "BAD",
            metadata: ["a": String(repeating: "x", count: 2000)])
        let cut = try ProtoDecoder().decode(RpcStatus.self, from: status.encoded(bytesMax: 1024))
        #expect(try size(cut) <= 1024)
        #expect(cut.message.isEmpty)
        #expect(cut.metadata.isEmpty)
        #expect(cut.reason == "BAD")
        let some = try ProtoDecoder().decode(RpcStatus.self, from: status.encoded(bytesMax: 3000))
        #expect(try size(some) <= 3000)
        #expect(status.message.hasPrefix(some.message))
        #expect(!some.message.isEmpty)
    }

    @Test("a long unknown method name is answered UNIMPLEMENTED within the client's 1 KiB limit, the connection stays")
    func longMethodName() async throws {
        let tls = try TestTLS()
        var router = RPCRouter()
        router.register(NumbersMethods.healthCheck) { _, _ in HealthCheckResponse(status: .serving, version: "t") }
        try await withTestServer(router: router, tls: tls) { _, port in
            var configuration = tls.clientConfiguration(port: port)
            configuration.settings.maxHeadersPayload = 1024
            try await withNumbersClient(configuration) { client in
                let long = MethodDescriptor<HealthCheckRequest, HealthCheckResponse>(
                    service: "numbers.v1.Numbers", method: String(repeating: "x", count: 2000))
                let error = await #expect(throws: RPCError.self) { try await client.call(long, HealthCheckRequest()) }
                #expect(error?.code == .unimplemented)
                #expect(error?.reason == "UNKNOWN_METHOD")
                let health = try await client.healthCheck(HealthCheckRequest())
                #expect(health.status == .serving)
            }
        }
    }
}
