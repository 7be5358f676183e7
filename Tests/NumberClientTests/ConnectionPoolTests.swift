import NIOCore
import NIOPosix
import NumberAPI
import NumberWire
import Testing

@testable import NumberClient

/// The connection pool: a burst of calls spreads over every connection it may open, rather than running the server's
/// concurrent-call limit on the first and queueing the rest there; a connection going away stays the pool's until it
/// ends, so `close()` closes it too.
@Suite("The client's connection pool")
struct ConnectionPoolTests {
    /// Before, the pool opened one connection at a time, every call waiting for it took it, and the calls beyond the
    /// server's limit queued there (never to move) while the other connections came up idle: with 1000 calls on a pool
    /// of 10 at cold start, 100 ran and 900 waited, hundreds of them until their deadline.
    @Test("four calls at once, a pool of 4, a server running one call per connection: four connections, one call each")
    func burstSpreadsOverThePool() async throws {
        // One call at a time per connection, never answered: a call sent on a connection holds its only slot.
        let server = try await FakeNumbersServer.start(settings: ConnectionSettings(maxConcurrentStreams: 1)) { _, _ in
            .never
        }
        let configuration = NumbersClientConfiguration(
            host: "127.0.0.1", port: server.port, trustRoots: .system, connectionPoolSize: 4, retry: .none)
        let client = NumbersClient(configuration: configuration, tls: nil, group: MultiThreadedEventLoopGroup.singleton)
        let request = ListTrunksRequest(accountId: "ACC_1")
        // Deadlines far off, so a loaded machine's slow connects cannot end a call unsent: the four must all be sent.
        let calls = (0..<4).map { _ in
            Task { try await client.listTrunks(request, options: CallOptions(timeout: .seconds(300))) }
        }
        // Before, one call was sent and three queued behind it: the count stayed 1. (A CI run's start once starved
        // the test process for 40 s: the wait ends as soon as all four are sent.)
        let deadline = ContinuousClock.now + .seconds(240)
        while server.calls.count < 4, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        let connections = server.callConnections
        for call in calls { call.cancel() }
        for call in calls { _ = await call.result }
        await client.close()
        await server.stop()
        #expect(connections.sorted() == [0, 1, 2, 3], "the connection of each call sent: \(connections)")
    }

    /// A client review: a call that found every connection full waited only for the connection being made, never
    /// for a slot freed on a full one, so a slow new connection (a connect, a TLS handshake and the server's SETTINGS,
    /// each up to its timeout: about 20 s by default) held it while the connection it could run on sat idle.
    @Test("a call waiting for a new connection takes a slot freed on a full one, without waiting for the new one")
    func aFreedSlotBeatsASlowNewConnection() async throws {
        // One call at a time per connection; the second connection never gets the server's SETTINGS (never up).
        let server = try await FakeNumbersServer.start(
            settings: ConnectionSettings(maxConcurrentStreams: 1), settingsWithheldFrom: 1
        ) { index, _ in
            index == 0 ? .never : .response(ByteBuffer())
        }
        // A connect timeout far above the second call's deadline: only a freed slot can carry it in time.
        let configuration = NumbersClientConfiguration(
            host: "127.0.0.1", port: server.port, trustRoots: .system, connectionPoolSize: 2,
            connectTimeout: .seconds(600), retry: .none)
        let client = NumbersClient(configuration: configuration, tls: nil, group: MultiThreadedEventLoopGroup.singleton)
        let request = ListTrunksRequest(accountId: "ACC_1")
        let first = Task { try await client.listTrunks(request, options: CallOptions(timeout: .seconds(300))) }
        // Generous waits: a CI run's start once starved the test process for 40 s.
        let deadline = ContinuousClock.now + .seconds(240)
        while server.calls.isEmpty, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        try #require(server.calls.count == 1, "the first call was never sent")
        // The first connection is full: the second call waits for the second connection, which never comes up.
        let second = Task { try await client.listTrunks(request, options: CallOptions(timeout: .seconds(120))) }
        while client.waitingCallCount == 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        try #require(client.waitingCallCount == 1, "the second call did not wait for a connection")
        // The first call ends (its caller gives up): its slot is the second call's.
        first.cancel()
        _ = await first.result
        let result = await second.result
        let connections = server.callConnections
        let live = client.liveConnectionCount
        await client.close()
        await server.stop()
        if case .failure(let error) = result { Issue.record("the second call failed: \(error)") }
        #expect(connections == [0, 0], "both calls on the first connection: \(connections)")
        #expect(live == 1, "the second connection never came up")
    }

    /// Before, the next call dropped a connection that had received GOAWAY from the pool, so `close()` never closed
    /// it and its open calls ran on to their deadline, despite "calls in flight fail".
    @Test("a call in flight on a connection that received GOAWAY fails CLIENT_CLOSED when the client closes")
    func closeEndsCallsOnAGoingAwayConnection() async throws {
        let server = try await FakeNumbersServer.start { index, _ in index == 0 ? .goAway : .response(ByteBuffer()) }
        let client = KeyedRetryTests.client(port: server.port, retry: KeyedRetryTests.quickRetries())
        let request = ListTrunksRequest(accountId: "ACC_1")
        let inFlight = Task { try await client.listTrunks(request, options: CallOptions(timeout: .seconds(120))) }
        // The GOAWAY reached the client once the connection that carried the call stops counting as live (waited for
        // up to minutes: a CI run's start once starved the test process for 40 s).
        let deadline = ContinuousClock.now + .seconds(240)
        while server.calls.isEmpty || client.liveConnectionCount > 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        try #require(server.calls.count == 1 && client.liveConnectionCount == 0, "the GOAWAY never reached the client")
        // The next call goes to a new connection (and, before, dropped the going-away one from the pool).
        _ = try await client.listTrunks(request)
        let connections = server.callConnections
        #expect(connections.count == 2 && connections.first == 0 && connections.last != 0, "\(connections)")
        let closed = ContinuousClock.now
        await client.close()
        let result = await inFlight.result
        let took = ContinuousClock.now - closed
        await server.stop()
        guard case .failure(let failure) = result else {
            Issue.record("the call in flight succeeded")
            return
        }
        #expect((failure as? RPCError)?.reason == "CLIENT_CLOSED", "\(failure)")
        // At once (its connection closed), not at its 120 s deadline; generous for a loaded machine.
        #expect(took < .seconds(60), "the call ended \(took) after close()")
    }
}
