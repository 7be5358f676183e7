import Logging
import NIOCore
import NumberAPI
import NumberClient
import NumberCore
import TestSupport
import Testing

@testable import NumberServer

/// The log lines a client can cause at will are budgeted across the server's connections, not only per connection:
/// an operations review found that a call failing at the provider wrote a warning each (any tenant can make one: a
/// search Twilio answers 404), and that a client reconnecting got each connection's allowance of refused-call lines
/// anew.
@Suite("Server: log lines budgeted across connections")
struct ServerLogBudgetTests {
    let tls: TestTLS

    init() throws { tls = try TestTLS() }

    /// The lines of `message` so far. A function of its own: inline in the test's async closure, the Swift 6.3.1
    /// compiler gave two such filters with different messages the same result (and crashed on another shape).
    static func lines(_ lines: CapturingLogHandler.Lines, _ message: String) -> [CapturingLogHandler.Line] {
        lines.all.filter { $0.message == message }
    }

    /// How many windows of ``ServerLogBudgets/window`` a run that took `took` may have begun.
    static func windows(_ took: Duration) -> Int {
        Int(took.components.seconds / ServerLogBudgets.window.components.seconds) + 1
    }

    @Test("200 calls failing at the provider for one reason: at most 20 warnings a window, the rest at debug")
    func providerFailureWarningsAreBudgeted() async throws {
        let failure = ProviderError(.unavailable, message: "Failed to connect to proxy.corp.example port 3128")
        let service = try await NumberService.open(
            store: InMemoryNumberStore(), provider: FailingProvider(failure: failure), logger: quietLogger)
        let account = try await service.createAccount(name: "A", currency: "USD")
        let key = try await service.createApiKey(name: "k", scope: .account, accountId: account.id)
        var router = RPCRouter()
        NumbersAPI(service: service, rateLimiter: RateLimiter(limits: .defaults)).register(into: &router)
        let lines = CapturingLogHandler.Lines()
        let logger = Logger(label: "numberd-test") { _ in CapturingLogHandler(lines: lines) }
        let calls = 200
        try await withTestServer(router: router, tls: tls, logger: logger) { _, port in
            var configuration = tls.clientConfiguration(port: port, apiKey: key.secret)
            configuration.retry = .none
            let started = ContinuousClock.now
            try await withNumbersClient(configuration) { client in
                for _ in 0..<calls {
                    let error = await #expect(throws: RPCError.self) {
                        _ = try await client.searchNumbers(SearchNumbersRequest(country: "US"))
                    }
                    #expect(error?.reason == "PROVIDER_UNAVAILABLE", "\(String(describing: error))")
                }
            }
            let took = ContinuousClock.now - started
            // Logged before the answer is written: every call's line is there once its client has the answer.
            let failed = lines.all.filter { $0.message.hasPrefix("call failed: ") }
            #expect(failed.count == calls, "each call is still logged, its detail with it")
            #expect(failed.allSatisfy { $0.metadata["detail"] == failure.message })
            let warnings = failed.filter { $0.level == .warning }.count
            let windows = Self.windows(took)
            #expect(warnings >= ServerLogBudgets.callFailureWarningsMax, "\(warnings)")
            #expect(warnings <= ServerLogBudgets.callFailureWarningsMax * windows, "\(warnings) in \(took)")
            #expect(failed.filter { $0.level == .debug }.count == calls - warnings)
            let summaries = lines.all.filter { $0.message == "call failures logged at debug (server-wide limit)" }
            #expect(summaries.count <= windows - 1, "one at most for each later window: \(summaries)")
        }
    }

    @Test("50 connections each making unauthenticated calls: at most the server-wide budget of info lines")
    func reconnectingGetsNoNewAllowance() async throws {
        var router = RPCRouter()
        router.register(NumbersMethods.getBalance) { _, _ in
            throw RPCError(code: .unauthenticated, message: "the API key is not valid", reason: "INVALID_CREDENTIALS")
        }
        let lines = CapturingLogHandler.Lines()
        let logger = Logger(label: "numberd-test") { _ in CapturingLogHandler(lines: lines) }
        let connections = 50
        // Under the connection's limit of failed authentications (10): none is drained.
        let callsEach = 5
        try await withTestServer(router: router, tls: tls, logger: logger) { _, port in
            var configuration = tls.clientConfiguration(port: port, apiKey: "nk_wrong")
            configuration.retry = .none
            let started = ContinuousClock.now
            for _ in 0..<connections {
                try await withNumbersClient(configuration) { client in
                    for _ in 0..<callsEach {
                        _ = try? await client.getBalance(GetBalanceRequest(accountId: "ACC_x"))
                    }
                }
            }
            let took = ContinuousClock.now - started
            let deadline = ContinuousClock.now + .seconds(60)
            var failed: [CapturingLogHandler.Line] = []
            while failed.count < connections * callsEach, ContinuousClock.now < deadline {
                failed = lines.all.filter { $0.message == "call failed" }
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(failed.count == connections * callsEach, "every refused call is still logged")
            let info = failed.filter { $0.level == .info }.count
            // Per connection alone, 3 each: 150.
            #expect(info <= ServerLogBudgets.refusedCallsLinesMax * Self.windows(took), "\(info) in \(took)")
            #expect(info >= ServerLogBudgets.refusedCallsLinesMax)
        }
    }

    /// Each connection counts its failed calls past its own 20 a window in one line, written at its close (or with the
    /// next window's first line). That line went at info outside the server-wide budget, so a client that reconnected
    /// after every 21 failed calls added one info line per connection to the budget's. It now takes its place in the
    /// budget of failed calls' lines, and past it goes at debug like them.
    @Test("30 connections each making 21 failing calls: their counting lines stay within the server-wide budget")
    func failedCallCountsAreBudgeted() async throws {
        var router = RPCRouter()
        router.register(NumbersMethods.getBalance) { _, _ in
            throw RPCError(code: .notFound, message: "no such account", reason: "ACCOUNT_NOT_FOUND")
        }
        let lines = CapturingLogHandler.Lines()
        let logger = Logger(label: "numberd-test") { _ in CapturingLogHandler(lines: lines) }
        let connections = 30
        // One past each connection's own limit: every connection has one call to count at its close.
        let callsEach = ServerConnectionHandler.failedCallsLoggedMax + 1
        try await withTestServer(router: router, tls: tls, logger: logger) { _, port in
            var configuration = tls.clientConfiguration(port: port)
            configuration.retry = .none
            let started = ContinuousClock.now
            for _ in 0..<connections {
                try await withNumbersClient(configuration) { client in
                    for _ in 0..<callsEach {
                        _ = try? await client.getBalance(GetBalanceRequest(accountId: "ACC_x"))
                    }
                }
            }
            // A connection's count is written when the server sees it close, just after its client is done. Calls of
            // a connection that spanned its 10 s window (a loaded full run took 100 s here) are counted by the next
            // window's first line, which then holds none for the close: fewer counts, waited for 5 s only.
            let spanned = ContinuousClock.now - started >= .seconds(10)
            let deadline = ContinuousClock.now + .seconds(spanned ? 5 : 60)
            while Self.lines(lines, "failed calls logged at debug").count < connections, ContinuousClock.now < deadline
            {
                try await Task.sleep(for: .milliseconds(10))
            }
            let counts = Self.lines(lines, "failed calls logged at debug")
            let took = ContinuousClock.now - started
            #expect(spanned ? counts.count <= connections : counts.count == connections, "one per connection")
            #expect(counts.allSatisfy { $0.metadata["calls"] == "1" }, "\(counts)")
            let failed = Self.lines(lines, "call failed")
            #expect(failed.count == connections * callsEach, "every failed call is still logged")
            let info = (failed + counts).filter { $0.level == .info }.count
            // Per connection alone, 20 calls and a count each: 630. Before, the 30 counts came on top of the budget.
            #expect(info <= ServerLogBudgets.failedCallsLinesMax * Self.windows(took), "\(info) in \(took)")
            #expect(info >= ServerLogBudgets.failedCallsLinesMax, "\(info)")
        }
    }

    /// Any client can have its connection closed for a framing error, with no key: those notices share the server-wide
    /// budget of connection-closing lines (``ServerLogBudgets/connectionClosingLinesMax``), the rest at debug.
    @Test("30 connections closed for a framing error: at most 20 notices a window, every one still logged")
    func framingErrorClosingsAreBudgeted() async throws {
        let lines = CapturingLogHandler.Lines()
        let logger = Logger(label: "numberd-test") { _ in CapturingLogHandler(lines: lines) }
        let connections = 30
        try await withTestServer(router: abuseRouter(), tls: tls, logger: logger) { _, port in
            let started = ContinuousClock.now
            for _ in 0..<connections {
                let connection = try await RawConnection.connect(port: port, tls: tls)
                try await connection.send(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"))  // not the preface
                #expect(await connection.waitForClose(timeout: .seconds(60)) != nil)
            }
            let deadline = ContinuousClock.now + .seconds(60)
            while Self.lines(lines, "closing connection: framing error").count < connections,
                ContinuousClock.now < deadline
            {
                try await Task.sleep(for: .milliseconds(10))
            }
            let took = ContinuousClock.now - started
            let closings = Self.lines(lines, "closing connection: framing error")
            #expect(closings.count == connections, "every closing is still logged")
            let notices = closings.filter { $0.level == .notice }.count
            #expect(notices >= ServerLogBudgets.connectionClosingLinesMax, "\(notices)")
            #expect(
                notices <= ServerLogBudgets.connectionClosingLinesMax * Self.windows(took), "\(notices) in \(took)")
            #expect(closings.filter { $0.level == .debug }.count == connections - notices)
        }
    }
}
