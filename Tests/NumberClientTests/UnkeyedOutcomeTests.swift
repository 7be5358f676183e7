import NIOCore
import NumberAPI
import Testing

@testable import NumberClient

/// Calls that change something without an idempotency key (CreateTrunk, UpdateNumber, CreateApiKey, …): one whose
/// deadline passes or whose task is cancelled after its request was sent may have run at the server, so the error
/// says `outcome=unknown` (as a lost connection does), with no key to name. A read's deadline claims no such thing.
@Suite("Unkeyed calls whose outcome is unknown")
struct UnkeyedOutcomeTests {
    static let trunk = CreateTrunkRequest(accountId: "ACC_1", name: "main")

    @Test("a CreateTrunk the server never answers: DEADLINE_EXCEEDED with outcome=unknown and no key")
    func deadlineAfterSent() async throws {
        let server = try await FakeNumbersServer.start { _, _ in .never }
        let client = KeyedRetryTests.client(
            port: server.port, retry: KeyedRetryTests.quickRetries(), timeout: .seconds(60))
        // Connected first, and a deadline long enough that a loaded machine (the full suite on two cores, whose test
        // process may get no CPU for up to 50 s) still sends the call before it: one ended unsent says
        // outcome=not-started, which is not what this test is about.
        _ = try await client.preferredTaskExecutor()
        let error = await #expect(throws: RPCError.self) { try await client.createTrunk(Self.trunk) }
        await client.close()
        await server.stop()
        #expect(server.calls.count == 1, "not retried: it may have run")
        #expect(error?.code == .deadlineExceeded, "\(String(describing: error))")
        #expect(error?.details["outcome"] == "unknown", "\(String(describing: error))")
        #expect(error?.details["idempotencyKey"] == nil, "\(String(describing: error))")
    }

    @Test("an UpdateNumber cancelled after it was sent: CANCELLED with outcome=unknown and no key")
    func cancelledAfterSent() async throws {
        let server = try await FakeNumbersServer.start { _, _ in .never }
        let client = KeyedRetryTests.client(port: server.port, retry: KeyedRetryTests.quickRetries())
        let call = Task {
            try await client.updateNumber(
                UpdateNumberRequest(accountId: "ACC_1", numberId: "NUM_1", unassignTrunk: true))
        }
        while server.calls.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        call.cancel()
        let result = await call.result
        await client.close()
        await server.stop()
        guard case .failure(let failure) = result, let error = failure as? RPCError else {
            Issue.record("the cancelled call did not fail with an RPCError: \(result)")
            return
        }
        #expect(error.code == .cancelled, "\(error)")
        #expect(error.details["outcome"] == "unknown", "\(error)")
        #expect(error.details["idempotencyKey"] == nil, "\(error)")
    }

    @Test("a read the server never answers: DEADLINE_EXCEEDED as it came, no outcome claimed")
    func readDeadline() async throws {
        let server = try await FakeNumbersServer.start { _, _ in .never }
        let client = KeyedRetryTests.client(
            port: server.port, retry: NumbersClientConfiguration.RetryPolicy.none, timeout: .seconds(2))
        _ = try await client.preferredTaskExecutor()
        let error = await #expect(throws: RPCError.self) {
            try await client.getBalance(GetBalanceRequest(accountId: "ACC_1"))
        }
        await client.close()
        await server.stop()
        #expect(error?.code == .deadlineExceeded, "\(String(describing: error))")
        #expect(error?.details["outcome"] != "unknown", "\(String(describing: error))")
    }
}
