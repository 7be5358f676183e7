import NIOCore
import NumberAPI
import Testing

@testable import NumberClient

/// A call whose deadline passes, or whose task is cancelled, while it waits for its connection was never sent, and
/// says so: `outcome=not-started`, "before it was sent". It used to end as a bare `DEADLINE_EXCEEDED` or
/// `CANCELLED` ("the call was cancelled by the caller"), which reads like a call that may have run — a Ctrl-C while
/// `numbers` connected among them. Once a request went out, a later deadline or cancellation claims no such thing.
@Suite("Client: a call that ends while it waits for its connection was not started")
struct ConnectionWaitOutcomeTests {
    @Test("the server never sends SETTINGS: a keyed call's 300 ms deadline ends it DEADLINE_EXCEEDED, not started")
    func deadlineWhileConnecting() async throws {
        // TLS completes and the server never greets: the connection wait lasts the 60 s connect timeout.
        let server = try await FakeTLSServer.start(.neverSendsSettings)
        let client = try ConnectionReadinessTests.client(server, connectTimeout: .seconds(60))
        let error = await #expect(throws: RPCError.self) {
            try await client.purchaseNumbers(
                ConnectionReadinessTests.purchase, options: CallOptions(timeout: .milliseconds(300)))
        }
        let headers = server.headers
        await client.close()
        await server.stop()
        #expect(error?.code == .deadlineExceeded, "\(String(describing: error))")
        #expect(error?.details == ["outcome": "not-started"], "\(String(describing: error))")
        #expect(error?.message.contains("before it was sent") == true, "\(String(describing: error))")
        #expect(headers.isEmpty, "the call reached the server: \(headers)")
    }

    @Test("the server never sends SETTINGS: a call whose task is cancelled ends CANCELLED, not started")
    func cancelledWhileConnecting() async throws {
        let server = try await FakeTLSServer.start(.neverSendsSettings)
        // Bounds, not timings: the full suite beside two CPU hogs once took over 50 s for this debug build's handshake.
        let client = try ConnectionReadinessTests.client(
            server, connectTimeout: .seconds(300), handshakeTimeout: .seconds(240))
        let call = Task {
            try await client.purchaseNumbers(
                ConnectionReadinessTests.purchase, options: CallOptions(timeout: .seconds(360)))
        }
        let deadline = ContinuousClock.now + .seconds(230)
        while server.handshakes == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        try #require(server.handshakes == 1, "the connect never reached the server")
        call.cancel()
        let error = await #expect(throws: RPCError.self) { try await call.value }
        let headers = server.headers
        await client.close()
        await server.stop()
        #expect(error?.code == .cancelled, "\(String(describing: error))")
        #expect(error?.details == ["outcome": "not-started"], "\(String(describing: error))")
        #expect(error?.message.contains("before it was sent") == true, "\(String(describing: error))")
        #expect(headers.isEmpty, "the call reached the server: \(headers)")
    }

    @Test("after a request went out, a deadline or cancellation before the next attempt claims no not-started")
    func sentBeforeClaimsNothing() {
        // A read whose connection was lost after sending: retried, and what became of it is not known.
        var read = CallAttempts(retryClass: .idempotent, idempotencyKey: nil, policy: KeyedRetryTests.quickRetries())
        guard case .retry = read.failed(.connectionLost(message: "reset", unstarted: false)) else {
            Issue.record("a read was not retried")
            return
        }
        #expect(read.deadlinePassed().details.isEmpty, "\(read.deadlinePassed())")
        #expect(read.cancelled().details.isEmpty, "\(read.cancelled())")
        // Refused for the moment (an answer: the request reached the server), then retried.
        var busy = CallAttempts(retryClass: .unsafe, idempotencyKey: nil, policy: KeyedRetryTests.quickRetries())
        let refusal = RPCError(code: .resourceExhausted, message: "busy", reason: "RATE_LIMITED")
        guard case .retry = busy.failed(.status(refusal)) else {
            Issue.record("a refusal for the moment was not retried")
            return
        }
        #expect(busy.deadlinePassed().details["outcome"] == nil, "\(busy.deadlinePassed())")
        // A keyed call whose earlier attempt may have run: still its outcome unknown, under its key.
        var keyed = CallAttempts(retryClass: .keyed, idempotencyKey: "k", policy: KeyedRetryTests.quickRetries())
        guard case .retry = keyed.failed(.connectionLost(message: "reset", unstarted: false)) else {
            Issue.record("a keyed call was not retried")
            return
        }
        KeyedRetryTests.expectKeyed(keyed.deadlinePassed(), code: .unavailable, key: "k")
        KeyedRetryTests.expectKeyed(keyed.cancelled(), code: .unavailable, key: "k")
        // Connects that failed: nothing went out, the retry's deadline says so.
        var unsent = CallAttempts(retryClass: .keyed, idempotencyKey: "k", policy: KeyedRetryTests.quickRetries())
        guard case .retry = unsent.failed(.connectFailed(message: "refused")) else {
            Issue.record("a connect failure was not retried")
            return
        }
        #expect(unsent.deadlinePassed().details == ["outcome": "not-started"], "\(unsent.deadlinePassed())")
    }
}
