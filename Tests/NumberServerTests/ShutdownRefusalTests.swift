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
        let tls = try TestTLS()
        let ran = CallCounter()
        var router = RPCRouter()
        router.register(NumbersMethods.createTrunk) { _, _ in
            ran.value.add(1, ordering: .relaxed)
            return CreateTrunkResponse(trunk: Trunk(id: "TRK_1"))
        }
        let server = NumberServer(
            configuration: NumberServerConfiguration(port: 0), transport: .tls(tls.serverContext), router: router,
            logger: quietLogger)
        let running = Task { try await server.run() }
        let port = try await server.listeningAddress().port!
        var configuration = tls.clientConfiguration(port: port)
        configuration.retry = .none  // the answer itself, not the retry on a new connection (refused: not listening)
        configuration.defaultTimeout = .seconds(30)  // the first call, on a machine busy with the whole suite
        let client = try NumbersClient(configuration: configuration)
        _ = try await client.createTrunk(CreateTrunkRequest(accountId: "ACC_1", name: "main"))
        running.cancel()
        _ = await running.result
        let error = await #expect(throws: RPCError.self) {
            // Answered at once; without the answer it would wait out this deadline.
            try await client.createTrunk(
                CreateTrunkRequest(accountId: "ACC_1", name: "second"), options: CallOptions(timeout: .seconds(10)))
        }
        await client.close()
        #expect(error?.code == .unavailable, "\(String(describing: error))")
        #expect(error?.reason == "SHUTTING_DOWN", "\(String(describing: error))")
        #expect(error?.details["outcome"] == "not-started", "\(String(describing: error))")
        #expect(ran.value.load(ordering: .relaxed) == 1, "the refused call did not run")
    }
}
