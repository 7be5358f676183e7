import NIOCore
import NumberAPI
import NumberWire
import Testing

@testable import NumberClient

/// A client dropped without `close()` closes its connections, instead of leaving them open until the server's idle
/// timeout.
@Suite("Client lifetime")
struct ClientLifetimeTests {
    /// Makes one call on a new client and drops it without closing it.
    static func callAndDrop(port: Int) async throws {
        let client = KeyedRetryTests.client(port: port, retry: KeyedRetryTests.quickRetries())
        _ = try await client.getBalance(GetBalanceRequest(accountId: "ACC_1"))
    }

    @Test("a client dropped without close() closes its connection")
    func droppedClientCloses() async throws {
        let server = try await FakeNumbersServer.start { _, _ in
            var balance = ByteBuffer()
            try! ProtoEncoder().encode(GetBalanceResponse(accountId: "ACC_1"), into: &balance)
            return .response(balance)
        }
        try await Self.callAndDrop(port: server.port)
        // Generous for a loaded machine: the close comes at once, or (before) never.
        let deadline = ContinuousClock.now + .seconds(300)
        while server.openConnections > 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        await server.stop()
        #expect(server.calls.count == 1)
        #expect(server.openConnections == 0, "the dropped client's connection is still open")
    }
}

extension ClientLifetimeTests {
    @Test("close() cuts a connection being made short: the call waiting for it fails CLIENT_CLOSED, not at its timeout")
    func closeCutsTheConnectShort() async throws {
        // The server completes TLS and never greets: without the cut, the wait lasts the 300 s connect timeout.
        let server = try await FakeTLSServer.start(.neverSendsSettings)
        let client = try ConnectionReadinessTests.client(server, connectTimeout: .seconds(300))
        let call = Task {
            try await client.purchaseNumbers(
                ConnectionReadinessTests.purchase, options: CallOptions(timeout: .seconds(600)))
        }
        let deadline = ContinuousClock.now + .seconds(50)
        while server.handshakes == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        try #require(server.handshakes == 1, "the connect never reached the server")
        let started = ContinuousClock.now
        await client.close()
        let error = await #expect(throws: RPCError.self) { try await call.value }
        let took = ContinuousClock.now - started
        await server.stop()
        #expect(error?.reason == "CLIENT_CLOSED", "\(String(describing: error))")
        #expect(error?.details["outcome"] == nil, "nothing was sent: \(String(describing: error))")
        #expect(server.headers.isEmpty)
        // At once (slack for a loaded machine), not at the connect timeout.
        #expect(took < .seconds(200), "the call waited \(took) for the connect after close()")
    }
}
