import NIOCore
import NIOPosix
import NumberAPI
import NumberWire
import Synchronization
import TestSupport
import Testing

@testable import NumberClient

/// Calls waiting in the pool for room: who wakes them. A pool review found room that reached no waiting call — a
/// connection come up woke only the calls waiting for it, and a slot freed in the instant a waiting call woke for its
/// own connection went to that call, which had no use for it — and work under the pool's lock growing with the calls
/// waiting.
extension ConnectionPoolTests {
    /// Before, a connection that came up woke only the calls that waited for its attempt: a call that waited for
    /// another attempt waited on for that one (up to ~20 s, or its deadline) while the new connection had room for it.
    @Test("a connection that comes up with room to spare wakes a call that waits for another connection being made")
    func aNewConnectionWakesCallsWaitingForAnother() async throws {
        // Two calls at a time per connection, never answered; the second connection gets the server's SETTINGS when
        // the test says, the third never.
        let server = try await FakeNumbersServer.start(
            settings: ConnectionSettings(maxConcurrentStreams: 2), settingsWithheldFrom: 2, settingsHeld: [1]
        ) { _, _ in .never }
        let client = Self.client(port: server.port, poolSize: 3)
        let calls = Calls(client)
        // Generous waits: a CI run's start once starved the test process for 40 s.
        let setUp = ContinuousClock.now + .seconds(240)
        // Two calls fill the first connection; the first of them started the second connection in the background.
        calls.start()
        try await Self.require(by: setUp, "the first call was never sent") { server.calls.count == 1 }
        calls.start()
        try await Self.require(by: setUp, "the second call was never sent") { server.calls.count == 2 }
        // The third waits for the second connection, the fourth for a third connection it starts.
        calls.start()
        try await Self.require(by: setUp, "the third call did not wait") { client.waitingCallCount == 1 }
        calls.start()
        try await Self.require(
            by: setUp,
            "the fourth call did not wait for a third connection: \(client.waitingCallCount) waiting, "
                + "\(server.openConnections) connections"
        ) { client.waitingCallCount == 2 && server.openConnections == 3 }
        // The second connection comes up with two slots: one for the call that waited for it, one for the fourth.
        server.releaseSettings(connection: 1)
        let sent = await Self.until(ContinuousClock.now + .seconds(60)) { server.calls.count == 4 }
        let connections = server.callConnections
        await calls.end()
        await client.close()
        await server.stop()
        #expect(sent, "the fourth call was not sent: it waited for the third connection, which never comes up")
        #expect(connections.sorted() == [0, 0, 1, 1], "the connection of each call sent: \(connections)")
    }

    /// Before, a call woken by its own connection coming up stayed first among the calls waiting for room until its
    /// task ran again: a call ending in that gap woke it, to no use, and the slot freed woke no one — the next call
    /// waiting waited for its own connection (up to ~20 s) or its deadline. The test holds the first call in that gap.
    @Test("a slot freed while a call woken by its own connection has not picked yet goes to the next call waiting")
    func aFreedSlotSkipsACallAlreadyWoken() async throws {
        // One call at a time per connection; the first call is never answered, the others are. The second connection
        // comes up when the test says, the third never.
        let server = try await FakeNumbersServer.start(
            settings: ConnectionSettings(maxConcurrentStreams: 1), settingsWithheldFrom: 2, settingsHeld: [1]
        ) { index, _ in index == 0 ? .never : .response(ByteBuffer()) }
        let client = Self.client(port: server.port, poolSize: 3)
        let calls = Calls(client)
        let setUp = ContinuousClock.now + .seconds(240)
        calls.start()
        try await Self.require(by: setUp, "the first call was never sent") { server.calls.count == 1 }
        // The second call waits for the second connection (started in the background by the first), the third for a
        // third connection it starts.
        calls.start()
        try await Self.require(by: setUp, "the second call did not wait") { client.waitingCallCount == 1 }
        calls.start()
        try await Self.require(by: setUp, "the third call did not wait for a third connection") {
            client.waitingCallCount == 2 && server.openConnections == 3
        }
        // The second connection comes up (room for one: the second call's): the second call wakes, and is held
        // before it picks.
        let gate = Gate()
        client.wokenHook.withLock { hook in hook = { await gate.wait() } }
        server.releaseSettings(connection: 1)
        let woke = await Self.until(setUp) { gate.isWaitedAt }
        if !woke { gate.open() }
        try #require(woke, "the second call did not wake when its connection came up")
        // The first call ends: its slot, on the first connection, is the third call's.
        await calls.end(0)
        gate.open()
        let sent = await Self.until(ContinuousClock.now + .seconds(60)) { server.calls.count == 3 }
        let connections = server.callConnections
        // Its answer (the server answers it at once) may still be on its way: awaited, not cancelled.
        let third = sent ? await calls.result(2) : await calls.end(2)
        await calls.end()
        await client.close()
        await server.stop()
        #expect(sent, "the third call was not sent: the slot freed woke no call")
        #expect(connections.sorted() == [0, 0, 1], "the connection of each call sent: \(connections)")
        if case .failure(let error) = third { Issue.record("the third call failed: \(error)") }
    }

    /// Before, a task waiting for an executor (`preferredTaskExecutor()`, which takes no slot) was counted among the
    /// calls a connection coming up has a slot for: the call waiting behind it was not woken, and waited for its own
    /// connection (here never) or its deadline while the new connection had room for it.
    @Test("a connection that comes up for a task waiting for an executor wakes the call waiting behind it")
    func anExecutorWaitPassesItsSlotOn() async throws {
        // One call at a time per connection, never answered; the first connection gets the server's SETTINGS when the
        // test says, the second never.
        let server = try await FakeNumbersServer.start(
            settings: ConnectionSettings(maxConcurrentStreams: 1), settingsWithheldFrom: 1, settingsHeld: [0]
        ) { _, _ in .never }
        let client = Self.client(port: server.port, poolSize: 2)
        let calls = Calls(client)
        let setUp = ContinuousClock.now + .seconds(240)
        let executor = Task { try await client.preferredTaskExecutor() }
        try await Self.require(by: setUp, "the executor did not wait for the first connection") {
            client.waitingCallCount == 1 && server.openConnections == 1
        }
        // The call waits for a second connection it starts.
        calls.start()
        try await Self.require(by: setUp, "the call did not wait for a second connection") {
            client.waitingCallCount == 2 && server.openConnections == 2
        }
        // The first connection comes up with one slot, which the executor does not take.
        server.releaseSettings(connection: 0)
        let gotExecutor = await executor.result
        let sent = await Self.until(ContinuousClock.now + .seconds(60)) { server.calls.count == 1 }
        let connections = server.callConnections
        await calls.end()
        await client.close()
        await server.stop()
        if case .failure(let error) = gotExecutor { Issue.record("the executor was not given: \(error)") }
        #expect(sent, "the call was not sent: it waited for the second connection, which never comes up")
        #expect(connections == [0], "the connection of each call sent: \(connections)")
    }

    /// Before, a call that stopped waiting searched the calls waiting for room for its own (O(n) under the pool's
    /// lock, which every call takes): 2 000 calls giving up newest first cost 2·10⁶ comparisons (2·10⁸ at 20 000). Now it is only marked
    /// out of line (``RoomWaiters``); this checks that bookkeeping at that scale, through the client.
    @Test("2 000 calls waiting for room, cancelled newest first: none is left waiting, and every one ends cancelled")
    func manyWaitingCallsCancelled() async throws {
        // One call at a time per connection, never answered; the second connection never comes up.
        let server = try await FakeNumbersServer.start(
            settings: ConnectionSettings(maxConcurrentStreams: 1), settingsWithheldFrom: 1
        ) { _, _ in .never }
        let client = Self.client(port: server.port, poolSize: 2)
        let calls = Calls(client)
        let setUp = ContinuousClock.now + .seconds(240)
        calls.start()
        try await Self.require(by: setUp, "the first call was never sent") { server.calls.count == 1 }
        let count = 2_000
        for _ in 0..<count { calls.start() }
        try await Self.require(by: setUp, "\(client.waitingCallCount) of \(count) calls waiting") {
            client.waitingCallCount == count
        }
        for index in (1...count).reversed() { calls.cancel(index) }
        let ended = await Self.until(ContinuousClock.now + .seconds(120)) { calls.endedCount == count }
        let waiting = client.waitingCallCount
        var cancelled = 0
        if ended {
            for index in 1...count {
                if case .failure(let error) = await calls.end(index), (error as? RPCError)?.reason == "CANCELLED" {
                    cancelled += 1
                }
            }
        }
        await calls.end()
        await client.close()
        await server.stop()
        #expect(ended, "\(calls.endedCount) of \(count) calls ended")
        #expect(waiting == 0, "\(waiting) calls still waiting")
        #expect(cancelled == count, "\(cancelled) of \(count) calls ended CANCELLED")
    }

    /// A client of `poolSize` connections to the fake server on `port`, its connect timeout far above any wait of
    /// these tests (a connection never comes up unless the test says so), calls never retried.
    static func client(port: Int, poolSize: Int) -> NumbersClient {
        let configuration = NumbersClientConfiguration(
            host: "127.0.0.1", port: port, trustRoots: .system, connectionPoolSize: poolSize,
            connectTimeout: .seconds(600), retry: .none)
        return NumbersClient(configuration: configuration, tls: nil, group: MultiThreadedEventLoopGroup.singleton)
    }

    /// Waits until `condition` holds or `deadline` passes, looking every 10 ms; whether it held.
    static func until(_ deadline: ContinuousClock.Instant, _ condition: () -> Bool) async -> Bool {
        while !condition(), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition()
    }

    /// Waits until `condition` holds, as ``until(_:_:)``; if it does not by `deadline`, the test stops, `failure`
    /// saying what did not happen.
    static func require(
        by deadline: ContinuousClock.Instant, _ failure: @autoclosure () -> String,
        sourceLocation: SourceLocation = #_sourceLocation, _ condition: () -> Bool
    ) async throws {
        let held = await until(deadline, condition)
        let message = held ? "" : failure()
        try #require(held, "\(message)", sourceLocation: sourceLocation)
    }
}

/// The calls a test makes (ListTrunks, deadline 300 s: far above any wait of the test, so none ends unsent by a slow
/// machine), numbered from 0 in the order started.
private final class Calls: Sendable {
    typealias Outcome = Result<ListTrunksResponse, any Error>

    private let client: NumbersClient
    private let tasks = Mutex<[Task<ListTrunksResponse, any Error>]>([])
    private let ended = Mutex(0)

    init(_ client: NumbersClient) { self.client = client }

    /// Calls that have ended.
    var endedCount: Int { ended.withLock { $0 } }

    /// Starts the next call.
    func start() {
        let task = Task { [self] in
            defer { ended.withLock { $0 += 1 } }
            return try await client.listTrunks(
                ListTrunksRequest(accountId: "ACC_1"), options: CallOptions(timeout: .seconds(300)))
        }
        tasks.withLock { $0.append(task) }
    }

    /// Cancels call `index`.
    func cancel(_ index: Int) {
        tasks.withLock { $0[index] }.cancel()
    }

    /// Waits for the outcome of call `index`, without cancelling it (a call answered: its answer may still be on its
    /// way when the server has counted it, and cancelling it then ended it CANCELLED).
    func result(_ index: Int) async -> Outcome {
        await tasks.withLock { $0[index] }.result
    }

    /// Cancels call `index` and waits for its outcome.
    @discardableResult
    func end(_ index: Int) async -> Outcome {
        let task = tasks.withLock { $0[index] }
        task.cancel()
        return await task.result
    }

    /// Cancels every call and waits for them all to end.
    func end() async {
        let all = tasks.withLock { $0 }
        for task in all { task.cancel() }
        for task in all { _ = await task.result }
    }
}
