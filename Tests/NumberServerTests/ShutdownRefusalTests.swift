import Foundation
import NIOCore
import NumberAPI
import NumberClient
import NumberServer
import Testing

/// A call that reaches an open connection after the server stopped taking calls from it (its task was cancelled)
/// is never started: it is answered `UNAVAILABLE` / `SHUTTING_DOWN` at once, which clients retry elsewhere, not
/// left without an answer until the caller's deadline.
@Suite("Calls after the server stopped")
struct ShutdownRefusalTests {
    @Test("a call on a connection whose server task was cancelled is answered SHUTTING_DOWN and not run")
    func answeredShuttingDown() async throws {
        let ran = CallCounter()
        let (running, client) = try await Self.serving { _, _ in
            ran.value.add(1, ordering: .relaxed)
            return CreateTrunkResponse(trunk: Trunk(id: "TRK_1"))
        }
        _ = try await client.createTrunk(CreateTrunkRequest(accountId: "ACC_1", name: "main"))
        running.cancel()
        _ = await running.result
        let error = await #expect(throws: RPCError.self) {
            // Answered at once; without the answer it would wait out this deadline (DEADLINE_EXCEEDED), long enough
            // for a machine busy with the whole suite.
            try await client.createTrunk(
                CreateTrunkRequest(accountId: "ACC_1", name: "second"), options: CallOptions(timeout: .seconds(120)))
        }
        await client.close()
        #expect(error?.code == .unavailable, "\(String(describing: error))")
        #expect(error?.reason == "SHUTTING_DOWN", "\(String(describing: error))")
        #expect(error?.details["outcome"] == "not-started", "\(String(describing: error))")
        #expect(ran.value.load(ordering: .relaxed) == 1, "the refused call did not run")
    }

    /// The protocol review: a call running when the server's task was cancelled lost its answer — the call's task saw
    /// its own cancellation as the connection's and dropped the handler's result — though the connection stayed
    /// open: the call held its stream until the client's deadline (for ever without one). ERRORS.md's
    /// CreateBackup `CANCELLED` for this case could never be sent.
    @Test("a call running when the server task is cancelled gets its handler's answer, not silence")
    func runningCallAnswered() async throws {
        let started = CallCounter()
        let (running, client) = try await Self.serving { _, _ in
            started.value.add(1, ordering: .relaxed)
            do {
                try await Task.sleep(for: .seconds(3600))
            } catch {
                // A handler that takes a moment to wind down (a backup's queue, a Twilio request being cut): the
                // call's task saw its cancellation first and dropped what the handler answered.
                usleep(100_000)
                throw RPCError(code: .cancelled, message: "the server stopped the call", reason: "CANCELLED")
            }
            return CreateTrunkResponse(trunk: Trunk(id: "TRK_1"))
        }
        let call = Task {
            try await client.createTrunk(
                CreateTrunkRequest(accountId: "ACC_1", name: "main"), options: CallOptions(timeout: .seconds(300)))
        }
        // Generous: a CI run's start once starved the test process for 40 s.
        let deadline = ContinuousClock.now + .seconds(100)
        while started.value.load(ordering: .relaxed) == 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        try #require(started.value.load(ordering: .relaxed) == 1, "the call never started")
        let cancelled = ContinuousClock.now
        running.cancel()
        _ = await running.result
        let result = await call.result
        let took = ContinuousClock.now - cancelled
        await client.close()
        guard case .failure(let failure) = result, let error = failure as? RPCError else {
            Issue.record("the call was not refused: \(result)")
            return
        }
        #expect(error.reason == "CANCELLED" && error.message == "the server stopped the call", "\(error)")
        #expect(took < .seconds(250), "answered, not ended by its own deadline: \(took)")
    }

    /// A server over TLS whose CreateTrunk is `createTrunk`, running in the task returned, and a client of it that
    /// does not retry (the answer itself, not the retry on a new connection: refused, not listening).
    static func serving(
        _ createTrunk: @escaping @Sendable (CreateTrunkRequest, CallContext) async throws -> CreateTrunkResponse
    ) async throws -> (Task<Void, any Error>, NumbersClient) {
        let tls = try TestTLS()
        var router = RPCRouter()
        router.register(NumbersMethods.createTrunk, createTrunk)
        let server = NumberServer(
            configuration: NumberServerConfiguration(port: 0), transport: .tls(tls.serverContext), router: router,
            logger: quietLogger)
        let running = Task { try await server.run() }
        let port = try await server.listeningAddress().port!
        var configuration = tls.clientConfiguration(port: port)
        configuration.retry = .none
        return (running, try NumbersClient(configuration: configuration))
    }
}
