import NIOCore
import NumberAPI
import NumberWire
import TestSupport
import Testing

@testable import NumberClient

/// numberd answers `UNAVAILABLE` / `SHUTTING_DOWN` only to a call it never started (its connection could no longer
/// hand it to a handler), and `RESOURCE_EXHAUSTED` / `REQUEST_NOT_ARRIVED` or `PARTIAL_FRAME_BUDGET` to one whose
/// request had not all arrived when it closed the connection. The client retries each like a call a GOAWAY refused,
/// whatever the method, on another connection; once the attempts run out the error says `outcome=not-started`.
@Suite("SHUTTING_DOWN, REQUEST_NOT_ARRIVED and PARTIAL_FRAME_BUDGET are retried as never started")
struct ShuttingDownRetryTests {
    /// The answers of a call numberd never started.
    static let neverStarted: [RpcStatus] = [
        .shuttingDown,
        RpcStatus(
            code: StatusCode.resourceExhausted.rawValue, message: "the request did not arrive in time",
            reason: "REQUEST_NOT_ARRIVED"),
        RpcStatus(
            code: StatusCode.resourceExhausted.rawValue, message: "the partial-frame budget is spent",
            reason: "PARTIAL_FRAME_BUDGET"),
    ]

    static var trunkCreated: ByteBuffer {
        var buffer = ByteBuffer()
        try! ProtoEncoder().encode(CreateTrunkResponse(trunk: Trunk(id: "TRK_1")), into: &buffer)
        return buffer
    }

    @Test(
        "a call answered as never started is made again on a new connection, a read and a call that changes something",
        arguments: [false, true], neverStarted)
    func retriedElsewhere(read: Bool, answer: RpcStatus) async throws {
        let server = try await FakeNumbersServer.start { index, _ in
            index == 0 ? .status(answer) : .response(Self.trunkCreated)
        }
        let client = KeyedRetryTests.client(port: server.port, retry: KeyedRetryTests.quickRetries())
        if read {
            _ = try await client.listTrunks(ListTrunksRequest(accountId: "ACC_1"))
        } else {
            let response = try await client.createTrunk(CreateTrunkRequest(accountId: "ACC_1", name: "main"))
            #expect(response.trunk.id == "TRK_1")
        }
        await client.close()
        await server.stop()
        #expect(server.calls.count == 2)
        // Another connection than the first: which one is not the point (under load a connection attempt can run out
        // its connect timeout and the next one carry the call: [0, 2] once in a full run).
        let connections = server.callConnections
        #expect(connections.count == 2 && connections.first == 0, "\(connections)")
        #expect(connections.last != 0, "the retry went to another connection: \(connections)")
    }

    @Test(
        "never started on every attempt: the call fails with that answer, outcome not-started", arguments: neverStarted)
    func attemptsRunOut(answer: RpcStatus) async throws {
        let server = try await FakeNumbersServer.start { _, _ in .status(answer) }
        let client = KeyedRetryTests.client(port: server.port, retry: KeyedRetryTests.quickRetries())
        let error = await #expect(throws: RPCError.self) {
            try await client.deleteTrunk(DeleteTrunkRequest(accountId: "ACC_1", trunkId: "TRK_1"))
        }
        await client.close()
        await server.stop()
        #expect(server.calls.count == 3)
        #expect(error?.reason == answer.reason, "\(String(describing: error))")
        #expect(error?.details["outcome"] == "not-started", "\(String(describing: error))")
    }
}

extension ShuttingDownRetryTests {
    /// The server's answer at the HEADERS of a call past its MAX_CONCURRENT_STREAMS ("not started, retry once a call
    /// ends", ERRORS.md) ended the call RESOURCE_EXHAUSTED, a write with no outcome said.
    @Test("TOO_MANY_STREAMS is retried as never started, a call that changes something too; run out, not-started")
    func tooManyStreamsIsRetried() async throws {
        let refusal = RpcStatus(
            code: StatusCode.resourceExhausted.rawValue, message: "too many streams", reason: "TOO_MANY_STREAMS")
        let server = try await FakeNumbersServer.start { index, _ in
            index == 0 ? .status(refusal) : .response(Self.trunkCreated)
        }
        let client = KeyedRetryTests.client(port: server.port, retry: KeyedRetryTests.quickRetries())
        let response = try await client.createTrunk(CreateTrunkRequest(accountId: "ACC_1", name: "main"))
        #expect(response.trunk.id == "TRK_1" && server.calls.count == 2)
        // The connection stays: it takes calls again once one of its own ends (it was retired, a new one made, and
        // the server counted as going away).
        #expect(server.callConnections == [0, 0], "\(server.callConnections)")
        await client.close()
        await server.stop()
        var attempts = CallAttempts(retryClass: .unsafe, idempotencyKey: nil, policy: KeyedRetryTests.quickRetries())
        guard case .retry = attempts.failed(.status(RPCError(status: refusal)!)) else {
            Issue.record("TOO_MANY_STREAMS was not retried")
            return
        }
        // Its deadline passing before the retry is sent: nothing was started.
        #expect(attempts.deadlinePassed().details["outcome"] == "not-started", "\(attempts.deadlinePassed())")
    }

    /// Found by the client review: the doubling trapped once the bound passed 2^62 ns under a `backoffMax` meant as no
    /// cap.
    @Test("the backoff doubles up to a backoffMax near Int64.max nanoseconds without trapping, and stays there")
    func backoffWithoutACap() {
        let policy = NumbersClientConfiguration.RetryPolicy(
            attemptsMax: 100, initialBackoff: .seconds(1), backoffMax: .nanoseconds(.max))
        var attempts = CallAttempts(retryClass: .idempotent, idempotencyKey: nil, policy: policy)
        var retries = 0
        while case .retry(let backoff, _) = attempts.failed(.connectFailed(message: "refused")) {
            #expect(backoff >= .zero && backoff <= TimeAmount.nanoseconds(.max))
            retries += 1
        }
        #expect(retries == 99)
    }

    /// A call refused by a GOAWAY (above its last stream) was marked sent: a deadline or cancellation before its
    /// retry went out lost `outcome=not-started`.
    @Test("refused by a GOAWAY, then the deadline or a cancellation before the retry: not-started")
    func refusedByGoAwayThenDeadline() {
        var attempts = CallAttempts(retryClass: .unsafe, idempotencyKey: nil, policy: KeyedRetryTests.quickRetries())
        guard case .retry = attempts.failed(.connectionLost(message: "going away", unstarted: true)) else {
            Issue.record("a call a GOAWAY refused was not retried")
            return
        }
        #expect(attempts.deadlinePassed().details["outcome"] == "not-started", "\(attempts.deadlinePassed())")
        #expect(attempts.cancelled().details["outcome"] == "not-started", "\(attempts.cancelled())")
    }

    @Test("after SHUTTING_DOWN, attempts that cannot connect wait for the restart instead of spending the attempts")
    func restartIsWaitedFor() {
        let policy = NumbersClientConfiguration.RetryPolicy(attemptsMax: 3, restartRetriesMax: 4)
        var attempts = CallAttempts(retryClass: .unsafe, idempotencyKey: nil, policy: policy)
        let stopping = RPCError(status: .shuttingDown)!
        guard case .retry = attempts.failed(.status(stopping)) else {
            Issue.record("SHUTTING_DOWN was not retried")
            return
        }
        // 4 waits for the restart, then the one attempt left before the last (SHUTTING_DOWN's was the first).
        for index in 0..<5 {
            guard case .retry = attempts.failed(.connectFailed(message: "refused")) else {
                Issue.record("connect failure \(index + 1) was not retried")
                return
            }
        }
        guard case .fail(let error) = attempts.failed(.connectFailed(message: "refused")) else {
            Issue.record("the retries did not end")
            return
        }
        #expect(error.reason == "CONNECT_FAILED")
        // Without a SHUTTING_DOWN first, connect failures spend the attempts as before.
        var plain = CallAttempts(retryClass: .unsafe, idempotencyKey: nil, policy: policy)
        for _ in 0..<2 {
            guard case .retry = plain.failed(.connectFailed(message: "refused")) else {
                Issue.record("a connect failure was not retried")
                return
            }
        }
        guard case .fail = plain.failed(.connectFailed(message: "refused")) else {
            Issue.record("connect failures were retried past attemptsMax")
            return
        }
    }

    @Test("a call answered SHUTTING_DOWN is carried out by the numberd that listens again on the same port")
    func carriedThroughARestart() async throws {
        let first = try await FakeNumbersServer.start(port: try freeLoopbackPort()) { _, _ in .status(.shuttingDown) }
        let port = first.port
        let client = KeyedRetryTests.client(
            port: port,
            retry: .init(
                attemptsMax: 3, initialBackoff: .milliseconds(20), backoffMax: .milliseconds(100),
                restartRetriesMax: 600))
        let call = Task { try await client.createTrunk(CreateTrunkRequest(accountId: "ACC_1", name: "main")) }
        let deadline = ContinuousClock.now + .seconds(60)
        while first.calls.isEmpty, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        await first.stop()
        // Down for a while: without the wait, the two attempts left were spent on refused connects in ~100 ms.
        try await Task.sleep(for: .milliseconds(500))
        let second = try await FakeNumbersServer.start(port: port) { _, _ in .response(Self.trunkCreated) }
        let response = try await call.value
        await client.close()
        await second.stop()
        #expect(response.trunk.id == "TRK_1")
        #expect(first.calls.count == 1 && second.calls.count == 1)
    }
}

/// A restart seldom shows as `SHUTTING_DOWN`: numberd's drain closes the listener and sends GOAWAY, a kill only drops
/// the connection. A call that may be tried again waits for the restart after either as after `SHUTTING_DOWN`.
extension ShuttingDownRetryTests {
    /// Retries quick enough for a test, and enough of them to wait out half a second of refused connects.
    static let restartRetries = NumbersClientConfiguration.RetryPolicy(
        attemptsMax: 3, initialBackoff: .milliseconds(20), backoffMax: .milliseconds(100), restartRetriesMax: 600)

    static func encoded<Message: Encodable>(_ message: Message) -> ByteBuffer {
        var buffer = ByteBuffer()
        try! ProtoEncoder().encode(message, into: &buffer)
        return buffer
    }

    /// Waits until `server` has read a call (a minute at most: a loaded full run is slow).
    static func waitForACall(_ server: FakeNumbersServer) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while server.calls.isEmpty, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
    }

    @Test("after a lost connection or a GOAWAY's refusal, attempts that cannot connect wait for the restart")
    func restartIsWaitedForAfterALostConnection() {
        let policy = NumbersClientConfiguration.RetryPolicy(attemptsMax: 3, restartRetriesMax: 4)
        let failures: [(NumbersClient.RetryClass, CallAttempts.Failure)] = [
            (.keyed, .connectionLost(message: "reset", unstarted: false)),
            (.idempotent, .connectionLost(message: "reset", unstarted: false)),
            // Refused by a GOAWAY: never started, so retried whatever the method, as after SHUTTING_DOWN.
            (.keyed, .connectionLost(message: "server going away", unstarted: true)),
            (.unsafe, .connectionLost(message: "server going away", unstarted: true)),
        ]
        for (retryClass, failure) in failures {
            var attempts = CallAttempts(retryClass: retryClass, idempotencyKey: "k", policy: policy)
            guard case .retry = attempts.failed(failure) else {
                Issue.record("\(retryClass) after \(failure) was not retried")
                continue
            }
            // 4 waits for the restart, then the one attempt left before the last.
            for index in 0..<5 {
                guard case .retry = attempts.failed(.connectFailed(message: "refused")) else {
                    Issue.record("\(retryClass): connect failure \(index + 1) after \(failure) was not retried")
                    break
                }
            }
            guard case .fail = attempts.failed(.connectFailed(message: "refused")) else {
                Issue.record("\(retryClass): the retries after \(failure) did not end")
                continue
            }
        }
        // A call that is neither a read nor keyed, lost after it was sent, is still not tried again: no wait.
        var unsafe = CallAttempts(retryClass: .unsafe, idempotencyKey: nil, policy: policy)
        guard case .fail(let error) = unsafe.failed(.connectionLost(message: "reset", unstarted: false)) else {
            Issue.record("an unsafe call lost after it was sent was retried")
            return
        }
        #expect(error.reason == "CONNECTION_LOST" && error.details == ["outcome": "unknown"])
    }

    @Test("a keyed AddFunds whose connection was lost as the server stopped is carried out after its restart, same key")
    func lostConnectionCarriedThroughARestart() async throws {
        // Closes the connection once the request is read and stops listening: a SIGKILL, or a drain that
        // force-closed the call.
        let first = try await FakeNumbersServer.start(port: try freeLoopbackPort()) { _, _ in
            .closeConnectionAndStopListening
        }
        let port = first.port
        let client = KeyedRetryTests.client(port: port, retry: Self.restartRetries)
        let call = Task { try await client.addFunds(AddFundsRequest(accountId: "ACC_1", amount: 100)) }
        try await Self.waitForACall(first)
        // Down for a while: without the wait, the two attempts left were spent on refused connects in ~100 ms and
        // the call ended UNAVAILABLE / CONNECTION_LOST, outcome unknown.
        try await Task.sleep(for: .milliseconds(500))
        let second = try await FakeNumbersServer.start(port: port) { _, _ in
            .response(Self.encoded(AddFundsResponse(balance: 100)))
        }
        let response = try await call.value
        await client.close()
        await first.stop()
        await second.stop()
        #expect(response.balance == 100)
        #expect(first.calls.count == 1 && second.calls.count == 1)
        let key = first.calls.first?.metadata["idempotency-key"]
        #expect(key != nil && second.calls.first?.metadata["idempotency-key"] == key, "the retry carries the key")
    }

    /// A call started after the client's connection went away — during a drain, or just after a kill — saw nothing
    /// go away itself: its connects refused, it ended CONNECT_FAILED in ~150 ms, though numberd was back in ~1 s. The
    /// pool remembers a connection gone (``NumbersClient/wentAwayRecentSeconds``), and the call waits for the restart.
    @Test("a call started after the server went away waits for its restart rather than failing CONNECT_FAILED at once")
    func callStartedDuringARestart() async throws {
        // The server drops the connection of an unkeyed CreateTrunk (never retried once sent) and stops listening.
        let first = try await FakeNumbersServer.start(port: try freeLoopbackPort()) { _, _ in
            .closeConnectionAndStopListening
        }
        let port = first.port
        let client = KeyedRetryTests.client(port: port, retry: Self.restartRetries)
        let lost = await #expect(throws: RPCError.self) {
            _ = try await client.createTrunk(CreateTrunkRequest(accountId: "ACC_1", name: "main"))
        }
        #expect(lost?.reason == "CONNECTION_LOST", "\(String(describing: lost))")
        await first.stop()
        let deadline = ContinuousClock.now + .seconds(60)
        while client.liveConnectionCount > 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        let call = Task { try await client.listTrunks(ListTrunksRequest(accountId: "ACC_1")) }
        try await Task.sleep(for: .milliseconds(500))
        let second = try await FakeNumbersServer.start(port: port) { _, _ in
            .response(Self.encoded(ListTrunksResponse()))
        }
        let result = await call.result
        await client.close()
        await second.stop()
        #expect((try? result.get()) != nil, "\(result)")
        #expect(second.calls.count == 1)
    }

    @Test(
        "a call a GOAWAY refused as the server stopped is carried out after its restart: keyed, a read, any other",
        arguments: ["AddFunds", "ListTrunks", "CreateTrunk"])
    func refusedByGoAwayCarriedThroughARestart(method: String) async throws {
        let first = try await FakeNumbersServer.start(port: try freeLoopbackPort()) { _, _ in .goAwayAndStopListening }
        let port = first.port
        let client = KeyedRetryTests.client(port: port, retry: Self.restartRetries)
        let call = Task {
            switch method {
            case "AddFunds": _ = try await client.addFunds(AddFundsRequest(accountId: "ACC_1", amount: 100))
            case "ListTrunks": _ = try await client.listTrunks(ListTrunksRequest(accountId: "ACC_1"))
            default: _ = try await client.createTrunk(CreateTrunkRequest(accountId: "ACC_1", name: "main"))
            }
        }
        try await Self.waitForACall(first)
        // Down for a while: without the wait, the attempts left were spent on refused connects in ~100 ms and the
        // call ended UNAVAILABLE / CONNECT_FAILED.
        try await Task.sleep(for: .milliseconds(500))
        let second = try await FakeNumbersServer.start(port: port) { _, _ in
            switch method {
            case "AddFunds": .response(Self.encoded(AddFundsResponse(balance: 100)))
            case "ListTrunks": .response(Self.encoded(ListTrunksResponse(trunks: [Trunk(id: "TRK_1")])))
            default: .response(Self.trunkCreated)
            }
        }
        try await call.value
        await client.close()
        await first.stop()
        await second.stop()
        #expect(first.calls.count == 1 && second.calls.count == 1)
        if method == "AddFunds" {
            let key = first.calls.first?.metadata["idempotency-key"]
            #expect(key != nil && second.calls.first?.metadata["idempotency-key"] == key, "the retry carries the key")
        }
    }
}
