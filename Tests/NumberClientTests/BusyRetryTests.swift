import NIOCore
import NumberAPI
import NumberWire
import Synchronization
import Testing

@testable import NumberClient

/// Calls the server refused for the moment, before doing anything (`RESOURCE_EXHAUSTED` / `RATE_LIMITED`,
/// `PURCHASES_BUSY`, `CHANGES_BUSY`, `SEARCHES_BUSY`, `STATEMENTS_BUSY`, `STORE_BUSY`), are tried again within the attempts and the deadline, whatever
/// the method — not before the `retryAfterMs` the server asked for. A refusal for minutes (`PURCHASE_CAP`), one whose
/// wait would pass the deadline, or a client told not to, gets the refusal as it came.
@Suite("Retries of calls the server refused for the moment")
struct BusyRetryTests {
    static func refusal(_ reason: String, retryAfterMs: Int? = nil) -> RpcStatus {
        RpcStatus(
            code: StatusCode.resourceExhausted.rawValue, message: "busy", reason: reason,
            metadata: retryAfterMs.map { ["retryAfterMs": String($0)] } ?? [:])
    }

    static var released: ByteBuffer {
        var buffer = ByteBuffer()
        try! ProtoEncoder().encode(ReleaseNumberResponse(message: "released", id: "NUM_1"), into: &buffer)
        return buffer
    }

    static let release = ReleaseNumberRequest(accountId: "ACC_1", numberId: "NUM_1")

    @Test(
        "a release refused busy, then rate limited, then done: carried out on the third attempt, after the wait asked",
        arguments: ["CHANGES_BUSY", "PURCHASES_BUSY", "SEARCHES_BUSY", "STATEMENTS_BUSY", "STORE_BUSY"])
    func busyThenRateLimitedThenDone(busy: String) async throws {
        let times = Mutex<[ContinuousClock.Instant]>([])
        let server = try await FakeNumbersServer.start { index, _ in
            times.withLock { $0.append(.now) }
            switch index {
            case 0: return .status(Self.refusal(busy))
            case 1: return .status(Self.refusal("RATE_LIMITED", retryAfterMs: 150))
            default: return .response(Self.released)
            }
        }
        let client = KeyedRetryTests.client(port: server.port, retry: KeyedRetryTests.quickRetries())
        let response = try await client.releaseNumber(Self.release)
        await client.close()
        await server.stop()
        #expect(response.id == "NUM_1" && server.calls.count == 3)
        let seen = times.withLock { $0 }
        #expect(seen.count == 3 && seen[2] - seen[1] >= .milliseconds(150), "the retry waited for retryAfterMs")
    }

    @Test("refused every time: the last refusal as it came, no outcome claimed, after attemptsMax attempts")
    func refusedEveryTime() async throws {
        let server = try await FakeNumbersServer.start { _, _ in .status(Self.refusal("RATE_LIMITED", retryAfterMs: 1))
        }
        let client = KeyedRetryTests.client(port: server.port, retry: KeyedRetryTests.quickRetries())
        let error = await #expect(throws: RPCError.self) { try await client.releaseNumber(Self.release) }
        await client.close()
        await server.stop()
        #expect(server.calls.count == 3)
        #expect(error?.reason == "RATE_LIMITED" && error?.details["outcome"] == nil, "\(String(describing: error))")
    }

    /// Deadlines past a loaded run's first minute (30 s ran out once before the call reached the server); the wait
    /// asked for past its deadline is ten times it.
    @Test(
        "not retried: a purchase cap, a wait past the deadline, a client with retriesWhenBusy off",
        arguments: [
            ("PURCHASE_CAP", 1, true, 600), ("RATE_LIMITED", 6_000_000, true, 600), ("CHANGES_BUSY", 0, false, 600),
        ])
    func notRetried(reason: String, retryAfterMs: Int, retries: Bool, deadlineSeconds: Int64) async throws {
        let server = try await FakeNumbersServer.start { _, _ in
            .status(Self.refusal(reason, retryAfterMs: retryAfterMs))
        }
        var policy = KeyedRetryTests.quickRetries()
        policy.retriesWhenBusy = retries
        let client = KeyedRetryTests.client(port: server.port, retry: policy, timeout: .seconds(deadlineSeconds))
        let error = await #expect(throws: RPCError.self) { try await client.releaseNumber(Self.release) }
        await client.close()
        await server.stop()
        #expect(server.calls.count == 1)
        #expect(error?.reason == reason, "\(String(describing: error))")
    }

    @Test("a keyed purchase whose connection was lost, then refused busy, then done: the first key throughout")
    func keyedAfterLostConnection() async throws {
        let server = try await FakeNumbersServer.start { index, _ in
            switch index {
            case 0: .closeConnection
            case 1: .status(Self.refusal("PURCHASES_BUSY"))
            default: .response(KeyedRetryTests.bought)
            }
        }
        let client = KeyedRetryTests.client(port: server.port, retry: KeyedRetryTests.quickRetries())
        let response = try await client.purchaseNumbers(KeyedRetryTests.purchase)
        await client.close()
        await server.stop()
        #expect(response.message == "bought")
        let keys = server.calls.map { $0.metadata["idempotency-key"] }
        #expect(keys.count == 3 && keys.allSatisfy { $0 != nil && $0 == keys[0] })
    }
}

extension BusyRetryTests {
    @Test("the client closed while a call waits out a retryAfterMs of 120 s: CLIENT_CLOSED at once, not 120 s later")
    func closedDuringRetryAfter() async throws {
        // 120 s, so that "at once" can be given 60 s: a starved test process gets no CPU for up to 50 s.
        let server = try await FakeNumbersServer.start { _, _ in
            .status(Self.refusal("RATE_LIMITED", retryAfterMs: 120_000))
        }
        // A read: were the client to close before the refusal reached it, the call's connection would end under it
        // and its retry find the client closed, CLIENT_CLOSED all the same (a keyed call would claim an unknown
        // outcome instead).
        let client = KeyedRetryTests.client(
            port: server.port, retry: KeyedRetryTests.quickRetries(), timeout: .seconds(300))
        let call = Task { try await client.listTrunks(ListTrunksRequest(accountId: "ACC_1")) }
        let deadline = ContinuousClock.now + .seconds(60)
        while server.calls.isEmpty, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        // Time for the refusal to reach the client, which then waits 120 s before its next attempt.
        try await Task.sleep(for: .milliseconds(300))
        let closing = ContinuousClock.now
        await client.close()
        let result = await call.result
        let took = ContinuousClock.now - closing
        await server.stop()
        guard case .failure(let failure) = result else {
            Issue.record("the call succeeded")
            return
        }
        let error = failure as? RPCError
        #expect(error?.reason == "CLIENT_CLOSED", "\(failure)")
        #expect(error?.details["outcome"] == nil, "nothing was sent since the refusal: \(failure)")
        // Generous for a starved full run: the call ends at once, or (before) when the 120 s were over.
        #expect(took < .seconds(60), "the call ended \(took) after close()")
        #expect(server.calls.count == 1, "no attempt after close()")
    }
}
