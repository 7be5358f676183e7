import Foundation
import NIOCore
import NumberAPI
import NumberClient
import NumberServer
import NumberWire
import ServiceLifecycle
import Testing

/// A request whose field 1 is a varint where every numberd request has a string: invalid for the server's type.
/// A GetBalance request whose account id (field 1, a string) is not UTF-8: malformed. (A field of another wire type
/// no longer is: the codec reads it as an unknown field, as Google's runtimes do.)
private struct WrongShape: Codable, Hashable, Sendable {
    var accountId = Data([0xFF, 0xFE, 0xFD])
    enum CodingKeys: Int, CodingKey { case accountId = 1 }
}

/// How long the test router's "slow" balance call takes: far longer than any deadline or cancellation a test
/// gives it, so a test that sees the call end sooner knows the deadline or the cancellation ended it, however
/// loaded the machine (a 2-s sleep left a loaded CI run 0.5 s of margin).
private let slowCall = Duration.seconds(30)

private func testRouter() -> RPCRouter {
    var router = RPCRouter()
    router.register(NumbersMethods.healthCheck) { _, _ in
        HealthCheckResponse(status: .serving, version: "test")
    }
    router.register(NumbersMethods.getBalance) { request, context in
        if request.accountId == "slow" { try await Task.sleep(for: slowCall) }
        if request.accountId == "missing" {
            throw RPCError(
                code: .notFound, message: "no account missing", reason: "ACCOUNT_NOT_FOUND", details: ["id": "missing"])
        }
        return GetBalanceResponse(accountId: request.accountId, balance: Int64(context.metadata.count), currency: "USD")
    }
    return router
}

@Suite("Transport end to end over TLS on 127.0.0.1")
struct TransportTests {
    let tls: TestTLS

    init() throws { tls = try TestTLS() }

    @Test("calls round-trip; errors carry code, reason and details")
    func roundTrip() async throws {
        try await withTestServer(router: testRouter(), tls: tls) { _, port in
            try await withNumbersClient(tls.clientConfiguration(port: port, apiKey: "nk_x")) { client in
                let health = try await client.healthCheck(HealthCheckRequest())
                #expect(health == HealthCheckResponse(status: .serving, version: "test"))
                let balance = try await client.getBalance(GetBalanceRequest(accountId: "ACC_1"))
                #expect(balance.accountId == "ACC_1")
                #expect(balance.balance == 1)  // one metadata entry: authorization
                let error = await #expect(throws: RPCError.self) {
                    try await client.getBalance(GetBalanceRequest(accountId: "missing"))
                }
                #expect(error?.code == .notFound)
                #expect(error?.reason == "ACCOUNT_NOT_FOUND")
                #expect(error?.details == ["id": "missing"])
            }
        }
    }

    @Test("many calls in flight on one connection")
    func multiplexing() async throws {
        try await withTestServer(router: testRouter(), tls: tls) { _, port in
            // 300 calls at once, three times the server's limit of 100 on a connection: the last ones wait in line,
            // and a loaded full run once made them wait past the default 30 s deadline.
            var configuration = tls.clientConfiguration(port: port)
            configuration.defaultTimeout = .seconds(600)
            try await withNumbersClient(configuration) { client in
                try await withThrowingTaskGroup(of: String.self) { group in
                    for i in 0..<300 {
                        group.addTask {
                            try await client.getBalance(GetBalanceRequest(accountId: "ACC_\(i)")).accountId
                        }
                    }
                    var seen = Set<String>()
                    for try await id in group { seen.insert(id) }
                    #expect(seen.count == 300)
                }
            }
        }
    }

    @Test("unknown method, malformed body, deadline: each a status, the server keeps serving")
    func perCallErrors() async throws {
        try await withTestServer(router: testRouter(), tls: tls) { _, port in
            try await withNumbersClient(tls.clientConfiguration(port: port)) { client in
                let unknown = MethodDescriptor<HealthCheckRequest, HealthCheckResponse>(
                    service: "numbers.v1.Numbers", method: "Nope")
                let e1 = await #expect(throws: RPCError.self) { try await client.call(unknown, HealthCheckRequest()) }
                #expect(e1?.code == .unimplemented)

                let wrong = MethodDescriptor<WrongShape, GetBalanceResponse>(
                    service: "numbers.v1.Numbers", method: "GetBalance")
                let e2 = await #expect(throws: RPCError.self) { try await client.call(wrong, WrongShape()) }
                #expect(e2?.code == .invalidArgument)
                #expect(e2?.reason == "MALFORMED_REQUEST")

                let clock = ContinuousClock()
                let start = clock.now
                let e3 = await #expect(throws: RPCError.self) {
                    try await client.getBalance(
                        GetBalanceRequest(accountId: "slow"), options: CallOptions(timeout: .milliseconds(100)))
                }
                #expect(e3?.code == .deadlineExceeded)
                #expect(clock.now - start < slowCall / 2)

                let health = try await client.healthCheck(HealthCheckRequest())
                #expect(health.status == .serving)
            }
        }
    }

    @Test("a deadline already past is DEADLINE_EXCEEDED from the server")
    func pastDeadline() async throws {
        try await withTestServer(router: testRouter(), tls: tls) { _, port in
            var send = ByteBuffer()
            Preface.write(to: &send)
            send.writeFrame(Frame(type: .settings, streamID: 0))
            var headers = ByteBuffer()
            try ProtoEncoder().encode(
                RequestHeaders(method: NumbersMethods.healthCheck.path, timeoutMicros: -1), into: &headers)
            send.writeFrame(Frame(type: .headers, streamID: 1, payload: headers))
            send.writeFrame(Frame(type: .message, flags: .endStream, streamID: 1))
            send.writeFrame(
                Frame(type: .goAway, streamID: 0, payload: GoAway(lastStreamID: 0, code: .noError).payload()))
            let received = try frames(in: try await rawExchange(port: port, tls: tls, send: send))
            let trailers = try #require(received.first { $0.type == .trailers })
            let status = try ProtoDecoder().decode(RpcStatus.self, from: trailers.payload)
            #expect(status.code == StatusCode.deadlineExceeded.rawValue)
        }
    }

    @Test("cancelling the caller's task cancels the call")
    func cancellation() async throws {
        try await withTestServer(router: testRouter(), tls: tls) { _, port in
            try await withNumbersClient(tls.clientConfiguration(port: port)) { client in
                let task = Task { try await client.getBalance(GetBalanceRequest(accountId: "slow")) }
                try await Task.sleep(for: .milliseconds(100))
                task.cancel()
                let result = await task.result
                #expect(throws: RPCError.self) { try result.get() }
                if case .failure(let error as RPCError) = result { #expect(error.code == .cancelled) }
                let health = try await client.healthCheck(HealthCheckRequest())
                #expect(health.status == .serving)
            }
        }
    }

    @Test(
        "connection-level abuse gets GOAWAY and the server keeps serving others",
        arguments: [
            ("garbage before the preface", GoAway.Code.protocolError),
            ("a length prefix of 2^31", .frameTooLarge),
            ("HEADERS before SETTINGS", .protocolError),
            ("an unknown frame type", .protocolError),
        ])
    func abuse(name: String, code: GoAway.Code) async throws {
        try await withTestServer(router: testRouter(), tls: tls) { _, port in
            var send = ByteBuffer()
            switch name {
            case "garbage before the preface":
                send.writeString("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            case "a length prefix of 2^31":
                Preface.write(to: &send)
                send.writeFrame(Frame(type: .settings, streamID: 0))
                send.writeBytes([0x80, 0, 0, 0, 0x02, 0x01, 0, 0, 0, 0, 0, 1])
            case "HEADERS before SETTINGS":
                Preface.write(to: &send)
                send.writeFrame(Frame(type: .headers, streamID: 1))
            default:
                Preface.write(to: &send)
                send.writeFrame(Frame(type: .settings, streamID: 0))
                send.writeBytes([0, 0, 0, 0, 0x09, 0, 0, 0, 0, 0, 0, 0])
            }
            let received = try frames(in: try await rawExchange(port: port, tls: tls, send: send))
            #expect(received.first?.type == .settings)
            let away = try #require(received.last { $0.type == .goAway })
            #expect(try GoAway(payload: away.payload).code == code)

            try await withNumbersClient(tls.clientConfiguration(port: port)) { client in
                let health = try await client.healthCheck(HealthCheckRequest())
                #expect(health.status == .serving)
            }
        }
    }

    @Test("graceful shutdown lets the open call finish, then run() returns")
    func gracefulShutdown() async throws {
        let (started, signal) = AsyncStream.makeStream(of: Void.self)
        var router = testRouter()
        router.register(NumbersMethods.getAccount) { request, _ in
            signal.yield()
            try await Task.sleep(for: .milliseconds(500))
            return GetAccountResponse(account: Account(id: request.accountId))
        }
        let server = NumberServer(
            configuration: NumberServerConfiguration(port: 0), transport: .tls(tls.serverContext), router: router,
            logger: quietLogger)
        let group = ServiceGroup(services: [server], logger: quietLogger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let port = try await server.listeningAddress().port!
            try await withNumbersClient(tls.clientConfiguration(port: port)) { client in
                async let slow = client.getAccount(GetAccountRequest(accountId: "ACC_slow"))
                var iterator = started.makeAsyncIterator()
                await iterator.next()
                await group.triggerGracefulShutdown()
                let finished = try await slow
                #expect(finished.account.id == "ACC_slow")
            }
            try await tasks.next()
        }
    }
}
