import NIOCore
import NIOPosix
import NumberAPI
import NumberWire
import Testing

@testable import NumberClient

/// A connection holds at most `NumbersClientConfiguration.queuedCallsMax` calls while the server's concurrent-call
/// limit is reached, and the pool at most `poolWaitingCallsMax` while they wait for a connection being made; one more
/// fails at once with `RESOURCE_EXHAUSTED` / `CLIENT_QUEUE_FULL`, never sent.
@Suite("The client's call queues")
struct ClientQueueLimitTests {
    /// A review: the pool's line of calls waiting for a connection being made had no bound but their deadlines, so a
    /// burst against a server that does not answer (a connect stalled, SETTINGS never sent) held every call in memory.
    @Test(
        "while the only connection is being made, poolWaitingCallsMax calls wait and the next fails CLIENT_QUEUE_FULL")
    func poolLineEdge() async throws {
        let limit = 3
        // TLS completes and the server never greets: the connection is being made until the 300 s connect timeout.
        let server = try await FakeTLSServer.start(.neverSendsSettings)
        var configuration = NumbersClientConfiguration(
            host: "127.0.0.1", port: server.port, apiKey: "nk_test", trustRoots: server.pki.authority.trustRoots,
            connectTimeout: .seconds(300), defaultTimeout: .seconds(600), retry: .none)
        configuration.handshakeTimeout = .seconds(240)
        configuration.poolWaitingCallsMax = limit
        let client = try NumbersClient(configuration: configuration)
        let request = ListTrunksRequest(accountId: "ACC_1")
        let waiting = (0..<limit).map { _ in Task { try await client.listTrunks(request) } }
        let setUp = ContinuousClock.now + .seconds(240)
        while client.waitingCallCount < limit, ContinuousClock.now < setUp {
            try await Task.sleep(for: .milliseconds(10))
        }
        try #require(client.waitingCallCount == limit, "the calls did not all wait: \(client.waitingCallCount)")

        // One more is refused at once, unsent, keyed or not; the line is as it was. (Their deadline only ends them
        // should they wait instead.)
        let refused = await #expect(throws: RPCError.self) {
            try await client.listTrunks(request, options: CallOptions(timeout: .seconds(30)))
        }
        #expect(
            refused?.code == .resourceExhausted && refused?.reason == "CLIENT_QUEUE_FULL",
            "\(String(describing: refused))")
        #expect(refused?.details == ["outcome": "not-started", "limit": "\(limit)"], "\(String(describing: refused))")
        let keyed = await #expect(throws: RPCError.self) {
            try await client.purchaseNumbers(
                ConnectionReadinessTests.purchase,
                options: CallOptions(timeout: .seconds(30), idempotencyKey: "pool-full"))
        }
        #expect(keyed?.reason == "CLIENT_QUEUE_FULL", "\(String(describing: keyed))")
        #expect(keyed?.details["outcome"] == "not-started", "\(String(describing: keyed))")
        #expect(keyed?.notStarted == true && keyed?.outcomeUnknown == false, "\(String(describing: keyed))")
        #expect(client.waitingCallCount == limit)

        // A place freed (a waiting call cancelled) takes the next call.
        waiting[0].cancel()
        let cancelled = await #expect(throws: RPCError.self) { try await waiting[0].value }
        #expect(cancelled?.reason == "CANCELLED" && cancelled?.details["outcome"] == "not-started")
        let next = Task { try await client.listTrunks(request) }
        while client.waitingCallCount < limit { try await Task.sleep(for: .milliseconds(10)) }
        for call in waiting.dropFirst() + [next] { call.cancel() }
        for call in waiting.dropFirst() + [next] {
            let ended = await #expect(throws: RPCError.self) { try await call.value }
            #expect(ended?.reason == "CANCELLED", "\(String(describing: ended))")
        }
        #expect(server.headers.isEmpty, "nothing was sent")
        await client.close()
        await server.stop()
    }

    @Test("with the server's one call slot taken, queuedCallsMax calls wait and the next one fails CLIENT_QUEUE_FULL")
    func queueEdge() async throws {
        let limit = 4
        // One call at a time, never answered: the first call holds the only slot for good, later ones can only wait.
        let server = try await FakeNumbersServer.start(settings: ConnectionSettings(maxConcurrentStreams: 1)) { _, _ in
            .never
        }
        var configuration = NumbersClientConfiguration(
            host: "127.0.0.1", port: server.port, trustRoots: .system, defaultTimeout: .seconds(120), retry: .none)
        configuration.queuedCallsMax = limit
        let client = NumbersClient(configuration: configuration, tls: nil, group: MultiThreadedEventLoopGroup.singleton)
        let request = ListTrunksRequest(accountId: "ACC_1")
        let running = Task { try await client.listTrunks(request) }
        while server.calls.isEmpty { try await Task.sleep(for: .milliseconds(10)) }

        // limit + 1 calls at once: whatever order they reach the connection in, `limit` of them are queued and the
        // one that finds the queue full is refused at once. The waiting ones end only at their deadline (60 s), so a
        // queue one longer would make the first outcome a deadline, one shorter would refuse two.
        let outcomes = await withTaskGroup(of: RPCError?.self) { group in
            for _ in 0...limit {
                group.addTask {
                    do {
                        _ = try await client.listTrunks(request, options: CallOptions(timeout: .seconds(60)))
                        return nil
                    } catch let error as RPCError {
                        return error
                    } catch {
                        return RPCError(code: .unknown, message: "\(error)", reason: "TEST")
                    }
                }
            }
            var outcomes: [RPCError?] = []
            if let first = await group.next() { outcomes.append(first) }
            // The queued calls are cancelled: they fail as never sent.
            group.cancelAll()
            for await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        try #require(outcomes.count == limit + 1)
        let refused = outcomes[0]
        #expect(refused?.code == .resourceExhausted, "\(String(describing: refused))")
        #expect(refused?.reason == "CLIENT_QUEUE_FULL", "\(String(describing: refused))")
        #expect(refused?.details["limit"] == "\(limit)")
        #expect(refused?.details["outcome"] == "not-started")
        for waited in outcomes.dropFirst() {
            #expect(waited?.reason == "CANCELLED", "\(String(describing: waited))")
            #expect(waited?.details["outcome"] == "not-started", "\(String(describing: waited))")
        }
        #expect(server.calls.count == 1, "only the call holding the slot was sent")
        running.cancel()
        _ = await running.result
        await client.close()
        await server.stop()
    }
}
