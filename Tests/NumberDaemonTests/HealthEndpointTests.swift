import NIOHTTP1
import NumberCore
import NumberServer
import Synchronization
import Testing

@testable import NumberDaemon

/// `/healthz` and `/readyz` on the metrics listener, for supervisors that cannot speak nrpc/TLS (Kubernetes, Docker):
/// liveness answers while the process does and its store has not stopped taking writes, readiness only while the RPC
/// server listens, is not draining and the store takes writes. Before, the listener knew only `/metrics`, so such a
/// probe could check no more than the TCP port.
@Suite("Health and readiness on the metrics listener")
struct HealthEndpointTests {
    static func answer(
        _ uri: String, method: HTTPMethod = .GET, readiness: String? = nil
    ) -> MetricsEndpoint.Answer {
        MetricsEndpoint.answer(method: method, uri: uri, metrics: { Array("m 1\n".utf8) }, readiness: { readiness })
    }

    @Test("each path's answer, a query string ignored; anything else is 404 as before")
    func answers() {
        #expect(Self.answer("/metrics") == .init(.ok, Array("m 1\n".utf8), contentType: "text/plain; version=0.0.4"))
        #expect(Self.answer("/healthz") == .init(.ok, "ok\n"))
        #expect(Self.answer("/healthz", readiness: "draining") == .init(.ok, "ok\n"), "liveness ignores readiness")
        let stopped = MetricsEndpoint.answer(
            method: .GET, uri: "/healthz", metrics: { [] }, readiness: { nil }, liveness: { "the store stopped" })
        #expect(stopped == .init(.serviceUnavailable, "not alive: the store stopped\n"))
        #expect(Self.answer("/readyz?verbose=1") == .init(.ok, "ready\n"))
        #expect(
            Self.answer("/readyz", readiness: "the RPC server is draining")
                == .init(.serviceUnavailable, "not ready: the RPC server is draining\n"))
        for (method, uri) in [(HTTPMethod.GET, "/"), (.GET, "/health"), (.POST, "/healthz"), (.GET, "/readyz/x")] {
            #expect(Self.answer(uri, method: method).status == .notFound, "\(method) \(uri)")
        }
    }

    @Test("readiness: serving with a store taking writes only; each other state has its one-line reason")
    func rule() {
        #expect(Readiness.problem(serving: .serving, storeFailure: nil) == nil)
        for state in [NumberServer.ServingState.starting, .draining, .stopped] {
            let problem = Readiness.problem(serving: state, storeFailure: nil)
            #expect(problem != nil && problem?.contains("\n") == false, "\(state)")
        }
        let failed = NumberError(.unavailable, .storeFailed, "the store failed")
        #expect(Readiness.problem(serving: .serving, storeFailure: failed)?.contains("STORE_FAILED") == true)
    }

    @Test("over a real connection: /healthz 200 ok, /readyz 503 with the reason while not ready, then 200")
    func overTCP() async throws {
        let problem = Mutex<String?>("the RPC server is not listening yet")
        try await MetricsEndpointTests.withEndpoint(readiness: { problem.withLock { $0 } }) { port, _ in
            let health = try await Self.get("/healthz", port: port)
            #expect(health.hasPrefix("HTTP/1.1 200 OK") && health.hasSuffix("\r\n\r\nok\n"), "\(health)")
            let notReady = try await Self.get("/readyz", port: port)
            #expect(notReady.hasPrefix("HTTP/1.1 503"), "\(notReady)")
            #expect(notReady.hasSuffix("not ready: the RPC server is not listening yet\n"), "\(notReady)")
            problem.withLock { $0 = nil }
            let ready = try await Self.get("/readyz", port: port)
            #expect(ready.hasPrefix("HTTP/1.1 200 OK") && ready.hasSuffix("ready\n"), "\(ready)")
            let other = try await Self.get("/nope", port: port)
            #expect(other.hasPrefix("HTTP/1.1 404"), "\(other)")
        }
    }

    /// The whole answer to `GET path` on 127.0.0.1:`port` (the endpoint closes each connection after one answer).
    static func get(_ path: String, port: Int) async throws -> String {
        let connection = try await TCPConnection.connect(port: port)
        try await connection.send("GET \(path) HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        _ = await connection.waitForClose(timeout: .seconds(30))
        return connection.text
    }
}
