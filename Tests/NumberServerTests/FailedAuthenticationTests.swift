import Logging
import NIOCore
import NumberAPI
import NumberServer
import NumberWire
import TestSupport
import Testing

/// Calls refused for their caller cost the caller: authentication comes before any per-account rate limit, so a
/// connection gets `failedAuthenticationsMax` (10) UNAUTHENTICATED answers in all, then drains with GOAWAY
/// ENHANCE_YOUR_CALM; such calls renew no flood budget; and their log lines are at info only for the first few.
@Suite("Server: failed authentications", .serialized)
struct FailedAuthenticationTests {
    let tls: TestTLS

    init() throws { tls = try TestTLS() }

    static let goodKey = "Bearer nk_good"

    static func check(_ context: CallContext) throws(RPCError) {
        guard context.metadata["authorization"] == goodKey else {
            throw RPCError(code: .unauthenticated, message: "the API key is not valid", reason: "INVALID_CREDENTIALS")
        }
        context.markAuthenticated()
    }

    /// GetBalance (synchronous) and GetAccount (asynchronous) want `goodKey`; ListAccounts denies every caller;
    /// HealthCheck is open.
    static func router() -> RPCRouter {
        var router = RPCRouter()
        router.registerSynchronous(NumbersMethods.getBalance) { request, context in
            try Self.check(context)
            return GetBalanceResponse(accountId: request.accountId, balance: 1, currency: "USD")
        }
        router.register(NumbersMethods.getAccount) { request, context in
            try Self.check(context)
            return GetAccountResponse(account: Account(id: request.accountId))
        }
        router.registerSynchronous(NumbersMethods.listAccounts) { _, _ in
            throw RPCError(code: .permissionDenied, message: "this call needs an admin key", reason: "SCOPE_DENIED")
        }
        router.register(NumbersMethods.healthCheck) { _, _ in HealthCheckResponse(status: .serving, version: "t") }
        return router
    }

    /// `count` calls of `method` with a wrong key on streams 1, 3, …, then a HealthCheck.
    static func badCalls(_ count: Int, method: String) throws -> (bytes: ByteBuffer, probe: UInt32) {
        var bytes = clientStart()
        for index in 0..<UInt32(count) {
            try writeCall(
                &bytes, stream: 2 * index + 1, method: method, metadata: ["authorization": "Bearer nk_wrong"],
                body: GetBalanceRequest(accountId: "A"))
        }
        let probe = 2 * UInt32(count) + 1
        try writeCall(&bytes, stream: probe, method: NumbersMethods.healthCheck.path)
        return (bytes, probe)
    }

    /// At the edge (10) every call is answered and the connection stays; one more is answered too, then GOAWAY
    /// ENHANCE_YOUR_CALM names the last call served and the connection closes. A client with the right key on
    /// another connection is served throughout.
    @Test(
        "failed authentications: the limit is exact",
        arguments: [(10, "synchronous"), (11, "synchronous"), (10, "asynchronous"), (11, "asynchronous")])
    func limitIsExact(failures: Int, handler: String) async throws {
        let method = handler == "synchronous" ? NumbersMethods.getBalance.path : NumbersMethods.getAccount.path
        try await withTestServer(router: Self.router(), tls: tls) { _, port in
            try await whileWellBehavedClientCalls("\(failures) bad keys", port: port, tls: tls, minimumCalls: 1) {
                let connection = try await RawConnection.connect(port: port, tls: tls)
                let (bytes, probe) = try Self.badCalls(failures, method: method)
                try await connection.send(bytes)
                if failures <= 10 {
                    let frames = try await connection.waitForFrames { try trailerStatuses($0)[probe] != nil }
                    let statuses = try trailerStatuses(frames)
                    #expect(statuses[probe]?.code == 0)
                    #expect(statuses.values.filter { $0.code == StatusCode.unauthenticated.rawValue }.count == failures)
                    #expect(try goAway(in: frames) == nil)
                    #expect(!connection.isClosed)
                } else {
                    #expect(await connection.waitForClose(timeout: .seconds(60)) != nil)
                    let frames = try connection.frames()
                    let statuses = try trailerStatuses(frames)
                    // Nothing lost: every bad call has its answer, before the GOAWAY.
                    #expect(statuses.values.filter { $0.code == StatusCode.unauthenticated.rawValue }.count == 11)
                    let away = try #require(try goAway(in: frames))
                    #expect(away.code == .enhanceYourCalm)
                    #expect(away.message == "more than 10 calls failed authentication")
                    if handler == "synchronous" {
                        // Answered in the burst that brought them: none open at the 11th, closed at once.
                        #expect(frames.last?.type == .goAway)
                        #expect(statuses[probe] == nil)
                    }
                }
                // The right key on another connection.
                let good = try await RawConnection.connect(port: port, tls: tls)
                var call = clientStart()
                try writeCall(
                    &call, stream: 1, method: method, metadata: ["authorization": Self.goodKey],
                    body: GetBalanceRequest(accountId: "A"))
                try await good.send(call)
                let answered = try await good.waitForFrames { try trailerStatuses($0)[1] != nil }
                #expect(try trailerStatuses(answered)[1]?.code == 0)
                try await good.channel.close()
            }
        }
    }

    /// The count is of failed authentications since the last call whose caller proved a key: 11 or more bad-key
    /// calls each after a good one on the same connection (a gateway with one tenant's revoked key) keep it; only
    /// the bad keys in a row are counted (``limitIsExact`` keeps the edge for a connection with only bad keys).
    @Test("a good key between bad ones resets the count", arguments: ["synchronous", "asynchronous"])
    func goodKeyResetsTheCount(handler: String) async throws {
        let method = handler == "synchronous" ? NumbersMethods.getBalance.path : NumbersMethods.getAccount.path
        try await withTestServer(router: Self.router(), tls: tls) { _, port in
            let connection = try await RawConnection.connect(port: port, tls: tls)
            var bytes = clientStart()
            var stream: UInt32 = 1
            for round in 0..<3 {
                for _ in 0..<10 {
                    try writeCall(
                        &bytes, stream: stream, method: method, metadata: ["authorization": "Bearer nk_wrong"],
                        body: GetBalanceRequest(accountId: "A"))
                    stream += 2
                }
                // The bad calls are answered before the good one is sent (asynchronous handlers end in any order), and
                // the good one before the next bad ones, so it ends between them.
                try await connection.send(bytes)
                bytes.clear()
                let refused = 10 * (round + 1)
                _ = try await connection.waitForFrames { frames in
                    try trailerStatuses(frames).values.filter { $0.code == StatusCode.unauthenticated.rawValue }.count
                        >= refused
                }
                try writeCall(
                    &bytes, stream: stream, method: method, metadata: ["authorization": Self.goodKey],
                    body: GetBalanceRequest(accountId: "A"))
                try await connection.send(bytes)
                bytes.clear()
                let good = stream
                let frames = try await connection.waitForFrames { try trailerStatuses($0)[good] != nil }
                #expect(try trailerStatuses(frames)[good]?.code == 0, "round \(round)")
                #expect(try goAway(in: frames) == nil, "round \(round)")
                stream += 2
            }
            #expect(!connection.isClosed)
            let statuses = try trailerStatuses(connection.frames())
            #expect(statuses.values.filter { $0.code == StatusCode.unauthenticated.rawValue }.count == 30)
            try await connection.channel.close()
        }
    }

    /// A refused call is no completed call: 100 PINGs (the budget), a call refused for its caller, one more PING:
    /// GOAWAY ENHANCE_YOUR_CALM (the refused call used to renew the budget). The budget earns nothing back by time
    /// here: at the default (one PING back a second) a loaded machine taking a second to answer the call let the
    /// 101st PING through, and only completed calls renewing it is what this checks.
    @Test(
        "calls refused for their caller renew no flood budget",
        arguments: [NumbersMethods.getBalance.path, NumbersMethods.listAccounts.path])
    func refusedCallsRenewNothing(method: String) async throws {
        let configuration = NumberServerConfiguration(port: 0, connection: .init(budgetRenewalInterval: .zero))
        try await withTestServer(router: Self.router(), tls: tls, configuration: configuration) { _, port in
            let connection = try await RawConnection.connect(port: port, tls: tls)
            var bytes = clientStart()
            for index in 0..<100 {
                bytes.writeFrame(Frame(type: .ping, streamID: 0, payload: ByteBuffer(integer: UInt64(index))))
            }
            try writeCall(
                &bytes, stream: 1, method: method, metadata: ["authorization": "Bearer nk_wrong"],
                body: GetBalanceRequest(accountId: "A"))
            try await connection.send(bytes)
            let frames = try await connection.waitForFrames { try trailerStatuses($0)[1] != nil }
            #expect(try trailerStatuses(frames)[1]?.code != 0)
            var ping = ByteBuffer()
            ping.writeFrame(Frame(type: .ping, streamID: 0, payload: ByteBuffer(integer: UInt64(100))))
            try await connection.send(ping)
            #expect(await connection.waitForClose(timeout: .seconds(60)) != nil)
            #expect(try goAway(in: connection.frames())?.code == .enhanceYourCalm)
        }
    }

    /// Lines about calls anyone can make fail without a key — refused for the caller, or before any handler ran —
    /// are at info for the first 3 on a connection, then at debug; other failures stay at info.
    @Test("refused calls are logged at info for the first 3 on a connection, then at debug")
    func refusedCallLogging() async throws {
        let lines = CapturingLogHandler.Lines()
        let logger = Logger(label: "numberd-test") { _ in CapturingLogHandler(lines: lines) }
        try await withTestServer(router: Self.router(), tls: tls, logger: logger) { _, port in
            let connection = try await RawConnection.connect(port: port, tls: tls)
            var (bytes, probe) = try Self.badCalls(4, method: NumbersMethods.getBalance.path)
            // Refused before a handler: an unknown method, and a HEADERS without a request.
            try writeCall(&bytes, stream: probe + 2, method: "/numbers.v1.Numbers/NoSuchMethod")
            var headers = ByteBuffer()
            try ProtoEncoder().encode(RequestHeaders(method: NumbersMethods.healthCheck.path), into: &headers)
            bytes.writeFrame(Frame(type: .headers, flags: .endStream, streamID: probe + 4, payload: headers))
            try await connection.send(bytes)
            _ = try await connection.waitForFrames { try trailerStatuses($0)[probe + 4] != nil }
            let failed = lines.all.filter { $0.message == "call failed" }
            #expect(failed.count == 6)
            #expect(failed.filter { $0.level == .info }.count == 3)
            #expect(failed.filter { $0.level == .debug }.count == 3)
            try await connection.channel.close()
        }
    }
}
