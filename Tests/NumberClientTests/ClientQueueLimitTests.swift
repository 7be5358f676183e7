import NIOCore
import NIOPosix
import NumberAPI
import NumberWire
import Testing

@testable import NumberClient

/// A connection holds at most `NumbersClientConfiguration.queuedCallsMax` calls while the server's concurrent-call
/// limit is reached; one more fails at once with `RESOURCE_EXHAUSTED` / `CLIENT_QUEUE_FULL`, never sent.
@Suite("The client's per-connection call queue")
struct ClientQueueLimitTests {
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
