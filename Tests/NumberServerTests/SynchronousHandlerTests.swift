import Foundation
import NIOCore
import NIOPosix
import NumberAPI
import NumberClient
import NumberServer
import NumberWire
import Testing

/// A router with synchronous reads (run inline on the event loop) next to an asynchronous method.
private func mixedRouter() -> RPCRouter {
    var router = RPCRouter()
    router.registerSynchronous(NumbersMethods.getBalance) { request, context in
        if request.accountId == "missing" {
            throw RPCError(code: .notFound, message: "no account missing", reason: "ACCOUNT_NOT_FOUND")
        }
        // Inline means on the connection's event loop thread, not in a task of the cooperative pool.
        let onEventLoop = MultiThreadedEventLoopGroup.currentEventLoop != nil
        return GetBalanceResponse(
            accountId: request.accountId, balance: onEventLoop ? 1 : 0, currency: context.requestID.isEmpty ? "" : "USD"
        )
    }
    router.register(NumbersMethods.healthCheck) { _, _ in
        try await Task.sleep(for: .milliseconds(1))
        return HealthCheckResponse(status: .serving, version: "async")
    }
    return router
}

@Suite("Synchronous handlers run inline on the event loop")
struct SynchronousHandlerTests {
    let tls: TestTLS

    init() throws { tls = try TestTLS() }

    @Test("a synchronous handler answers from the event loop, with a request id, and its errors are statuses")
    func inline() async throws {
        try await withTestServer(router: mixedRouter(), tls: tls) { _, port in
            try await withNumbersClient(tls.clientConfiguration(port: port, apiKey: "nk_x")) { client in
                let balance = try await client.getBalance(GetBalanceRequest(accountId: "ACC_1"))
                #expect(balance == GetBalanceResponse(accountId: "ACC_1", balance: 1, currency: "USD"))
                let error = await #expect(throws: RPCError.self) {
                    try await client.getBalance(GetBalanceRequest(accountId: "missing"))
                }
                #expect(error?.code == .notFound)
                #expect(error?.reason == "ACCOUNT_NOT_FOUND")
            }
        }
    }

    @Test("a malformed request to a synchronous method is INVALID_ARGUMENT and the connection keeps serving")
    func malformed() async throws {
        // An account id (field 1, a string) that is not UTF-8. A field of another wire type is no longer malformed:
        // the codec reads it as an unknown field, as Google's runtimes do.
        struct WrongShape: Codable, Hashable, Sendable {
            var accountId = Data([0xFF, 0xFE, 0xFD])
            enum CodingKeys: Int, CodingKey { case accountId = 1 }
        }
        try await withTestServer(router: mixedRouter(), tls: tls) { _, port in
            try await withNumbersClient(tls.clientConfiguration(port: port)) { client in
                let wrong = MethodDescriptor<WrongShape, GetBalanceResponse>(
                    service: "numbers.v1.Numbers", method: "GetBalance")
                let error = await #expect(throws: RPCError.self) { try await client.call(wrong, WrongShape()) }
                #expect(error?.code == .invalidArgument)
                #expect(error?.reason == "MALFORMED_REQUEST")
                let after = try await client.getBalance(GetBalanceRequest(accountId: "ok"))
                #expect(after.accountId == "ok")
            }
        }
    }

    @Test("synchronous and asynchronous calls interleave on one connection, every one answered once")
    func interleaved() async throws {
        try await withTestServer(router: mixedRouter(), tls: tls) { _, port in
            try await withNumbersClient(tls.clientConfiguration(port: port)) { client in
                try await withThrowingTaskGroup(of: String.self) { group in
                    for i in 0..<200 {
                        group.addTask {
                            if i % 4 == 0 { return try await client.healthCheck(HealthCheckRequest()).version + "\(i)" }
                            return try await client.getBalance(GetBalanceRequest(accountId: "ACC_\(i)")).accountId
                        }
                    }
                    var seen = Set<String>()
                    for try await answer in group { seen.insert(answer) }
                    #expect(seen.count == 200)
                }
            }
        }
    }

    @Test("the router still offers a synchronous handler as an async one")
    func wrapped() async throws {
        let handler = try #require(mixedRouter().handler(for: NumbersMethods.getBalance.path))
        var request = ByteBuffer()
        try ProtoEncoder().encode(GetBalanceRequest(accountId: "ACC_9"), into: &request)
        let context = CallContext(
            method: NumbersMethods.getBalance.path, metadata: [:], deadline: nil, requestID: "r1",
            peer: PeerInfo(address: "test"), logger: quietLogger)
        let response = try await handler(request, context).get()
        let balance = try ProtoDecoder().decode(GetBalanceResponse.self, from: response)
        #expect(balance.accountId == "ACC_9")
        #expect(balance.balance == 0)  // called from a task here, not from an event loop
    }

    @Test("an idle connection is closed after the idle timeout even when calls came and went before it")
    func idleAfterCalls() async throws {
        var configuration = NumberServerConfiguration(port: 0)
        configuration.connection.settings.idleTimeoutMilliseconds = 10_000
        try await withTestServer(router: mixedRouter(), tls: tls, configuration: configuration) { _, port in
            var send = ByteBuffer()
            Preface.write(to: &send)
            send.writeFrame(Frame(type: .settings, streamID: 0))
            var headers = ByteBuffer()
            try ProtoEncoder().encode(RequestHeaders(method: NumbersMethods.getBalance.path), into: &headers)
            send.writeFrame(Frame(type: .headers, streamID: 1, payload: headers))
            send.writeFrame(Frame(type: .message, flags: .endStream, streamID: 1))
            let start = NIODeadline.now()
            // No GOAWAY from us: the server must close by itself once idle for 10 s (the timer runs from accept, so
            // it must outlast a TLS handshake on a loaded machine: 2 s and then 3 s each once lost the call to it in a
            // full parallel run).
            let received = try frames(
                in: try await rawExchange(port: port, tls: tls, send: send, timeout: .seconds(120)))
            let elapsed = NIODeadline.now() - start
            #expect(received.contains { $0.type == .trailers && $0.streamID == 1 })
            let away = try #require(received.last { $0.type == .goAway })
            let goAway = try GoAway(payload: away.payload)
            #expect(goAway.message == "idle timeout")
            #expect(elapsed >= .seconds(10))
            #expect(elapsed < .seconds(100))  // closed by the idle timeout, not by the exchange's own end
        }
    }
}
