import CurlHTTP
import Foundation
import Testing

@Suite("CurlHTTPClient concurrency, reuse, queueing, cancellation, shutdown")
struct CurlHTTPClientConcurrencyTests {
    /// Timeouts no test here measures, long past a starved test process's pause (no CPU for up to 50 s in a loaded
    /// full run): 10 s in all per request (`withServerAndClient`) and 10 s in the queue ended requests that only had
    /// to wait.
    static func patient(_ configuration: inout HTTPClientConfiguration) {
        configuration.timeouts.connectMilliseconds = 300_000
        configuration.timeouts.totalMilliseconds = 600_000
        configuration.timeouts.queueWaitMilliseconds = 600_000
    }

    @Test func sequentialRequestsReuseOneConnection() async throws {
        try await withServerAndClient(freshServer: true, configure: Self.patient) { server, client in
            var newConnections: [Int] = []
            for _ in 0..<10 {
                let response = try await client.execute(HTTPRequest(method: .get, url: server.url("/echo")))
                newConnections.append(response.metrics.newConnections)
            }
            #expect(newConnections == [1] + Array(repeating: 0, count: 9))
            #expect(try await serverConnections(server, client) == 1)
        }
    }

    @Test func manyConcurrentRequestsShareAFewConnections() async throws {
        let transfersMax = 4
        let requests = 60
        try await withServerAndClient(
            freshServer: true,
            configure: {
                Self.patient(&$0)
                $0.limits.concurrentTransfersMax = transfersMax
            }
        ) { server, client in
            let statusesAndConnections = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
                for index in 0..<requests {
                    group.addTask {
                        let response = try await client.execute(
                            HTTPRequest(method: .get, url: server.url("/echo?i=\(index)")))
                        return (response.status, response.metrics.newConnections)
                    }
                }
                return try await group.reduce(into: [(Int, Int)]()) { $0.append($1) }
            }
            #expect(statusesAndConnections.count == requests)
            #expect(statusesAndConnections.allSatisfy { $0.0 == 200 })
            let opened = statusesAndConnections.map(\.1).reduce(0, +)
            #expect(opened >= 1 && opened <= transfersMax)
            #expect(try await serverConnections(server, client) == opened)
            #expect(client.load == HTTPClientLoad(running: 0, queued: 0))
        }
    }

    /// `idleConnectionsMax` (16 by default): with 17 transfers at once, 17 connections are opened; once they are done
    /// 16 are kept for reuse, so the next 17 at once open exactly one more.
    @Test func idleConnectionsKeptUpToTheirLimit() async throws {
        #expect(HTTPClientConfiguration.Limits.defaults.idleConnectionsMax == 16)
        try await withServerAndClient(
            freshServer: true,
            configure: {
                Self.patient(&$0)
                $0.limits.concurrentTransfersMax = 17
            }
        ) { server, client in
            func round(_ name: String) async throws -> Int {
                try await withThrowingTaskGroup(of: Int.self) { group in
                    // Answered only once all 17 have arrived: all in flight at once, each on a connection of its own.
                    for _ in 0..<17 {
                        group.addTask {
                            let response = try await client.execute(
                                HTTPRequest(method: .get, url: server.url("/barrier?name=\(name)&n=17")))
                            #expect(response.status == 200, "the round's 17 requests arrived together")
                            return response.metrics.newConnections
                        }
                    }
                    return try await group.reduce(0, +)
                }
            }
            let first = try await round("first")
            let second = try await round("second")
            #expect(first == 17)
            #expect(second == 1, "16 of the first round's connections kept, the 17th closed")
        }
    }

    @Test func queueBeyondItsBoundFailsAtOnce() async throws {
        try await withServerAndClient(configure: {
            // The stall must not run into the total timeout on a loaded machine, nor the request queued behind it into
            // its queue wait (10 s by default: a full suite on two cores once took 27 s here).
            Self.patient(&$0)
            $0.limits.concurrentTransfersMax = 1
            $0.limits.queuedRequestsMax = 1
        }) { server, client in
            // Stalled far longer than the test takes, however starved (an 8 s stall could end before the queue was
            // seen full), and cancelled once the third request is refused.
            let first = Task { try await client.execute(HTTPRequest(method: .get, url: server.url("/stall?s=300"))) }
            try await waitUntil { client.load.running == 1 }
            let second = Task { try await client.execute(HTTPRequest(method: .get, url: server.url("/stall?s=0"))) }
            try await waitUntil { client.load == HTTPClientLoad(running: 1, queued: 1) }
            let started = ContinuousClock.now
            let error = await expectFailure(.queueFull) {
                try await client.execute(HTTPRequest(method: .get, url: server.url("/echo")))
            }
            #expect(error?.message.contains("queuedRequestsMax") == true)
            // At once: well before the queued request (behind a 300 s stall) could have started.
            #expect(ContinuousClock.now - started < .seconds(60))
            first.cancel()
            _ = await first.result
            #expect(try await second.value.status == 200)
        }
    }

    /// A queued request's transfer timeouts start only when it leaves the queue: without its own limit, a request
    /// behind slow transfers waited as long as they all took, long after its caller stopped waiting.
    @Test func aRequestQueuedTooLongFailsUnsent() async throws {
        try await withServerAndClient(configure: {
            Self.patient(&$0)
            $0.limits.concurrentTransfersMax = 1
            $0.timeouts.queueWaitMilliseconds = 500
        }) { server, client in
            let blocker = Task { try await client.execute(HTTPRequest(method: .get, url: server.url("/stall?s=300"))) }
            defer { blocker.cancel() }
            try await waitUntil { client.load.running == 1 }
            let started = ContinuousClock.now
            let error = await expectFailure(.queueTimeout) {
                try await client.execute(HTTPRequest(method: .post, url: server.url("/echo")))
            }
            let waited = ContinuousClock.now - started
            #expect(error?.requestMayHaveBeenSent == false)
            #expect(error?.message.contains("queueWaitMilliseconds") == true)
            // Not before its 500 ms, and within the loop's one-second check of it (generous for a starved process; the
            // blocker ends after 300 s).
            #expect(waited >= .milliseconds(500) && waited < .seconds(60), "\(waited)")
            #expect(client.load == HTTPClientLoad(running: 1, queued: 0), "the running transfer goes on")
        }
    }

    @Test func cancellingARunningRequestRemovesTheTransfer() async throws {
        try await withServerAndClient(configure: Self.patient) { server, client in
            // Neither the stall nor the total timeout may end it before the cancel, however starved the process.
            let task = Task { try await client.execute(HTTPRequest(method: .get, url: server.url("/stall?s=300"))) }
            try await waitUntil { client.load.running == 1 }
            let started = ContinuousClock.now
            task.cancel()
            let result = await task.result
            #expect(ContinuousClock.now - started < .seconds(60))
            #expect((result.failure as? HTTPClientError)?.code == .cancelled)
            try await waitUntil { client.load == HTTPClientLoad(running: 0, queued: 0) }
            #expect(try await client.execute(HTTPRequest(method: .get, url: server.url("/echo"))).status == 200)
        }
    }

    @Test func cancellingAQueuedRequestFailsItWithoutRunning() async throws {
        try await withServerAndClient(configure: {
            Self.patient(&$0)
            $0.limits.concurrentTransfersMax = 1
        }) { server, client in
            // Stalled far longer than the test takes, however loaded the machine: the queued request cannot get its
            // turn before it is cancelled (a 3 s stall could end first, and the request was then running).
            let blocker = Task { try await client.execute(HTTPRequest(method: .get, url: server.url("/stall?s=300"))) }
            try await waitUntil { client.load.running == 1 }
            let queued = Task { try await client.execute(HTTPRequest(method: .post, url: server.url("/echo"))) }
            try await waitUntil { client.load.queued == 1 }
            queued.cancel()
            let error = (await queued.result).failure as? HTTPClientError
            #expect(error?.code == .cancelled)
            #expect(error?.requestMayHaveBeenSent == false)
            #expect(client.load == HTTPClientLoad(running: 1, queued: 0), "the blocker still runs, alone")
            blocker.cancel()
            _ = await blocker.result
        }
    }

    @Test func alreadyCancelledTaskFailsImmediately() async throws {
        try await withServerAndClient { server, client in
            let task = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                return try await client.execute(HTTPRequest(method: .get, url: server.url("/stall?s=5")))
            }
            #expect(((await task.result).failure as? HTTPClientError)?.code == .cancelled)
        }
    }

    @Test func shutdownFailsRunningAndLaterRequests() async throws {
        let server = try await TestHTTPSServer.shared()
        var configuration = HTTPClientConfiguration.defaults
        configuration.tls.caFilePath = server.certificates.caFile
        Self.patient(&configuration)
        let client = try CurlHTTPClient(configuration: configuration)
        // Still running at the shutdown, however starved the process (a 10 s stall could end first).
        let running = Task { try await client.execute(HTTPRequest(method: .get, url: server.url("/stall?s=300"))) }
        try await waitUntil { client.load.running == 1 }
        await client.shutdown()
        #expect(((await running.result).failure as? HTTPClientError)?.code == .shutDown)
        await expectFailure(.shutDown) { try await client.execute(HTTPRequest(method: .get, url: server.url("/echo"))) }
        await client.shutdown()
    }
}

/// Connections the server has accepted so far (asked over the client's reused connection).
func serverConnections(_ server: TestHTTPSServer, _ client: CurlHTTPClient) async throws -> Int {
    let response = try await client.execute(HTTPRequest(method: .get, url: server.url("/connections")))
    let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Int]
    return try #require(object?["connections"])
}

/// Polls `condition` every 10 ms for up to 60 s (what it waits for takes milliseconds on an idle machine).
func waitUntil(_ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(60)
    while ContinuousClock.now < deadline {
        if condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    if condition() { return }
    Issue.record("condition not met within 60 s")
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
