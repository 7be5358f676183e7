import NIOCore
import NumberAPI
import NumberCore
import NumberServer
import NumberWire
import Testing

/// One connection carrying calls for many accounts, each with its own key in per-call `authorization` metadata (a
/// gateway acting for several tenants, with the client's default pool of one connection), over the real service.
@Suite("Server: a connection shared by many tenants", .serialized)
struct GatewayConnectionTests {
    let tls: TestTLS

    init() throws { tls = try TestTLS() }

    /// One tenant keeps using its revoked key among the others' good calls: every 10 UNAUTHENTICATED answers used to
    /// drain the gateway's only connection (GOAWAY ENHANCE_YOUR_CALM), bouncing the other tenants' calls after it.
    /// A proved key resets the count, so 1000 good calls (GetBalance inline, DeleteTrunk as a task: NOT_FOUND is
    /// still an authenticated caller) with 25 revoked-key calls among them keep the connection.
    @Test("a revoked key among good calls does not drain the connection")
    func revokedKeyAmongGoodCalls() async throws {
        let service = try await NumberService.open(
            store: InMemoryNumberStore(), provider: FailingProvider.absent, logger: quietLogger)
        let good = try await service.createAccount(name: "Good", currency: "USD")
        let goodKey = try await service.createApiKey(name: "good", scope: .account, accountId: good.id)
        let gone = try await service.createAccount(name: "Gone", currency: "USD")
        let goneKey = try await service.createApiKey(name: "gone", scope: .account, accountId: gone.id)
        _ = try await service.revokeApiKey(keyId: goneKey.key.id)
        var router = RPCRouter()
        let limits = RateLimiter.Limits(callsPerSecond: 1_000_000, callsBurst: 1_000_000)
        NumbersAPI(service: service, rateLimiter: RateLimiter(limits: limits)).register(into: &router)
        try await withTestServer(router: router, tls: tls) { _, port in
            let connection = try await RawConnection.connect(port: port, tls: tls)
            try await connection.send(clientStart())
            var stream: UInt32 = 1
            var revokedStreams: Set<UInt32> = []
            for batch in 0..<25 {
                // 40 good calls and one with the revoked key: within the 100 calls a connection may have open.
                var bytes = ByteBuffer()
                for index in 0..<41 {
                    let revoked = index == 20
                    if revoked { revokedStreams.insert(stream) }
                    let key = revoked ? goneKey.secret : goodKey.secret
                    let metadata = ["authorization": "Bearer \(key)"]
                    if (batch + index) % 2 == 0 {
                        try writeCall(
                            &bytes, stream: stream, method: NumbersMethods.getBalance.path, metadata: metadata,
                            body: GetBalanceRequest())
                    } else {
                        try writeCall(
                            &bytes, stream: stream, method: NumbersMethods.deleteTrunk.path, metadata: metadata,
                            body: DeleteTrunkRequest(trunkId: "TRK_none"))
                    }
                    stream += 2
                }
                try await connection.send(bytes)
                let last = stream - 2
                let frames = try await connection.waitForFrames { frames in
                    let answered = try trailerStatuses(frames)
                    return stride(from: UInt32(1), through: last, by: 2).allSatisfy { answered[$0] != nil }
                }
                #expect(try goAway(in: frames) == nil, "batch \(batch)")
                #expect(!connection.isClosed, "batch \(batch)")
            }
            let statuses = try trailerStatuses(connection.frames())
            #expect(statuses.count == 25 * 41)
            let refused = statuses.filter { $0.value.code == StatusCode.unauthenticated.rawValue }
            #expect(Set(refused.keys) == revokedStreams)
            let served = statuses.filter { !revokedStreams.contains($0.key) }.values
            #expect(served.allSatisfy { $0.code == 0 || $0.code == StatusCode.notFound.rawValue })
            #expect(served.filter { $0.code == 0 }.count >= 500)
            try await connection.channel.close()
        }
    }
}
