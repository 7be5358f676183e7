import Foundation
import NumberAPI
import NumberServer
import Testing

/// `numbers health`: the status numberd answers, and an exit status a probe can read. A numberd draining, or whose
/// store stopped taking writes, answers NOT_SERVING, which used to exit 0 as serving did.
@Suite("numbers health")
struct HealthCommandTests {
    /// A stub answering HealthCheck with `status`.
    static func answering(_ status: ServingStatus) -> RPCRouter {
        var router = RPCRouter()
        router.register(NumbersMethods.healthCheck) { _, _ in HealthCheckResponse(status: status, version: "1.2.3") }
        return router
    }

    /// The connection flags of a run against `server`; HealthCheck needs no key.
    static func connection(_ server: StubServer) -> [String] {
        ["--server", "127.0.0.1:\(server.port)", "--ca", server.caFile]
    }

    @Test("numberd answering not serving: exit 7 (unavailable), the status printed (JSON too), why on stderr")
    func notServing() async throws {
        try await withStubServer(router: Self.answering(.notServing)) { server in
            let run = try await runNumbers(["health"] + Self.connection(server))
            #expect(run.status == 7, "\(run)")
            #expect(run.stdout.contains("not-serving (version 1.2.3)"), "\(run.stdout)")
            #expect(
                run.stderr.contains(
                    "numberd answers not serving: draining, or its store stopped taking writes (a restart recovers)"),
                "\(run.stderr)")
            let json = try await runNumbers(["health", "--json"] + Self.connection(server))
            #expect(json.status == 7, "\(json)")
            #expect(json.stdout.contains("SERVING_STATUS_NOT_SERVING"), "\(json.stdout)")
        }
    }

    @Test("numberd serving: exit 0")
    func serving() async throws {
        try await withStubServer(router: Self.answering(.serving)) { server in
            let run = try await runNumbers(["health"] + Self.connection(server))
            #expect(run.status == 0, "\(run)")
            #expect(run.stdout.contains("serving (version 1.2.3)"), "\(run.stdout)")
            #expect(!run.stderr.contains("not serving"), "\(run.stderr)")
        }
    }
}
