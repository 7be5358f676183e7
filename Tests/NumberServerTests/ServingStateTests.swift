import NumberAPI
import NumberClient
import NumberServer
import ServiceLifecycle
import Testing

/// What a readiness probe reads (`/readyz` on numberd's metrics listener): the server is `serving` only between its
/// bind and the start of a graceful shutdown. Before, nothing outside the server could tell a draining one from a
/// serving one.
@Suite("The server's serving state")
struct ServingStateTests {
    @Test("starting before run(), serving once bound, draining while a call finishes, stopped when run() returns")
    func lifecycle() async throws {
        let tls = try TestTLS()
        let (started, startedSignal) = AsyncStream.makeStream(of: Void.self)
        let (release, releaseSignal) = AsyncStream.makeStream(of: Void.self)
        var router = RPCRouter()
        router.register(NumbersMethods.getAccount) { request, _ in
            startedSignal.yield()
            var waiting = release.makeAsyncIterator()
            await waiting.next()
            return GetAccountResponse(account: Account(id: request.accountId))
        }
        let server = NumberServer(
            configuration: NumberServerConfiguration(port: 0), transport: .tls(tls.serverContext), router: router,
            logger: quietLogger)
        #expect(server.servingState == .starting)
        let group = ServiceGroup(services: [server], logger: quietLogger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let port = try await server.listeningAddress().port!
            #expect(server.servingState == .serving)
            try await withNumbersClient(tls.clientConfiguration(port: port)) { client in
                async let held = client.getAccount(GetAccountRequest(accountId: "ACC_held"))
                var iterator = started.makeAsyncIterator()
                await iterator.next()
                await group.triggerGracefulShutdown()
                // The drain begins on the shutdown handler's task: wait for it (a loaded machine may be slow).
                let deadline = ContinuousClock.now + .seconds(30)
                while server.servingState == .serving, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(10))
                }
                #expect(server.servingState == .draining)
                releaseSignal.yield()
                #expect(try await held.account.id == "ACC_held")
            }
            try await tasks.next()
        }
        #expect(server.servingState == .stopped)
    }

    /// The drain's force-close timer held the server — and through its router the service and the store — until it
    /// fired (`drainTimeout`, 30 s by default) however quickly the drain finished: an in-process shutdown (tests,
    /// an embedding) kept all of it alive that long. It is cancelled when `run()` returns.
    @Test("a quick graceful shutdown leaves nothing holding the server")
    func quickShutdownReleasesTheServer() async throws {
        let tls = try TestTLS()
        weak var released: NumberServer?
        do {
            let server = NumberServer(
                configuration: NumberServerConfiguration(port: 0, drainTimeout: .seconds(120)),
                transport: .tls(tls.serverContext), router: RPCRouter(), logger: quietLogger)
            released = server
            let group = ServiceGroup(services: [server], logger: quietLogger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                _ = try await server.listeningAddress()
                await group.triggerGracefulShutdown()
                try await tasks.next()
            }
            #expect(server.servingState == .stopped)
        }
        // Whatever else lets go of it (the listener's channel) does so at once; the timer would hold it for 120 s.
        let deadline = ContinuousClock.now + .seconds(20)
        while released != nil, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(released == nil, "the server is still held after its shutdown")
    }

    @Test("a server that cannot bind is stopped, not starting")
    func bindFailure() async throws {
        let tls = try TestTLS()
        let server = NumberServer(
            configuration: NumberServerConfiguration(host: "203.0.113.1", port: 0), transport: .tls(tls.serverContext),
            router: RPCRouter(), logger: quietLogger)
        await #expect(throws: (any Error).self) { try await server.run() }
        #expect(server.servingState == .stopped)
    }
}
