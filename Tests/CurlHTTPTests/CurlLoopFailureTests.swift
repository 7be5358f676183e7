import CCurl
import Foundation
import Logging
import Synchronization
import TestSupport
import Testing

@testable import CurlHTTP

/// `curl_multi_perform` or `curl_multi_poll` failing (libcurl out of memory, a `poll` that cannot wait) was ignored:
/// the client's thread called them again at once, spinning at full CPU, while running requests ended only at their
/// timeouts. Now the running requests fail at once (as possibly sent), the thread backs off, and the failure is
/// logged once.
@Suite("CurlHTTPClient when libcurl's multi calls fail")
struct CurlLoopFailureTests {
    /// Which multi call fails now, and how often each was made.
    final class Switch: Sendable {
        let failing = Mutex<String?>(nil)
        let calls = Mutex<[String: Int]>([:])

        func call(_ name: String) -> Bool {
            calls.withLock { $0[name, default: 0] += 1 }
            return failing.withLock { $0 } == name
        }

        func count(_ name: String) -> Int { calls.withLock { $0[name, default: 0] } }
    }

    static func calls(_ switcher: Switch) -> MultiCalls {
        MultiCalls(
            perform: { multi in
                switcher.call("curl_multi_perform") ? CURLM_OUT_OF_MEMORY : MultiCalls.system.perform(multi)
            },
            poll: { multi, timeout in
                switcher.call("curl_multi_poll") ? CURLM_UNRECOVERABLE_POLL : MultiCalls.system.poll(multi, timeout)
            })
    }

    /// The test server's CA, and room for requests held at the server (or in a handshake that never ends) for the
    /// whole test.
    static func patientConfiguration(_ server: TestHTTPSServer) -> HTTPClientConfiguration {
        var configuration = HTTPClientConfiguration.defaults
        configuration.tls.caFilePath = server.certificates.caFile
        configuration.timeouts.totalMilliseconds = 600_000
        configuration.timeouts.connectMilliseconds = 600_000
        return configuration
    }

    /// `request` running in a task of its own, its outcome as a result.
    static func run(
        _ client: CurlHTTPClient, _ request: HTTPRequest
    ) -> Task<Result<HTTPResponse, HTTPClientError>, Never> {
        Task {
            do throws(HTTPClientError) {
                return .success(try await client.execute(request))
            } catch {
                return .failure(error)
            }
        }
    }

    /// Waits until the server has `count` requests for `path` (so libcurl has sent them).
    static func waitUntilServed(
        _ path: String, count: Int, _ server: TestHTTPSServer, _ client: CurlHTTPClient
    )
        async throws
    {
        let end = ContinuousClock.now + .seconds(60)
        while try await CurlHTTPClientResendTests.hits(path, server, client) < count, ContinuousClock.now < end {
            try await Task.sleep(for: .milliseconds(20))
        }
        try #require(try await CurlHTTPClientResendTests.hits(path, server, client) == count, "not sent")
    }

    @Test(arguments: ["curl_multi_perform", "curl_multi_poll"])
    func aRunningRequestFailsAsPossiblySentAndTheThreadBacksOff(call: String) async throws {
        let server = try await TestHTTPSServer.shared()
        var configuration = HTTPClientConfiguration.defaults
        configuration.tls.caFilePath = server.certificates.caFile
        configuration.timeouts.totalMilliseconds = 600_000
        let switcher = Switch()
        let lines = CapturingLogHandler.Lines()
        let logger = Logger(label: "test") { _ in CapturingLogHandler(lines: lines) }
        let client = try CurlHTTPClient(configuration: configuration, logger: logger, multiCalls: Self.calls(switcher))

        // A POST the server holds for 5 minutes: running, and sent (the server has it).
        let path = "/stall-\(UUID())"
        let stalled = Task { () -> Result<HTTPResponse, HTTPClientError> in
            do throws(HTTPClientError) {
                return .success(
                    try await client.execute(HTTPRequest(method: .post, url: server.url("\(path)?s=300"), body: [1])))
            } catch {
                return .failure(error)
            }
        }
        try await Self.waitUntilServed(path, count: 1, server, client)

        switcher.failing.withLock { $0 = call }
        let started = ContinuousClock.now
        // A request libcurl no longer drives would never end (its own timeout needs libcurl): cut off, it fails
        // `.cancelled`.
        let cutOff = Task {
            try await Task.sleep(for: .seconds(200))
            stalled.cancel()
        }
        let outcome = await stalled.value
        cutOff.cancel()
        // At once (slack for a loaded machine), not at the 600 s timeout nor at the server's answer after 300 s.
        #expect(ContinuousClock.now - started < .seconds(199))
        guard case .failure(let error) = outcome else {
            Issue.record("the request did not fail: \(outcome)")
            await client.shutdown()
            return
        }
        #expect(error.code == .internalError, "\(error)")
        #expect(error.requestMayHaveBeenSent, "a request whose fate is unknown is reported as not sent: \(error)")
        #expect(error.message.contains(call), "\(error)")
        #expect(client.load.running == 0)

        // Backing off: a few turns in a second of failures, not the thousands of a thread calling again at once.
        let before = switcher.count(call)
        try await Task.sleep(for: .seconds(1))
        let turns = switcher.count(call) - before
        #expect(turns <= 20, "\(turns) calls of \(call) in a second of failures")
        let failures = lines.all.filter { $0.message.hasPrefix("HTTP client: libcurl failed") }
        #expect(failures.count == 1, "logged once: \(failures)")
        #expect(failures.first?.level == .error)
        #expect(failures.first?.metadata["error"]?.contains(call) == true)

        // It works again as soon as libcurl does.
        switcher.failing.withLock { $0 = nil }
        let after = try await client.execute(HTTPRequest(method: .get, url: server.url("/echo")))
        #expect(after.status == 200)
        // Said once the turn that answered it ends well (its poll after the answer was handed over).
        let recovered = { lines.all.contains { $0.message == "HTTP client: libcurl works again" } }
        let deadline = ContinuousClock.now + .seconds(120)
        while !recovered(), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(recovered())
        await client.shutdown()
    }

    /// Only a transfer libcurl had been about to send fails as possibly sent: one still in its TLS handshake (with a
    /// listener that takes the connection and never answers) sent nothing, and fails as not sent — a POST failed as
    /// possibly sent became `OUTCOME_UNKNOWN`, holding the customer's money until a look-up. A GET that went out
    /// (libcurl may send it twice on its own, so it used to count nothing) is possibly sent too.
    @Test(arguments: ["curl_multi_perform", "curl_multi_poll"])
    func aTransferThatSentNothingFailsAsNotSent(call: String) async throws {
        let server = try await TestHTTPSServer.shared()
        let (silent, silentPort) = try loopbackSocket(listening: true)
        defer { close(silent) }
        let switcher = Switch()
        let client = try CurlHTTPClient(
            configuration: Self.patientConfiguration(server), logger: Logger(label: "test"),
            multiCalls: Self.calls(switcher))
        func run(_ request: HTTPRequest) -> Task<Result<HTTPResponse, HTTPClientError>, Never> {
            Self.run(client, request)
        }
        let path = "/stall-\(UUID())"
        let sentPost = run(HTTPRequest(method: .post, url: server.url("\(path)?s=300"), body: [1]))
        let sentGet = run(HTTPRequest(method: .get, url: server.url("\(path)?s=300")))
        let unsentPost = run(HTTPRequest(method: .post, url: "https://127.0.0.1:\(silentPort)/buy", body: [1]))
        // Both held at the server; the third running (its handshake cannot end).
        try await Self.waitUntilServed(path, count: 2, server, client)
        let end = ContinuousClock.now + .seconds(60)
        while client.load.running < 3, ContinuousClock.now < end { try await Task.sleep(for: .milliseconds(10)) }
        try #require(client.load.running == 3)

        switcher.failing.withLock { $0 = call }
        let cutOff = Task {
            try await Task.sleep(for: .seconds(200))
            for task in [sentPost, sentGet, unsentPost] { task.cancel() }
        }
        var errors: [HTTPClientError] = []
        for task in [sentPost, sentGet, unsentPost] {
            guard case .failure(let error) = await task.value else {
                Issue.record("a request did not fail")
                continue
            }
            errors.append(error)
        }
        cutOff.cancel()
        switcher.failing.withLock { $0 = nil }
        await client.shutdown()
        try #require(errors.count == 3)
        #expect(errors.allSatisfy { $0.code == .internalError }, "\(errors)")
        #expect(errors[0].requestMayHaveBeenSent, "a POST that went out is reported as not sent: \(errors[0])")
        #expect(errors[1].requestMayHaveBeenSent, "a GET that went out is reported as not sent: \(errors[1])")
        #expect(!errors[2].requestMayHaveBeenSent, "a POST still in its TLS handshake may have been sent: \(errors[2])")
        #expect(errors[2].message.contains("not sent"), "\(errors[2])")
    }

    /// The same rule when a running request is cancelled or the client shuts down: one libcurl never began to send
    /// (still in its TLS handshake) is reported not sent — a purchase cut off there by numberd's stop used to become
    /// `OUTCOME_UNKNOWN`, the customer's money held until a look-up — and one it sent is possibly sent.
    @Test func cancelAndShutdownSayWhetherSent() async throws {
        let server = try await TestHTTPSServer.shared()
        let (silent, silentPort) = try loopbackSocket(listening: true)
        defer { close(silent) }
        let client = try CurlHTTPClient(configuration: Self.patientConfiguration(server))
        func run(_ request: HTTPRequest) -> Task<Result<HTTPResponse, HTTPClientError>, Never> {
            Self.run(client, request)
        }
        let path = "/stall-\(UUID())"
        let sent = (0..<2).map { _ in run(HTTPRequest(method: .post, url: server.url("\(path)?s=300"), body: [1])) }
        let unsent = (0..<2).map { _ in
            run(HTTPRequest(method: .post, url: "https://127.0.0.1:\(silentPort)/buy", body: [1]))
        }
        try await Self.waitUntilServed(path, count: 2, server, client)
        let end = ContinuousClock.now + .seconds(60)
        while client.load.running < 4, ContinuousClock.now < end { try await Task.sleep(for: .milliseconds(10)) }
        try #require(client.load.running == 4)
        sent[0].cancel()
        unsent[0].cancel()
        let cancelled = [await sent[0].value, await unsent[0].value]
        await client.shutdown()
        let stopped = [await sent[1].value, await unsent[1].value]
        func error(_ result: Result<HTTPResponse, HTTPClientError>) -> HTTPClientError? {
            if case .failure(let error) = result { return error }
            return nil
        }
        #expect(cancelled.map { error($0)?.code } == [.cancelled, .cancelled])
        #expect(cancelled.map { error($0)?.requestMayHaveBeenSent } == [true, false], "\(cancelled)")
        #expect(stopped.map { error($0)?.code } == [.shutDown, .shutDown])
        #expect(stopped.map { error($0)?.requestMayHaveBeenSent } == [true, false], "\(stopped)")
    }
}
