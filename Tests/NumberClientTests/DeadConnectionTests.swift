import NIOCore
import NIOPosix
import NumberAPI
import NumberWire
import Testing

@testable import NumberClient

/// A connection whose server stops answering altogether (frozen, wedged, or the path to it gone) is noticed and
/// replaced: before, every call went to it and failed at its deadline until TCP gave up, 15 minutes later (never,
/// while the server's kernel still acknowledged).
@Suite("Dead connections")
struct DeadConnectionTests {
    @Test("a server whose first connection stops reading: a later call succeeds on a second connection within seconds")
    func replacedAfterUnansweredPing() async throws {
        let server = try await FakeNumbersServer.start { index, _ in
            index == 0 ? .stopReading : .response(ByteBuffer())
        }
        let client = NumbersClient(
            configuration: NumbersClientConfiguration(
                host: "127.0.0.1", port: server.port, trustRoots: .system, defaultTimeout: .milliseconds(500),
                retry: KeyedRetryTests.quickRetries(),
                liveness: NumbersClientConfiguration.LivenessPolicy(pingTimeout: .seconds(1))),
            tls: nil, group: MultiThreadedEventLoopGroup.singleton)
        _ = try await client.preferredTaskExecutor()
        let started = ContinuousClock.now
        var failures: [String] = []
        var succeeded = false
        while !succeeded, ContinuousClock.now - started < .seconds(180) {
            do {
                _ = try await client.listNumbers(ListNumbersRequest(accountId: "ACC_1"))
                succeeded = true
            } catch let error as RPCError {
                failures.append(error.reason)
            }
        }
        let elapsed = ContinuousClock.now - started
        await client.close()
        await server.stop()
        #expect(succeeded, "every call failed: \(failures)")
        // Two deadlines (the first may see the SETTINGS ACK arrive after it started), the PING's second, retries —
        // seconds; a loaded run, whose test process may get no CPU for up to 50 s, is given 120 (without the check it
        // took until TCP gave up, minutes).
        #expect(elapsed < .seconds(120), "\(elapsed); \(failures)")
        #expect(server.callConnections.first == 0)
        // On a later connection; a starved run can find the second one silent past its 1 s PING timeout too, and
        // succeed on a third (seen once).
        #expect((server.callConnections.last ?? 0) >= 1, "\(server.callConnections)")
        // A loaded machine may fail a call on the new connection at its 500 ms deadline too: only the dead one's count
        // is exact.
        #expect(server.callConnections.filter { $0 == 0 }.count == 1, "the dead connection read only its first call")
    }
}
